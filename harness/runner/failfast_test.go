package runner

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

func TestFailFastStopsTheRunAtTheFirstBadOutcomeItCounts(t *testing.T) {
	r := &runState{c: &Config{Out: io.Discard, FailFast: func(name string, _ []verdict.Splat) bool { return !strings.HasPrefix(name, "ignored") }}}
	ctx, stop := context.WithCancelCause(context.Background())
	r.stopVMs = stop
	r.failFast("main-1", verdict.Spec{Name: "known", Outcome: verdict.KnownFail})
	r.failFast("main-1", verdict.Spec{Name: "skipped", Outcome: verdict.Skip})
	r.failFast("main-1", verdict.Spec{Name: "ignored by -bad-if", Outcome: verdict.Fail})
	if ctx.Err() != nil {
		t.Fatalf("stopped by an outcome fail-fast does not count: %v", context.Cause(ctx))
	}
	r.failFast("main-2", verdict.Spec{Name: "breaks", Outcome: verdict.Panic})
	r.failFast("main-1", verdict.Spec{Name: "later", Outcome: verdict.Fail})
	if !stoppedEarly(ctx) {
		t.Fatal("a counted PANIC did not stop the run")
	}
	if got, want := interruption(ctx), `-fail-fast stopped the run at PANIC of "breaks" in VM main-2`; got != want {
		t.Errorf("reason %q, want %q (the first bad outcome)", got, want)
	}
}

func TestFailFastOffStillStopsWaitingOnAStuckRing(t *testing.T) {
	r := &runState{c: &Config{Out: io.Discard}}
	ctx, stop := context.WithCancelCause(context.Background())
	r.stopVMs = stop
	r.failFast("main-1", verdict.Spec{Name: "fails", Outcome: verdict.Fail})
	if ctx.Err() != nil {
		t.Fatal("without -fail-fast a FAIL stopped the run")
	}
	r.stuckRing("main-1", "waits forever")
	if !stoppedEarly(ctx) || !strings.Contains(interruption(ctx), `"waits forever" timed out in VM main-1`) {
		t.Fatalf("a timed-out spec: stopped %v, reason %q", stoppedEarly(ctx), interruption(ctx))
	}
}
