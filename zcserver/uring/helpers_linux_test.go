package uring_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
	"github.com/zcsuite/zcsuite/zcserver/uring/uringtest"
)

// newRing creates a ring closed at cleanup. A host that refuses io_uring
// altogether (ENOSYS, or EPERM from the io_uring_disabled sysctl or a
// seccomp filter) skips with that reason; any other error fails.
func newRing(t *testing.T, entries uint32, opts ...uring.Option) *uring.Ring {
	t.Helper()
	r, err := uring.New(entries, opts...)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("host refuses io_uring (%v): cannot test here", err)
	}
	if err != nil {
		t.Fatalf("New(%d): %v", entries, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// newRingSince is newRing for a setup flag that first appeared in kernel
// major.minor: EINVAL on an older kernel skips, on a newer one fails.
func newRingSince(t *testing.T, major, minor int, feature string, entries uint32, opts ...uring.Option) *uring.Ring {
	t.Helper()
	r, err := uring.New(entries, opts...)
	if errors.Is(err, unix.EINVAL) && !uringtest.KernelAtLeast(major, minor) {
		ma, mi, _ := uringtest.KernelVersion()
		t.Skipf("%s needs Linux %d.%d, running %d.%d: %v", feature, major, minor, ma, mi, err)
	}
	if err != nil {
		t.Fatalf("New(%d) with %s: %v", entries, feature, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// memfd returns a memfd holding data, closed at cleanup.
func memfd(t *testing.T, data []byte) int32 {
	t.Helper()
	fd, err := unix.MemfdCreate("uringtest", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if len(data) > 0 {
		if n, err := unix.Pwrite(fd, data, 0); err != nil || n != len(data) {
			t.Fatalf("pwrite memfd: %d, %v", n, err)
		}
	}
	return int32(fd)
}

// pages returns n bytes of page-aligned anonymous memory, unmapped at
// cleanup (cleanups run after the ring's Close, which was registered later).
func pages(t *testing.T, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap %d: %v", n, err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// run prepares one SQE with prep, submits it and returns its CQE.
func run(t *testing.T, r *uring.Ring, prep func(*uring.SQE)) uring.CQE {
	t.Helper()
	s, err := r.NextSQE()
	if err != nil {
		t.Fatalf("NextSQE: %v", err)
	}
	prep(s)
	return submitWait(t, r, s.UserData)
}

func submitWait(t *testing.T, r *uring.Ring, userData uint64) uring.CQE {
	t.Helper()
	if _, err := r.Submit(); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	c, err := r.WaitCQE()
	if err != nil {
		t.Fatalf("WaitCQE: %v", err)
	}
	if c.UserData != userData {
		t.Fatalf("CQE user_data = %#x, want %#x", c.UserData, userData)
	}
	return c
}

// wantRes fails unless c.Res is exactly want (a byte count, or -errno).
func wantRes(t *testing.T, what string, c uring.CQE, want int32) {
	t.Helper()
	if c.Res != want {
		t.Fatalf("%s: res = %d (%v), want %d (%v)", what, c.Res, c.Err(), want, resName(want))
	}
}

func resName(res int32) string {
	if res < 0 {
		return unix.Errno(-res).Error()
	}
	return fmt.Sprintf("%d bytes", res)
}

// wantErrno fails unless err matches errno, and its text contains sub.
func wantErrno(t *testing.T, what string, err error, errno unix.Errno, sub string) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Fatalf("%s: err = %v, want %v", what, err, errno)
	}
	if sub != "" && !bytes.Contains([]byte(err.Error()), []byte(sub)) {
		t.Fatalf("%s: error %q does not mention %q", what, err, sub)
	}
}

func sqeBytes(s *uring.SQE, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(s)), n)
}

func addr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }
