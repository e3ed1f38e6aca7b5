package runner

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// fakeLanes plans two shards and three destructive VMs on two lanes; boot
// is the test's fake VM.
func fakeLanes(boot func(ctx context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error)) *lanes {
	est := func(string) float64 { return 2 }
	args := func([]string, bool) []string { return nil }
	plan := vmPlanner{lanes: 2, est: est, mainArgs: args, destructiveArgs: func(string) []string { return nil }, mainTimeout: time.Minute, destructiveTimeout: time.Minute}.plan([]string{"a", "b", "c", "d", "e", "f"}, []string{"x", "y", "z"})
	return &lanes{
		plan: plan, timeout: time.Minute, deadline: time.Now().Add(time.Minute),
		planned: func(j vmJob) []verdict.Planned { return j.planned(func(string) []string { return nil }) },
		boot:    boot,
		logf:    func(string, ...any) {},
	}
}

func passed(j vmJob, planned []verdict.Planned) *report.VMRun {
	v := &verdict.Run{Outcome: verdict.Pass, GuestStarted: true}
	for _, p := range planned {
		v.Specs = append(v.Specs, verdict.Spec{Name: p.Name, Outcome: verdict.Pass})
	}
	return &report.VMRun{Name: j.name, Verdict: v}
}

func countOutcomes(runs []report.VMRun) map[verdict.Outcome]int {
	m := map[verdict.Outcome]int{}
	for _, r := range runs {
		for _, s := range r.Verdict.Specs {
			m[s.Outcome]++
		}
	}
	return m
}

func TestLanesRunEveryVMOnceInPlanOrder(t *testing.T) {
	var mu sync.Mutex
	booted := map[string]int{}
	l := fakeLanes(func(_ context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		mu.Lock()
		booted[j.name]++
		mu.Unlock()
		return passed(j, planned), nil
	})
	res := l.run(context.Background())
	if res.err != nil || res.noGuest != "" {
		t.Fatalf("err %v, noGuest %q", res.err, res.noGuest)
	}
	want := []string{"main-1", "main-2", "destructive-1", "destructive-2", "destructive-3"}
	if len(res.runs) != len(want) {
		t.Fatalf("%d runs, want %d", len(res.runs), len(want))
	}
	for i, r := range res.runs {
		if r.Name != want[i] || booted[r.Name] != 1 {
			t.Errorf("run %d: %s booted %d times, want %s once", i, r.Name, booted[r.Name], want[i])
		}
	}
	if c := countOutcomes(res.runs); c[verdict.Pass] != 9 {
		t.Errorf("outcomes %v, want 9 PASS", c)
	}
}

func TestLanesStartNoVMOnceTheRunIsStopped(t *testing.T) {
	ctx, stop := context.WithCancelCause(context.Background())
	l := fakeLanes(nil)
	l.boot = func(ctx context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		if j.name == "main-1" {
			// main-1 fails fast; main-2 is stopped while it runs.
			stop(&earlyStop{why: `-fail-fast stopped the run at FAIL of "a" in VM main-1`})
			return passed(j, planned), nil
		}
		<-ctx.Done()
		return &report.VMRun{Name: j.name, Verdict: verdict.NotStarted(planned, interruption(ctx))}, nil
	}
	res := l.run(ctx)
	for _, r := range res.runs[2:] {
		for _, s := range r.Verdict.Specs {
			if s.Outcome != verdict.NotRun || !strings.Contains(s.Reason, `FAIL of "a"`) || !strings.Contains(s.Reason, "before VM "+r.Name+" started") {
				t.Errorf("%s: %s %s %q", r.Name, s.Name, s.Outcome, s.Reason)
			}
		}
	}
	if c := countOutcomes(res.runs); c[verdict.NotRun] != 6 || c[verdict.Pass] != 3 {
		t.Errorf("outcomes %v, want main-1's 3 PASS and 6 NOT-RUN", c)
	}
}

