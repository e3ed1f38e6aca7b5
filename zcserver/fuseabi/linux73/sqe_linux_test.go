package linux73

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Put writes every field of a Command where the kernel reads it (§2.1,
// §3.3), and a second Put into a reused slot carries nothing over.
func TestCommandPut(t *testing.T) {
	ring, err := uring.New(1, uring.WithSQE128()) // one slot: the second Put reuses it
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, uring.ErrNotSupported) {
		t.Skipf("no io_uring here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	iov := make([]unix.Iovec, RegisterIovecs)
	n := uint32(7)
	c := Command{Op: FUSE_IO_URING_CMD_REGISTER, Req: Register(3, 9), Fixed: true, BufIndex: 5,
		Iov: iov, IovLen: &n, SQEFlags: uring.IOSQE_ASYNC, Personality: 2}
	sqe, err := c.Put(ring, 11, 42)
	if err != nil {
		t.Fatal(err)
	}
	if sqe.Opcode != uring.IORING_OP_URING_CMD || sqe.Fd != 11 || sqe.CmdOp() != uint32(FUSE_IO_URING_CMD_REGISTER) ||
		sqe.UserData != 42 || sqe.OpFlags != uring.IORING_URING_CMD_FIXED || sqe.BufIndex != 5 ||
		sqe.Len != 7 || sqe.Addr == 0 || sqe.Flags != uring.IOSQE_ASYNC || sqe.Personality != 2 {
		t.Fatalf("REGISTER SQE %+v", *sqe)
	}
	if req, err := DecodeCmd(sqe.Cmd()); err != nil || req.Qid != 3 || req.EntZeroCopyBufIndex() != 9 {
		t.Fatalf("command area: %+v, %v", req, err)
	}
	// The descriptor is not /dev/fuse: the command fails, and its slot
	// is free again.
	if _, err := ring.Submit(); err != nil {
		t.Fatal(err)
	}
	cc := CommitCommand(3, 77, false, 0)
	sqe, err = cc.Put(ring, 11, 43)
	if err != nil {
		t.Fatal(err)
	}
	if sqe.OpFlags != 0 || sqe.BufIndex != 0 || sqe.Addr != 0 || sqe.Len != 0 || sqe.Personality != 0 {
		t.Fatalf("COMMIT SQE carries REGISTER's fields: %+v", *sqe)
	}
}

// A pool-mode entry registers its payload as {NULL, 0} (§3.3).
func TestEntryIovecs(t *testing.T) {
	hdr := make([]byte, SizeofReqHeader)
	iov := EntryIovecs(hdr, nil)
	if len(iov) != RegisterIovecs || iov[0].Base != &hdr[0] || iov[0].Len != SizeofReqHeader || iov[1].Base != nil || iov[1].Len != 0 {
		t.Fatalf("pool-mode iovecs %+v", iov)
	}
	pay := make([]byte, 10)
	if iov = EntryIovecs(hdr, pay); iov[1].Base != &pay[0] || iov[1].Len != 10 {
		t.Fatalf("per-entry iovecs %+v", iov)
	}
}
