package kmbuf

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"structs"
	"unsafe"
)

// Cmd is the uring_cmd opcode in sqe.cmd_op (enum fuse_uring_cmd). The
// series has only REGISTER and COMMIT_AND_FETCH (ABI doc §2.6).
type Cmd uint32

// enum fuse_uring_cmd (uapi fuse.h; ABI doc §2.6).
const (
	FUSE_IO_URING_CMD_INVALID          Cmd = 0
	FUSE_IO_URING_CMD_REGISTER         Cmd = 1
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH Cmd = 2
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
	}
	return "Cmd(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// FUSE constants of the series (uapi fuse.h, fs/fuse/dev_uring_i.h; ABI
// doc §1.1, §3.1, §3.3).
const (
	// FUSE_URING_BUF_RING and FUSE_URING_ZERO_COPY are the bits of
	// CmdReqV3.InitFlags (v3/v4 only; v2 has two bools instead). The kernel
	// ignores every other bit.
	FUSE_URING_BUF_RING  uint16 = 1 << 0
	FUSE_URING_ZERO_COPY uint16 = 1 << 1

	// FUSE_URING_RINGBUF_GROUP is the buffer group id of the kmbuf ring a
	// buf-ring queue takes its payload buffers from.
	FUSE_URING_RINGBUF_GROUP = 0
	// FUSE_URING_FIXED_HEADERS_OFFSET is the fixed-buffer table index of the
	// headers buffer without zero copy; with zero copy queue_depth is added.
	FUSE_URING_FIXED_HEADERS_OFFSET = 0

	// FUSE_URING_IN_OUT_HEADER_SZ and FUSE_URING_OP_IN_OUT_SZ size the two
	// first parts of ReqHeader.
	FUSE_URING_IN_OUT_HEADER_SZ = 128
	FUSE_URING_OP_IN_OUT_SZ     = 128

	// MinorVersion is FUSE_KERNEL_MINOR_VERSION with the series applied:
	// no revision changes it (its changelog says 7.46 but the constant
	// stays at the base's 45), so the INIT minor cannot reveal the series.
	MinorVersion = 45
)

// io_uring constants added by the series (uapi io_uring.h; ABI doc §1.1,
// §2.1). They are the same in v2, v3 and v4. Mainline Linux 7.2 and later
// use register opcode 37 for IORING_REGISTER_BPF_FILTER instead.
const (
	IORING_REGISTER_KMBUF_RING   = 37
	IORING_UNREGISTER_KMBUF_RING = 38

	// IORING_OFF_KMBUF_RING | bgid<<IORING_OFF_KMBUF_SHIFT is the mmap
	// offset of a kmbuf ring's buffers on the io_uring fd.
	IORING_OFF_KMBUF_RING  = 0x88000000
	IORING_OFF_KMBUF_SHIFT = 16

	// Mainline values the series' mmap offset is read against (ABI doc
	// §2.1).
	IORING_OFF_PBUF_RING = 0x80000000
	IORING_OFF_MMAP_MASK = 0xf8000000

	// IOU_PBUF_RING_MMAP is io_uring_buf_reg.flags for a provided-buffer
	// ring whose ring memory the kernel allocates (mainline since 6.4).
	IOU_PBUF_RING_MMAP = 1

	// MaxKmbufRingEntries bounds io_uring_buf_reg.ring_entries for a kmbuf
	// ring (a power of two below 65536, ABI doc §2.2).
	MaxKmbufRingEntries = 1 << 15
)

// Sizes and offsets (ABI doc §2.2, §2.6, §3.1, §3.2).
const (
	SizeofCmdReq      = 24
	SizeofEntInOut    = 32
	SizeofReqHeader   = 288
	SizeofBufReg      = 40
	SizeofURingCmdSQE = 128

	// SQECmdOffset is where the command area starts inside a 128-byte SQE
	// and SQECmdSize its length.
	SQECmdOffset = 48
	SQECmdSize   = 80

	// Offsets inside ReqHeader.
	OffsetInOut  = 0
	OffsetOpIn   = 128
	OffsetEntOut = 256

	// RegisterIovecs is sqe.len of a REGISTER on a queue without buf ring
	// (the classic iov[0] header, iov[1] payload form; ignored with buf
	// ring).
	RegisterIovecs = 2
)

