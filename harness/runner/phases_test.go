package runner

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// clockedCollector is a collector whose clock the test moves: each event
// arrives at the time the test set.
func clockedCollector(qemuStart time.Time) (*collector, *time.Time) {
	c, _, _, _ := testCollector()
	now := qemuStart
	c.now = func() time.Time { return now }
	return c, &now
}

// qemuStart is when the test VM's QEMU started.
var qemuStart = time.Unix(1_800_000_000, 0)

// runTimes feeds a collector the events of a whole guest run and returns
// the times it kept: Ready after 3 s of the kernel's own boot at +8 s,
// hello at +10 s, two specs from +12 s to +20 s, the suite's exit at +21 s.
func runTimes(t *testing.T) vmTimes {
	t.Helper()
	c, now := clockedCollector(qemuStart)
	at := func(d time.Duration, e vmevent.Event) {
		*now = qemuStart.Add(d)
		c.Event(e)
	}
	ready, err := json.Marshal(vmevent.ReadyFacts{UptimeNs: int64(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	at(8*time.Second, vmevent.Event{Type: vmevent.Ready, Data: ready})
	at(10*time.Second, vmevent.Event{Type: vmevent.Hello})
	for i, e := range append(specEvents(1, "a", "passed"), specEvents(2, "b", "passed")...) {
		d := 12 * time.Second
		if i >= 4 {
			d = 15 * time.Second
		}
		if e.Type == vmevent.SpecEnd && e.Seq == 2 {
			d = 20 * time.Second
		}
		at(d, e)
	}
	at(21*time.Second, vmevent.Event{Type: vmevent.Exit})
	return c.timesSoFar()
}

func phaseMap(ps []report.Phase) (map[string]time.Duration, []string) {
	m := map[string]time.Duration{}
	var names []string
	for _, p := range ps {
		m[p.Name] = p.Duration
		names = append(names, p.Name)
	}
	return m, names
}

func TestVMPhasesFromABootsEvents(t *testing.T) {
	up := report.Phase{Name: "boot:main-1", Duration: 8 * time.Second}
	got, names := phaseMap(vmPhases("main-1", up, runTimes(t), qemuStart.Add(24*time.Second)))
	want := map[string]time.Duration{
		"boot:main-1":        8 * time.Second,
		"qemu-start:main-1":  5 * time.Second,
		"kernel-boot:main-1": 3 * time.Second,
		"suite:main-1":       11 * time.Second,
		"specs:main-1":       8 * time.Second,
		"shutdown:main-1":    3 * time.Second,
	}
	if len(got) != len(want) {
		t.Fatalf("phases %v, want %v", names, want)
	}
	for n, d := range want {
		if got[n] != d {
			t.Errorf("%s = %s, want %s (phases %v)", n, got[n], d, names)
		}
	}
	if names[0] != "boot:main-1" {
		t.Errorf("first phase %s, want boot:main-1", names[0])
	}
}

func TestVMPhasesOfAResumedVMHaveNoBootSplit(t *testing.T) {
	up := report.Phase{Name: "resume:main-2", Duration: 2 * time.Second}
	got, names := phaseMap(vmPhases("main-2", up, runTimes(t), qemuStart.Add(22*time.Second)))
	if _, ok := got["qemu-start:main-2"]; ok || len(got) != 4 || got["shutdown:main-2"] != time.Second {
		t.Errorf("phases %v: want resume, suite, specs and a 1s shutdown", names)
	}
}

func TestVMPhasesOfAGuestThatNeverEnded(t *testing.T) {
	c, now := clockedCollector(qemuStart)
	*now = qemuStart.Add(5 * time.Second)
	c.Event(vmevent.Event{Type: vmevent.Hello})
	c.Event(vmevent.Event{Type: vmevent.SpecStart, Seq: 1, Spec: "a"})
	// No Ready facts, no exit: only the boot phase is known.
	up := report.Phase{Name: "boot:d-1", Duration: 4 * time.Second}
	if _, names := phaseMap(vmPhases("d-1", up, c.timesSoFar(), qemuStart.Add(time.Minute))); len(names) != 1 || names[0] != "boot:d-1" {
		t.Errorf("phases %v, want only boot:d-1", names)
	}
	// A VM that never got to its guest has no phase beyond vm:.
	if ps := vmPhases("d-1", report.Phase{}, c.timesSoFar(), qemuStart.Add(time.Minute)); len(ps) != 0 {
		t.Errorf("phases %v for a VM that never booted, want none", ps)
	}
}
