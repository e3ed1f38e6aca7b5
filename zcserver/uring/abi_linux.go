package uring

import (
	"structs"
	"unsafe"
)

// Wire structs shared with the kernel. Each mirrors its C struct in
// include/uapi/linux/io_uring.h field by field (sizes and offsets are pinned
// by abi_linux_test.go; ABI doc §2.1, §4.1).

// SQE is struct io_uring_sqe: the 64-byte submission entry. On an
// IORING_SETUP_SQE128 ring (and for a 128-byte op on an SQE_MIXED ring) a
// further 64 bytes follow it; Cmd returns bytes 48..127 as the command area.
//
// C unions are single fields here: Off is also addr2 and, for uring_cmd,
// cmd_op (low 32 bits) plus __pad1 (high 32 bits, must be zero; use
// SetCmdOp). OpFlags is rw_flags / uring_cmd_flags / nop_flags / ...;
// BufIndex is also buf_group; SpliceFdIn is also file_index / optlen /
// addr_len; Addr3 plus the trailing pad are the first 16 bytes of cmd.
type SQE struct {
	_           structs.HostLayout
	Opcode      uint8  // 0
	Flags       uint8  // 1, IOSQE_*
	Ioprio      uint16 // 2
	Fd          int32  // 4
	Off         uint64 // 8, off / addr2 / {cmd_op, __pad1}
	Addr        uint64 // 16, addr / splice_off_in
	Len         uint32 // 24
	OpFlags     uint32 // 28, rw_flags / uring_cmd_flags / nop_flags ...
	UserData    uint64 // 32
	BufIndex    uint16 // 40, buf_index / buf_group
	Personality uint16 // 42
	SpliceFdIn  int32  // 44, splice_fd_in / file_index / optlen / addr_len
	Addr3       uint64 // 48, addr3 / attr_ptr / optval / cmd[0:8]
	_           [8]byte
}

// Sizes of the SQE forms and of the uring_cmd command area.
const (
	SQESize    = 64
	SQE128Size = 128
	CmdOffset  = 48 // offset of the command area inside an SQE
	CmdSize    = SQE128Size - CmdOffset
)

// CQE is a copy of struct io_uring_cqe taken off the completion ring. Big
// holds big_cqe[0..1] of a 32-byte CQE (IORING_SETUP_CQE32, or a CQE with
// IORING_CQE_F_32 on an IORING_SETUP_CQE_MIXED ring) and is zero otherwise.
// The first 16 bytes have the kernel's layout.
type CQE struct {
	_        structs.HostLayout
	UserData uint64
	Res      int32
	Flags    uint32
	Big      [2]uint64
}

// Kernel CQE sizes.
const (
	CQESize   = 16
	CQE32Size = 32
)

// SQRingOffsets is struct io_sqring_offsets: byte offsets, inside the SQ
// ring mapping, of the kernel-shared SQ fields.
type SQRingOffsets struct {
	_           structs.HostLayout
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Flags       uint32
	Dropped     uint32
	Array       uint32
	Resv1       uint32
	UserAddr    uint64
}

// CQRingOffsets is struct io_cqring_offsets.
type CQRingOffsets struct {
	_           structs.HostLayout
	Head        uint32
	Tail        uint32
	RingMask    uint32
	RingEntries uint32
	Overflow    uint32
	CQEs        uint32
	Flags       uint32
	Resv1       uint32
	UserAddr    uint64
}

// Params is struct io_uring_params, the in/out argument of io_uring_setup.
type Params struct {
	_            structs.HostLayout
	SQEntries    uint32
	CQEntries    uint32
	Flags        uint32
	SQThreadCPU  uint32
	SQThreadIdle uint32
	Features     uint32
	WQFd         uint32
	Resv         [3]uint32
	SQOff        SQRingOffsets
	CQOff        CQRingOffsets
}

// RsrcRegister is struct io_uring_rsrc_register, the argument of
// IORING_REGISTER_BUFFERS2 / FILES2 (ABI doc §4.1 step 3).
type RsrcRegister struct {
	_     structs.HostLayout
	Nr    uint32
	Flags uint32 // IORING_RSRC_REGISTER_SPARSE
	Resv2 uint64
	Data  uint64 // user address of an iovec / fd array; 0 when sparse
	Tags  uint64 // user address of a u64 tag array, or 0
}

// RsrcUpdate2 is struct io_uring_rsrc_update2, the argument of
// IORING_REGISTER_BUFFERS_UPDATE / FILES_UPDATE2 (ABI doc §4.1 step 4).
type RsrcUpdate2 struct {
	_      structs.HostLayout
	Offset uint32
	Resv   uint32
	Data   uint64
	Tags   uint64
	Nr     uint32
	Resv2  uint32
}

// ProbeOp is struct io_uring_probe_op.
type ProbeOp struct {
	_     structs.HostLayout
	Op    uint8
	Resv  uint8
	Flags uint16 // IO_URING_OP_SUPPORTED
	Resv2 uint32
}

// Probe is struct io_uring_probe with its flexible ops[] array sized for
// every possible u8 opcode. Ring.Probe fills it; Supported reads it.
type Probe struct {
	_      structs.HostLayout
	LastOp uint8 // highest opcode the kernel knows
	OpsLen uint8 // entries of Ops filled by the kernel
	Resv   uint16
	Resv2  [3]uint32
	Ops    [probeOps]ProbeOp
}

const probeOps = 256

// Supported reports whether the probed kernel implements opcode op.
func (p *Probe) Supported(op uint8) bool {
	if p == nil || op > p.LastOp || int(op) >= int(p.OpsLen) {
		return false
	}
	return p.Ops[op].Flags&IO_URING_OP_SUPPORTED != 0
}

// addrOf is the one helper that turns Go memory into a kernel user address.
func addrOf(p unsafe.Pointer) uint64 { return uint64(uintptr(p)) }
