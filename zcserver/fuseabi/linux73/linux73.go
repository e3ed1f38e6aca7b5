package linux73

import (
	"encoding/binary"
	"strconv"
	"structs"
)

// Cmd is the uring_cmd opcode in sqe.cmd_op (enum fuse_uring_cmd, ABI doc §2.2).
type Cmd uint32

// enum fuse_uring_cmd (uapi fuse.h; ABI doc §2.2).
const (
	FUSE_IO_URING_CMD_INVALID          Cmd = 0
	FUSE_IO_URING_CMD_REGISTER         Cmd = 1
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH Cmd = 2
	FUSE_IO_URING_CMD_ADD_QUEUE        Cmd = 3 // new in 7.46
	FUSE_IO_URING_CMD_ADD_BUFPOOL      Cmd = 4 // new in 7.46
)

// String returns the kernel name of c, or "Cmd(N)".
func (c Cmd) String() string {
	switch c {
	case FUSE_IO_URING_CMD_INVALID:
		return "FUSE_IO_URING_CMD_INVALID"
	case FUSE_IO_URING_CMD_REGISTER:
		return "FUSE_IO_URING_CMD_REGISTER"
	case FUSE_IO_URING_CMD_COMMIT_AND_FETCH:
		return "FUSE_IO_URING_CMD_COMMIT_AND_FETCH"
	case FUSE_IO_URING_CMD_ADD_QUEUE:
		return "FUSE_IO_URING_CMD_ADD_QUEUE"
	case FUSE_IO_URING_CMD_ADD_BUFPOOL:
		return "FUSE_IO_URING_CMD_ADD_BUFPOOL"
	}
	return "Cmd(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Constants of the 7.46 ring ABI (ABI doc §2.4, §2.5).
const (
	// FUSE_URING_IN_OUT_HEADER_SZ is the size of ReqHeader.InOut.
	FUSE_URING_IN_OUT_HEADER_SZ = 128
	// FUSE_URING_OP_IN_OUT_SZ is the size of ReqHeader.OpIn.
	FUSE_URING_OP_IN_OUT_SZ = 128

	// FUSE_URING_ZERO_COPY is CmdReq.Flags bit 0 for ADD_QUEUE: the queue
	// zero-copies READ/WRITE of opted-in files. Needs CAP_SYS_ADMIN.
	FUSE_URING_ZERO_COPY uint64 = 1 << 0
	// FUSE_URING_ADD_QUEUE_FLAGS is the mask of flags ADD_QUEUE accepts
	// (ABI doc §2.5); other bits give -EINVAL.
	FUSE_URING_ADD_QUEUE_FLAGS = FUSE_URING_ZERO_COPY

	// FUSE_URING_ENT_ZERO_COPY is EntInOut.Flags bit 0 at delivery: the
	// request's data pages sit in the entry's zero-copy buffer slot.
	FUSE_URING_ENT_ZERO_COPY uint64 = 1 << 0

	// MinorVersion is the protocol minor that introduced this ABI.
	MinorVersion = 46
)

// Sizes and offsets (ABI doc §2.3, §2.4).
const (
	SizeofCmdReq    = 40
	SizeofEntInOut  = 32
	SizeofReqHeader = 288

	// SQECmdOffset is where the command area starts inside a 128-byte SQE,
	// and SQECmdSize its length (ABI doc §2.1).
	SQECmdOffset = 48
	SQECmdSize   = 80

	// Offsets inside ReqHeader (ABI doc §2.4, §4.d).
	OffsetInOut  = 0
	OffsetOpIn   = 128
	OffsetEntOut = 256

	// RegisterIovecs is the sqe.len REGISTER requires: iov[0] header,
	// iov[1] payload (ABI doc §3.3).
	RegisterIovecs = 2
)

// CmdReq is struct fuse_uring_cmd_req, placed at the start of an SQE128's
// command area (ABI doc §2.3). Union holds either the ADD_BUFPOOL bufpool
// struct or, for REGISTER, ent_zero_copy_buf_index in its first two bytes;
// use the accessors.
type CmdReq struct {
	_        structs.HostLayout
	Flags    uint64
	CommitID uint64
	Qid      uint16
	_        [6]byte // padding[6], never read
	Union    [16]byte
}

// Bufpool is the bufpool member of CmdReq's union (ADD_BUFPOOL).
type Bufpool struct {
	Uaddr    uint64
	Len      uint32
	Reserved uint32 // must be 0
}

// Bufpool returns the union read as the ADD_BUFPOOL member.
func (c *CmdReq) Bufpool() Bufpool {
	return Bufpool{
		Uaddr:    binary.NativeEndian.Uint64(c.Union[0:8]),
		Len:      binary.NativeEndian.Uint32(c.Union[8:12]),
		Reserved: binary.NativeEndian.Uint32(c.Union[12:16]),
	}
}

// SetBufpool stores p into the union (overwriting all 16 bytes).
func (c *CmdReq) SetBufpool(p Bufpool) {
	binary.NativeEndian.PutUint64(c.Union[0:8], p.Uaddr)
	binary.NativeEndian.PutUint32(c.Union[8:12], p.Len)
	binary.NativeEndian.PutUint32(c.Union[12:16], p.Reserved)
}

// EntZeroCopyBufIndex returns ent_zero_copy_buf_index, the union's first
// u16 (it overlaps the low 16 bits of bufpool.uaddr).
func (c *CmdReq) EntZeroCopyBufIndex() uint16 {
	return binary.NativeEndian.Uint16(c.Union[0:2])
}

// SetEntZeroCopyBufIndex clears the union and stores idx as
// ent_zero_copy_buf_index.
func (c *CmdReq) SetEntZeroCopyBufIndex(idx uint16) {
	c.Union = [16]byte{}
	binary.NativeEndian.PutUint16(c.Union[0:2], idx)
}

// EntInOut is struct fuse_uring_ent_in_out, bytes 256..287 of ReqHeader
// (ABI doc §2.4).
type EntInOut struct {
	_         structs.HostLayout
	Flags     uint64 // delivery: FUSE_URING_ENT_ZERO_COPY
	CommitID  uint64 // delivery: equals fuse_in_header.unique
	PayloadSz uint32 // delivery: in-payload bytes; commit: reply payload bytes
	Offset    uint32 // delivery: pool buffer offset from the pool base
	Reserved  uint64
}

// ReqHeader is struct fuse_uring_req_header, the per-entry header buffer
// that REGISTER's iov[0] points at (ABI doc §2.4).
type ReqHeader struct {
	_     structs.HostLayout
	InOut [FUSE_URING_IN_OUT_HEADER_SZ]byte // fuse_in_header at delivery, fuse_out_header at commit
	OpIn  [FUSE_URING_OP_IN_OUT_SZ]byte     // the request's first in-argument
	Ent   EntInOut
}

// InHeaderBytes returns the bytes holding fuse_in_header (40 bytes).
func (h *ReqHeader) InHeaderBytes() []byte { return h.InOut[:40] }

// OutHeaderBytes returns the bytes a server fills with fuse_out_header
// (16 bytes) before COMMIT_AND_FETCH.
func (h *ReqHeader) OutHeaderBytes() []byte { return h.InOut[:16] }

// ZeroCopy reports whether the kernel put this request's data pages into
// the entry's zero-copy slot.
func (h *ReqHeader) ZeroCopy() bool { return h.Ent.Flags&FUSE_URING_ENT_ZERO_COPY != 0 }
