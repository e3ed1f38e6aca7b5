package runner

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// lanes runs a plan's VMs: each lane runs its shard, then takes
// destructive VMs from the shared queue; the lanes run concurrently. It
// decides nothing about the kernel: boot runs a VM and returns its
// verdict; lanes only chooses what runs next and what never starts.
type lanes struct {
	plan vmPlan
	// timeout is the run's -timeout (for the reasons of VMs it left no
	// time to start); deadline is when it passes.
	timeout  time.Duration
	deadline time.Time
	// planned lists a job's specs with their labels.
	planned func(j vmJob) []verdict.Planned
	// gateSkip decides a destructive job without booting it, from the VMs
	// done so far (abiGateSkip); nil decides none.
	gateSkip func(j vmJob, done map[int]report.VMRun) (*report.VMRun, bool)
	// boot runs one VM; an error is an infrastructure failure that ends
	// the run (no further VM starts).
	boot func(ctx context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error)
	// ended is told of each VM's end (screen, fail-fast).
	ended func(j vmJob, vr *report.VMRun)
	logf  func(string, ...any)
}

// laneResult is every planned VM's run, in the plan's order, and why the
// run stopped starting VMs.
type laneResult struct {
	runs []report.VMRun
	// err is the first infrastructure error of a boot.
	err error
	// noGuest says why no further VM was started: its guest cannot start
	// (a VM's guest never started, or the kernel lacks the feature).
	noGuest string
}

// run runs the plan under ctx: once ctx is cancelled (a signal, or the
// run stopping early) no VM starts, and each VM not started is NOT-RUN
// with ctx's cause.
func (l *lanes) run(ctx context.Context) laneResult {
	results := make(map[int]report.VMRun)
	var (
		mu       sync.Mutex
		firstErr error
		noGuest  string // why no further VM is started: the guest cannot start
		absent   string // a VM's guest found the feature absent (verdict.Run.FeatureAbsent)
		wg       sync.WaitGroup
		next     int // the next destructive VM to run
	)
	take := func(lane int) (vmJob, bool) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case firstErr != nil || noGuest != "" || ctx.Err() != nil:
		case lane < len(l.plan.shards) && results[l.plan.shards[lane].order].Name == "":
			return l.plan.shards[lane], true
		case next < len(l.plan.destructive):
			next++
			return l.plan.destructive[next-1], true
		}
		return vmJob{}, false
	}
	for lane := range l.plan.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok := take(lane)
				if !ok {
					return
				}
				planned := l.planned(j)
				if time.Until(l.deadline) < minVMTime {
					mu.Lock()
					results[j.order] = report.VMRun{Name: j.name, Verdict: verdict.NotStarted(planned, fmt.Sprintf("the run's deadline (-timeout %s) passed before VM %s could start", l.timeout, j.name))}
					mu.Unlock()
					continue
				}
				if j.spec != "" && l.gateSkip != nil {
					mu.Lock()
					vr, ok := l.gateSkip(j, results)
					if ok {
						results[j.order] = *vr
					}
					mu.Unlock()
					if ok {
						l.logf("  %-8s %s (%s)", "SKIPPED", j.spec, vr.Verdict.Specs[0].Reason)
						continue
					}
					l.logf("destructive spec in its own VM %s: %s", j.name, j.spec)
				}
				vr, err := l.boot(ctx, j, planned)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if vr == nil {
					why := "not run"
					if err != nil {
						why = oneLine(err.Error())
					}
					vr = &report.VMRun{Name: j.name, Verdict: verdict.NotStarted(planned, why)}
				}
				results[j.order] = *vr
				// A guest that never started will not start in the next VM
				// either.
				if v := vr.Verdict; v.Outcome == verdict.Untested && !v.GuestStarted && ctx.Err() == nil {
					noGuest = fmt.Sprintf("the guest never started in VM %s", j.name)
				}
				// Nor will a kernel without the feature have it there.
				if v := vr.Verdict; v.Outcome == verdict.Untested && v.FeatureAbsent != "" && absent == "" {
					absent, noGuest = v.FeatureAbsent, verdict.FeatureAbsentPrefix+v.FeatureAbsent
				}
				mu.Unlock()
				if l.ended != nil {
					l.ended(j, vr)
				}
			}
		}()
	}
	wg.Wait()
	// Every planned VM has a verdict, those that never started included.
	for _, j := range append(append([]vmJob(nil), l.plan.shards...), l.plan.destructive...) {
		if _, ok := results[j.order]; ok {
			continue
		}
		if absent != "" && ctx.Err() == nil {
			results[j.order] = report.VMRun{Name: j.name, Verdict: verdict.FeatureAbsentRun(l.planned(j), absent)}
			continue
		}
		why := "not started"
		switch {
		case ctx.Err() != nil:
			why = interruption(ctx) + " before VM " + j.name + " started"
		case noGuest != "":
			why = noGuest
		case firstErr != nil:
			why = oneLine(firstErr.Error())
		}
		results[j.order] = report.VMRun{Name: j.name, Verdict: verdict.NotStarted(l.planned(j), why)}
	}
	orders := make([]int, 0, len(results))
	for o := range results {
		orders = append(orders, o)
	}
	sort.Ints(orders)
	out := laneResult{err: firstErr, noGuest: noGuest}
	for _, o := range orders {
		out.runs = append(out.runs, results[o])
	}
	return out
}
