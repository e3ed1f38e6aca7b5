package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// specPlan is which specs a run runs and in which VMs.
type specPlan struct {
	// main are the non-destructive specs, destructive the others.
	main, destructive []string
	plan              vmPlan
	// labels gives any planned spec's labels; dLabels the destructive
	// specs'.
	labels  func(spec string) []string
	dLabels map[string][]string
}

// planSpecs lists the specs the run's filters select (two dry runs of
// the guest binary on the host, at once) and plans their VMs.
func planSpecs(ctx context.Context, c *Config, guestTest, serverTest string, timings specTimings, facts *report.Facts) (*specPlan, error) {
	mainFilter := andFilter(c.LabelFilter, "!"+labels.Destructive+" && !"+labels.Bench)
	if c.Bench {
		mainFilter = andFilter(c.LabelFilter, labels.Bench)
	}
	l, err := listSelected(ctx, c, guestTest, mainFilter)
	if err != nil {
		return nil, err
	}
	// zcserver's own tests belong to a whole run: every shard counts them
	// in the run's spec set, the first one runs them.
	serverSpecs, err := listServerSpecs(ctx, c, serverTest)
	if err != nil {
		return nil, err
	}
	mainSpecs, destructive, err := selectShard(c, l.main, l.destructive, serverSpecs, facts)
	if err != nil {
		return nil, err
	}
	plan := planner(c, mainFilter, timings, serverSpecs).plan(mainSpecs, destructive)
	for _, js := range [][]vmJob{plan.shards, plan.destructive} {
		for i := range js {
			js[i].name = shardVMName(c, js[i].name)
		}
	}
	if len(plan.shards) > 0 && runsServerTests(c) {
		plan.shards[0].goTests = []string{vmevent.ServerTests}
		plan.shards[0].goTestSpecs = serverSpecs
	}
	if !c.Bench {
		for i := range plan.shards {
			j := &plan.shards[i]
			j.timeout = shardDeadline(c.Timeout, j.est)
		}
	}
	return &specPlan{
		main: mainSpecs, destructive: destructive, dLabels: l.dLabels, plan: plan,
		labels: func(spec string) []string {
			if lb, ok := l.mLabels[spec]; ok {
				return lb
			}
			return l.dLabels[spec]
		},
	}, nil
}

// selected is the specs a run's filters select, with their labels.
type selected struct {
	main, destructive []string
	mLabels, dLabels  map[string][]string
}

// listSelected lists the non-destructive specs mainFilter selects and,
// at the same time, the destructive specs (unless the run has none).
func listSelected(ctx context.Context, c *Config, guestTest, mainFilter string) (*selected, error) {
	var l selected
	var dErr, mErr error
	var listed sync.WaitGroup
	if c.Destructive && !c.Bench {
		listed.Add(1)
		go func() {
			defer listed.Done()
			l.destructive, l.dLabels, dErr = listSpecs(ctx, guestTest, andFilter(c.LabelFilter, labels.Destructive+" && !"+labels.Bench), c.Focus)
		}()
	}
	l.main, l.mLabels, mErr = listSpecs(ctx, guestTest, mainFilter, c.Focus)
	listed.Wait()
	if err := errors.Join(dErr, mErr); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s", ErrUntestable, interruption(ctx))
		}
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	if len(l.main)+len(l.destructive) == 0 {
		return nil, fmt.Errorf("%w: the label filter %q and focus %q select no spec", ErrUsage, c.LabelFilter, c.Focus)
	}
	return &l, nil
}

// listServerSpecs names zcserver's own tests as specs, in a whole run
// (none otherwise).
func listServerSpecs(ctx context.Context, c *Config, serverTest string) ([]string, error) {
	if !wholeRun(c) {
		return nil, nil
	}
	names, err := listGoTests(ctx, serverTest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	var specs []string
	for _, n := range names {
		specs = append(specs, vmevent.GoTestSpec(vmevent.ServerTests, n))
	}
	return specs, nil
}

// planner is the run's VM planner: its lanes, its spec timings, the
// first VM's server tests, the guest arguments of each kind of VM and
// their timeouts.
func planner(c *Config, mainFilter string, timings specTimings, serverSpecs []string) vmPlanner {
	pl := vmPlanner{lanes: c.Jobs, est: timings.est, mainTimeout: c.Timeout,
		// A destructive spec runs for seconds; a kernel it wedged on
		// purpose must not hold the run for the whole suite deadline.
		destructiveTimeout: min(c.Timeout, DestructiveTimeout)}
	if c.Bench {
		// Concurrent VMs would skew the measurements.
		pl.lanes = 1
	}
	pl.mainArgs = func(specs []string, sharded bool) []string {
		args := []string{"--ginkgo.label-filter=" + mainFilter}
		switch {
		case sharded || c.Shard.On():
			args = append(args, "--ginkgo.focus="+focusOn(specs))
		case c.Focus != "":
			args = append(args, "--ginkgo.focus="+c.Focus)
		}
		return args
	}
	pl.destructiveArgs = func(spec string) []string {
		return []string{"--ginkgo.focus=" + focusOn([]string{spec}), "--ginkgo.label-filter=" + labels.Destructive}
	}
	if runsServerTests(c) {
		for _, s := range serverSpecs {
			pl.firstExtra += timings.est(s)
		}
	}
	return pl
}

// runsServerTests says whether a run also runs zcserver's own Go tests in
// its first VM: a whole run does (in -shard's first part only, so that a
// merged shard set has them once); a run narrowed by a label filter or a
// focus, or a benchmark, does not.
func runsServerTests(c *Config) bool {
	return wholeRun(c) && (!c.Shard.On() || c.Shard.K == 1)
}

// wholeRun says whether the run tests everything, zcserver's tests
// included: server tests on (the default), no label filter, no focus, no
// benchmark.
func wholeRun(c *Config) bool {
	return c.ServerTests && c.LabelFilter == "" && c.Focus == "" && !c.Bench
}

// listGoTests lists the top-level tests of the Go test binary bin on the
// host (-test.list runs none of them).
func listGoTests(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bin, "-test.list", "^Test").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the tests of %s: %v", bin, err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "Test") {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s lists no test", bin)
	}
	return names, nil
}

func andFilter(a, b string) string {
	if strings.TrimSpace(a) == "" {
		return b
	}
	return "(" + a + ") && (" + b + ")"
}
