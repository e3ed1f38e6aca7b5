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

// earlyStop is the cause with which the run cancels its VMs before they
// are done: -fail-fast, or a spec that timed out (stuckRing).
type earlyStop struct{ why string }

func (e *earlyStop) Error() string { return e.why }

// stoppedEarly reports whether the run cancelled ctx with an earlyStop.
func stoppedEarly(ctx context.Context) bool {
	var e *earlyStop
	return ctx.Err() != nil && errors.As(context.Cause(ctx), &e)
}

// stopEarly stops every VM of the run, once, for why; the specs not yet
// run become NOT-RUN with why as their reason.
func (r *runState) stopEarly(why string) {
	if r.stopVMs == nil {
		return
	}
	r.stopOnce.Do(func() {
		r.logf("%s; stopping every VM", why)
		r.stopVMs(&earlyStop{why: why})
	})
}

// failFast stops the run if s is a bad outcome the run's FailFast counts.
func (r *runState) failFast(vm string, s verdict.Spec) {
	if r.c.FailFast == nil || !s.Outcome.Bad() || !r.c.FailFast(s.Name, s.Splats) {
		return
	}
	r.stopEarly(fmt.Sprintf("-fail-fast stopped the run at %s of %q in VM %s", s.Outcome, s.Name, vm))
}

// stuckRing stops the run, -fail-fast or not, when spec timed out in VM
// vm: a kernel that left a request unanswered for a whole spec timeout
// has its bad verdict, and every later spec, in every VM, would wait on
// the same stuck ring for its own timeout (minutes each). The collector
// leaves out specs with a known-issue expectation.
func (r *runState) stuckRing(vm, spec string) {
	r.stopEarly(fmt.Sprintf("the run stopped waiting on this kernel after %q timed out in VM %s (a request left unanswered for a whole spec timeout; each later spec would wait out its own)", spec, vm))
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
