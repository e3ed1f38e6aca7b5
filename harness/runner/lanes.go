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

// laneBook is what the lanes share, under its mutex: every VM's run so
// far (by the VM's order in the plan), the next destructive VM to take,
// and what stops any further VM from starting.
type laneBook struct {
	mu   sync.Mutex
	runs map[int]report.VMRun
	// next is the next destructive VM to run.
	next int
	// err is the first infrastructure error of a boot.
	err error
	// noGuest says why no further VM starts: the guest cannot start.
	noGuest string
	// absent is the feature a VM's guest found absent
	// (verdict.Run.FeatureAbsent).
	absent string
}

// run runs the plan under ctx: once ctx is cancelled (a signal, or the
// run stopping early) no VM starts, and each VM not started is NOT-RUN
// with ctx's cause.
func (l *lanes) run(ctx context.Context) laneResult {
	b := &laneBook{runs: make(map[int]report.VMRun)}
	var wg sync.WaitGroup
	for lane := range l.plan.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.runLane(ctx, b, lane)
		}()
	}
	wg.Wait()
	l.notStarted(ctx, b)
	return b.result()
}

// runLane runs lane's VMs one after the other: its shard, then
// destructive VMs while any is left, until the run stops starting VMs.
func (l *lanes) runLane(ctx context.Context, b *laneBook, lane int) {
	for {
		j, ok := l.take(ctx, b, lane)
		if !ok {
			return
		}
		planned := l.planned(j)
		if l.decidedUnbooted(b, j, planned) {
			continue
		}
		vr, err := l.boot(ctx, j, planned)
		vr = b.record(ctx, j, planned, vr, err)
		if l.ended != nil {
			l.ended(j, vr)
		}
	}
}

// take returns the next VM lane runs; false when there is none, or the
// run starts no further VM.
func (l *lanes) take(ctx context.Context, b *laneBook, lane int) (vmJob, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.err != nil || b.noGuest != "" || ctx.Err() != nil:
	case lane < len(l.plan.shards) && b.runs[l.plan.shards[lane].order].Name == "":
		return l.plan.shards[lane], true
	case b.next < len(l.plan.destructive):
		b.next++
		return l.plan.destructive[b.next-1], true
	}
	return vmJob{}, false
}

// decidedUnbooted records j's verdict without booting it when it needs
// no VM: the run's deadline left no time for one (NOT-RUN), or a
// destructive spec met the ABI gate in an earlier VM (SKIP, gateSkip).
func (l *lanes) decidedUnbooted(b *laneBook, j vmJob, planned []verdict.Planned) bool {
	if time.Until(l.deadline) < minVMTime {
		b.mu.Lock()
		b.runs[j.order] = report.VMRun{Name: j.name, Verdict: verdict.NotStarted(planned, fmt.Sprintf("the run's deadline (-timeout %s) passed before VM %s could start", l.timeout, j.name))}
		b.mu.Unlock()
		return true
	}
	if j.spec == "" || l.gateSkip == nil {
		return false
	}
	b.mu.Lock()
	vr, ok := l.gateSkip(j, b.runs)
	if ok {
		b.runs[j.order] = *vr
	}
	b.mu.Unlock()
	if ok {
		l.logf("  %-8s %s (%s)", "SKIPPED", j.spec, vr.Verdict.Specs[0].Reason)
		return true
	}
	l.logf("destructive spec in its own VM %s: %s", j.name, j.spec)
	return false
}

// record keeps a booted VM's run (NOT-RUN when boot returned none) and
// what it says of the VMs still to start; it returns the run kept.
func (b *laneBook) record(ctx context.Context, j vmJob, planned []verdict.Planned, vr *report.VMRun, err error) *report.VMRun {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil && b.err == nil {
		b.err = err
	}
	if vr == nil {
		why := "not run"
		if err != nil {
			why = oneLine(err.Error())
		}
		vr = &report.VMRun{Name: j.name, Verdict: verdict.NotStarted(planned, why)}
	}
	b.runs[j.order] = *vr
	// A guest that never started will not start in the next VM either.
	if v := vr.Verdict; v.Outcome == verdict.Untested && !v.GuestStarted && ctx.Err() == nil {
		b.noGuest = fmt.Sprintf("the guest never started in VM %s", j.name)
	}
	// Nor will a kernel without the feature have it there.
	if v := vr.Verdict; v.Outcome == verdict.Untested && v.FeatureAbsent != "" && b.absent == "" {
		b.absent, b.noGuest = v.FeatureAbsent, verdict.FeatureAbsentPrefix+v.FeatureAbsent
	}
	return vr
}

// notStarted gives every planned VM that never started its verdict, once
// the lanes are done: the kernel lacks the feature, or NOT-RUN with why
// the run started no further VM.
func (l *lanes) notStarted(ctx context.Context, b *laneBook) {
	for _, j := range append(append([]vmJob(nil), l.plan.shards...), l.plan.destructive...) {
		if _, ok := b.runs[j.order]; ok {
			continue
		}
		if b.absent != "" && ctx.Err() == nil {
			b.runs[j.order] = report.VMRun{Name: j.name, Verdict: verdict.FeatureAbsentRun(l.planned(j), b.absent)}
			continue
		}
		why := "not started"
		switch {
		case ctx.Err() != nil:
			why = interruption(ctx) + " before VM " + j.name + " started"
		case b.noGuest != "":
			why = b.noGuest
		case b.err != nil:
			why = oneLine(b.err.Error())
		}
		b.runs[j.order] = report.VMRun{Name: j.name, Verdict: verdict.NotStarted(l.planned(j), why)}
	}
}

// result is every VM's run in the plan's order.
func (b *laneBook) result() laneResult {
	orders := make([]int, 0, len(b.runs))
	for o := range b.runs {
		orders = append(orders, o)
	}
	sort.Ints(orders)
	out := laneResult{err: b.err, noGuest: b.noGuest}
	for _, o := range orders {
		out.runs = append(out.runs, b.runs[o])
	}
	return out
}
