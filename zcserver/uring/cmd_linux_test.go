package uring_test

import (
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// A memfd (shmem) has no ->uring_cmd file operation, so a well-formed
// URING_CMD against it passes io_uring's own checks and is refused by the
// issue path with EOPNOTSUPP. That makes it a driver-free way to show that
// the SQE we build is accepted up to the driver.
var eopnotsupp = -int32(unix.EOPNOTSUPP)

func TestURingCmdSQE128(t *testing.T) {
	r := newRing(t, 4, uring.WithSQE128())
	if !r.SQE128() {
		t.Fatal("SQE128() false")
	}
	fd := memfd(t, nil)
	s, err := r.NextSQE()
	if err != nil {
		t.Fatal(err)
	}
	s.PrepURingCmd(fd, 0x2a)
	cmd := s.Cmd()
	if len(cmd) != uring.CmdSize {
		t.Fatalf("Cmd() = %d bytes, want %d", len(cmd), uring.CmdSize)
	}
	if want := unsafe.Add(unsafe.Pointer(s), uring.CmdOffset); unsafe.Pointer(&cmd[0]) != want {
		t.Fatalf("Cmd() starts at %p, want SQE+48 %p", &cmd[0], want)
	}
	for i := range cmd {
		cmd[i] = byte(i + 1)
	}
	if s.Addr3 == 0 {
		t.Fatal("Cmd() does not alias addr3")
	}
	s.UserData = 1
	wantRes(t, "URING_CMD on memfd (SQE128 ring)", submitWait(t, r, 1), eopnotsupp)

	// __pad1 (SQE offset 12) must be zero: io_uring's prep rejects the SQE
	// with EINVAL before the file is asked.
	c := run(t, r, func(s *uring.SQE) {
		s.PrepURingCmd(fd, 0x2a)
		s.Off |= 1 << 32
		s.UserData = 2
	})
	wantRes(t, "URING_CMD with __pad1 != 0", c, -int32(unix.EINVAL))

	// Flags other than FIXED and MULTISHOT are refused the same way.
	c = run(t, r, func(s *uring.SQE) {
		s.PrepURingCmd(fd, 0x2a)
		s.OpFlags = 1 << 2
		s.UserData = 3
	})
	wantRes(t, "URING_CMD with unknown uring_cmd_flags", c, -int32(unix.EINVAL))
}

// TestURingCmd64 covers a ring with 64-byte SQEs: there is no command area
// (Cmd is nil), URING_CMD still reaches the file (EOPNOTSUPP from a memfd;
// it is the FUSE driver that insists on SQE128 and says EINVAL, ABI doc
// §2.1), URING_CMD128 is rejected, and NextSQE128 refuses.
func TestURingCmd64(t *testing.T) {
	r := newRing(t, 4)
	fd := memfd(t, nil)
	s, err := r.NextSQE()
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Cmd(); c != nil {
		t.Fatalf("Cmd() on a 64-byte ring = %d bytes, want nil", len(c))
	}
	s.PrepURingCmd(fd, 0x2a)
	s.UserData = 1
	wantRes(t, "URING_CMD on memfd (64-byte ring)", submitWait(t, r, 1), eopnotsupp)

	c := run(t, r, func(s *uring.SQE) {
		s.PrepURingCmd128(fd, 0x2a)
		s.UserData = 2
	})
	wantRes(t, "URING_CMD128 on a 64-byte ring", c, -int32(unix.EINVAL))

	if _, err := r.NextSQE128(); !errors.Is(err, uring.ErrNeedSQE128) {
		t.Fatalf("NextSQE128 on a 64-byte ring: %v, want ErrNeedSQE128", err)
	}
}

// TestSQEMixed: on an SQE_MIXED ring, NextSQE gives 64-byte slots without a
// command area, NextSQE128 gives two-slot SQEs with one, pads the last slot
// with a CQE-less NOP instead of wrapping, and URING_CMD128 reaches the
// file.
func TestSQEMixed(t *testing.T) {
	r := newRingSince(t, 6, 19, "IORING_SETUP_SQE_MIXED", 8,
		uring.WithSetupFlags(uring.IORING_SETUP_SQE_MIXED))
	if !r.SQEMixed() || r.SQE128() {
		t.Fatalf("SQEMixed=%v SQE128=%v", r.SQEMixed(), r.SQE128())
	}
	fd := memfd(t, nil)

	s0, _ := r.NextSQE()
	if s0.Cmd() != nil {
		t.Fatal("Cmd() of a 64-byte slot on a mixed ring is not nil")
	}
	s0.UserData = 1
	s1, err := r.NextSQE128()
	if err != nil {
		t.Fatal(err)
	}
	if uintptr(unsafe.Pointer(s1))-uintptr(unsafe.Pointer(s0)) != 64 {
		t.Fatal("NextSQE128 did not take the next slot")
	}
	if len(s1.Cmd()) != uring.CmdSize {
		t.Fatalf("Cmd() of a 128-byte SQE = %d bytes", len(s1.Cmd()))
	}
	s1.Opcode = uring.IORING_OP_NOP128
	s1.UserData = 2
	s3, _ := r.NextSQE()
	if uintptr(unsafe.Pointer(s3))-uintptr(unsafe.Pointer(s1)) != 128 {
		t.Fatal("NextSQE after NextSQE128 did not skip the second half")
	}
	s3.UserData = 3
	// The kernel counts SQ slots: 1 + 2 + 1.
	if n, err := r.Submit(); err != nil || n != 4 {
		t.Fatalf("Submit = %d, %v; want 4 (slots)", n, err)
	}
	for i := range 3 {
		c, err := r.WaitCQE()
		if err != nil {
			t.Fatal(err)
		}
		if c.UserData != uint64(i+1) || c.Res != 0 {
			t.Fatalf("CQE %d = %+v", i, c)
		}
	}

	// Slots 0..3 used; fill 4..6 so the next 128-byte SQE would start in
	// the last slot (7).
	for i := range 3 {
		s, _ := r.NextSQE()
		s.UserData = uint64(10 + i)
	}
	if _, err := r.SubmitAndWait(3); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WaitCQEs(3); err != nil {
		t.Fatal(err)
	}
	w, err := r.NextSQE128()
	if err != nil {
		t.Fatal(err)
	}
	if w != s0 {
		t.Fatalf("128-byte SQE at the wrap point is at %p, want slot 0 %p", w, s0)
	}
	w.PrepURingCmd128(fd, 0x2a)
	copy(w.Cmd(), "payload")
	w.UserData = 99
	// Pad NOP (1 slot) + 128-byte SQE (2 slots).
	if n, err := r.Submit(); err != nil || n != 3 {
		t.Fatalf("Submit with pad = %d, %v; want 3 (slots)", n, err)
	}
	wantRes(t, "URING_CMD128 on memfd (mixed ring)", submitWait(t, r, 99), eopnotsupp)
	if c, ok := r.PeekCQE(); ok {
		t.Fatalf("pad NOP posted a CQE: %+v", c)
	}

	// A 64-byte URING_CMD on a mixed ring is a plain 64-byte SQE.
	wantRes(t, "URING_CMD (64-byte) on mixed ring", run(t, r, func(s *uring.SQE) {
		s.PrepURingCmd(fd, 0x2a)
		s.UserData = 100
	}), eopnotsupp)
}
