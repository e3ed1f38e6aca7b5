package runner

import (
	"context"
	"errors"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// interruptCode is the exit code asked for by what cancelled ctx (a
// signal's cause implements ExitCode); ok is false when ctx is live.
func interruptCode(ctx context.Context) (int, bool) {
	if ctx.Err() == nil {
		return 0, false
	}
	var ec interface{ ExitCode() int }
	if errors.As(context.Cause(ctx), &ec) {
		return ec.ExitCode(), true
	}
	return verdict.ExitUntested, true
}

// interruption is why ctx was cancelled, for the reports ("interrupted by
// SIGINT"); "" while ctx is live.
func interruption(ctx context.Context) string {
	if ctx.Err() == nil {
		return ""
	}
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "interrupted"
}
