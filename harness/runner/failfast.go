package runner

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// FailFastFunc tells whether a bad outcome stops the run: name is the
// spec's full text (or "VM <name>" for a VM that failed by itself) and
// splats are the kernel reports charged to it.
type FailFastFunc func(name string, splats []verdict.Splat) bool

// AnyBad counts every bad outcome: the -fail-fast default.
func AnyBad(string, []verdict.Splat) bool { return true }

// WithFailFast stops the run at the first bad outcome f counts: a spec
// whose verdict is FAIL, FIXED, PANIC, HANG or CRASH (a kernel splat in
// its span included; a KNOWN-FAIL is not bad), or a VM that failed by
// itself. Every VM is stopped at once and the specs that had not run are
// NOT-RUN with a reason naming that outcome; the exit code is what the
// verdicts give (1). nil switches it off.
func WithFailFast(f FailFastFunc) Option { return func(c *Config) error { c.FailFast = f; return nil } }

// WithFailSpec makes the guest fail, on purpose, every spec whose full
// text matches re (the guest binary's -zcsuite.fail-spec): a test of the
// harness on a healthy kernel, which the zcsuite command sets only from
// its test knob $ZCSUITE_TEST_FAIL_SPEC. "" (the default) fails nothing.
func WithFailSpec(re string) Option {
	return func(c *Config) error {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("%w: ZCSUITE_TEST_FAIL_SPEC %q: %v", ErrUsage, re, err)
		}
		c.FailSpec = re
		return nil
	}
}

// failFastStop is the cause with which fail-fast cancels a run's VMs.
type failFastStop struct {
	outcome  verdict.Outcome
	what, vm string
}

func (f *failFastStop) Error() string {
	return fmt.Sprintf("-fail-fast stopped the run at %s of %q in VM %s", f.outcome, f.what, f.vm)
}

// stoppedFast reports whether ctx was cancelled by fail-fast.
func stoppedFast(ctx context.Context) bool {
	var f *failFastStop
	return ctx.Err() != nil && errors.As(context.Cause(ctx), &f)
}

// failFast stops every VM of the run if s is a bad outcome the run's
// FailFast counts; only the first one stops it.
func (r *runState) failFast(vm string, s verdict.Spec) {
	if r.c.FailFast == nil || r.stopVMs == nil || !s.Outcome.Bad() || !r.c.FailFast(s.Name, s.Splats) {
		return
	}
	r.stopOnce.Do(func() {
		stop := &failFastStop{outcome: s.Outcome, what: s.Name, vm: vm}
		r.logf("%s: %s; stopping every VM", stop.Error(), firstNonEmpty(s.Reason, s.Message))
		r.stopVMs(stop)
	})
}

// failFastRun applies fail-fast to a finished VM: its bad specs (a panic
// or hang found only when the VM ended), its splats outside any spec, or
// the VM's own failure.
func (r *runState) failFastRun(vm string, v *verdict.Run) {
	if r.c.FailFast == nil || v == nil {
		return
	}
	for _, s := range v.Specs {
		r.failFast(vm, s)
	}
	for _, sp := range v.Outside {
		r.failFast(vm, verdict.Spec{Name: "kernel splat outside any spec: " + sp.Title, Outcome: verdict.Fail, Splats: []verdict.Splat{sp}})
	}
	if o, why, failed := v.VMFailure(); failed && o.Bad() {
		r.failFast(vm, verdict.Spec{Name: "VM " + vm, Outcome: o, Reason: why})
	}
}
