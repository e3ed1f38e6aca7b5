package linux73

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Command is one FUSE uring_cmd SQE of this ABI (§2.1): the opcode, its
// fuse_uring_cmd_req and the SQE fields around it. The zero value of each
// field is what a well-formed command has; a caller changes single fields
// to break it on purpose.
type Command struct {
	Op  Cmd
	Req CmdReq
	// Fixed sets IORING_URING_CMD_FIXED with BufIndex as sqe.buf_index
	// (a registered pool, §3.2, §3.4).
	Fixed    bool
	BufIndex uint16
	// CmdFlags are further uring_cmd_flags bits (§2.1).
	CmdFlags uint32
	// Iov is REGISTER's iovec array (sqe.addr, §3.3); IovLen overrides
	// sqe.len, which is len(Iov) otherwise. The caller keeps Iov reachable
	// until the SQE is submitted.
	Iov    []unix.Iovec
	IovLen *uint32
	// SQEFlags are IOSQE_* bits, e.g. IOSQE_ASYNC to punt to io-wq.
	SQEFlags uint8
	// Personality is a registered personality id (0: none).
	Personality uint16
}

// CommitCommand is the COMMIT_AND_FETCH of commitID on qid (§3.4), with
// FIXED and bufIndex when the entry registered with a registered pool.
func CommitCommand(qid uint16, commitID uint64, fixed bool, bufIndex uint16) Command {
	return Command{Op: FUSE_IO_URING_CMD_COMMIT_AND_FETCH, Req: CommitAndFetch(qid, commitID), Fixed: fixed, BufIndex: bufIndex}
}

// Put takes a zeroed SQE from ring and fills it with c for the /dev/fuse
// descriptor devFD and userData, without submitting it.
func (c *Command) Put(ring *uring.Ring, devFD int32, userData uint64) (*uring.SQE, error) {
	sqe, err := ring.NextSQE()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Op, err)
	}
	sqe.PrepURingCmd(devFD, uint32(c.Op))
	sqe.UserData = userData
	sqe.Flags = c.SQEFlags
	sqe.Personality = c.Personality
	sqe.OpFlags = c.CmdFlags
	if c.Fixed {
		sqe.OpFlags |= uring.IORING_URING_CMD_FIXED
		sqe.BufIndex = c.BufIndex
	}
	if len(c.Iov) > 0 {
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.Iov[0])))
		sqe.Len = uint32(len(c.Iov))
	}
	if c.IovLen != nil {
		sqe.Len = *c.IovLen
	}
	return sqe, EncodeCmd(sqe.Cmd(), &c.Req)
}

// EntryIovecs returns REGISTER's iovec array (§3.3): iov[0] the header
// buffer, iov[1] the payload buffer, an empty buffer as {NULL, 0} (the
// pool form of the payload).
func EntryIovecs(header, payload []byte) []unix.Iovec {
	iov := make([]unix.Iovec, RegisterIovecs)
	for i, b := range [][]byte{header, payload} {
		if len(b) > 0 {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
		}
	}
	return iov
}
