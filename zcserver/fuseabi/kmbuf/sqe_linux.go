package kmbuf

import (
	"structs"
	"unsafe"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// URingCmdSQE is a whole 128-byte SQE (IORING_SETUP_SQE128) carrying a
// FUSE uring_cmd, field by field as the kernel reads it (ABI doc §2.6).
// The builders return it complete, every field the command does not use
// zero; a transport copies it over a ring slot with Put.
type URingCmdSQE struct {
	_             structs.HostLayout
	Opcode        uint8  // 0: IORING_OP_URING_CMD
	Flags         uint8  // 1: IOSQE_* (IOSQE_FIXED_FILE at most)
	Ioprio        uint16 // 2
	Fd            int32  // 4: /dev/fuse fd or fixed-file index
	CmdOp         uint32 // 8: Cmd
	_             uint32 // 12: __pad1, must be 0
	Addr          uint64 // 16: REGISTER without buf ring: iovec array
	Len           uint32 // 24: REGISTER without buf ring: 2
	URingCmdFlags uint32 // 28: IORING_URING_CMD_FIXED is allowed, not needed
	UserData      uint64 // 32
	BufIndex      uint16 // 40: REGISTER: the ent id (fixed_buf_id)
	Personality   uint16 // 42
	_             [4]byte
	Cmd           [SQECmdSize]byte // 48: fuse_uring_cmd_req, then zeros
}

// SQEArgs are the SQE fields every FUSE command sets.
type SQEArgs struct {
	// Fd is the /dev/fuse descriptor, or its fixed-file index with
	// FixedFile.
	Fd        int32
	FixedFile bool
	UserData  uint64
	// Personality is a registered personality id (0: the submitter's).
	Personality uint16
	// URingCmdFlags is uring_cmd_flags; 0 works (ABI doc §2.6).
	URingCmdFlags uint32
}

func (a SQEArgs) sqe(op Cmd) URingCmdSQE {
	s := URingCmdSQE{Opcode: uring.IORING_OP_URING_CMD, Fd: a.Fd, CmdOp: uint32(op), UserData: a.UserData,
		Personality: a.Personality, URingCmdFlags: a.URingCmdFlags}
	if a.FixedFile {
		s.Flags = uring.IOSQE_FIXED_FILE
	}
	return s
}

// RegisterArgs are a REGISTER's fields beyond SQEArgs.
type RegisterArgs struct {
	Qid        uint16
	Mode       Mode
	QueueDepth uint16
	// Ent is sqe.buf_index: the ent id, which is the header slot number
	// and, with zero copy, the page slot (ABI doc §2.6, §3.3).
	Ent uint16
	// Iovecs and NrIovecs are sqe.addr and sqe.len, read only without buf
	// ring (iov[0] header of 288 bytes, iov[1] payload).
	Iovecs   uint64
	NrIovecs uint32
}

// RegisterSQE builds a complete REGISTER SQE in p's layout.
func (p Profile) RegisterSQE(s SQEArgs, r RegisterArgs) URingCmdSQE {
	q := s.sqe(FUSE_IO_URING_CMD_REGISTER)
	q.BufIndex = r.Ent
	q.Addr, q.Len = r.Iovecs, r.NrIovecs
	c := p.RegisterCmd(r.Qid, r.Mode, r.QueueDepth)
	copy(q.Cmd[:], c[:])
	return q
}

// CommitAndFetchSQE builds a complete COMMIT_AND_FETCH SQE for the
// request with commitID on qid (ABI doc §4 step 6).
func (p Profile) CommitAndFetchSQE(s SQEArgs, qid uint16, commitID uint64) URingCmdSQE {
	q := s.sqe(FUSE_IO_URING_CMD_COMMIT_AND_FETCH)
	c := p.CommitCmd(qid, commitID)
	copy(q.Cmd[:], c[:])
	return q
}

// Bytes views the SQE as its 128 wire bytes (aliasing q).
func (q *URingCmdSQE) Bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(q)), SizeofURingCmdSQE)
}

// Put copies q over a slot of an IORING_SETUP_SQE128 ring (a *uring.SQE
// from NextSQE on such a ring spans 128 bytes). It reports false, writing
// nothing, when dst has no command area (a 64-byte slot).
func (q *URingCmdSQE) Put(dst *uring.SQE) bool {
	if dst.Cmd() == nil {
		return false
	}
	*(*URingCmdSQE)(unsafe.Pointer(dst)) = *q
	return true
}

// CQEBufferID returns the kmbuf buffer id a CQE carries: bid =
// flags >> IORING_CQE_BUFFER_SHIFT when IORING_CQE_F_BUFFER is set (ABI doc
// §2.4). ok is false when the CQE carries none.
func CQEBufferID(flags uint32) (bid uint16, ok bool) {
	if flags&uring.IORING_CQE_F_BUFFER == 0 {
		return 0, false
	}
	return uint16(flags >> uring.IORING_CQE_BUFFER_SHIFT), true
}

// StickyBuffer is one ent's payload buffer as a server must track it: a
// CQE with IORING_CQE_F_BUFFER names a new buffer; a CQE without it keeps
// the previous one, because the kernel reuses the ent's buffer across a
// COMMIT_AND_FETCH without saying so again (ABI doc §2.4). The zero value
// holds no buffer.
type StickyBuffer struct {
	bid   uint16
	valid bool
}

// Observe updates the tracker from a delivery CQE's flags and returns the
// buffer the request uses, if any.
func (s *StickyBuffer) Observe(cqeFlags uint32) (bid uint16, ok bool) {
	if b, ok := CQEBufferID(cqeFlags); ok {
		s.bid, s.valid = b, true
	}
	return s.bid, s.valid
}

// Get returns the remembered buffer.
func (s StickyBuffer) Get() (bid uint16, ok bool) { return s.bid, s.valid }
