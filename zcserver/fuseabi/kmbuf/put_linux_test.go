package kmbuf

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

func TestPutIntoRingSlot(t *testing.T) {
	r, err := uring.New(4, uring.WithSQE128())
	if errors.Is(err, uring.ErrNotSupported) {
		t.Skipf("no io_uring on this host: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sqe, err := r.NextSQE()
	if err != nil {
		t.Fatal(err)
	}
	// Stale bytes in the slot must not survive Put.
	slot := unsafe.Slice((*byte)(unsafe.Pointer(sqe)), SizeofURingCmdSQE)
	for i := range slot {
		slot[i] = 0x5a
	}
	q := ProfileV2.RegisterSQE(SQEArgs{Fd: 9, UserData: 42}, RegisterArgs{Qid: 1, Mode: Mode{BufRing: true}, Ent: 2})
	if !q.Put(sqe) {
		t.Fatal("Put refused a 128-byte slot")
	}
	if string(slot) != string(q.Bytes()) {
		t.Fatalf("slot\n got % x\nwant % x", slot, q.Bytes())
	}
	if sqe.Opcode != uring.IORING_OP_URING_CMD || sqe.CmdOp() != uint32(FUSE_IO_URING_CMD_REGISTER) || sqe.BufIndex != 2 || sqe.UserData != 42 {
		t.Fatalf("uring.SQE view of the slot: %+v", *sqe)
	}

	r64, err := uring.New(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r64.Close()
	s64, err := r64.NextSQE()
	if err != nil {
		t.Fatal(err)
	}
	if q.Put(s64) {
		t.Fatal("Put wrote 128 bytes into a 64-byte slot")
	}
}