func TestLanesStopStartingVMsWhenTheGuestCannotStart(t *testing.T) {
	l := fakeLanes(func(_ context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		return &report.VMRun{Name: j.name, Verdict: &verdict.Run{Outcome: verdict.Untested, Reason: "the guest never started"}}, nil
	})
	l.plan.lanes = 1 // one lane: main-1, then nothing
	l.plan.shards = l.plan.shards[:1]
	res := l.run(context.Background())
	if res.noGuest != "the guest never started in VM main-1" {
		t.Fatalf("noGuest %q", res.noGuest)
	}
	for _, r := range res.runs[1:] {
		if r.Verdict.Outcome != verdict.NotRun || r.Verdict.Reason != res.noGuest {
			t.Errorf("%s: %s %q", r.Name, r.Verdict.Outcome, r.Verdict.Reason)
		}
	}

	l = fakeLanes(func(context.Context, vmJob, []verdict.Planned) (*report.VMRun, error) {
		return nil, errors.New("qemu: no such binary")
	})
	if res := l.run(context.Background()); res.err == nil || res.runs[4].Verdict.Outcome != verdict.NotRun {
		t.Fatalf("an infrastructure error: err %v, last run %+v", res.err, res.runs[4].Verdict)
	}
}

func TestLanesReportVMsTheDeadlineLeftNoTimeFor(t *testing.T) {
	l := fakeLanes(func(_ context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		return passed(j, planned), nil
	})
	l.deadline = time.Now().Add(minVMTime / 2)
	res := l.run(context.Background())
	for _, r := range res.runs {
		if r.Verdict.Outcome != verdict.NotRun || !strings.Contains(r.Verdict.Reason, "the run's deadline (-timeout 1m0s) passed before VM "+r.Name) {
			t.Errorf("%s: %s %q", r.Name, r.Verdict.Outcome, r.Verdict.Reason)
		}
	}
}

func TestLanesReportTheRestFeatureAbsentOnceAGuestFindsItMissing(t *testing.T) {
	l := fakeLanes(func(_ context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		v := verdict.FeatureAbsentRun(planned, "no fuse.enable_uring")
		v.GuestStarted = true
		return &report.VMRun{Name: j.name, Verdict: v}, nil
	})
	l.plan.lanes = 1
	l.plan.shards = l.plan.shards[:1]
	res := l.run(context.Background())
	if res.err != nil || res.noGuest != verdict.FeatureAbsentPrefix+"no fuse.enable_uring" {
		t.Fatalf("err %v, noGuest %q", res.err, res.noGuest)
	}
	if len(res.runs) != 4 {
		t.Fatalf("%d runs, want main-1 and 3 destructive", len(res.runs))
	}
	for _, r := range res.runs {
		if v := r.Verdict; v.Outcome != verdict.Untested || v.FeatureAbsent != "no fuse.enable_uring" {
			t.Errorf("%s: %s, absent %q; want UNTESTED for the absent feature", r.Name, v.Outcome, v.FeatureAbsent)
		}
	}
}

func TestLanesDecideADestructiveSpecTheABIGateSkippedWithoutBooting(t *testing.T) {
	var mu sync.Mutex
	booted, ended := map[string]bool{}, map[string]bool{}
	l := fakeLanes(func(_ context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		mu.Lock()
		booted[j.name] = true
		mu.Unlock()
		return passed(j, planned), nil
	})
	l.plan.lanes = 1 // one lane, so that main-1 and main-2 are done before any destructive VM
	l.plan.shards = l.plan.shards[:1]
	l.gateSkip = func(j vmJob, done map[int]report.VMRun) (*report.VMRun, bool) {
		if j.spec != "y" || len(done) == 0 {
			return nil, false
		}
		v := &verdict.Run{Outcome: verdict.Skip, GuestStarted: true, Specs: []verdict.Spec{{Name: j.spec, Outcome: verdict.Skip, Reason: "gate"}}}
		return &report.VMRun{Name: j.name, Verdict: v}, true
	}
	l.ended = func(j vmJob, _ *report.VMRun) {
		mu.Lock()
		ended[j.name] = true
		mu.Unlock()
	}
	res := l.run(context.Background())
	var skipped string
	for _, r := range res.runs {
		if r.Verdict.Outcome == verdict.Skip {
			skipped = r.Name
		}
	}
	if skipped == "" || booted[skipped] || ended[skipped] || len(booted) != 3 || len(ended) != 3 {
		t.Errorf("skipped %q; booted %v, ended %v: want the gate's VM neither booted nor ended, the 3 others both", skipped, booted, ended)
	}
	if c := countOutcomes(res.runs); c[verdict.Skip] != 1 || c[verdict.Pass] != 5 {
		t.Errorf("outcomes %v, want 1 SKIP and 5 PASS", c)
	}
}
