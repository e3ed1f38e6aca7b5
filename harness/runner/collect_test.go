package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// specEvents is what the guest sends for one spec: its start event, its
// kmsg span (markers around lines) and its end event.
func specEvents(seq int, name, state string, lines ...string) []vmevent.Event {
	ev := []vmevent.Event{
		{Type: vmevent.SpecStart, Seq: seq, Spec: name},
		{Type: vmevent.Kmsg, Text: fmt.Sprintf("zcsuite: spec-start %d %s", seq, name)},
	}
	for _, l := range lines {
		ev = append(ev, vmevent.Event{Type: vmevent.Kmsg, Text: l})
	}
	return append(ev,
		vmevent.Event{Type: vmevent.Kmsg, Text: fmt.Sprintf("zcsuite: spec-end %d %s", seq, state)},
		vmevent.Event{Type: vmevent.SpecEnd, Seq: seq, Spec: name, State: state, Message: "m"})
}

func testCollector() (*collector, *[]verdict.Spec, *[]string, *[]string) {
	c := newCollector("main-1", time.Now())
	c.find = FindSplats
	c.known = []verdict.Expectation{{Spec: "known", Reason: "H9", Outcome: verdict.Fail}}
	var bad []verdict.Spec
	var wedges, timeouts []string
	c.onBad = func(s verdict.Spec) { bad = append(bad, s) }
	c.onWedge = func(why string) { wedges = append(wedges, why) }
	c.onTimeout = func(spec string) { timeouts = append(timeouts, spec) }
	// No real timers: TestCollectorEndsAWedgedVMSoonAfterItsSpec fires
	// them by hand.
	c.after = func(time.Duration, func()) {}
	return c, &bad, &wedges, &timeouts
}

func TestCollectorEndsAWedgedVMSoonAfterItsSpec(t *testing.T) {
	type timer struct {
		d time.Duration
		f func()
	}
	wedgeSpec := func(c *collector, seq int, name string) {
		for _, e := range specEvents(seq, name, "passed") {
			if e.Type == vmevent.SpecEnd {
				e.ExpectedWedge = "kmbuf §5 d: the parked request is never answered"
			}
			c.Event(e)
		}
	}
	setup := func() (*collector, *[]string, *[]timer) {
		c, _, wedges, _ := testCollector()
		var timers []timer
		c.after = func(d time.Duration, f func()) { timers = append(timers, timer{d, f}) }
		c.Event(vmevent.Event{Type: vmevent.Hello})
		return c, wedges, &timers
	}

	// The guest reported the spec and its suite never ends: the wedge
	// shows when the timer fires, within 10 s of the spec's end.
	c, wedges, timers := setup()
	wedgeSpec(c, 1, "wedges")
	if len(*timers) != 1 || (*timers)[0].d <= 0 || (*timers)[0].d > 10*time.Second {
		t.Fatalf("after a spec that declared a wedge: timers %v, want one of at most 10s", *timers)
	}
	if len(*wedges) != 0 {
		t.Fatalf("wedge shown before the wait: %v", *wedges)
	}
	(*timers)[0].f()
	if len(*wedges) != 1 || !strings.Contains((*wedges)[0], "had not ended") || !strings.Contains((*wedges)[0], "§5 d") {
		t.Fatalf("the suite had not ended: wedges %v, want one naming the wait and the declaration", *wedges)
	}
	// The verdict is the spec's pass, as for a hung-task report.
	v := verdict.Decide(c.input(verdict.VMEnd{Wedged: (*wedges)[0], QEMUExit: -1}, []verdict.Planned{{Name: "wedges"}}))
	if v.Outcome != verdict.Pass || verdict.ExitCode(v) != verdict.ExitGood {
		t.Fatalf("verdict of the VM stopped after the wait: %+v", v)
	}
	// A hung-task report after that shows nothing new.
	c.Event(vmevent.Event{Type: vmevent.Kmsg, Text: "INFO: task guest.test:123 blocked for more than 20 seconds."})
	if len(*wedges) != 1 {
		t.Fatalf("the wedge was shown twice: %v", *wedges)
	}

	// The suite ended after all: nothing to stop.
	c, wedges, timers = setup()
	wedgeSpec(c, 1, "wedges")
	c.Event(vmevent.Event{Type: vmevent.Exit, Code: 0})
	(*timers)[0].f()
	if len(*wedges) != 0 {
		t.Fatalf("a suite that ended was taken for wedged: %v", *wedges)
	}

	// Another spec started: the wedge did not happen where declared.
	c, wedges, timers = setup()
	wedgeSpec(c, 1, "wedges")
	for _, e := range specEvents(2, "next", "passed")[:2] {
		c.Event(e)
	}
	(*timers)[0].f()
	if len(*wedges) != 0 {
		t.Fatalf("a suite that went on to the next spec was taken for wedged: %v", *wedges)
	}

	// No declaration, no timer.
	c, _, timers = setup()
	for _, e := range specEvents(1, "plain", "passed") {
		c.Event(e)
	}
	if len(*timers) != 0 {
		t.Fatalf("a spec with no declared wedge armed a timer")
	}
}

