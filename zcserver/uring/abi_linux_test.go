package uring_test

import (
	"testing"
	"unsafe"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Sizes and offsets below are facts from include/uapi/linux/io_uring.h
// (ABI doc §2.1 SQE table, §4.1 steps 3-4).

type layout struct {
	name string
	got  uintptr
	want uintptr
}

func checkLayout(t *testing.T, rows []layout) {
	t.Helper()
	for _, r := range rows {
		if r.got != r.want {
			t.Errorf("%s = %d, want %d", r.name, r.got, r.want)
		}
	}
}

func TestLayoutSQE(t *testing.T) {
	var s uring.SQE
	checkLayout(t, []layout{
		{"sizeof(io_uring_sqe)", unsafe.Sizeof(s), 64},
		{"opcode", unsafe.Offsetof(s.Opcode), 0},
		{"flags", unsafe.Offsetof(s.Flags), 1},
		{"ioprio", unsafe.Offsetof(s.Ioprio), 2},
		{"fd", unsafe.Offsetof(s.Fd), 4},
		{"off/cmd_op", unsafe.Offsetof(s.Off), 8},
		{"addr", unsafe.Offsetof(s.Addr), 16},
		{"len", unsafe.Offsetof(s.Len), 24},
		{"op flags", unsafe.Offsetof(s.OpFlags), 28},
		{"user_data", unsafe.Offsetof(s.UserData), 32},
		{"buf_index", unsafe.Offsetof(s.BufIndex), 40},
		{"personality", unsafe.Offsetof(s.Personality), 42},
		{"splice_fd_in/file_index", unsafe.Offsetof(s.SpliceFdIn), 44},
		{"addr3/cmd", unsafe.Offsetof(s.Addr3), 48},
		{"SQESize", uring.SQESize, 64},
		{"SQE128Size", uring.SQE128Size, 128},
		{"CmdOffset", uring.CmdOffset, 48},
		{"CmdSize", uring.CmdSize, 80},
	})
}

// cmd_op is the low half of the 8-byte union at offset 8, __pad1 the high
// half; SetCmdOp must write the first and clear the second.
func TestSetCmdOpClearsPad1(t *testing.T) {
	var s uring.SQE
	s.Off = 0xffffffff_ffffffff
	s.SetCmdOp(0x12345678)
	b := (*[64]byte)(unsafe.Pointer(&s))
	if got := *(*uint32)(unsafe.Pointer(&b[8])); got != 0x12345678 {
		t.Errorf("cmd_op at offset 8 = %#x, want 0x12345678", got)
	}
	if got := *(*uint32)(unsafe.Pointer(&b[12])); got != 0 {
		t.Errorf("__pad1 at offset 12 = %#x, want 0", got)
	}
	if s.CmdOp() != 0x12345678 {
		t.Errorf("CmdOp() = %#x", s.CmdOp())
	}
	// An SQE that is not in a ring has no command area.
	if c := s.Cmd(); c != nil {
		t.Errorf("Cmd() of a stray SQE = %d bytes, want nil", len(c))
	}
}

func TestLayoutCQE(t *testing.T) {
	var c uring.CQE
	checkLayout(t, []layout{
		{"user_data", unsafe.Offsetof(c.UserData), 0},
		{"res", unsafe.Offsetof(c.Res), 8},
		{"flags", unsafe.Offsetof(c.Flags), 12},
		{"big_cqe (= sizeof 16-byte io_uring_cqe)", unsafe.Offsetof(c.Big), 16},
		{"sizeof CQE32 form", unsafe.Sizeof(c), 32},
		{"CQESize", uring.CQESize, 16},
		{"CQE32Size", uring.CQE32Size, 32},
	})
}

func TestLayoutParams(t *testing.T) {
	var p uring.Params
	var so uring.SQRingOffsets
	var co uring.CQRingOffsets
	checkLayout(t, []layout{
		{"sizeof(io_uring_params)", unsafe.Sizeof(p), 120},
		{"sq_entries", unsafe.Offsetof(p.SQEntries), 0},
		{"cq_entries", unsafe.Offsetof(p.CQEntries), 4},
		{"flags", unsafe.Offsetof(p.Flags), 8},
		{"sq_thread_cpu", unsafe.Offsetof(p.SQThreadCPU), 12},
		{"sq_thread_idle", unsafe.Offsetof(p.SQThreadIdle), 16},
		{"features", unsafe.Offsetof(p.Features), 20},
		{"wq_fd", unsafe.Offsetof(p.WQFd), 24},
		{"resv", unsafe.Offsetof(p.Resv), 28},
		{"sq_off", unsafe.Offsetof(p.SQOff), 40},
		{"cq_off", unsafe.Offsetof(p.CQOff), 80},

		{"sizeof(io_sqring_offsets)", unsafe.Sizeof(so), 40},
		{"sq head", unsafe.Offsetof(so.Head), 0},
		{"sq tail", unsafe.Offsetof(so.Tail), 4},
		{"sq ring_mask", unsafe.Offsetof(so.RingMask), 8},
		{"sq ring_entries", unsafe.Offsetof(so.RingEntries), 12},
		{"sq flags", unsafe.Offsetof(so.Flags), 16},
		{"sq dropped", unsafe.Offsetof(so.Dropped), 20},
		{"sq array", unsafe.Offsetof(so.Array), 24},
		{"sq resv1", unsafe.Offsetof(so.Resv1), 28},
		{"sq user_addr", unsafe.Offsetof(so.UserAddr), 32},

		{"sizeof(io_cqring_offsets)", unsafe.Sizeof(co), 40},
		{"cq head", unsafe.Offsetof(co.Head), 0},
		{"cq tail", unsafe.Offsetof(co.Tail), 4},
		{"cq ring_mask", unsafe.Offsetof(co.RingMask), 8},
		{"cq ring_entries", unsafe.Offsetof(co.RingEntries), 12},
		{"cq overflow", unsafe.Offsetof(co.Overflow), 16},
		{"cq cqes", unsafe.Offsetof(co.CQEs), 20},
		{"cq flags", unsafe.Offsetof(co.Flags), 24},
		{"cq resv1", unsafe.Offsetof(co.Resv1), 28},
		{"cq user_addr", unsafe.Offsetof(co.UserAddr), 32},
	})
}

func TestLayoutRsrc(t *testing.T) {
	var rr uring.RsrcRegister
	var up uring.RsrcUpdate2
	checkLayout(t, []layout{
		{"sizeof(io_uring_rsrc_register)", unsafe.Sizeof(rr), 32},
		{"rr nr", unsafe.Offsetof(rr.Nr), 0},
		{"rr flags", unsafe.Offsetof(rr.Flags), 4},
		{"rr resv2", unsafe.Offsetof(rr.Resv2), 8},
		{"rr data", unsafe.Offsetof(rr.Data), 16},
		{"rr tags", unsafe.Offsetof(rr.Tags), 24},

		{"sizeof(io_uring_rsrc_update2)", unsafe.Sizeof(up), 32},
		{"up offset", unsafe.Offsetof(up.Offset), 0},
		{"up resv", unsafe.Offsetof(up.Resv), 4},
		{"up data", unsafe.Offsetof(up.Data), 8},
		{"up tags", unsafe.Offsetof(up.Tags), 16},
		{"up nr", unsafe.Offsetof(up.Nr), 24},
		{"up resv2", unsafe.Offsetof(up.Resv2), 28},
	})
}

func TestLayoutProbe(t *testing.T) {
	var p uring.Probe
	var op uring.ProbeOp
	checkLayout(t, []layout{
		{"io_uring_probe header (offset of ops[])", unsafe.Offsetof(p.Ops), 16},
		{"last_op", unsafe.Offsetof(p.LastOp), 0},
		{"ops_len", unsafe.Offsetof(p.OpsLen), 1},
		{"resv", unsafe.Offsetof(p.Resv), 2},
		{"resv2", unsafe.Offsetof(p.Resv2), 4},
		{"sizeof(io_uring_probe_op)", unsafe.Sizeof(op), 8},
		{"op", unsafe.Offsetof(op.Op), 0},
		{"resv", unsafe.Offsetof(op.Resv), 1},
		{"flags", unsafe.Offsetof(op.Flags), 2},
		{"resv2", unsafe.Offsetof(op.Resv2), 4},
		{"sizeof Probe (256 ops)", unsafe.Sizeof(p), 16 + 256*8},
	})
}
