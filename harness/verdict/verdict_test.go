package verdict

import (
	"strings"
	"testing"
	"time"

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
		{"declared boot splat is known", Input{Events: events([]vmevent.Event{kmsg("BUG: at boot")}, start(1, "a"), end(1, "passed")), End: done, Known: []Expectation{{BootSplat: "BUG: at boot", Reason: "TCG"}}}, "PASS", Pass, 0},
		{"another boot splat still fails", Input{Events: events([]vmevent.Event{kmsg("BUG: at boot"), kmsg("WARNING: other")}, start(1, "a"), end(1, "passed")), End: done, Known: []Expectation{{BootSplat: "BUG: at boot", Reason: "TCG"}}}, "PASS", Fail, 1},
		{"a boot splat's title after the first spec is not boot", Input{Events: events(start(1, "a"), end(1, "passed"), []vmevent.Event{kmsg("BUG: at boot")}, start(2, "b"), end(2, "passed")), End: done, Known: []Expectation{{BootSplat: "BUG: at boot", Reason: "TCG"}}}, "PASS,PASS", Fail, 1},
		{"a boot splat's title inside a spec fails it", Input{Events: events(start(1, "a"), []vmevent.Event{kmsg("BUG: at boot")}, end(1, "passed")), End: done, Known: []Expectation{{BootSplat: "BUG: at boot", Reason: "TCG"}}}, "FAIL", Fail, 1},
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

// TestDecideEndsWithPlan covers the ends of a VM that cut its plan short:
// every planned spec is in the verdict, the ones that never started as
// NOT-RUN with the reason, and an interruption is never a HANG.
func TestDecideEndsWithPlan(t *testing.T) {
	planned := []Planned{{Name: "a"}, {Name: "b", Labels: []string{"cap-gate"}}, {Name: "c"}}
	for _, c := range []struct {
		name       string
		evs        []vmevent.Event
		end        VMEnd
		want       string
		run        Outcome
		reasonHas  map[string]string // spec -> substring of its reason
		exitCodeIs int
	}{
		{
			name: "interrupted mid-spec",
			evs:  events(start(1, "a"), end(1, "passed"), start(2, "b")),
			end:  VMEnd{TimedOut: true, Interrupted: "interrupted by SIGINT", Deadline: time.Minute},
			want: "PASS,NOT-RUN,NOT-RUN", run: NotRun,
			reasonHas:  map[string]string{"b": "interrupted by SIGINT while it ran", "c": "not run: interrupted by SIGINT"},
			exitCodeIs: ExitUntested,
		},
		{
			name: "interrupted after a failure keeps the failure",
			evs:  events(start(1, "a"), end(1, "failed"), start(2, "b")),
			end:  VMEnd{Interrupted: "interrupted by SIGTERM"},
			want: "FAIL,NOT-RUN,NOT-RUN", run: Fail,
			exitCodeIs: ExitBad,
		},
		{
			name: "guest deadline",
			evs:  events(start(1, "a"), end(1, "passed"), start(2, "b")),
			end:  VMEnd{SawDone: true, GuestCode: GuestDeadlineCode, Deadline: 20 * time.Second},
			want: "PASS,HANG,NOT-RUN", run: Fail,
			reasonHas: map[string]string{
				"b": "still running when the guest suite hit its deadline (20s of the run's -timeout)",
				"c": `not run: the VM hit its deadline (20s of the run's -timeout) during "b"`,
			},
			exitCodeIs: ExitBad,
		},
		{
			name: "Ginkgo's suite timeout",
			evs:  events(start(1, "a"), end(1, "passed"), start(2, "b"), end(2, "timedout")),
			end:  VMEnd{SawDone: true, GuestCode: GuestDeadlineCode, Deadline: 20 * time.Second},
			want: "PASS,HANG,NOT-RUN", run: Fail,
			reasonHas: map[string]string{
				"b": "still running when the guest suite hit its deadline (20s",
				"c": "not run: the VM hit its deadline (20s",
			},
			exitCodeIs: ExitBad,
		},
		{
			name: "host deadline",
			evs:  events(start(1, "a")),
			end:  VMEnd{TimedOut: true, Deadline: 30 * time.Second},
			want: "HANG,NOT-RUN,NOT-RUN", run: Fail,
			reasonHas:  map[string]string{"a": "killed at its deadline (30s", "b": "not run: the VM hit its deadline"},
			exitCodeIs: ExitBad,
		},
		{
			name: "crash without done",
			evs:  events(start(1, "a"), end(1, "passed")),
			end:  VMEnd{EventErr: "EOF"},
			want: "PASS,NOT-RUN,NOT-RUN", run: Fail,
			reasonHas:  map[string]string{"b": "not run: the VM ended early"},
			exitCodeIs: ExitBad,
		},
		{
			name: "guest done, a planned spec missing",
			evs:  events(start(1, "a"), end(1, "passed"), start(2, "b"), end(2, "skipped")),
			end:  VMEnd{SawDone: true},
			want: "PASS,SKIP,NOT-RUN", run: Fail,
			reasonHas:  map[string]string{"c": "guest suite ended (exit code 0) without running it"},
			exitCodeIs: ExitBad,
		},
		{
			name: "everything ran",
			evs:  events(start(1, "a"), end(1, "passed"), start(2, "b"), end(2, "passed"), start(3, "c"), end(3, "skipped")),
			end:  VMEnd{SawDone: true},
			want: "PASS,PASS,SKIP", run: Pass,
			exitCodeIs: ExitGood,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Decide(Input{Events: c.evs, End: c.end, Find: find, Planned: planned})
			if got := outcomes(r); got != c.want || r.Outcome != c.run {
				t.Fatalf("outcomes %s run %s (%s), want %s run %s", got, r.Outcome, r.Reason, c.want, c.run)
			}
			for _, s := range r.Specs {
				if want, ok := c.reasonHas[s.Name]; ok && !strings.Contains(s.Reason, want) {
					t.Errorf("spec %s reason %q, want it to contain %q", s.Name, s.Reason, want)
				}
				if s.Name == "b" && s.Outcome == NotRun && len(s.Labels) == 0 && c.name != "interrupted mid-spec" && c.name != "interrupted after a failure keeps the failure" {
					t.Errorf("NOT-RUN spec b lost its labels")
				}
			}
			if got := ExitCode(r); got != c.exitCodeIs {
				t.Errorf("exit code %d, want %d", got, c.exitCodeIs)
			}
		})
	}
	nr := NotStarted(planned, "the run's deadline passed before this VM started")
	if outcomes(nr) != "NOT-RUN,NOT-RUN,NOT-RUN" || nr.Outcome != NotRun || !strings.Contains(nr.Specs[1].Reason, "deadline passed") {
		t.Fatalf("NotStarted: %+v", nr)
	}
}

