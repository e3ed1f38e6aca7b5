package cachelock

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLockWaitsAndCancels: a second taker waits for the first, says so
// once, and gives up when its context ends; after the release it gets
// the lock.
func TestLockWaitsAndCancels(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "lock")
	unlock, err := Lock(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	logf := func(f string, v ...any) { said = append(said, f) }
	cause := errors.New("interrupted by SIGINT")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(300*time.Millisecond, func() { cancel(cause) })
	t0 := time.Now()
	_, err = Lock(ctx, p, logf)
	if !errors.Is(err, cause) || time.Since(t0) > 5*time.Second {
		t.Fatalf("busy lock under a cancelled context: %v after %s", err, time.Since(t0))
	}
	if len(said) != 1 || !strings.Contains(said[0], "another zcsuite run holds it") {
		t.Fatalf("said %q", said)
	}
	unlock()
	unlock2, err := Lock(context.Background(), p, logf)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}
