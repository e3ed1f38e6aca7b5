package ringtest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring/uringtest"
)

// These tests need io_uring (6.13 or later for the wake-up) but no FUSE:
// a pipe stands in for /dev/fuse, so every FUSE command ends in the
// io_uring core's EOPNOTSUPP.

func TestMain(m *testing.M) { uringtest.RunWithFDCheck(m) }

func start(t *testing.T) *Ring {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	r, err := Start(p[0], Config{BufSlots: 8})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("no io_uring here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func TestDoRunsOnOneThread(t *testing.T) {
	r := start(t)
	ctx := context.Background()
	var tids [2]int
	for i := range tids {
		if err := r.Do(ctx, func(*Thread) error { tids[i] = unix.Gettid(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if tids[0] != tids[1] || tids[0] == unix.Gettid() {
		t.Fatalf("ring thread ids %v, caller %d", tids, unix.Gettid())
	}
}

func TestExecKeepsTheErrno(t *testing.T) {
	r := start(t)
	err := r.Do(context.Background(), func(th *Thread) error { return th.AddQueue(0, 0) })
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("ADD_QUEUE on a pipe: %v, want EOPNOTSUPP", err)
	}
}

func TestContextEndsAWait(t *testing.T) {
	r := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := nextErr(r, ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next without entries: %v, want the deadline", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("the wake-up took %v", d)
	}
	// The thread is still usable afterwards.
	if err := r.Do(context.Background(), func(*Thread) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func nextErr(r *Ring, ctx context.Context) (*Entry, error) {
	var e *Entry
	err := r.Do(ctx, func(t *Thread) error {
		var err error
		e, err = t.Next()
		return err
	})
	return e, err
}

func TestServeStopsWhenUntilCloses(t *testing.T) {
	r := start(t)
	until := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- r.Serve(context.Background(), nil, until) }()
	close(until)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

func TestCloseEndsTheThread(t *testing.T) {
	r := start(t)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Do(context.Background(), func(*Thread) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
}

func TestPanicBecomesError(t *testing.T) {
	r := start(t)
	if err := r.Do(context.Background(), func(*Thread) error { panic("boom") }); err == nil {
		t.Fatal("a panic on the ring thread was lost")
	}
}

func TestCapSysAdminIsPerThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := start(t)
	var inside bool
	err := r.Do(context.Background(), func(th *Thread) error {
		if err := th.SetCapSysAdmin(false); err != nil {
			return err
		}
		var err error
		inside, err = HasCapSysAdmin()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	outside, err := HasCapSysAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if inside || !outside {
		t.Fatalf("CAP_SYS_ADMIN: ring thread %v, test thread %v", inside, outside)
	}
}

func TestUnmapRemap(t *testing.T) {
	r := start(t)
	b, err := r.Alloc(10)
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 1
	if err := r.Unmap(b); err != nil {
		t.Fatal(err)
	}
	// A system call reading the range now faults.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.Write(p[1], b); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("write from unmapped memory: %v", err)
	}
	if err := r.Remap(b); err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 || len(b) != 10 {
		t.Fatalf("remapped memory not fresh: %d", b[0])
	}
}

func TestPossibleCPUs(t *testing.T) {
	n, err := PossibleCPUs()
	if err != nil || n < 1 {
		t.Fatalf("PossibleCPUs = %d, %v", n, err)
	}
}
