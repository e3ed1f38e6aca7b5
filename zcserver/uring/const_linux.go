package uring

import (
	"strconv"
	"strings"
)

// Values in this file are facts from include/uapi/linux/io_uring.h (Linux
// 7.3, see zcserver/fuseabi/linux73/ABI.md §2.1 and §4.1). golang.org/x/sys
// v0.49 provides only the three syscall numbers (unix.SYS_IO_URING_SETUP,
// _ENTER, _REGISTER), so every io_uring constant is defined here, once.
//
// The constants are untyped so that they can be assigned to the plain
// integer fields of SQE and CQE; the named types Op, RegisterOp, SetupFlags,
// FeatureFlags and SQEFlags exist to print them by name.

// enum io_uring_op (io_uring.h). Op(x).String() prints the name.
const (
	IORING_OP_NOP              = 0
	IORING_OP_READV            = 1
	IORING_OP_WRITEV           = 2
	IORING_OP_FSYNC            = 3
	IORING_OP_READ_FIXED       = 4
	IORING_OP_WRITE_FIXED      = 5
	IORING_OP_POLL_ADD         = 6
	IORING_OP_POLL_REMOVE      = 7
	IORING_OP_SYNC_FILE_RANGE  = 8
	IORING_OP_SENDMSG          = 9
	IORING_OP_RECVMSG          = 10
	IORING_OP_TIMEOUT          = 11
	IORING_OP_TIMEOUT_REMOVE   = 12
	IORING_OP_ACCEPT           = 13
	IORING_OP_ASYNC_CANCEL     = 14
	IORING_OP_LINK_TIMEOUT     = 15
	IORING_OP_CONNECT          = 16
	IORING_OP_FALLOCATE        = 17
	IORING_OP_OPENAT           = 18
	IORING_OP_CLOSE            = 19
	IORING_OP_FILES_UPDATE     = 20
	IORING_OP_STATX            = 21
	IORING_OP_READ             = 22
	IORING_OP_WRITE            = 23
	IORING_OP_FADVISE          = 24
	IORING_OP_MADVISE          = 25
	IORING_OP_SEND             = 26
	IORING_OP_RECV             = 27
	IORING_OP_OPENAT2          = 28
	IORING_OP_EPOLL_CTL        = 29
	IORING_OP_SPLICE           = 30
	IORING_OP_PROVIDE_BUFFERS  = 31
	IORING_OP_REMOVE_BUFFERS   = 32
	IORING_OP_TEE              = 33
	IORING_OP_SHUTDOWN         = 34
	IORING_OP_RENAMEAT         = 35
	IORING_OP_UNLINKAT         = 36
	IORING_OP_MKDIRAT          = 37
	IORING_OP_SYMLINKAT        = 38
	IORING_OP_LINKAT           = 39
	IORING_OP_MSG_RING         = 40
	IORING_OP_FSETXATTR        = 41
	IORING_OP_SETXATTR         = 42
	IORING_OP_FGETXATTR        = 43
	IORING_OP_GETXATTR         = 44
	IORING_OP_SOCKET           = 45
	IORING_OP_URING_CMD        = 46
	IORING_OP_SEND_ZC          = 47
	IORING_OP_SENDMSG_ZC       = 48
	IORING_OP_READ_MULTISHOT   = 49
	IORING_OP_WAITID           = 50
	IORING_OP_FUTEX_WAIT       = 51
	IORING_OP_FUTEX_WAKE       = 52
	IORING_OP_FUTEX_WAITV      = 53
	IORING_OP_FIXED_FD_INSTALL = 54
	IORING_OP_FTRUNCATE        = 55
	IORING_OP_BIND             = 56
	IORING_OP_LISTEN           = 57
	IORING_OP_RECV_ZC          = 58
	IORING_OP_EPOLL_WAIT       = 59
	IORING_OP_READV_FIXED      = 60
	IORING_OP_WRITEV_FIXED     = 61
	IORING_OP_PIPE             = 62
	IORING_OP_NOP128           = 63 // 128-byte SQE, IORING_SETUP_SQE_MIXED rings
	IORING_OP_URING_CMD128     = 64 // 128-byte SQE, IORING_SETUP_SQE_MIXED rings
)

// sqe->flags, IOSQE_* (io_uring.h). SQEFlags(x).String() prints the names.
const (
	IOSQE_FIXED_FILE       = 1 << 0
	IOSQE_IO_DRAIN         = 1 << 1
	IOSQE_IO_LINK          = 1 << 2
	IOSQE_IO_HARDLINK      = 1 << 3
	IOSQE_ASYNC            = 1 << 4
	IOSQE_BUFFER_SELECT    = 1 << 5
	IOSQE_CQE_SKIP_SUCCESS = 1 << 6
)

