package runner

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/suites/spectime"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

func TestVMPlannerBalancesShardsAndKeepsEverySpec(t *testing.T) {
	specs := []string{"a", "b", "c", "d", "e", "f", "g"}
	sec := map[string]float64{"a": 6, "b": 5, "c": 4, "d": 3, "e": 2, "f": 1, "g": 1, "x": 1, "y": 2}
	est := func(s string) float64 { return sec[s] }
	var shardSpecs [][]string
	mainArgs := func(s []string, sharded bool) []string {
		if !sharded {
			t.Fatal("22 s of specs on 2 lanes were not sharded")
		}
		shardSpecs = append(shardSpecs, s)
		return []string{"--ginkgo.focus=" + focusOn(s)}
	}
	dArgs := func(s string) []string { return []string{s} }
	p := vmPlanner{lanes: 2, est: est, mainArgs: mainArgs, destructiveArgs: dArgs, mainTimeout: time.Minute, destructiveTimeout: time.Second}.plan(specs, []string{"x", "y"})
	if p.lanes != 2 || len(p.shards) != 2 || p.shards[0].name != "main-1" || p.shards[1].name != "main-2" {
		t.Fatalf("plan %+v: want 2 lanes with shards main-1 and main-2", p)
	}
	if d := p.shards[0].est - p.shards[1].est; d > 1 || d < -1 {
		t.Errorf("shards unbalanced: %.1f s and %.1f s", p.shards[0].est, p.shards[1].est)
	}
	seen := map[string]int{}
	for _, s := range shardSpecs {
		for _, x := range s {
			seen[x]++
		}
	}
	if len(p.destructive) != 2 || p.destructive[0].args[0] != "y" || p.destructive[0].name != "destructive-2" {
		t.Errorf("destructive queue %+v: want y (destructive-2, the longer) first", p.destructive)
	}
	for _, j := range p.destructive {
		seen[j.args[0]]++
		if j.timeout != time.Second || j.order < 2 {
			t.Errorf("%s: timeout %s, order %d", j.name, j.timeout, j.order)
		}
	}
	for _, s := range append(specs, "x", "y") {
		if seen[s] != 1 {
			t.Errorf("spec %s planned %d times", s, seen[s])
		}
	}
}

// The first VM also runs zcserver's tests after its specs: the balance
// counts them, so it gets fewer specs and the two VMs end together.
func TestVMPlannerCountsTheFirstVMsServerTests(t *testing.T) {
	specs := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	est := func(string) float64 { return 5 }
	args := func([]string, bool) []string { return nil }
	p := vmPlanner{lanes: 2, est: est, firstExtra: 20, mainArgs: args, mainTimeout: time.Minute, destructiveTimeout: time.Minute}.plan(specs, nil)
	if len(p.shards) != 2 {
		t.Fatalf("%d shards, want 2", len(p.shards))
	}
	if n0, n1 := len(p.shards[0].specs), len(p.shards[1].specs); n0 != 2 || n1 != 6 {
		t.Errorf("specs per shard %d and %d, want 2 and 6 (20 s of server tests on the first)", n0, n1)
	}
	if e0, e1 := p.shards[0].est, p.shards[1].est; e0 != e1 {
		t.Errorf("shard estimates %.0f s and %.0f s, want equal (the first's includes the server tests)", e0, e1)
	}
}

// Server tests recorded longer than all the specs (a busier host): the
// first VM still gets specs, a quarter of their time, never none.
func TestVMPlannerKeepsSpecsOnTheFirstVM(t *testing.T) {
	specs := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	est := func(string) float64 { return 5 }
	p := vmPlanner{lanes: 2, est: est, firstExtra: 54, mainArgs: func([]string, bool) []string { return nil }, mainTimeout: time.Minute, destructiveTimeout: time.Minute}.plan(specs, nil)
	if len(p.shards) != 2 || len(p.shards[0].specs) != 2 || len(p.shards[1].specs) != 6 {
		t.Fatalf("shards %+v: want 2 specs on the first, 6 on the second", p.shards)
	}
}

