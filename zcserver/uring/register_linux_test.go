package uring_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

const efault = -int32(unix.EFAULT)

// TestFixedReadWrite moves bytes between a memfd and a registered buffer
// with READ_FIXED and WRITE_FIXED and checks both directions.
func TestFixedReadWrite(t *testing.T) {
	r := newRing(t, 4)
	fileData := pattern(8192, 1)
	fd := memfd(t, fileData)
	buf := pages(t, 8192)
	if err := r.RegisterBuffers([][]byte{buf}); err != nil {
		t.Fatalf("RegisterBuffers: %v", err)
	}
	// buf[0:4096] -> file[4096:8192]
	out := pattern(4096, 77)
	copy(buf, out)
	wantRes(t, "WRITE_FIXED", run(t, r, func(s *uring.SQE) {
		s.PrepWriteFixed(fd, addr(buf), 4096, 4096, 0)
		s.UserData = 1
	}), 4096)
	// file[0:4096] -> buf[4096:8192], an address inside the registration.
	wantRes(t, "READ_FIXED", run(t, r, func(s *uring.SQE) {
		s.PrepReadFixed(fd, addr(buf[4096:]), 4096, 0, 0)
		s.UserData = 2
	}), 4096)
	if !bytes.Equal(buf[4096:], fileData[:4096]) {
		t.Fatal("READ_FIXED delivered wrong bytes")
	}
	got := make([]byte, 4096)
	if _, err := unix.Pread(int(fd), got, 4096); err != nil || !bytes.Equal(got, out) {
		t.Fatalf("WRITE_FIXED wrote wrong bytes (%v)", err)
	}
	// One byte past the registered range is refused.
	wantRes(t, "READ_FIXED past the buffer", run(t, r, func(s *uring.SQE) {
		s.PrepReadFixed(fd, addr(buf[4096:]), 4097, 0, 0)
		s.UserData = 3
	}), efault)
}

// TestRegisterBuffersHoles: nil elements of RegisterBuffers are empty slots.
func TestRegisterBuffersHoles(t *testing.T) {
	r := newRing(t, 4)
	fd := memfd(t, pattern(4096, 5))
	b0, b2 := pages(t, 4096), pages(t, 4096)
	if err := r.RegisterBuffers([][]byte{b0, nil, b2}); err != nil {
		t.Fatalf("RegisterBuffers: %v", err)
	}
	wantRes(t, "READ_FIXED empty slot 1", run(t, r, func(s *uring.SQE) {
		s.PrepReadFixed(fd, addr(b0), 4096, 0, 1)
		s.UserData = 1
	}), efault)
	wantRes(t, "READ_FIXED slot 2", run(t, r, func(s *uring.SQE) {
		s.PrepReadFixed(fd, addr(b2), 4096, 0, 2)
		s.UserData = 2
	}), 4096)
	wantRes(t, "READ_FIXED slot 3 (past the table)", run(t, r, func(s *uring.SQE) {
		s.PrepReadFixed(fd, addr(b2), 4096, 0, 3)
		s.UserData = 3
	}), efault)
	if err := r.RegisterBuffers([][]byte{b0}); err != nil {
		wantErrno(t, "second RegisterBuffers", err, unix.EBUSY, "register BUFFERS:")
	} else {
		t.Fatal("second RegisterBuffers succeeded")
	}
}

// TestSparseTable walks the life of a sparse table as the zero-copy server
// uses it (ABI doc §4.1 steps 3-4, §4.f): empty slot -> EFAULT, update ->
// success, update past the end -> EINVAL, second table -> EBUSY,
// unregister -> slot EFAULT and a second unregister -> ENXIO.
func TestSparseTable(t *testing.T) {
	r := newRing(t, 4)
	data := pattern(4096, 11)
	fd := memfd(t, data)
	buf := pages(t, 4096)
	readSlot := func(what string, slot uint16, want int32) {
		t.Helper()
		clear(buf)
		c := run(t, r, func(s *uring.SQE) {
			s.PrepReadFixed(fd, addr(buf), 4096, 0, slot)
			s.UserData = uint64(slot) + 1000
		})
		wantRes(t, what, c, want)
		if want == 4096 && !bytes.Equal(buf, data) {
			t.Fatalf("%s: wrong bytes", what)
		}
	}

	if err := r.RegisterBuffersSparse(8); err != nil {
		t.Fatalf("RegisterBuffersSparse(8): %v", err)
	}
	readSlot("READ_FIXED on empty sparse slot 3", 3, efault)

	n, err := r.UpdateBuffers(3, [][]byte{buf})
	if err != nil || n != 1 {
		t.Fatalf("UpdateBuffers(3) = %d, %v; want 1", n, err)
	}
	readSlot("READ_FIXED after update", 3, 4096)
	readSlot("READ_FIXED on still-empty slot 4", 4, efault)

	_, err = r.UpdateBuffers(8, [][]byte{buf})
	wantErrno(t, "UpdateBuffers(8) on an 8-slot table", err, unix.EINVAL, "register BUFFERS_UPDATE: invalid argument")
	_, err = r.UpdateBuffers(7, [][]byte{buf, buf})
	wantErrno(t, "UpdateBuffers(7, 2 bufs)", err, unix.EINVAL, "register BUFFERS_UPDATE")

	n, err = r.UpdateBuffers(3, [][]byte{nil})
	if err != nil || n != 1 {
		t.Fatalf("UpdateBuffers(3, nil) = %d, %v", n, err)
	}
	readSlot("READ_FIXED on emptied slot", 3, efault)

	err = r.RegisterBuffersSparse(8)
	wantErrno(t, "second RegisterBuffersSparse", err, unix.EBUSY, "register BUFFERS2")

	if n, err = r.UpdateBuffers(0, [][]byte{buf}); err != nil || n != 1 {
		t.Fatalf("UpdateBuffers(0) = %d, %v", n, err)
	}
	if err := r.UnregisterBuffers(); err != nil {
		t.Fatalf("UnregisterBuffers: %v", err)
	}
	readSlot("READ_FIXED after unregister", 0, efault)
	err = r.UnregisterBuffers()
	wantErrno(t, "second UnregisterBuffers", err, unix.ENXIO, "register UNREGISTER_BUFFERS")
	_, err = r.UpdateBuffers(0, [][]byte{buf})
	wantErrno(t, "UpdateBuffers without a table", err, unix.ENXIO, "register BUFFERS_UPDATE")
}

