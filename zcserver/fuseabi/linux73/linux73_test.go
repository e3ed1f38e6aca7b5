package linux73

import (
	"testing"
	"unsafe"
)

func TestSizes(t *testing.T) {
	// ABI doc §2.3, §2.4.
	if got := unsafe.Sizeof(CmdReq{}); got != 40 || SizeofCmdReq != 40 {
		t.Errorf("sizeof(fuse_uring_cmd_req) = %d", got)
	}
	if got := unsafe.Sizeof(EntInOut{}); got != 32 || SizeofEntInOut != 32 {
		t.Errorf("sizeof(fuse_uring_ent_in_out) = %d", got)
	}
	if got := unsafe.Sizeof(ReqHeader{}); got != 288 || SizeofReqHeader != 288 {
		t.Errorf("sizeof(fuse_uring_req_header) = %d", got)
	}
	if FUSE_URING_IN_OUT_HEADER_SZ != 128 || FUSE_URING_OP_IN_OUT_SZ != 128 {
		t.Errorf("header sizes %d/%d", FUSE_URING_IN_OUT_HEADER_SZ, FUSE_URING_OP_IN_OUT_SZ)
	}
	if SQECmdOffset+SQECmdSize != 128 {
		t.Errorf("cmd area does not end at SQE128 end")
	}
}

func TestOffsets(t *testing.T) {
	var c CmdReq
	var e EntInOut
	var h ReqHeader
	cases := []struct {
		name      string
		got, want uintptr
	}{
		// fuse_uring_cmd_req, ABI doc §2.3 ("Off in cmd").
		{"cmd_req.flags", unsafe.Offsetof(c.Flags), 0},
		{"cmd_req.commit_id", unsafe.Offsetof(c.CommitID), 8},
		{"cmd_req.qid", unsafe.Offsetof(c.Qid), 16},
		{"cmd_req union", unsafe.Offsetof(c.Union), 24},
		// fuse_uring_ent_in_out, ABI doc §2.4 (relative to the struct).
		{"ent.flags", unsafe.Offsetof(e.Flags), 0},
		{"ent.commit_id", unsafe.Offsetof(e.CommitID), 8},
		{"ent.payload_sz", unsafe.Offsetof(e.PayloadSz), 16},
		{"ent.offset", unsafe.Offsetof(e.Offset), 20},
		{"ent.reserved", unsafe.Offsetof(e.Reserved), 24},
		// fuse_uring_req_header, ABI doc §2.4.
		{"hdr.in_out", unsafe.Offsetof(h.InOut), OffsetInOut},
		{"hdr.op_in", unsafe.Offsetof(h.OpIn), OffsetOpIn},
		{"hdr.ring_ent_in_out", unsafe.Offsetof(h.Ent), OffsetEntOut},
		{"hdr.op_in (doc)", unsafe.Offsetof(h.OpIn), 128},
		{"hdr.ent (doc)", unsafe.Offsetof(h.Ent), 256},
		{"hdr.ent.payload_sz (doc 272)", unsafe.Offsetof(h.Ent) + unsafe.Offsetof(e.PayloadSz), 272},
		{"hdr.ent.offset (doc 276)", unsafe.Offsetof(h.Ent) + unsafe.Offsetof(e.Offset), 276},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("offsetof(%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestCmdNames(t *testing.T) {
	want := map[Cmd]string{
		0: "FUSE_IO_URING_CMD_INVALID",
		1: "FUSE_IO_URING_CMD_REGISTER",
		2: "FUSE_IO_URING_CMD_COMMIT_AND_FETCH",
		3: "FUSE_IO_URING_CMD_ADD_QUEUE",
		4: "FUSE_IO_URING_CMD_ADD_BUFPOOL",
		5: "Cmd(5)",
	}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Cmd(%d).String() = %q, want %q", c, c.String(), s)
		}
	}
}

func dirty() []byte {
	b := make([]byte, SQECmdSize)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

func TestEncodeBufpool(t *testing.T) {
	c := AddBufpool(3, 0x1122334455667788, 0x00200000)
	cmd := dirty()
	if err := EncodeCmd(cmd, &c); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, SQECmdSize)
	want[16] = 3                                                            // qid
	copy(want[24:], []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}) // uaddr LE
	copy(want[32:], []byte{0x00, 0x00, 0x20, 0x00})                         // len
	if string(cmd) != string(want) {
		t.Fatalf("ADD_BUFPOOL cmd\n got % x\nwant % x", cmd, want)
	}
	back, err := DecodeCmd(cmd)
	if err != nil || back.Bufpool() != (Bufpool{Uaddr: 0x1122334455667788, Len: 0x200000}) || back.Qid != 3 {
		t.Fatalf("decode = %+v %v", back, err)
	}
	// ent_zero_copy_buf_index overlaps the low 16 bits of uaddr (§2.3).
	if back.EntZeroCopyBufIndex() != 0x7788 {
		t.Fatalf("union overlap: index = %#x", back.EntZeroCopyBufIndex())
	}
}

func TestEncodeRegisterCommitQueue(t *testing.T) {
	r := Register(1, 0x0102)
	cmd := dirty()
	if err := EncodeCmd(cmd, &r); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, SQECmdSize)
	want[16] = 1
	want[24], want[25] = 0x02, 0x01
	if string(cmd) != string(want) {
		t.Fatalf("REGISTER cmd\n got % x\nwant % x", cmd, want)
	}

	c := CommitAndFetch(0, 0xdeadbeef)
	cmd = dirty()
	_ = EncodeCmd(cmd, &c)
	want = make([]byte, SQECmdSize)
	copy(want[8:], []byte{0xef, 0xbe, 0xad, 0xde})
	if string(cmd) != string(want) {
		t.Fatalf("COMMIT cmd\n got % x\nwant % x", cmd, want)
	}

	q := AddQueue(1, FUSE_URING_ZERO_COPY)
	cmd = dirty()
	_ = EncodeCmd(cmd, &q)
	want = make([]byte, SQECmdSize)
	want[0], want[16] = 1, 1
	if string(cmd) != string(want) {
		t.Fatalf("ADD_QUEUE cmd\n got % x\nwant % x", cmd, want)
	}

	// A previous bufpool in the union is wiped by SetEntZeroCopyBufIndex.
	var u CmdReq
	u.SetBufpool(Bufpool{Uaddr: ^uint64(0), Len: 7, Reserved: 9})
	u.SetEntZeroCopyBufIndex(4)
	if u.Bufpool() != (Bufpool{Uaddr: 4}) {
		t.Fatalf("union not cleared: %+v", u.Bufpool())
	}

	if err := EncodeCmd(make([]byte, 39), &q); err == nil {
		t.Fatal("EncodeCmd accepted a 39-byte area")
	}
}

func TestReqHeaderAccessors(t *testing.T) {
	var h ReqHeader
	if len(h.InHeaderBytes()) != 40 || len(h.OutHeaderBytes()) != 16 {
		t.Fatal("header views have wrong lengths")
	}
	h.Ent.Flags = FUSE_URING_ENT_ZERO_COPY
	if !h.ZeroCopy() {
		t.Fatal("ZeroCopy() false with the flag set")
	}
}
