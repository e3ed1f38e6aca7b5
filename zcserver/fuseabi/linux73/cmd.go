package linux73

import (
	"fmt"
	"unsafe"
)

// EncodeCmd writes c into an SQE's command area cmd (normally the 80 bytes
// at SQE offset 48) and zeroes every byte after the 40 of the struct, so a
// reused slot never carries stale union or tail bytes. cmd must be at least
// SizeofCmdReq long.
func EncodeCmd(cmd []byte, c *CmdReq) error {
	if len(cmd) < SizeofCmdReq {
		return fmt.Errorf("linux73: command area of %d bytes, need %d", len(cmd), SizeofCmdReq)
	}
	copy(cmd, unsafe.Slice((*byte)(unsafe.Pointer(c)), SizeofCmdReq))
	clear(cmd[SizeofCmdReq:])
	// The padding bytes are blank fields and may hold anything the caller
	// left there through unsafe code; the kernel never reads them (§2.3),
	// but keep the wire image deterministic.
	clear(cmd[18:24])
	return nil
}

// DecodeCmd reads a CmdReq from the start of a command area.
func DecodeCmd(cmd []byte) (CmdReq, error) {
	var c CmdReq
	if len(cmd) < SizeofCmdReq {
		return c, fmt.Errorf("linux73: command area of %d bytes, need %d", len(cmd), SizeofCmdReq)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&c)), SizeofCmdReq), cmd)
	return c, nil
}

// AddQueue builds the ADD_QUEUE command for qid (ABI doc §3.1). flags is 0
// or FUSE_URING_ZERO_COPY.
func AddQueue(qid uint16, flags uint64) CmdReq {
	return CmdReq{Qid: qid, Flags: flags}
}

// AddBufpool builds the ADD_BUFPOOL command for qid with a pool at uaddr of
// length n (ABI doc §3.2). uaddr must not be 0 (ABI doc §7 H1).
func AddBufpool(qid uint16, uaddr uint64, n uint32) CmdReq {
	c := CmdReq{Qid: qid}
	c.SetBufpool(Bufpool{Uaddr: uaddr, Len: n})
	return c
}

// Register builds the REGISTER command for qid (ABI doc §3.3). zcSlot is
// ent_zero_copy_buf_index and must be 0 on a queue without zero copy.
func Register(qid uint16, zcSlot uint16) CmdReq {
	c := CmdReq{Qid: qid}
	c.SetEntZeroCopyBufIndex(zcSlot)
	return c
}

// CommitAndFetch builds the COMMIT_AND_FETCH command for the request with
// commitID on qid (ABI doc §3.4).
func CommitAndFetch(qid uint16, commitID uint64) CmdReq {
	return CmdReq{Qid: qid, CommitID: commitID}
}
