package verdict

import (
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// find is a tiny stand-in splat finder for these tests: a line starting
// with "WARNING:" or "BUG:" is a splat, "Kernel panic" a fatal one.
func find(lines []string) []Splat {
	var out []Splat
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "WARNING:"), strings.HasPrefix(l, "BUG:"):
			out = append(out, Splat{Title: l})
		case strings.HasPrefix(l, "Kernel panic"):
			out = append(out, Splat{Title: l, Fatal: true})
		}
	}
	return out
}

func kmsg(t string) vmevent.Event { return vmevent.Event{Type: vmevent.Kmsg, Text: t} }
func start(seq int, name string) []vmevent.Event {
	return []vmevent.Event{
		{Type: vmevent.SpecStart, Seq: seq, Spec: name},
		kmsg("zcsuite: spec-start " + itoa(seq) + " " + name),
	}
}
func end(seq int, state string, expected ...string) []vmevent.Event {
	return []vmevent.Event{
		kmsg("zcsuite: spec-end " + itoa(seq) + " " + state),
		{Type: vmevent.SpecEnd, Seq: seq, State: state, ExpectedSplats: expected},
	}
}
func itoa(i int) string { return string(rune('0' + i)) }

func events(parts ...[]vmevent.Event) []vmevent.Event {
	out := []vmevent.Event{{Type: vmevent.Hello}, {Type: vmevent.Phase, Name: "suite-start"}}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func outcomes(r *Run) string {
	var s []string
	for _, sp := range r.Specs {
		s = append(s, string(sp.Outcome))
	}
	return strings.Join(s, ",")
}

func TestDecide(t *testing.T) {
	done := VMEnd{SawDone: true}
	for _, c := range []struct {
		name     string
		in       Input
		specs    string
		run      Outcome
		exitCode int
	}{
		{"all pass", Input{Events: events(start(1, "a"), end(1, "passed"), start(2, "b"), end(2, "passed")), End: done}, "PASS,PASS", Pass, 0},
		{"guest failure", Input{Events: events(start(1, "a"), end(1, "failed")), End: VMEnd{SawDone: true, GuestCode: 1}}, "FAIL", Fail, 1},
		{"splat fails a passing spec", Input{Events: events(start(1, "a"), []vmevent.Event{kmsg("WARNING: CPU: 0 PID: 1 at x")}, end(1, "passed"), start(2, "b"), end(2, "passed")), End: done}, "FAIL,PASS", Fail, 1},
		{"declared splat does not", Input{Events: events(start(1, "a"), []vmevent.Event{kmsg("WARNING: CPU: 0 PID: 1 at x")}, end(1, "passed", "WARNING:")), End: done}, "PASS", Pass, 0},
		{"splat outside specs fails the run", Input{Events: events([]vmevent.Event{kmsg("BUG: at boot")}, start(1, "a"), end(1, "passed")), End: done}, "PASS", Fail, 1},
		{"skip with reason", Input{Events: events(start(1, "a"), end(1, "skipped"), start(2, "b"), end(2, "passed")), End: done}, "SKIP,PASS", Pass, 0},
		{"all skipped tests nothing", Input{Events: events(start(1, "a"), end(1, "skipped")), End: done}, "SKIP", Skip, 125},
		{"panic mid spec", Input{Events: events(start(1, "a"), end(1, "passed"), start(2, "b")), Console: []string{"Kernel panic - not syncing: Fatal exception"}, End: VMEnd{QEMUExit: 0}}, "PASS,PANIC", Fail, 1},
		{"hang mid spec", Input{Events: events(start(1, "a")), End: VMEnd{TimedOut: true}}, "HANG", Fail, 1},
		{"guest deadline", Input{Events: events(start(1, "a")), End: VMEnd{SawDone: true, GuestCode: 124}}, "HANG", Fail, 1},
		{"no boot", Input{Console: []string{"Kernel panic - not syncing: VFS: Unable to mount root fs"}, End: VMEnd{}}, "", Untested, 125},
		{"no specs", Input{Events: events(), End: done}, "", Untested, 125},
		{"known failure", Input{Events: events(start(1, "a"), end(1, "failed")), End: VMEnd{SawDone: true, GuestCode: 1}, Known: []Expectation{{Spec: "a", Reason: "H2"}}}, "KNOWN-FAIL", Pass, 0},
		{"known failure that passes is FIXED", Input{Events: events(start(1, "a"), end(1, "passed")), End: done, Known: []Expectation{{Spec: "a", Reason: "H2"}}}, "FIXED", Fail, 1},
		{"known panic", Input{Events: events(start(1, "a")), Console: []string{"Kernel panic - not syncing: Fatal exception"}, End: VMEnd{}, Known: []Expectation{{Spec: "a", Reason: "H1", Outcome: Panic}}}, "KNOWN-FAIL", Pass, 0},
		{"expected wedge after the spec ended", Input{Events: events(start(1, "a"), []vmevent.Event{kmsg("zcsuite: spec-end 1 passed"), {Type: vmevent.SpecEnd, Seq: 1, State: "passed", ExpectedWedge: "headers in the wrong slot"}}), End: VMEnd{SawDone: true, GuestCode: 124}}, "PASS", Pass, 0},
		{"a wedge while the spec runs is still a hang", Input{Events: events(start(1, "a")), End: VMEnd{SawDone: true, GuestCode: 124}}, "HANG", Fail, 1},
		{"an undeclared hang after the last spec fails the run", Input{Events: events(start(1, "a"), end(1, "passed")), End: VMEnd{SawDone: true, GuestCode: 124}}, "PASS", Fail, 1},
		{"known failure that fails differently", Input{Events: events(start(1, "a")), End: VMEnd{TimedOut: true}, Known: []Expectation{{Spec: "a", Reason: "H2"}}}, "HANG", Fail, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.Find = find
			r := Decide(c.in)
			if got := outcomes(r); got != c.specs {
				t.Errorf("spec outcomes %q, want %q (%+v)", got, c.specs, r.Specs)
			}
			if r.Outcome != c.run {
				t.Errorf("run outcome %s (%s), want %s", r.Outcome, r.Reason, c.run)
			}
			if got := ExitCode(r); got != c.exitCode {
				t.Errorf("exit code %d, want %d", got, c.exitCode)
			}
		})
	}
}

func TestExitCodeCombines(t *testing.T) {
	good, bad, untested, skipped := &Run{Outcome: Pass}, &Run{Outcome: Fail}, &Run{Outcome: Untested}, &Run{Outcome: Skip}
	if ExitCode(good, untested) != ExitUntested || ExitCode(untested, bad) != ExitBad || ExitCode(good, good) != ExitGood ||
		ExitCode(good, skipped) != ExitGood || ExitCode(skipped) != ExitUntested {
		t.Fatal("exit code combination is wrong")
	}
}
