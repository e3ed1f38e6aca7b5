package uring_test

import (
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Values are facts from include/uapi/linux/io_uring.h and ABI doc §2.1/§4.
func TestConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"IORING_OP_NOP", uring.IORING_OP_NOP, 0},
		{"IORING_OP_READ_FIXED", uring.IORING_OP_READ_FIXED, 4},
		{"IORING_OP_WRITE_FIXED", uring.IORING_OP_WRITE_FIXED, 5},
		{"IORING_OP_READ", uring.IORING_OP_READ, 22},
		{"IORING_OP_WRITE", uring.IORING_OP_WRITE, 23},
		{"IORING_OP_URING_CMD", uring.IORING_OP_URING_CMD, 46},
		{"IORING_OP_READV_FIXED", uring.IORING_OP_READV_FIXED, 60},
		{"IORING_OP_WRITEV_FIXED", uring.IORING_OP_WRITEV_FIXED, 61},
		{"IORING_OP_NOP128", uring.IORING_OP_NOP128, 63},
		{"IORING_OP_URING_CMD128", uring.IORING_OP_URING_CMD128, 64},
		{"IORING_SETUP_SQE128", uring.IORING_SETUP_SQE128, 0x400},
		{"IORING_SETUP_CQE32", uring.IORING_SETUP_CQE32, 0x800},
		{"IORING_SETUP_SINGLE_ISSUER", uring.IORING_SETUP_SINGLE_ISSUER, 0x1000},
		{"IORING_SETUP_DEFER_TASKRUN", uring.IORING_SETUP_DEFER_TASKRUN, 0x2000},
		{"IORING_SETUP_COOP_TASKRUN", uring.IORING_SETUP_COOP_TASKRUN, 0x100},
		{"IORING_SETUP_NO_SQARRAY", uring.IORING_SETUP_NO_SQARRAY, 0x10000},
		{"IORING_SETUP_SQE_MIXED", uring.IORING_SETUP_SQE_MIXED, 0x80000},
		{"IOSQE_FIXED_FILE", uring.IOSQE_FIXED_FILE, 1},
		{"IOSQE_IO_LINK", uring.IOSQE_IO_LINK, 4},
		{"IOSQE_ASYNC", uring.IOSQE_ASYNC, 0x10},
		{"IORING_URING_CMD_FIXED", uring.IORING_URING_CMD_FIXED, 1},
		{"IORING_URING_CMD_MULTISHOT", uring.IORING_URING_CMD_MULTISHOT, 2},
		{"IORING_REGISTER_BUFFERS", uring.IORING_REGISTER_BUFFERS, 0},
		{"IORING_UNREGISTER_BUFFERS", uring.IORING_UNREGISTER_BUFFERS, 1},
		{"IORING_REGISTER_PROBE", uring.IORING_REGISTER_PROBE, 8},
		{"IORING_REGISTER_PERSONALITY", uring.IORING_REGISTER_PERSONALITY, 9},
		{"IORING_REGISTER_BUFFERS2", uring.IORING_REGISTER_BUFFERS2, 15},
		{"IORING_REGISTER_BUFFERS_UPDATE", uring.IORING_REGISTER_BUFFERS_UPDATE, 16},
		{"IORING_RSRC_REGISTER_SPARSE", uring.IORING_RSRC_REGISTER_SPARSE, 1},
		{"IORING_ENTER_GETEVENTS", uring.IORING_ENTER_GETEVENTS, 1},
		{"IORING_FEAT_SINGLE_MMAP", uring.IORING_FEAT_SINGLE_MMAP, 1},
		{"IORING_OFF_SQES", uring.IORING_OFF_SQES, 0x10000000},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{uring.Op(uring.IORING_OP_URING_CMD).String(), "URING_CMD"},
		{uring.Op(uring.IORING_OP_URING_CMD128).String(), "URING_CMD128"},
		{uring.Op(uring.IORING_OP_READ_FIXED).String(), "READ_FIXED"},
		{uring.Op(uring.IORING_OP_READV_FIXED).String(), "READV_FIXED"},
		{uring.Op(200).String(), "Op(200)"},
		{uring.RegisterOp(uring.IORING_REGISTER_BUFFERS_UPDATE).String(), "BUFFERS_UPDATE"},
		{uring.RegisterOp(uring.IORING_UNREGISTER_BUFFERS).String(), "UNREGISTER_BUFFERS"},
		{uring.RegisterOp(uring.IORING_REGISTER_BPF_FILTER).String(), "BPF_FILTER"},
		{uring.RegisterOp(99).String(), "RegisterOp(99)"},
		{uring.RegisterOp(uring.IORING_REGISTER_PROBE | uring.IORING_REGISTER_USE_REGISTERED_RING).String(), "PROBE|USE_REGISTERED_RING"},
		{uring.SetupFlags(uring.IORING_SETUP_SQE128 | uring.IORING_SETUP_SQE_MIXED | 1<<30).String(), "SQE128|SQE_MIXED|0x40000000"},
		{uring.SetupFlags(0).String(), "0"},
		{uring.FeatureFlags(uring.IORING_FEAT_SINGLE_MMAP | uring.IORING_FEAT_NODROP).String(), "SINGLE_MMAP|NODROP"},
		{uring.SQEFlags(uring.IOSQE_FIXED_FILE | uring.IOSQE_CQE_SKIP_SUCCESS).String(), "FIXED_FILE|CQE_SKIP_SUCCESS"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
