package kmbuf

import (
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// Every number below comes from zcserver/fuseabi/kmbuf/ABI.md (section
// in the case name); none is computed from the code under test.

func TestSizes(t *testing.T) {
	cases := []struct {
		name      string
		got, want uintptr
	}{
		{"fuse_uring_cmd_req v2 (§3.1)", unsafe.Sizeof(CmdReqV2{}), 24},
		{"fuse_uring_cmd_req v3 (§1.1)", unsafe.Sizeof(CmdReqV3{}), 24},
		{"fuse_uring_ent_in_out (§3.2)", unsafe.Sizeof(EntInOut{}), 32},
		{"fuse_uring_req_header (§3.2)", unsafe.Sizeof(ReqHeader{}), 288},
		{"io_uring_buf_reg (§2.2)", unsafe.Sizeof(BufReg{}), 40},
		{"SQE128 (§2.6)", unsafe.Sizeof(URingCmdSQE{}), 128},
		{"SizeofCmdReq", SizeofCmdReq, 24},
		{"SizeofEntInOut", SizeofEntInOut, 32},
		{"SizeofReqHeader", SizeofReqHeader, 288},
		{"SizeofBufReg", SizeofBufReg, 40},
		{"SizeofURingCmdSQE", SizeofURingCmdSQE, 128},
		{"cmd area end", SQECmdOffset + SQECmdSize, 128},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("sizeof %s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestOffsets(t *testing.T) {
	var v2 CmdReqV2
	var v3 CmdReqV3
	var e EntInOut
	var h ReqHeader
	var r BufReg
	var q URingCmdSQE
	cases := []struct {
		name      string
		got, want uintptr
	}{
		// §3.1 (v2) and §1.1 (v3/v4).
		{"v2 flags", unsafe.Offsetof(v2.Flags), 0},
		{"v2 commit_id", unsafe.Offsetof(v2.CommitID), 8},
		{"v2 qid", unsafe.Offsetof(v2.Qid), 16},
		{"v2 init.use_bufring", unsafe.Offsetof(v2.UseBufring), 18},
		{"v2 init.zero_copy", unsafe.Offsetof(v2.ZeroCopy), 19},
		{"v2 init.queue_depth", unsafe.Offsetof(v2.QueueDepth), 20},
		{"v3 flags", unsafe.Offsetof(v3.Flags), 0},
		{"v3 commit_id", unsafe.Offsetof(v3.CommitID), 8},
		{"v3 qid", unsafe.Offsetof(v3.Qid), 16},
		{"v3 init.flags", unsafe.Offsetof(v3.InitFlags), 18},
		{"v3 init.queue_depth", unsafe.Offsetof(v3.QueueDepth), 20},
		// §3.2.
		{"ent.flags", unsafe.Offsetof(e.Flags), 0},
		{"ent.commit_id", unsafe.Offsetof(e.CommitID), 8},
		{"ent.payload_sz", unsafe.Offsetof(e.PayloadSz), 16},
		{"ent.padding", unsafe.Offsetof(e.Padding), 20},
		{"ent.reserved", unsafe.Offsetof(e.Reserved), 24},
		{"hdr.in_out", unsafe.Offsetof(h.InOut), 0},
		{"hdr.op_in", unsafe.Offsetof(h.OpIn), 128},
		{"hdr.ring_ent_in_out", unsafe.Offsetof(h.Ent), 256},
		{"hdr.commit_id in slot", unsafe.Offsetof(h.Ent) + unsafe.Offsetof(e.CommitID), 264},
		{"hdr.payload_sz in slot", unsafe.Offsetof(h.Ent) + unsafe.Offsetof(e.PayloadSz), 272},
		{"OffsetOpIn", OffsetOpIn, 128},
		{"OffsetEntOut", OffsetEntOut, 256},
		// §2.2.
		{"buf_reg union", unsafe.Offsetof(r.Union), 0},
		{"buf_reg ring_entries", unsafe.Offsetof(r.RingEntries), 8},
		{"buf_reg bgid", unsafe.Offsetof(r.Bgid), 12},
		{"buf_reg flags", unsafe.Offsetof(r.Flags), 14},
		{"buf_reg resv", unsafe.Offsetof(r.Resv), 16},
		// §2.6.
		{"sqe opcode", unsafe.Offsetof(q.Opcode), 0},
		{"sqe flags", unsafe.Offsetof(q.Flags), 1},
		{"sqe fd", unsafe.Offsetof(q.Fd), 4},
		{"sqe cmd_op", unsafe.Offsetof(q.CmdOp), 8},
		{"sqe addr", unsafe.Offsetof(q.Addr), 16},
		{"sqe len", unsafe.Offsetof(q.Len), 24},
		{"sqe uring_cmd_flags", unsafe.Offsetof(q.URingCmdFlags), 28},
		{"sqe user_data", unsafe.Offsetof(q.UserData), 32},
		{"sqe buf_index", unsafe.Offsetof(q.BufIndex), 40},
		{"sqe personality", unsafe.Offsetof(q.Personality), 42},
		{"sqe cmd", unsafe.Offsetof(q.Cmd), 48},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("offsetof(%s) = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestConstants(t *testing.T) {
	cases := []struct {
		name      string
		got, want uint64
	}{
		{"IORING_REGISTER_KMBUF_RING (§2.1)", IORING_REGISTER_KMBUF_RING, 37},
		{"IORING_UNREGISTER_KMBUF_RING (§2.1)", IORING_UNREGISTER_KMBUF_RING, 38},
		{"IORING_OFF_KMBUF_RING (§2.1)", IORING_OFF_KMBUF_RING, 0x88000000},
		{"IORING_OFF_KMBUF_SHIFT (§2.1)", IORING_OFF_KMBUF_SHIFT, 16},
		{"IORING_OFF_PBUF_RING (§2.1)", IORING_OFF_PBUF_RING, 0x80000000},
		{"IORING_OFF_MMAP_MASK (§2.1)", IORING_OFF_MMAP_MASK, 0xf8000000},
		{"FUSE_URING_BUF_RING (§1.1)", uint64(FUSE_URING_BUF_RING), 1},
		{"FUSE_URING_ZERO_COPY (§1.1)", uint64(FUSE_URING_ZERO_COPY), 2},
		{"FUSE_URING_RINGBUF_GROUP (§3.3)", FUSE_URING_RINGBUF_GROUP, 0},
		{"FUSE_URING_FIXED_HEADERS_OFFSET (§3.3)", FUSE_URING_FIXED_HEADERS_OFFSET, 0},
		{"FUSE_KERNEL_MINOR_VERSION unchanged (§1.1)", MinorVersion, 45},
		{"REGISTER cmd_op (§2.6)", uint64(FUSE_IO_URING_CMD_REGISTER), 1},
		{"COMMIT_AND_FETCH cmd_op (§2.6)", uint64(FUSE_IO_URING_CMD_COMMIT_AND_FETCH), 2},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if s := FUSE_IO_URING_CMD_COMMIT_AND_FETCH.String(); s != "FUSE_IO_URING_CMD_COMMIT_AND_FETCH" {
		t.Errorf("String() = %q", s)
	}
	if s := Cmd(3).String(); s != "Cmd(3)" {
		t.Errorf("Cmd(3).String() = %q (the series has no ADD_QUEUE)", s)
	}
}

// hexBytes parses "2e 00 .." into bytes; "." pads with zeros up to n.
func hexBytes(t *testing.T, n int, s string) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	for _, f := range strings.Fields(s) {
		var b byte
		for _, c := range []byte(f) {
			switch {
			case c >= '0' && c <= '9':
				b = b<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				b = b<<4 | (c - 'a' + 10)
			default:
				t.Fatalf("bad hex %q", f)
			}
		}
		out = append(out, b)
	}
	if len(out) > n {
		t.Fatalf("golden image of %d bytes, want at most %d", len(out), n)
	}
	return append(out, make([]byte, n-len(out))...)
}

func dirty(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

func TestGoldenCmd(t *testing.T) {
	cases := []struct {
		name string
		img  []byte
		want string // the 24 command bytes, then zeros to 80 (§3.1, §1.1)
	}{
		{"v2 REGISTER qid 1 buf ring + zero copy, depth 8",
			enc(t, RegisterV2(1, Mode{BufRing: true, ZeroCopy: true}, 8)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 01 01 08 00 00 00"},
		{"v2 REGISTER qid 0 buf ring only, depth ignored 0",
			enc(t, RegisterV2(0, Mode{BufRing: true}, 0)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 01 00 00 00 00 00"},
		{"v2 REGISTER qid 2 iovec (no buf ring)",
			enc(t, RegisterV2(2, Mode{}, 0)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00"},
		{"v2 REGISTER zero copy without buf ring (refused, §5 c)",
			enc(t, RegisterV2(0, Mode{ZeroCopy: true}, 4)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 01 04 00 00 00"},
		{"v3 REGISTER qid 1 buf ring + zero copy, depth 8",
			enc(t, RegisterV3(1, Mode{BufRing: true, ZeroCopy: true}, 8)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 03 00 08 00 00 00"},
		{"v3 REGISTER qid 0 buf ring only",
			enc(t, RegisterV3(0, Mode{BufRing: true}, 0)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 01 00 00 00 00 00"},
		{"v3 REGISTER zero copy without buf ring",
			enc(t, RegisterV3(0, Mode{ZeroCopy: true}, 0x0102)),
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 02 00 02 01 00 00"},
		{"v2 COMMIT_AND_FETCH qid 1 commit_id 0x1122334455667788",
			enc(t, CommitAndFetchV2(1, 0x1122334455667788)),
			"00 00 00 00 00 00 00 00  88 77 66 55 44 33 22 11  01 00 00 00 00 00 00 00"},
		{"v3 COMMIT_AND_FETCH qid 1 commit_id 0x1122334455667788",
			enc(t, CommitAndFetchV3(1, 0x1122334455667788)),
			"00 00 00 00 00 00 00 00  88 77 66 55 44 33 22 11  01 00 00 00 00 00 00 00"},
	}
	for _, c := range cases {
		if want := hexBytes(t, SQECmdSize, c.want); string(c.img) != string(want) {
			t.Errorf("%s\n got % x\nwant % x", c.name, c.img, want)
		}
	}
}

func enc[T CmdReq](t *testing.T, c T) []byte {
	t.Helper()
	b := dirty(SQECmdSize)
	if err := EncodeCmd(b, &c); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeCmd[T](b)
	if err != nil || back != c {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", c, back, err)
	}
	return b
}

func TestEncodeCmdShortArea(t *testing.T) {
	c := RegisterV2(0, Mode{}, 0)
	if err := EncodeCmd(make([]byte, 23), &c); err == nil {
		t.Fatal("EncodeCmd accepted a 23-byte area")
	}
	if _, err := DecodeCmd[CmdReqV3](make([]byte, 23)); err == nil {
		t.Fatal("DecodeCmd accepted a 23-byte area")
	}
}

func TestGoldenSQE(t *testing.T) {
	s := SQEArgs{Fd: 5, UserData: 0x1122334455667788}
	reg := RegisterArgs{Qid: 1, Mode: Mode{BufRing: true, ZeroCopy: true}, QueueDepth: 8, Ent: 3}
	// 48-byte SQE head (§2.6): opcode 46, fd 5, cmd_op, user_data, buf_index = ent.
	head := func(cmdOp, bufIndex string) string {
		return "2e 00 00 00 05 00 00 00  " + cmdOp + " 00 00 00 00 00 00 00  " +
			"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  " +
			"88 77 66 55 44 33 22 11  " + bufIndex + " 00 00 00 00 00 00 00  "
	}
	cases := []struct {
		name string
		got  URingCmdSQE
		want string
	}{
		{"v2 REGISTER ent 3 qid 1 buf ring + zero copy depth 8", ProfileV2.RegisterSQE(s, reg),
			head("01", "03") + "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 01 01 08 00 00 00"},
		{"v3 REGISTER ent 3 qid 1 buf ring + zero copy depth 8", ProfileV3.RegisterSQE(s, reg),
			head("01", "03") + "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 03 00 08 00 00 00"},
		{"v4 REGISTER = v3 layout", ProfileV4.RegisterSQE(s, reg),
			head("01", "03") + "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  01 00 03 00 08 00 00 00"},
		{"v2 COMMIT_AND_FETCH qid 1 commit_id 0x99", ProfileV2.CommitAndFetchSQE(s, 1, 0x99),
			head("02", "00") + "00 00 00 00 00 00 00 00  99 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"},
		{"v3 COMMIT_AND_FETCH qid 1 commit_id 0x99", ProfileV3.CommitAndFetchSQE(s, 1, 0x99),
			head("02", "00") + "00 00 00 00 00 00 00 00  99 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00"},
	}
	for _, c := range cases {
		if want := hexBytes(t, SizeofURingCmdSQE, c.want); string(c.got.Bytes()) != string(want) {
			t.Errorf("%s\n got % x\nwant % x", c.name, c.got.Bytes(), want)
		}
	}

	// The optional fields land where §2.6 says: flags (IOSQE_FIXED_FILE),
	// uring_cmd_flags, personality, and the iovec pair of a REGISTER
	// without buf ring.
	s2 := SQEArgs{Fd: 0, FixedFile: true, UserData: 1, Personality: 0x0203, URingCmdFlags: 1}
	q := ProfileV2.RegisterSQE(s2, RegisterArgs{Qid: 2, Iovecs: 0x00007f0000001000, NrIovecs: RegisterIovecs, Ent: 0})
	want := hexBytes(t, SizeofURingCmdSQE, "2e 01 00 00 00 00 00 00  01 00 00 00 00 00 00 00  "+
		"00 10 00 00 00 7f 00 00  02 00 00 00 01 00 00 00  "+
		"01 00 00 00 00 00 00 00  00 00 03 02 00 00 00 00  "+
		"00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00")
	if string(q.Bytes()) != string(want) {
		t.Errorf("v2 iovec REGISTER with fixed file, personality, CMD_FIXED\n got % x\nwant % x", q.Bytes(), want)
	}
}

func TestGoldenBufReg(t *testing.T) {
	r := KmbufRingReg(64<<10, 8, 0)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&r)), SizeofBufReg)
	want := hexBytes(t, SizeofBufReg, "00 00 01 00 00 00 00 00  08 00 00 00 00 00 00 00")
	if string(b) != string(want) {
		t.Errorf("kmbuf reg 64 KiB x 8 at bgid 0\n got % x\nwant % x", b, want)
	}
	if r.BufSize() != 64<<10 || r.RingAddr() != 64<<10 {
		t.Errorf("union: buf_size %d ring_addr %#x", r.BufSize(), r.RingAddr())
	}
	r.SetRingAddr(^uint64(0))
	r.SetBufSize(4096)
	if r.RingAddr() != 4096 {
		t.Errorf("SetBufSize left the upper half of the union: %#x", r.RingAddr())
	}
	r2 := KmbufRingReg(4096, 1, 7)
	b2 := unsafe.Slice((*byte)(unsafe.Pointer(&r2)), SizeofBufReg)
	want2 := hexBytes(t, SizeofBufReg, "00 10 00 00 00 00 00 00  01 00 00 00 07 00")
	if string(b2) != string(want2) {
		t.Errorf("kmbuf reg 4 KiB x 1 at bgid 7\n got % x\nwant % x", b2, want2)
	}
}

func TestCheckKmbufReg(t *testing.T) {
	const page = 4096
	ok := KmbufRingReg(page, 8, 0)
	if err := CheckKmbufReg(ok, page); err != nil {
		t.Fatalf("valid reg refused: %v", err)
	}
	bad := map[string]BufReg{}
	r := ok
	r.Flags = 1
	bad["flags"] = r
	r = ok
	r.Resv[2] = 1
	bad["resv"] = r
	bad["entries 0"] = KmbufRingReg(page, 0, 0)
	bad["entries 3"] = KmbufRingReg(page, 3, 0)
	bad["entries 65536"] = KmbufRingReg(page, 1<<16, 0)
	bad["buf_size 0"] = KmbufRingReg(0, 8, 0)
	bad["buf_size 4097"] = KmbufRingReg(page+1, 8, 0)
	for name, r := range bad {
		if err := CheckKmbufReg(r, page); !errors.Is(err, ErrBadKmbufReg) {
			t.Errorf("%s: got %v, want ErrBadKmbufReg (§2.2: EINVAL)", name, err)
		}
	}
	if err := CheckKmbufReg(KmbufRingReg(page, 1<<15, 0), page); err != nil {
		t.Errorf("32768 entries is the largest power of two below 65536: %v", err)
	}
}

func TestIndexArithmetic(t *testing.T) {
	// §3.3: headers at index 0 with buf ring only, at queue_depth with zero
	// copy (u16 arithmetic); slot offset = ent * 288.
	if i, ok := HeadersIndex(Mode{BufRing: true}, 8); !ok || i != 0 {
		t.Errorf("buf ring only: headers index %d %v, want 0", i, ok)
	}
	if i, ok := HeadersIndex(Mode{BufRing: true, ZeroCopy: true}, 8); !ok || i != 8 {
		t.Errorf("zero copy depth 8: headers index %d %v, want 8", i, ok)
	}
	if i, ok := HeadersIndex(Mode{BufRing: true, ZeroCopy: true}, 0xffff); !ok || i != 0xffff {
		t.Errorf("zero copy depth 65535: headers index %d, want 65535", i)
	}
	if _, ok := HeadersIndex(Mode{}, 8); ok {
		t.Error("an iovec queue has no headers index")
	}
	for _, c := range []struct {
		ent  uint16
		want uint32
	}{{0, 0}, {1, 288}, {3, 864}, {7, 2016}, {0xffff, 65535 * 288}} {
		if got := HeaderSlotOffset(c.ent); got != c.want {
			t.Errorf("HeaderSlotOffset(%d) = %d, want %d", c.ent, got, c.want)
		}
	}
	if HeadersLen(7) != 8*288 || ZeroCopyTableSlots(8) != 9 || PageSlot(5) != 5 {
		t.Error("headers length, table size or page slot wrong")
	}
	// §2.3: bgid 0 maps at exactly 0x88000000, buffer bid at bid*buf_size.
	if KmbufMmapOffset(0) != 0x88000000 || KmbufMmapOffset(1) != 0x88010000 {
		t.Errorf("mmap offsets %#x %#x", KmbufMmapOffset(0), KmbufMmapOffset(1))
	}
	if BufferOffset(3, 64<<10) != 3*64<<10 {
		t.Error("BufferOffset")
	}
	hdrs := make([]byte, HeadersLen(2))
	if HeaderAt(hdrs, 2) == nil || HeaderAt(hdrs, 3) != nil {
		t.Error("HeaderAt bounds")
	}
	h := HeaderAt(hdrs, 1)
	h.Ent.PayloadSz = 0x01020304
	if hdrs[288+272] != 0x04 {
		t.Error("HeaderAt(1) does not alias slot 1")
	}
}

func TestCrossTalk(t *testing.T) {
	// §1.1: v3 flags=3 on a v2 kernel: byte 18 = 3 (a non-bool), byte 19 = 0
	// → zero copy off.
	v3zc := ProfileV3.RegisterCmd(0, Mode{BufRing: true, ZeroCopy: true}, 8)
	in, err := ReadInit(V2, v3zc[:])
	if err != nil || in.Mode != (Mode{BufRing: true}) || !in.NonBoolByte || in.QueueDepth != 8 {
		t.Errorf("v3 zero copy read by v2: %+v %v", in, err)
	}
	// v2 bytes 1,1 on a v3/v4 kernel: flags 0x0101 → buf ring, no zero copy.
	v2zc := ProfileV2.RegisterCmd(0, Mode{BufRing: true, ZeroCopy: true}, 8)
	for _, rev := range []Revision{V3, V4} {
		in, err := ReadInit(rev, v2zc[:])
		if err != nil || in.Mode != (Mode{BufRing: true}) || in.NonBoolByte {
			t.Errorf("v2 zero copy read by %s: %+v %v", rev, in, err)
		}
	}
	// Each profile reads its own encoding back.
	for _, p := range Profiles {
		for _, m := range []Mode{{}, {BufRing: true}, {BufRing: true, ZeroCopy: true}, {ZeroCopy: true}} {
			b := p.RegisterCmd(3, m, 16)
			in, err := p.ReadInit(b[:])
			if err != nil || in.Mode != m || in.QueueDepth != 16 || in.NonBoolByte {
				t.Errorf("%s round trip of %s: %+v %v", p, m, in, err)
			}
		}
	}
	// The one encoding both read as buf ring + zero copy: 0x03, 0x01.
	both := make([]byte, SizeofCmdReq)
	both[18], both[19] = 3, 1
	for _, rev := range []Revision{V2, V3} {
		in, _ := ReadInit(rev, both)
		if in.Mode != (Mode{BufRing: true, ZeroCopy: true}) {
			t.Errorf("0x03,0x01 read by %s as %s", rev, in.Mode)
		}
	}
	if _, err := ReadInit(Revision(9), both); err == nil {
		t.Error("unknown revision accepted")
	}
}

func TestProfiles(t *testing.T) {
	for _, c := range []struct {
		name   string
		layout Revision
		warn   bool
	}{{"kmbuf-v2", V2, true}, {"kmbuf-v3", V3, true}, {"kmbuf-v4", V3, false}} {
		p, err := ProfileNamed(c.name)
		if err != nil || p.Layout != c.layout || p.WarnsOnUnregisterFailure != c.warn || p.WarnsOnHeadersPrep != c.warn {
			t.Errorf("%s: %+v %v", c.name, p, err)
		}
		if q, err := ProfileFor(p.Revision); err != nil || q != p {
			t.Errorf("ProfileFor(%s) = %+v %v", p.Revision, q, err)
		}
	}
	if _, err := ProfileNamed("kmbuf-v5"); err == nil {
		t.Error("unknown profile accepted")
	}
	// The commit bytes do not depend on the layout.
	if ProfileV2.CommitCmd(1, 2) != ProfileV3.CommitCmd(1, 2) {
		t.Error("COMMIT_AND_FETCH differs between layouts")
	}
}

func TestStickyBuffer(t *testing.T) {
	// §2.4: F_BUFFER (bit 0) with bid<<16 names a buffer; a CQE without
	// it keeps the previous bid.
	var s StickyBuffer
	if _, ok := s.Observe(0); ok {
		t.Fatal("a fresh tracker has a buffer")
	}
	if bid, ok := s.Observe(5<<16 | 1); !ok || bid != 5 {
		t.Fatalf("F_BUFFER with bid 5: %d %v", bid, ok)
	}
	if bid, ok := s.Observe(0); !ok || bid != 5 {
		t.Fatalf("CQE without F_BUFFER must keep bid 5: %d %v", bid, ok)
	}
	if bid, ok := s.Observe(7 << 16); !ok || bid != 5 {
		t.Fatalf("bid bits without F_BUFFER must be ignored: %d %v", bid, ok)
	}
	if bid, ok := s.Observe(0xffff<<16 | 1 | 2); !ok || bid != 0xffff {
		t.Fatalf("bid 65535 with F_MORE: %d %v", bid, ok)
	}
	if bid, ok := CQEBufferID(2); ok || bid != 0 {
		t.Fatal("CQEBufferID without F_BUFFER")
	}
}
