// Package cachelock serialises zcsuite runs over one cache entry (the
// private apt directory, an unpacked source, a build directory, a series
// worktree) with an exclusive flock that a run's context can interrupt: a
// run stopped by a signal while another run holds the lock ends at once
// instead of waiting for it.
package cachelock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// retry is how often a busy lock is tried again.
const retry = 200 * time.Millisecond

// Lock takes an exclusive lock on path (created, with its directory, if
// missing). When another process holds it, Lock says so once through logf
// (when not nil) and waits until it is free or ctx ends. The returned
// function releases it.
func Lock(ctx context.Context, path string, logf func(string, ...any)) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err == nil && !ok {
		if logf != nil {
			logf("waiting for %s: another zcsuite run holds it", path)
		}
		ok, err = fl.TryLockContext(ctx, retry)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("lock %s: %w", path, context.Cause(ctx))
	case err != nil:
		return nil, fmt.Errorf("lock %s: %w", path, err)
	case !ok:
		return nil, fmt.Errorf("lock %s: not taken", path)
	}
	return func() { fl.Unlock() }, nil
}