func TestVMFailure(t *testing.T) {
	pass := Spec{Name: "a", Outcome: Pass}
	fail := Spec{Name: "b", Outcome: Fail, Reason: "x"}
	for _, c := range []struct {
		name string
		run  *Run
		want Outcome
	}{
		{"no verdict", nil, ""},
		{"good run", &Run{Outcome: Pass, Specs: []Spec{pass}}, ""},
		{"told by a failed spec", &Run{Outcome: Fail, Reason: "a spec failed", Specs: []Spec{pass, fail}}, ""},
		{"no done event after the last spec", &Run{Outcome: Fail, Reason: "the VM ended without the guest's done event", Specs: []Spec{pass}}, Fail},
		{"splat outside the specs beside a failed spec", &Run{Outcome: Fail, Reason: "kernel splat outside any spec: WARNING", Specs: []Spec{fail}, Outside: []Splat{{Title: "WARNING"}}}, Fail},
		{"untested", &Run{Outcome: Untested, Reason: "the guest never started"}, Untested},
	} {
		o, reason, ok := c.run.VMFailure()
		if o != c.want || ok != (c.want != "") || (ok && reason != c.run.Reason) {
			t.Errorf("%s: got %q %q %v", c.name, o, reason, ok)
		}
	}
}

// The guest's feature-absent event makes the run Untested (exit 125) with
// the guest's evidence as the reason, not a failure and not a skip.
func TestFeatureAbsent(t *testing.T) {
	why := "FUSE_OVER_IO_URING (fuse.enable_uring on): not supported by this kernel (INIT flags2 0x1ff lacks bit 9; first in Linux 6.14)"
	absent := []vmevent.Event{{Type: vmevent.FeatureAbsent, Message: why}}
	r := Decide(Input{Events: events(absent), End: VMEnd{SawDone: true}, Find: find})
	if r.Outcome != Untested || r.Reason != FeatureAbsentPrefix+why || r.FeatureAbsent != why {
		t.Fatalf("run %s (%s), feature_absent %q; want UNTESTED with the guest's reason", r.Outcome, r.Reason, r.FeatureAbsent)
	}
	if got := ExitCode(r); got != ExitUntested {
		t.Errorf("exit code %d, want %d", got, ExitUntested)
	}
	if got := FeatureAbsent(&Run{Outcome: Pass}, r); got != r.Reason {
		t.Errorf("FeatureAbsent = %q, want %q", got, r.Reason)
	}
	// Main's planned specs: each is NOT-RUN for the absence, the run still
	// Untested; so is a VM the runner did not start after such a VM.
	planned := []Planned{{Name: "a"}, {Name: "b", Labels: []string{"init"}}}
	withPlan := Decide(Input{Events: events(absent), End: VMEnd{SawDone: true}, Find: find, Planned: planned})
	if withPlan.Outcome != Untested || outcomes(withPlan) != "NOT-RUN,NOT-RUN" || withPlan.Specs[1].Reason != "not run: "+FeatureAbsentPrefix+why || ExitCode(withPlan) != ExitUntested {
		t.Errorf("with planned specs: %s (%s) %+v", withPlan.Outcome, withPlan.Reason, withPlan.Specs)
	}
	later := FeatureAbsentRun(planned, why)
	if later.Outcome != Untested || later.Reason != r.Reason || later.FeatureAbsent != why || outcomes(later) != "NOT-RUN,NOT-RUN" || later.Specs[0].Reason != withPlan.Specs[0].Reason {
		t.Errorf("FeatureAbsentRun: %+v", later)
	}
	// A VM that dies after the event stays Untested and says both.
	died := Decide(Input{Events: events(absent), End: VMEnd{}, Find: find})
	if died.Outcome != Untested || !strings.HasPrefix(died.Reason, FeatureAbsentPrefix+why+"; then ") {
		t.Errorf("died after the event: %s (%s)", died.Outcome, died.Reason)
	}
	// Without the event a run of no spec is untested for another reason,
	// and FeatureAbsent says nothing.
	none := Decide(Input{Events: events(), End: VMEnd{SawDone: true}, Find: find})
	if none.Outcome != Untested || none.FeatureAbsent != "" || FeatureAbsent(none) != "" {
		t.Errorf("no event: %s (%s), feature_absent %q", none.Outcome, none.Reason, none.FeatureAbsent)
	}
	// Specs that did run are judged as always, whatever the event says: a
	// failure stays a failure.
	ran := Decide(Input{Events: events(absent, start(1, "a"), end(1, "failed")), End: VMEnd{SawDone: true, GuestCode: 1}, Find: find})
	if ran.Outcome != Fail || ExitCode(ran) != ExitBad {
		t.Errorf("a failed spec with the event: %s (%s)", ran.Outcome, ran.Reason)
	}
}

// TestDecideKeepsKnownBootSplats checks that a declared boot splat is
// reported with its reason, not dropped.
func TestDecideKeepsKnownBootSplats(t *testing.T) {
	r := Decide(Input{Events: events([]vmevent.Event{kmsg("BUG: at boot")}, start(1, "a"), end(1, "passed")), End: VMEnd{SawDone: true}, Find: find,
		Known: []Expectation{{BootSplat: "BUG: at boot", Reason: "TCG"}}})
	if len(r.KnownOutside) != 1 || r.KnownOutside[0].Title != "BUG: at boot" || r.KnownOutside[0].Reason != "TCG" || len(r.Outside) != 0 {
		t.Fatalf("known %+v, outside %+v", r.KnownOutside, r.Outside)
	}
}