// A VM's Go tests' run times come from their start and end events' guest
// times, so the next plan can count them.
func TestCollectorTimesGoTests(t *testing.T) {
	c := &collector{}
	t0 := time.Unix(1000, 0)
	seq := vmevent.GoTestSeqBase + 1
	spec := vmevent.GoTestSpec(vmevent.ServerTests, "TestDevFuse")
	c.events = []vmevent.Event{
		{Type: vmevent.SpecStart, Seq: 3, Spec: "a guest spec", Time: t0},
		{Type: vmevent.SpecStart, Seq: seq, Spec: spec, Time: t0},
		{Type: vmevent.SpecEnd, Seq: 3, Spec: "a guest spec", Time: t0.Add(time.Second)},
		{Type: vmevent.SpecEnd, Seq: seq, Spec: spec, Time: t0.Add(2500 * time.Millisecond)},
	}
	got := c.goTestSeconds()
	if len(got) != 1 || got[spec] != 2.5 {
		t.Errorf("go test seconds %v, want only %q: 2.5", got, spec)
	}
	tm := specTimings{}
	tm.update([]report.VMRun{{GoTestSeconds: got}})
	if tm.est(spec) != 2.5 {
		t.Errorf("timings after update: %v", tm)
	}
}

func TestVMPlannerDoesNotShardAFewSpecs(t *testing.T) {
	p := vmPlanner{lanes: 2, est: func(string) float64 { return 0.1 }, mainArgs: func(s []string, sharded bool) []string {
		if sharded || len(s) != 2 {
			t.Fatalf("sharded=%v with %d specs", sharded, len(s))
		}
		return nil
	}, destructiveArgs: func(s string) []string { return []string{s} }, mainTimeout: time.Minute, destructiveTimeout: time.Second}.plan([]string{"a", "b"}, []string{"x", "y", "z"})
	if len(p.shards) != 1 || p.shards[0].name != "main" || p.lanes != 2 {
		t.Fatalf("plan %+v, want one VM named main and 2 lanes for the destructive VMs", p)
	}
}

func TestFocusOnMatchesExactlyItsSpecs(t *testing.T) {
	re := regexp.MustCompile(focusOn([]string{"cap-gate: a (x) [y]", "b|c"}))
	for text, want := range map[string]bool{
		labels.SuiteDescription + " cap-gate: a (x) [y]":   true,
		labels.SuiteDescription + " b|c":                   true,
		labels.SuiteDescription + " b":                     false,
		labels.SuiteDescription + " cap-gate: a (x) [y] z": false,
	} {
		if re.MatchString(text) != want {
			t.Errorf("%q: match %v, want %v", text, !want, want)
		}
	}
}

func TestSnapshotStoreKeyLoadAndPrune(t *testing.T) {
	dir := t.TempDir()
	a := newSnapshotStore(dir, t.Logf, "qemu 7.2", "kernel k1")
	b := newSnapshotStore(dir, t.Logf, "qemu 7.2", "kernel k2")
	if a.key == b.key {
		t.Fatal("different kernels share a snapshot key")
	}
	if _, _, ok := a.load("main-1"); ok {
		t.Fatal("empty store loaded a state")
	}
	if !a.claim() || a.claim() {
		t.Fatal("claim: want the first caller only")
	}
	os.MkdirAll(a.dir, 0o755)
	write := func(s *snapshotStore, age time.Duration) {
		writeState(t, s, []byte("state"))
		old := time.Now().Add(-age)
		os.Chtimes(s.metaPath(), old, old)
	}
	write(a, 0)
	if _, f, ok := a.load("main-1"); !ok {
		t.Fatal("saved state not loaded")
	} else {
		f.Close()
	}
	os.WriteFile(filepath.Join(a.dir, "stale.state.part"), nil, 0o644)
	for i := range snapshotsKept + 2 {
		write(newSnapshotStore(dir, t.Logf, "kernel old", string(rune('a'+i))), time.Duration(i+1)*time.Hour)
	}
	a.prune()
	metas, _ := filepath.Glob(filepath.Join(a.dir, "*.json"))
	states, _ := filepath.Glob(filepath.Join(a.dir, "*.state*"))
	if len(metas) != snapshotsKept || len(states) != snapshotsKept {
		t.Fatalf("after prune %d metas and %d states, want %d each", len(metas), len(states), snapshotsKept)
	}
	if _, f, ok := a.load("main-2"); !ok {
		t.Fatal("prune dropped the newest state")
	} else {
		f.Close()
	}
	if !a.drop("main-2") {
		t.Fatal("the state main-2 failed to resume from was not dropped")
	}
	if _, _, ok := a.load("main-2"); ok {
		t.Fatal("dropped state still loads")
	}
}

