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
	var destructive, mainSpecs []string
	var dLabels, mLabels map[string][]string
	var dErr, mErr error
	var listed sync.WaitGroup
	if c.Destructive && !c.Bench {
		listed.Add(1)
		go func() {
			defer listed.Done()
			destructive, dLabels, dErr = listSpecs(ctx, guestTest, andFilter(c.LabelFilter, labels.Destructive+" && !"+labels.Bench), c.Focus)
		}()
	}
	mainSpecs, mLabels, mErr = listSpecs(ctx, guestTest, mainFilter, c.Focus)
	listed.Wait()
	if err := errors.Join(dErr, mErr); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s", ErrUntestable, interruption(ctx))
		}
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	if len(mainSpecs)+len(destructive) == 0 {
		return nil, fmt.Errorf("%w: the label filter %q and focus %q select no spec", ErrUsage, c.LabelFilter, c.Focus)
	}
	// zcserver's own tests belong to a whole run: every shard counts them
	// in the run's spec set, the first one runs them.
	var serverSpecs []string
	if wholeRun(c) {
		names, err := listGoTests(ctx, serverTest)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
		}
		for _, n := range names {
			serverSpecs = append(serverSpecs, vmevent.GoTestSpec(vmevent.ServerTests, n))
		}
	}
	mainSpecs, destructive, err := selectShard(c, mainSpecs, destructive, serverSpecs, facts)
	if err != nil {
		return nil, err
	}
	jobs := c.Jobs
	if c.Bench {
		// Concurrent VMs would skew the measurements.
		jobs = 1
	}
	mainArgs := func(specs []string, sharded bool) []string {
		args := []string{"--ginkgo.label-filter=" + mainFilter}
		switch {
		case sharded || c.Shard.On():
			args = append(args, "--ginkgo.focus="+focusOn(specs))
		case c.Focus != "":
			args = append(args, "--ginkgo.focus="+c.Focus)
		}
		return args
	}
	destructiveArgs := func(spec string) []string {
		return []string{"--ginkgo.focus=" + focusOn([]string{spec}), "--ginkgo.label-filter=" + labels.Destructive}
	}
	// A destructive spec runs for seconds; a kernel it wedged on purpose
	// must not hold the run for the whole suite deadline.
	dTimeout := min(c.Timeout, DestructiveTimeout)
	serverSec := 0.0
	if runsServerTests(c) {
		for _, s := range serverSpecs {
			serverSec += timings.est(s)
		}
	}
	plan := vmPlanner{lanes: jobs, est: timings.est, firstExtra: serverSec, mainArgs: mainArgs, destructiveArgs: destructiveArgs, mainTimeout: c.Timeout, destructiveTimeout: dTimeout}.plan(mainSpecs, destructive)
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
		main: mainSpecs, destructive: destructive, dLabels: dLabels, plan: plan,
		labels: func(spec string) []string {
			if l, ok := mLabels[spec]; ok {
				return l
			}
			return dLabels[spec]
		},
	}, nil
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