// io_uring_setup(2) flags, IORING_SETUP_* (io_uring.h).
const (
	IORING_SETUP_IOPOLL             = 1 << 0
	IORING_SETUP_SQPOLL             = 1 << 1
	IORING_SETUP_SQ_AFF             = 1 << 2
	IORING_SETUP_CQSIZE             = 1 << 3
	IORING_SETUP_CLAMP              = 1 << 4
	IORING_SETUP_ATTACH_WQ          = 1 << 5
	IORING_SETUP_R_DISABLED         = 1 << 6
	IORING_SETUP_SUBMIT_ALL         = 1 << 7
	IORING_SETUP_COOP_TASKRUN       = 1 << 8
	IORING_SETUP_TASKRUN_FLAG       = 1 << 9
	IORING_SETUP_SQE128             = 1 << 10 // 0x400
	IORING_SETUP_CQE32              = 1 << 11 // 0x800
	IORING_SETUP_SINGLE_ISSUER      = 1 << 12
	IORING_SETUP_DEFER_TASKRUN      = 1 << 13
	IORING_SETUP_NO_MMAP            = 1 << 14
	IORING_SETUP_REGISTERED_FD_ONLY = 1 << 15
	IORING_SETUP_NO_SQARRAY         = 1 << 16
	IORING_SETUP_HYBRID_IOPOLL      = 1 << 17
	IORING_SETUP_CQE_MIXED          = 1 << 18
	IORING_SETUP_SQE_MIXED          = 1 << 19 // 0x80000
	IORING_SETUP_SQ_REWIND          = 1 << 20
)

// io_uring_params.features, IORING_FEAT_* (io_uring.h).
const (
	IORING_FEAT_SINGLE_MMAP     = 1 << 0
	IORING_FEAT_NODROP          = 1 << 1
	IORING_FEAT_SUBMIT_STABLE   = 1 << 2
	IORING_FEAT_RW_CUR_POS      = 1 << 3
	IORING_FEAT_CUR_PERSONALITY = 1 << 4
	IORING_FEAT_FAST_POLL       = 1 << 5
	IORING_FEAT_POLL_32BITS     = 1 << 6
	IORING_FEAT_SQPOLL_NONFIXED = 1 << 7
	IORING_FEAT_EXT_ARG         = 1 << 8
	IORING_FEAT_NATIVE_WORKERS  = 1 << 9
	IORING_FEAT_RSRC_TAGS       = 1 << 10
	IORING_FEAT_CQE_SKIP        = 1 << 11
	IORING_FEAT_LINKED_FILE     = 1 << 12
	IORING_FEAT_REG_REG_RING    = 1 << 13
	IORING_FEAT_RECVSEND_BUNDLE = 1 << 14
	IORING_FEAT_MIN_TIMEOUT     = 1 << 15
	IORING_FEAT_RW_ATTR         = 1 << 16
	IORING_FEAT_NO_IOWAIT       = 1 << 17
)

// io_uring_enter(2) flags, IORING_ENTER_* (io_uring.h).
const (
	IORING_ENTER_GETEVENTS       = 1 << 0
	IORING_ENTER_SQ_WAKEUP       = 1 << 1
	IORING_ENTER_SQ_WAIT         = 1 << 2
	IORING_ENTER_EXT_ARG         = 1 << 3
	IORING_ENTER_REGISTERED_RING = 1 << 4
	IORING_ENTER_ABS_TIMER       = 1 << 5
	IORING_ENTER_EXT_ARG_REG     = 1 << 6
	IORING_ENTER_NO_IOWAIT       = 1 << 7
)

// sq_ring->flags, IORING_SQ_* (io_uring.h).
const (
	IORING_SQ_NEED_WAKEUP = 1 << 0
	IORING_SQ_CQ_OVERFLOW = 1 << 1
	IORING_SQ_TASKRUN     = 1 << 2
)

// cqe->flags, IORING_CQE_F_* (io_uring.h).
const (
	IORING_CQE_F_BUFFER        = 1 << 0
	IORING_CQE_F_MORE          = 1 << 1
	IORING_CQE_F_SOCK_NONEMPTY = 1 << 2
	IORING_CQE_F_NOTIF         = 1 << 3
	IORING_CQE_F_BUF_MORE      = 1 << 4
	IORING_CQE_F_SKIP          = 1 << 5  // CQE_MIXED: filler entry, ignore
	IORING_CQE_F_32            = 1 << 15 // CQE_MIXED: this CQE is 32 bytes
	IORING_CQE_BUFFER_SHIFT    = 16
)