func TestABIGateSkipNeedsTheSameGateInAFinishedVM(t *testing.T) {
	j := vmJob{name: "destructive-3", spec: "kmbuf: wedges", order: 5}
	kmbufLabels := []string{labels.ABIKmbuf, labels.Destructive}
	gate := vmevent.ABIGatePrefix + "-zcsuite.abi=auto: io_uring kernel-managed buffer rings: not supported by this kernel"
	done := map[int]report.VMRun{0: {Name: "main-1", Verdict: &verdict.Run{Specs: []verdict.Spec{
		{Name: "upstream spec", Labels: []string{labels.ABIUpstream}, Outcome: verdict.Pass},
		{Name: "kmbuf probe skip", Labels: []string{labels.ABIKmbuf}, Outcome: verdict.Skip, Message: "some other reason"},
	}}}}
	if _, ok := abiGateSkip(j, kmbufLabels, done); ok {
		t.Fatal("skipped without a spec skipped at the ABI gate")
	}
	done[1] = report.VMRun{Name: "main-2", Verdict: &verdict.Run{Specs: []verdict.Spec{
		{Name: "kmbuf spec", Labels: []string{labels.ABIKmbuf}, Outcome: verdict.Skip, Message: gate},
	}}}
	if _, ok := abiGateSkip(j, []string{labels.ABIUpstream, labels.Destructive}, done); ok {
		t.Fatal("an upstream spec was skipped because kmbuf specs were")
	}
	vr, ok := abiGateSkip(j, kmbufLabels, done)
	if !ok {
		t.Fatal("not skipped although main-2 met the same ABI gate")
	}
	s := vr.Verdict.Specs[0]
	if vr.Name != "destructive-3" || s.Name != j.spec || s.Outcome != verdict.Skip || !strings.Contains(s.Reason, gate) || !strings.Contains(s.Reason, "main-2") {
		t.Fatalf("verdict %+v", vr.Verdict)
	}
}

func TestShardDeadlineScalesWithThePlannedSpecs(t *testing.T) {
	floor := deadlineStart + spectime.Max + spectime.Grace
	for _, c := range []struct {
		run  time.Duration
		est  float64
		want time.Duration
	}{
		// One edge spec (a -focus run): the start, the spec ten times
		// slower, and room for one spec to time out.
		{DefaultTimeout, 0.4, floor + 4*time.Second},
		// A shard of the full suite (about 17 s on a quiet machine).
		{DefaultTimeout, 17, floor + 170*time.Second},
		// More than the run's -timeout allows: the run's bound holds.
		{DefaultTimeout, 60, DefaultTimeout},
		{time.Minute, 0.4, time.Minute},
	} {
		got := shardDeadline(c.run, c.est)
		if got != c.want {
			t.Errorf("shardDeadline(%s, %.1f) = %s, want %s", c.run, c.est, got, c.want)
		}
		if c.run >= floor && got < floor {
			t.Errorf("shardDeadline(%s, %.1f) = %s leaves no room for a spec to time out (%s)", c.run, c.est, got, floor)
		}
	}
}

// A VM's boot does not eat its share: it may live the share and as much
// again from QEMU's start, never past the run's deadline.
func TestVMLimits(t *testing.T) {
	for _, c := range []struct{ own, left, share, life time.Duration }{
		{2 * time.Minute, 8 * time.Minute, 2 * time.Minute, 4 * time.Minute},
		{2 * time.Minute, 3 * time.Minute, 2 * time.Minute, 3 * time.Minute},
		{2 * time.Minute, 20 * time.Second, 20 * time.Second, 20 * time.Second},
	} {
		if share, life := vmLimits(c.own, c.left); share != c.share || life != c.life {
			t.Errorf("vmLimits(%s, %s) = %s, %s; want %s, %s", c.own, c.left, share, life, c.share, c.life)
		}
	}
}