func TestCollectorReportsEachBadSpecAsItEnds(t *testing.T) {
	c, bad, _, timeouts := testCollector()
	feed := func(ev []vmevent.Event) {
		for _, e := range ev {
			c.Event(e)
		}
	}
	feed([]vmevent.Event{{Type: vmevent.Hello}})
	feed(specEvents(1, "passes", "passed"))
	feed(specEvents(2, "known", "failed"))
	feed(specEvents(3, "skips", "skipped"))
	if len(*bad) != 0 {
		t.Fatalf("a pass, a known failure and a skip were reported bad: %+v", *bad)
	}
	feed(specEvents(4, "splats", "passed", "WARNING: CPU: 0 PID: 1 at fs/fuse/dev_uring.c:10 fuse_uring_cmd+0x1/0x2"))
	if len(*bad) != 1 || (*bad)[0].Name != "splats" || (*bad)[0].Outcome != verdict.Fail {
		t.Fatalf("a passing spec with a WARNING in its span: got %+v, want one FAIL", *bad)
	}
	feed(specEvents(5, "hangs", "timedout"))
	if len(*bad) != 2 || (*bad)[1].Name != "hangs" || len(*timeouts) != 1 || (*timeouts)[0] != "hangs" {
		t.Fatalf("a timed-out spec: bad %+v, timeouts %v", *bad, *timeouts)
	}
}

func TestCollectorWaitsForTheEndMarkerThenDecides(t *testing.T) {
	c, bad, _, _ := testCollector()
	ev := specEvents(1, "late splat", "passed", "BUG: unable to handle page fault for address: 0000000000001000")
	// The end event overtakes the kmsg relay: the span is not complete yet.
	end := ev[len(ev)-1]
	for _, e := range ev[:2] {
		c.Event(e)
	}
	c.Event(end)
	if len(*bad) != 0 {
		t.Fatalf("decided before the span's end marker: %+v", *bad)
	}
	for _, e := range ev[2 : len(ev)-1] {
		c.Event(e)
	}
	if len(*bad) != 1 || (*bad)[0].Name != "late splat" {
		t.Fatalf("after the end marker: got %+v, want the spec FAIL for its splat", *bad)
	}
	// A lost end marker: the next spec's start decides it.
	c2, bad2, _, _ := testCollector()
	ev = specEvents(1, "lost marker", "failed")
	for i, e := range ev {
		if i != len(ev)-2 {
			c2.Event(e)
		}
	}
	c2.Event(vmevent.Event{Type: vmevent.SpecStart, Seq: 2, Spec: "next"})
	if len(*bad2) != 1 || (*bad2)[0].Name != "lost marker" {
		t.Fatalf("a failed spec whose end marker was lost: got %+v at the next start", *bad2)
	}
}

func TestCollectorSeesADeclaredWedgeShow(t *testing.T) {
	c, bad, wedges, _ := testCollector()
	c.Event(vmevent.Event{Type: vmevent.Hello})
	for _, e := range specEvents(1, "wedges", "passed") {
		if e.Type == vmevent.SpecEnd {
			e.ExpectedWedge = "the parked request is never answered"
		}
		c.Event(e)
	}
	if len(*wedges) != 0 {
		t.Fatalf("wedge reported before it showed: %v", *wedges)
	}
	c.Event(vmevent.Event{Type: vmevent.Kmsg, Text: "fuse: something harmless"})
	c.Event(vmevent.Event{Type: vmevent.Kmsg, Text: "INFO: task guest.test:123 blocked for more than 20 seconds."})
	c.Event(vmevent.Event{Type: vmevent.Kmsg, Text: "INFO: task guest.test:124 blocked for more than 20 seconds."})
	if len(*wedges) != 1 || len(*bad) != 0 {
		t.Fatalf("hung task after the wedge: wedges %v, bad %+v; want one wedge, nothing bad", *wedges, *bad)
	}
	// The host then stops the VM: the verdict keeps the spec's pass and
	// says why the VM ended, with nothing failed.
	end := verdict.VMEnd{TimedOut: true, Wedged: (*wedges)[0], QEMUExit: -1}
	v := verdict.Decide(c.input(end, []verdict.Planned{{Name: "wedges"}}))
	if v.Outcome != verdict.Pass || len(v.Specs) != 1 || v.Specs[0].Outcome != verdict.Pass || len(v.Outside) != 0 || v.Note == "" {
		t.Fatalf("verdict of the VM stopped for its declared wedge: %+v", v)
	}
	if verdict.ExitCode(v) != verdict.ExitGood {
		t.Errorf("exit code %d, want 0", verdict.ExitCode(v))
	}

	// Without a declared wedge, a hung task is no wedge, and the guest's
	// deadline after a wedge spec shows it too.
	c2, _, wedges2, _ := testCollector()
	for _, e := range specEvents(1, "plain", "passed") {
		c2.Event(e)
	}
	c2.Event(vmevent.Event{Type: vmevent.Kmsg, Text: "INFO: task guest.test:123 blocked for more than 20 seconds."})
	if len(*wedges2) != 0 {
		t.Fatalf("a hung task with no declared wedge ended the VM: %v", *wedges2)
	}
	c3, _, wedges3, _ := testCollector()
	for _, e := range specEvents(1, "wedges", "passed") {
		if e.Type == vmevent.SpecEnd {
			e.ExpectedWedge = "w"
		}
		c3.Event(e)
	}
	c3.Event(vmevent.Event{Type: vmevent.Exit, Code: vmevent.GuestDeadlineCode})
	if len(*wedges3) != 1 {
		t.Fatalf("the guest's deadline after a wedge spec: wedges %v", *wedges3)
	}
}

func TestCollectorTellsTheSuiteDeadlineFromAStuckSpec(t *testing.T) {
	c, bad, _, timeouts := testCollector()
	c.Event(vmevent.Event{Type: vmevent.Hello})
	ev := specEvents(1, "cut by the deadline", "timedout")
	ev[len(ev)-1].Message = "A suite timeout occurred"
	for _, e := range ev {
		c.Event(e)
	}
	if len(*timeouts) != 0 {
		t.Fatalf("the suite's own timeout was taken for a stuck spec: %v", *timeouts)
	}
	if len(*bad) != 1 || (*bad)[0].Name != "cut by the deadline" {
		t.Fatalf("the interrupted spec: got %+v, want it reported bad", *bad)
	}
}