// CmdReqV2 is struct fuse_uring_cmd_req of v2 (seed 000), 24 bytes at the
// start of an SQE128's command area (ABI doc §3.1). The C union holds one
// member, init, whose fields are written out here: UseBufring and ZeroCopy
// are C bools (write only 0 or 1), QueueDepth is u16. REGISTER reads the
// init fields only when it creates the queue; COMMIT_AND_FETCH reads
// CommitID and Qid.
type CmdReqV2 struct {
	_          structs.HostLayout
	Flags      uint64 // not read by either command
	CommitID   uint64
	Qid        uint16
	UseBufring uint8  // init.use_bufring, byte 18
	ZeroCopy   uint8  // init.zero_copy, byte 19
	QueueDepth uint16 // init.queue_depth, bytes 20..21
	_          [2]byte
}

// CmdReqV3 is struct fuse_uring_cmd_req of v3 and v4: bytes 18..19 are one
// little-endian u16 flags word (FUSE_URING_BUF_RING, FUSE_URING_ZERO_COPY;
// other bits ignored), the rest as in v2 (ABI doc §1.1, §3.1).
type CmdReqV3 struct {
	_          structs.HostLayout
	Flags      uint64 // not read by either command
	CommitID   uint64
	Qid        uint16
	InitFlags  uint16 // init.flags, bytes 18..19
	QueueDepth uint16 // init.queue_depth, bytes 20..21
	_          [2]byte
}

// EntInOut is struct fuse_uring_ent_in_out of the series, bytes 256..287
// of ReqHeader (ABI doc §3.2). Unlike Linux 7.3 it has no offset and no
// buffer id: the kernel writes Flags, Padding and Reserved as 0 and
// reports the payload buffer only through the CQE.
type EntInOut struct {
	_         structs.HostLayout
	Flags     uint64 // always 0
	CommitID  uint64 // delivery: the request's unique; echo it in the commit
	PayloadSz uint32 // delivery: in-payload bytes (§3.4); commit: reply bytes
	Padding   uint32
	Reserved  uint64
}

// ReqHeader is struct fuse_uring_req_header, one 288-byte slot of the
// headers buffer: ent e's slot starts at HeaderSlotOffset(e) (ABI doc
// §3.2).
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

// HeaderAt views slot ent of a headers buffer as a ReqHeader. It returns
// nil when the slot does not fit in headers.
func HeaderAt(headers []byte, ent uint16) *ReqHeader {
	off := uint64(HeaderSlotOffset(ent))
	if off+SizeofReqHeader > uint64(len(headers)) {
		return nil
	}
	return (*ReqHeader)(unsafe.Pointer(&headers[off]))
}

// BufReg is struct io_uring_buf_reg with the series' union (ABI doc §2.2):
// bytes 0..7 are ring_addr (u64, a provided-buffer ring) or buf_size (u32
// in bytes 0..3, a kmbuf ring; bytes 4..7 are not read then). Use the
// accessors.
type BufReg struct {
	_           structs.HostLayout
	Union       [8]byte // ring_addr | buf_size
	RingEntries uint32
	Bgid        uint16
	Flags       uint16
	Resv        [3]uint64
}

// RingAddr returns the union read as ring_addr.
func (r *BufReg) RingAddr() uint64 { return binary.NativeEndian.Uint64(r.Union[:]) }

// SetRingAddr stores a into the union as ring_addr.
func (r *BufReg) SetRingAddr(a uint64) { binary.NativeEndian.PutUint64(r.Union[:], a) }

// BufSize returns the union read as buf_size.
func (r *BufReg) BufSize() uint32 { return binary.NativeEndian.Uint32(r.Union[0:4]) }

// SetBufSize clears the union and stores n as buf_size.
func (r *BufReg) SetBufSize(n uint32) {
	r.Union = [8]byte{}
	binary.NativeEndian.PutUint32(r.Union[0:4], n)
}

// KmbufRingReg is the IORING_REGISTER_KMBUF_RING argument for a ring of
// entries buffers of bufSize bytes at bgid.
func KmbufRingReg(bufSize, entries uint32, bgid uint16) BufReg {
	r := BufReg{RingEntries: entries, Bgid: bgid}
	r.SetBufSize(bufSize)
	return r
}