// mmap(2) offsets of the ring regions (io_uring.h).
const (
	IORING_OFF_SQ_RING = 0
	IORING_OFF_CQ_RING = 0x8000000
	IORING_OFF_SQES    = 0x10000000
)

// sqe->uring_cmd_flags (io_uring.h; ABI doc §2.1).
const (
	IORING_URING_CMD_FIXED     = 1 << 0
	IORING_URING_CMD_MULTISHOT = 1 << 1
)

// sqe->nop_flags for IORING_OP_NOP (io_uring.h). INJECT_RESULT posts
// (int32)sqe->len as cqe->res; CQE32 posts sqe->off and sqe->addr as
// big_cqe[0] and big_cqe[1].
const (
	IORING_NOP_INJECT_RESULT = 1 << 0
	IORING_NOP_FILE          = 1 << 1
	IORING_NOP_FIXED_FILE    = 1 << 2
	IORING_NOP_FIXED_BUFFER  = 1 << 3
	IORING_NOP_TW            = 1 << 4
	IORING_NOP_CQE32         = 1 << 5
)

// io_uring_register(2) opcodes, enum io_uring_register_op (io_uring.h).
// RegisterOp(x).String() prints the name without the IORING_REGISTER_ prefix.
const (
	IORING_REGISTER_BUFFERS          = 0
	IORING_UNREGISTER_BUFFERS        = 1
	IORING_REGISTER_FILES            = 2
	IORING_UNREGISTER_FILES          = 3
	IORING_REGISTER_EVENTFD          = 4
	IORING_UNREGISTER_EVENTFD        = 5
	IORING_REGISTER_FILES_UPDATE     = 6
	IORING_REGISTER_EVENTFD_ASYNC    = 7
	IORING_REGISTER_PROBE            = 8
	IORING_REGISTER_PERSONALITY      = 9
	IORING_UNREGISTER_PERSONALITY    = 10
	IORING_REGISTER_RESTRICTIONS     = 11
	IORING_REGISTER_ENABLE_RINGS     = 12
	IORING_REGISTER_FILES2           = 13
	IORING_REGISTER_FILES_UPDATE2    = 14
	IORING_REGISTER_BUFFERS2         = 15
	IORING_REGISTER_BUFFERS_UPDATE   = 16
	IORING_REGISTER_IOWQ_AFF         = 17
	IORING_UNREGISTER_IOWQ_AFF       = 18
	IORING_REGISTER_IOWQ_MAX_WORKERS = 19
	IORING_REGISTER_RING_FDS         = 20
	IORING_UNREGISTER_RING_FDS       = 21
	IORING_REGISTER_PBUF_RING        = 22
	IORING_UNREGISTER_PBUF_RING      = 23
	IORING_REGISTER_SYNC_CANCEL      = 24
	IORING_REGISTER_FILE_ALLOC_RANGE = 25
	IORING_REGISTER_PBUF_STATUS      = 26
	IORING_REGISTER_NAPI             = 27
	IORING_UNREGISTER_NAPI           = 28
	IORING_REGISTER_CLOCK            = 29
	IORING_REGISTER_CLONE_BUFFERS    = 30
	IORING_REGISTER_SEND_MSG_RING    = 31
	IORING_REGISTER_ZCRX_IFQ         = 32
	IORING_REGISTER_RESIZE_RINGS     = 33
	IORING_REGISTER_MEM_REGION       = 34
	IORING_REGISTER_QUERY            = 35
	IORING_REGISTER_ZCRX_CTRL        = 36
	IORING_REGISTER_BPF_FILTER       = 37

	// IORING_REGISTER_USE_REGISTERED_RING is or-ed into the opcode when the
	// fd argument is a registered ring index rather than a file descriptor.
	IORING_REGISTER_USE_REGISTERED_RING = 1 << 31
)

// Resource registration flags and probe flags (io_uring.h; ABI doc §4.1).
const (
	IORING_RSRC_REGISTER_SPARSE = 1 << 0 // io_uring_rsrc_register.flags
	IORING_REGISTER_FILES_SKIP  = -2     // fd value that leaves a file slot unchanged
	IO_URING_OP_SUPPORTED       = 1 << 0 // io_uring_probe_op.flags
)

// Op is an SQE opcode (enum io_uring_op); its String is the kernel name
// without the IORING_OP_ prefix.
type Op uint8