// TestSparseTableLimit: 16384 slots is the maximum (ABI doc §4.1 step 3).
func TestSparseTableLimit(t *testing.T) {
	r := newRing(t, 4)
	err := r.RegisterBuffersSparse(16385)
	wantErrno(t, "RegisterBuffersSparse(16385)", err, unix.EINVAL, "register BUFFERS2")
	if err := r.RegisterBuffersSparse(16384); err != nil {
		t.Fatalf("RegisterBuffersSparse(16384): %v", err)
	}
	buf := pages(t, 4096)
	if n, err := r.UpdateBuffers(16383, [][]byte{buf}); err != nil || n != 1 {
		t.Fatalf("UpdateBuffers(16383) = %d, %v", n, err)
	}
}

// TestPersonality: a registered personality runs SQEs; once unregistered,
// an SQE naming it is refused and a second unregister fails.
func TestPersonality(t *testing.T) {
	r := newRing(t, 4)
	data := pattern(512, 3)
	fd := memfd(t, data)
	id, err := r.RegisterPersonality()
	if err != nil {
		t.Fatalf("RegisterPersonality: %v", err)
	}
	if id == 0 {
		t.Fatal("RegisterPersonality returned id 0")
	}
	wantRes(t, "NOP with personality", run(t, r, func(s *uring.SQE) {
		s.Personality = id
		s.UserData = 1
	}), 0)
	buf := make([]byte, 512)
	wantRes(t, "READ with personality", run(t, r, func(s *uring.SQE) {
		s.PrepRead(fd, buf, 0)
		s.Personality = id
		s.UserData = 2
	}), 512)
	if !bytes.Equal(buf, data) {
		t.Fatal("READ with personality: wrong bytes")
	}
	if err := r.UnregisterPersonality(id); err != nil {
		t.Fatalf("UnregisterPersonality: %v", err)
	}
	wantRes(t, "NOP with unregistered personality", run(t, r, func(s *uring.SQE) {
		s.Personality = id
		s.UserData = 3
	}), -int32(unix.EINVAL))
	err = r.UnregisterPersonality(id)
	wantErrno(t, "second UnregisterPersonality", err, unix.EINVAL, "register UNREGISTER_PERSONALITY")
}

func TestRegisterFiles(t *testing.T) {
	r := newRing(t, 4)
	data := pattern(256, 8)
	fd := memfd(t, data)
	if err := r.RegisterFiles([]int32{-1, fd}); err != nil {
		t.Fatalf("RegisterFiles: %v", err)
	}
	buf := make([]byte, 256)
	wantRes(t, "READ via fixed file 1", run(t, r, func(s *uring.SQE) {
		s.PrepRead(1, buf, 0)
		s.Flags = uring.IOSQE_FIXED_FILE
		s.UserData = 1
	}), 256)
	if !bytes.Equal(buf, data) {
		t.Fatal("wrong bytes via fixed file")
	}
	wantRes(t, "READ via empty fixed slot 0", run(t, r, func(s *uring.SQE) {
		s.PrepRead(0, buf, 0)
		s.Flags = uring.IOSQE_FIXED_FILE
		s.UserData = 2
	}), -int32(unix.EBADF))
	if err := r.UnregisterFiles(); err != nil {
		t.Fatalf("UnregisterFiles: %v", err)
	}
	err := r.UnregisterFiles()
	wantErrno(t, "second UnregisterFiles", err, unix.ENXIO, "register UNREGISTER_FILES")
}

func TestProbe(t *testing.T) {
	r := newRing(t, 4)
	p, err := r.Probe()
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	t.Logf("last_op=%d (%s) ops_len=%d", p.LastOp, uring.Op(p.LastOp), p.OpsLen)
	for _, op := range []uint8{uring.IORING_OP_NOP, uring.IORING_OP_READ_FIXED, uring.IORING_OP_WRITE_FIXED,
		uring.IORING_OP_READ, uring.IORING_OP_WRITE, uring.IORING_OP_URING_CMD} {
		if !p.Supported(op) {
			t.Errorf("Probe: %s not supported", uring.Op(op))
		}
	}
	if p.Supported(255) {
		t.Error("Probe claims opcode 255")
	}
	if p.Supported(p.LastOp + 1) {
		t.Errorf("Probe claims opcode %d past last_op", p.LastOp+1)
	}
	t.Logf("URING_CMD128 supported: %v", p.Supported(uring.IORING_OP_URING_CMD128))
}
