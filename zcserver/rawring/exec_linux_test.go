package rawring

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
	"github.com/zcsuite/zcsuite/zcserver/uring/uringtest"
)

// These tests need io_uring (6.13 or later for the wake-up), no FUSE.

func TestMain(m *testing.M) { uringtest.RunWithFDCheck(m) }

// start runs a ring for one test and hands back its thread (for Do's
// closures), skipping where the host has no io_uring.
func start(t *testing.T) (*Ring, *Thread) {
	t.Helper()
	var th *Thread
	r, err := Start(Config{Name: "test", Options: []uring.Option{uring.WithSQE128()},
		Setup: func(x *Thread) error { th = x; return nil }})
	switch {
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, uring.ErrNotSupported):
		t.Skipf("no io_uring here: %v", err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r, th
}

func TestDoStaysOnTheRingThread(t *testing.T) {
	r, _ := start(t)
	first := 0
	for range 2 {
		err := r.Do(context.Background(), func(context.Context) error {
			switch tid := unix.Gettid(); {
			case first == 0:
				first = tid
			case tid != first:
				return fmt.Errorf("thread %d, earlier %d", tid, first)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if first == unix.Gettid() {
		t.Fatal("Do ran on the caller's thread")
	}
}

func TestDoTurnsAPanicIntoAnError(t *testing.T) {
	r, _ := start(t)
	err := r.Do(context.Background(), func(context.Context) error { panic("boom") })
	if err == nil {
		t.Fatal("a panicking closure returned nil")
	}
}

func TestCancelWakesAWait(t *testing.T) {
	r, th := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := r.Do(ctx, func(ctx context.Context) error {
		_, err := th.Wait(ctx, func(uring.CQE) bool { return false }, false)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait after the deadline: %v, want DeadlineExceeded", err)
	}
}

func TestStopOnEndsAStoppableWait(t *testing.T) {
	r, th := start(t)
	until := make(chan struct{})
	end := r.StopOn(until)
	close(until)
	err := r.Do(context.Background(), func(ctx context.Context) error {
		_, err := th.Wait(ctx, func(uring.CQE) bool { return false }, true)
		return err
	})
	end()
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stoppable wait: %v, want ErrStopped", err)
	}
}

func TestClosedRingRefusesDo(t *testing.T) {
	r, _ := start(t)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Do(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v, want ErrClosed", err)
	}
}

// A Serve that its until channel stopped leaves no stop behind: a later
// stoppable wait (Next outside Serve) waits for its CQE or its context,
// not ErrStopped. ringtest's ServeFunc once kept the stop and kmbufring's
// cleared it.
func TestServeClearsItsStop(t *testing.T) {
	r, th := start(t)
	until := make(chan struct{})
	close(until)
	err := r.Serve(context.Background(), until, func(ctx context.Context) error {
		_, err := th.Wait(ctx, func(uring.CQE) bool { return false }, true)
		return err
	})
	if err != nil {
		t.Fatalf("a stopped Serve: %v, want nil", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = r.Do(ctx, func(ctx context.Context) error {
		_, err := th.Wait(ctx, func(uring.CQE) bool { return false }, true)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a stoppable wait after Serve: %v, want the deadline (not ErrStopped)", err)
	}
}
