package kmbufring

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// These tests run on the build host, whose kernel lacks the series: they
// check the ring plumbing (thread, SQE building, CQE routing, fixed I/O)
// and that kmbuf calls fail the way a kernel without the series answers.

func startRing(t *testing.T, fd int) *Ring {
	t.Helper()
	r, err := Start(fd, Config{Profile: kmbuf.ProfileV2})
	if errors.Is(err, uring.ErrNotSupported) {
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

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestStartNeedsProfile(t *testing.T) {
	if _, err := Start(0, Config{}); err == nil {
		t.Fatal("Start without a profile")
	}
}

func TestKmbufRefusedWithoutSeries(t *testing.T) {
	if _, err := features.HaveKmbufRing(); err == nil {
		t.Skip("this host carries the kmbuf series")
	}
	r := startRing(t, -1)
	err := r.Do(ctx(t), func(th *Thread) error { return th.RegisterKmbuf(4096, 1) })
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("RegisterKmbuf on a kernel without the series: %v, want EINVAL", err)
	}
	err = r.Do(ctx(t), func(th *Thread) error {
		_, err := th.SetupQueue(Layout{Qid: 0, Depth: 2, PayloadSz: 8192})
		return err
	})
	if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("SetupQueue: %v, want the kmbuf registration's EINVAL", err)
	}
}

// TestRegisterOnNonFuseFile sends a REGISTER to a memfd: io_uring refuses a
// uring_cmd on a file without a handler with EOPNOTSUPP, immediately, which
// exercises the SQE copy, the submit and the error-CQE path.
func TestRegisterOnNonFuseFile(t *testing.T) {
	fd, err := unix.MemfdCreate("not-fuse", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	r := startRing(t, fd)
	err = r.Do(ctx(t), func(th *Thread) error {
		hdrs, err := th.Ring().Alloc(kmbuf.HeadersLen(1))
		if err != nil {
			return err
		}
		e := &Entry{Qid: 0, ID: 1, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs}
		if err := th.Register(e); err == nil {
			return errors.New("REGISTER on a memfd was kept")
		} else if !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
		if len(th.Ended()) != 0 || len(th.Delivered()) != 0 {
			return errors.New("the refused REGISTER's CQE was left in the stash")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFixedIO moves bytes between a memfd and a user buffer in the table.
func TestFixedIO(t *testing.T) {
	r := startRing(t, -1)
	err := r.Do(ctx(t), func(th *Thread) error {
		buf, err := th.Ring().Alloc(4096)
		if err != nil {
			return err
		}
		if err := th.Table(4); err != nil {
			return err
		}
		if err := th.PutBuffer(2, buf); err != nil {
			return err
		}
		fd, scratch, err := th.Scratch(64)
		if err != nil {
			return err
		}
		copy(scratch, "kmbufring fixed i/o")
		if _, err := unix.Pwrite(fd, scratch[:19], 0); err != nil {
			return err
		}
		bufAddr := uint64(uintptr(unsafePointer(buf)))
		n, err := th.Fixed(true, fd, bufAddr, 19, 0, 2)
		if err != nil || n != 19 || string(buf[:19]) != "kmbufring fixed i/o" {
			return errors.Join(errors.New("READ_FIXED into the user buffer"), err)
		}
		if _, err := th.Fixed(true, fd, 0, 1, 0, 1); !errors.Is(err, unix.EFAULT) {
			return errors.Join(errors.New("fixed I/O on an empty slot must give EFAULT"), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDoAfterClose(t *testing.T) {
	r := startRing(t, -1)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Do(ctx(t), func(*Thread) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDoWakesOnCancel(t *testing.T) {
	if os.Getenv("ZCSUITE_SLOW_HOST") != "" {
		t.Skip("ZCSUITE_SLOW_HOST")
	}
	r := startRing(t, -1)
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Next waits for an entry CQE that never comes; the cancellation wakes
	// the thread through IORING_REGISTER_SEND_MSG_RING.
	err := r.Do(c, func(th *Thread) error { _, err := th.Next(); return err })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next after the deadline: %v", err)
	}
}

func TestDefaultBufSize(t *testing.T) {
	page := uint32(unix.Getpagesize())
	for _, c := range []struct{ in, want uint32 }{{8192, 64 << 10}, {128 << 10, 128 << 10}, {(128 << 10) + 1, (128 << 10) + page}} {
		if got := DefaultBufSize(c.in); got != c.want {
			t.Errorf("DefaultBufSize(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	if pow2(1) != 1 || pow2(3) != 4 || pow2(4) != 4 || pow2(5) != 8 {
		t.Error("pow2")
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