// ErrBadKmbufReg is returned by CheckKmbufReg; the kernel answers such a
// registration with EINVAL (ABI doc §2.2).
var ErrBadKmbufReg = fmt.Errorf("kmbuf: invalid kmbuf ring registration")

// CheckKmbufReg reports whether the kernel would refuse r as a kmbuf ring
// with EINVAL for its own content, given the page size: resv or flags
// non-zero, ring_entries not a power of two below 65536, buf_size zero or
// not a page multiple.
func CheckKmbufReg(r BufReg, pageSize uint32) error {
	switch {
	case r.Resv != [3]uint64{}:
		return fmt.Errorf("%w: resv not zero", ErrBadKmbufReg)
	case r.Flags != 0:
		return fmt.Errorf("%w: flags %#x (none is allowed)", ErrBadKmbufReg, r.Flags)
	case r.RingEntries == 0 || r.RingEntries&(r.RingEntries-1) != 0 || r.RingEntries > MaxKmbufRingEntries:
		return fmt.Errorf("%w: ring_entries %d is not a power of two below 65536", ErrBadKmbufReg, r.RingEntries)
	case r.BufSize() == 0 || pageSize == 0 || r.BufSize()%pageSize != 0:
		return fmt.Errorf("%w: buf_size %d is not a non-zero multiple of the %d-byte page", ErrBadKmbufReg, r.BufSize(), pageSize)
	}
	return nil
}

// KmbufMmapOffset is the mmap offset of the buffers of the kmbuf ring at
// bgid (ABI doc §2.3): IORING_OFF_KMBUF_RING | bgid << IORING_OFF_KMBUF_SHIFT.
func KmbufMmapOffset(bgid uint16) int64 {
	return IORING_OFF_KMBUF_RING | int64(bgid)<<IORING_OFF_KMBUF_SHIFT
}

// BufferOffset is where buffer bid starts in the mapping of a kmbuf ring
// of bufSize-byte buffers (ABI doc §2.3).
func BufferOffset(bid uint16, bufSize uint32) uint64 { return uint64(bid) * uint64(bufSize) }

// Mode is what a REGISTER asks for when it creates a queue: a kmbuf ring
// for payloads (BufRing), and zero copy of page payloads (ZeroCopy, which
// needs BufRing, CAP_SYS_ADMIN and a non-zero queue depth; ABI doc §5).
type Mode struct {
	BufRing  bool
	ZeroCopy bool
}

func (m Mode) String() string {
	switch {
	case m.BufRing && m.ZeroCopy:
		return "buf-ring+zero-copy"
	case m.BufRing:
		return "buf-ring"
	case m.ZeroCopy:
		return "zero-copy-without-buf-ring"
	}
	return "iovec"
}

// HeadersIndex is the fixed-buffer table index where the kernel looks for
// the headers buffer of a queue in mode m with queue_depth qd (ABI doc
// §3.3): FUSE_URING_FIXED_HEADERS_OFFSET, plus qd with zero copy, computed
// in 16 bits as the kernel does. A queue without buf ring has no headers
// buffer in the table (its entries register iovecs); the result is then
// meaningless and reported as ok=false.
func HeadersIndex(m Mode, qd uint16) (idx uint16, ok bool) {
	if !m.BufRing {
		return 0, false
	}
	idx = FUSE_URING_FIXED_HEADERS_OFFSET
	if m.ZeroCopy {
		idx += qd
	}
	return idx, true
}

// HeaderSlotOffset is the byte offset of ent's header slot inside the
// headers buffer: ent × 288 (ent = the REGISTER's sqe.buf_index, the
// kernel's fixed_buf_id; ABI doc §3.3).
func HeaderSlotOffset(ent uint16) uint32 { return uint32(ent) * SizeofReqHeader }

// HeadersLen is the smallest headers buffer that holds ents 0..maxEnt.
func HeadersLen(maxEnt uint16) int { return (int(maxEnt) + 1) * SizeofReqHeader }

// ZeroCopyTableSlots is the smallest fixed-buffer table for a zero-copy
// queue of depth qd: slots 0..qd-1 for the clients' pages (left empty),
// slot qd for the headers (ABI doc §2.5).
func ZeroCopyTableSlots(qd uint16) uint32 { return uint32(qd) + 1 }

// PageSlot is the fixed-buffer table index where a zero-copy queue
// installs the client's pages of ent's request: ent itself.
func PageSlot(ent uint16) uint16 { return ent }