var opNames = [...]string{
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD",
	"POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT",
	"TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT",
	"FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ", "WRITE",
	"FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL", "SPLICE",
	"PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT",
	"UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR",
	"SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC",
	"SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE",
	"FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC",
	"EPOLL_WAIT", "READV_FIXED", "WRITEV_FIXED", "PIPE", "NOP128",
	"URING_CMD128",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// RegisterOp is an io_uring_register(2) opcode; its String is the kernel
// name without the IORING_REGISTER_ prefix (e.g. "BUFFERS_UPDATE",
// "UNREGISTER_BUFFERS").
type RegisterOp uint32

var registerOpNames = [...]string{
	"BUFFERS", "UNREGISTER_BUFFERS", "FILES", "UNREGISTER_FILES", "EVENTFD",
	"UNREGISTER_EVENTFD", "FILES_UPDATE", "EVENTFD_ASYNC", "PROBE",
	"PERSONALITY", "UNREGISTER_PERSONALITY", "RESTRICTIONS", "ENABLE_RINGS",
	"FILES2", "FILES_UPDATE2", "BUFFERS2", "BUFFERS_UPDATE", "IOWQ_AFF",
	"UNREGISTER_IOWQ_AFF", "IOWQ_MAX_WORKERS", "RING_FDS", "UNREGISTER_RING_FDS",
	"PBUF_RING", "UNREGISTER_PBUF_RING", "SYNC_CANCEL", "FILE_ALLOC_RANGE",
	"PBUF_STATUS", "NAPI", "UNREGISTER_NAPI", "CLOCK", "CLONE_BUFFERS",
	"SEND_MSG_RING", "ZCRX_IFQ", "RESIZE_RINGS", "MEM_REGION", "QUERY",
	"ZCRX_CTRL", "BPF_FILTER",
}

func (o RegisterOp) String() string {
	base := o &^ IORING_REGISTER_USE_REGISTERED_RING
	var name string
	if int(base) < len(registerOpNames) {
		name = registerOpNames[base]
	} else {
		name = "RegisterOp(" + strconv.FormatUint(uint64(base), 10) + ")"
	}
	if o&IORING_REGISTER_USE_REGISTERED_RING != 0 {
		name += "|USE_REGISTERED_RING"
	}
	return name
}

// SetupFlags is a set of IORING_SETUP_* bits.
type SetupFlags uint32

var setupFlagNames = [...]string{
	"IOPOLL", "SQPOLL", "SQ_AFF", "CQSIZE", "CLAMP", "ATTACH_WQ", "R_DISABLED",
	"SUBMIT_ALL", "COOP_TASKRUN", "TASKRUN_FLAG", "SQE128", "CQE32",
	"SINGLE_ISSUER", "DEFER_TASKRUN", "NO_MMAP", "REGISTERED_FD_ONLY",
	"NO_SQARRAY", "HYBRID_IOPOLL", "CQE_MIXED", "SQE_MIXED", "SQ_REWIND",
}

func (f SetupFlags) String() string { return bitNames(uint64(f), setupFlagNames[:]) }

// FeatureFlags is a set of IORING_FEAT_* bits (Ring.Features).
type FeatureFlags uint32

var featureNames = [...]string{
	"SINGLE_MMAP", "NODROP", "SUBMIT_STABLE", "RW_CUR_POS", "CUR_PERSONALITY",
	"FAST_POLL", "POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG", "NATIVE_WORKERS",
	"RSRC_TAGS", "CQE_SKIP", "LINKED_FILE", "REG_REG_RING", "RECVSEND_BUNDLE",
	"MIN_TIMEOUT", "RW_ATTR", "NO_IOWAIT",
}

func (f FeatureFlags) String() string { return bitNames(uint64(f), featureNames[:]) }

// SQEFlags is a set of IOSQE_* bits (SQE.Flags).
type SQEFlags uint8

var sqeFlagNames = [...]string{
	"FIXED_FILE", "IO_DRAIN", "IO_LINK", "IO_HARDLINK", "ASYNC", "BUFFER_SELECT",
	"CQE_SKIP_SUCCESS",
}

func (f SQEFlags) String() string { return bitNames(uint64(f), sqeFlagNames[:]) }

// bitNames renders a flag word as NAME|NAME|0x..., with unknown bits in hex.
func bitNames(v uint64, names []string) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for i, n := range names {
		if v&(1<<uint(i)) != 0 {
			parts = append(parts, n)
			v &^= 1 << uint(i)
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(v, 16))
	}
	return strings.Join(parts, "|")
}
