package fuseabi

import (
	"strings"
	"testing"
	"unsafe"
)

// Sizes from include/uapi/linux/fuse.h (Linux 7.3); see the ABI doc and the
// uapi header. Each row pins unsafe.Sizeof against the number in the table
// and against the exported Sizeof constant.
func TestWireSizes(t *testing.T) {
	cases := []struct {
		name  string
		got   uintptr
		konst int
		want  int
	}{
		{"fuse_in_header", unsafe.Sizeof(InHeader{}), SizeofInHeader, 40},
		{"fuse_out_header", unsafe.Sizeof(OutHeader{}), SizeofOutHeader, 16},
		{"fuse_init_in", unsafe.Sizeof(InitIn{}), SizeofInitIn, 64},
		{"fuse_init_out", unsafe.Sizeof(InitOut{}), SizeofInitOut, 64},
		{"fuse_attr", unsafe.Sizeof(Attr{}), SizeofAttr, 88},
		{"fuse_entry_out", unsafe.Sizeof(EntryOut{}), SizeofEntryOut, 128},
		{"fuse_attr_out", unsafe.Sizeof(AttrOut{}), SizeofAttrOut, 104},
		{"fuse_getattr_in", unsafe.Sizeof(GetattrIn{}), SizeofGetattrIn, 16},
		{"fuse_setattr_in", unsafe.Sizeof(SetattrIn{}), SizeofSetattrIn, 88},
		{"fuse_open_in", unsafe.Sizeof(OpenIn{}), SizeofOpenIn, 8},
		{"fuse_open_out", unsafe.Sizeof(OpenOut{}), SizeofOpenOut, 16},
		{"fuse_create_in", unsafe.Sizeof(CreateIn{}), SizeofCreateIn, 16},
		{"fuse_read_in", unsafe.Sizeof(ReadIn{}), SizeofReadIn, 40},
		{"fuse_write_in", unsafe.Sizeof(WriteIn{}), SizeofWriteIn, 40},
		{"fuse_write_out", unsafe.Sizeof(WriteOut{}), SizeofWriteOut, 8},
		{"fuse_release_in", unsafe.Sizeof(ReleaseIn{}), SizeofReleaseIn, 24},
		{"fuse_flush_in", unsafe.Sizeof(FlushIn{}), SizeofFlushIn, 24},
		{"fuse_fsync_in", unsafe.Sizeof(FsyncIn{}), SizeofFsyncIn, 16},
		{"fuse_mkdir_in", unsafe.Sizeof(MkdirIn{}), SizeofMkdirIn, 8},
		{"fuse_mknod_in", unsafe.Sizeof(MknodIn{}), SizeofMknodIn, 16},
		{"fuse_rename_in", unsafe.Sizeof(RenameIn{}), SizeofRenameIn, 8},
		{"fuse_rename2_in", unsafe.Sizeof(Rename2In{}), SizeofRename2In, 16},
		{"fuse_link_in", unsafe.Sizeof(LinkIn{}), SizeofLinkIn, 8},
		{"fuse_access_in", unsafe.Sizeof(AccessIn{}), SizeofAccessIn, 8},
		{"fuse_forget_in", unsafe.Sizeof(ForgetIn{}), SizeofForgetIn, 8},
		{"fuse_forget_one", unsafe.Sizeof(ForgetOne{}), SizeofForgetOne, 16},
		{"fuse_batch_forget_in", unsafe.Sizeof(BatchForgetIn{}), SizeofBatchForgetIn, 8},
		{"fuse_interrupt_in", unsafe.Sizeof(InterruptIn{}), SizeofInterruptIn, 8},
		{"fuse_kstatfs", unsafe.Sizeof(Kstatfs{}), SizeofKstatfs, 80},
		{"fuse_statfs_out", unsafe.Sizeof(StatfsOut{}), SizeofStatfsOut, 80},
		{"fuse_poll_in", unsafe.Sizeof(PollIn{}), SizeofPollIn, 24},
		{"fuse_dirent (no name)", unsafe.Sizeof(Dirent{}), SizeofDirent, 24},
		{"fuse_direntplus (no name)", unsafe.Sizeof(Direntplus{}), SizeofDirentplus, 152},
	}
	for _, c := range cases {
		if int(c.got) != c.want || c.konst != c.want {
			t.Errorf("%s: unsafe.Sizeof=%d Sizeof const=%d, want %d", c.name, c.got, c.konst, c.want)
		}
	}
}

// Offsets of the fields the kernel reads or writes, from uapi fuse.h.
func TestWireOffsets(t *testing.T) {
	var (
		ih  InHeader
		oh  OutHeader
		ii  InitIn
		io  InitOut
		a   Attr
		eo  EntryOut
		ao  AttrOut
		si  SetattrIn
		oo  OpenOut
		ri  ReadIn
		wi  WriteIn
		ks  Kstatfs
		dp  Direntplus
		rl  ReleaseIn
		fl  FlushIn
		r2  Rename2In
		bfi BatchForgetIn
	)
	cases := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"in_header.len", unsafe.Offsetof(ih.Len), 0},
		{"in_header.opcode", unsafe.Offsetof(ih.Opcode), 4},
		{"in_header.unique", unsafe.Offsetof(ih.Unique), 8},
		{"in_header.nodeid", unsafe.Offsetof(ih.NodeID), 16},
		{"in_header.uid", unsafe.Offsetof(ih.UID), 24},
		{"in_header.gid", unsafe.Offsetof(ih.GID), 28},
		{"in_header.pid", unsafe.Offsetof(ih.PID), 32},
		{"in_header.total_extlen", unsafe.Offsetof(ih.TotalExtlen), 36},
		{"out_header.error", unsafe.Offsetof(oh.Error), 4},
		{"out_header.unique", unsafe.Offsetof(oh.Unique), 8},
		{"init_in.flags", unsafe.Offsetof(ii.Flags), 12},
		{"init_in.flags2", unsafe.Offsetof(ii.Flags2), 16},
		{"init_out.flags", unsafe.Offsetof(io.Flags), 12},
		{"init_out.max_background", unsafe.Offsetof(io.MaxBackground), 16},
		{"init_out.max_write", unsafe.Offsetof(io.MaxWrite), 20},
		{"init_out.time_gran", unsafe.Offsetof(io.TimeGran), 24},
		{"init_out.max_pages", unsafe.Offsetof(io.MaxPages), 28},
		{"init_out.flags2", unsafe.Offsetof(io.Flags2), 32},
		{"init_out.max_stack_depth", unsafe.Offsetof(io.MaxStackDepth), 36},
		{"init_out.request_timeout", unsafe.Offsetof(io.RequestTimeout), 40},
		{"attr.atimensec", unsafe.Offsetof(a.Atimensec), 48},
		{"attr.mode", unsafe.Offsetof(a.Mode), 60},
		{"attr.blksize", unsafe.Offsetof(a.Blksize), 80},
		{"entry_out.attr", unsafe.Offsetof(eo.Attr), 40},
		{"attr_out.attr", unsafe.Offsetof(ao.Attr), 16},
		{"setattr_in.fh", unsafe.Offsetof(si.Fh), 8},
		{"setattr_in.size", unsafe.Offsetof(si.Size), 16},
		{"setattr_in.atime", unsafe.Offsetof(si.Atime), 32},
		{"setattr_in.atimensec", unsafe.Offsetof(si.Atimensec), 56},
		{"setattr_in.mode", unsafe.Offsetof(si.Mode), 68},
		{"setattr_in.uid", unsafe.Offsetof(si.UID), 76},
		{"setattr_in.gid", unsafe.Offsetof(si.GID), 80},
		{"open_out.open_flags", unsafe.Offsetof(oo.OpenFlags), 8},
		{"open_out.backing_id", unsafe.Offsetof(oo.BackingID), 12},
		{"read_in.offset", unsafe.Offsetof(ri.Offset), 8},
		{"read_in.size", unsafe.Offsetof(ri.Size), 16},
		{"read_in.lock_owner", unsafe.Offsetof(ri.LockOwner), 24},
		{"read_in.flags", unsafe.Offsetof(ri.Flags), 32},
		{"write_in.size", unsafe.Offsetof(wi.Size), 16},
		{"write_in.flags", unsafe.Offsetof(wi.Flags), 32},
		{"release_in.lock_owner", unsafe.Offsetof(rl.LockOwner), 16},
		{"flush_in.lock_owner", unsafe.Offsetof(fl.LockOwner), 16},
		{"rename2_in.flags", unsafe.Offsetof(r2.Flags), 8},
		{"batch_forget_in.count", unsafe.Offsetof(bfi.Count), 0},
		{"kstatfs.bsize", unsafe.Offsetof(ks.Bsize), 40},
		{"kstatfs.frsize", unsafe.Offsetof(ks.Frsize), 48},
		{"direntplus.dirent", unsafe.Offsetof(dp.Dirent), 128},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("offsetof(%s) = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestOpcodeNames(t *testing.T) {
	for op := Opcode(0); op < Opcode(OpcodeSlots); op++ {
		switch op {
		case 0, 7, 19: // gaps in enum fuse_opcode
			if op.Known() {
				t.Errorf("opcode %d should be unknown", op)
			}
			continue
		}
		if !op.Known() || !strings.HasPrefix(op.String(), "FUSE_") {
			t.Errorf("opcode %d has no name (%q)", op, op.String())
		}
	}
	if got := FUSE_READ.String(); got != "FUSE_READ" {
		t.Errorf("FUSE_READ.String() = %q", got)
	}
	if got := Opcode(999).String(); got != "Opcode(999)" {
		t.Errorf("unknown opcode String() = %q", got)
	}
	if CUSE_INIT.String() != "CUSE_INIT" {
		t.Errorf("CUSE_INIT.String() = %q", CUSE_INIT.String())
	}
}

func TestInitFlagTable(t *testing.T) {
	seen := map[uint64]bool{}
	for _, n := range InitFlagNames {
		if n.Bit == 0 || n.Bit&(n.Bit-1) != 0 {
			t.Errorf("%s: bit %#x is not a single bit", n.Name, n.Bit)
		}
		if seen[n.Bit] {
			t.Errorf("%s: bit %#x named twice", n.Name, n.Bit)
		}
		seen[n.Bit] = true
	}
	// ABI doc §1.2: flags2 bit 9 and bit 11.
	if FUSE_OVER_IO_URING != 1<<41 || FUSE_HAS_IO_URING_BUFPOOL != 1<<43 {
		t.Fatalf("io_uring INIT bits wrong: %#x %#x", FUSE_OVER_IO_URING, FUSE_HAS_IO_URING_BUFPOOL)
	}
	_, f2 := SplitInitFlags(FUSE_OVER_IO_URING | FUSE_HAS_IO_URING_BUFPOOL)
	if f2 != 1<<9|1<<11 {
		t.Errorf("flags2 = %#x, want bits 9 and 11", f2)
	}
	// The 7.3 kernel's observed flags2 (0xfff, ABI doc §1.2) is fully named.
	got := FormatFlags(InitFlags(0, 0xfff), InitFlagNames)
	if strings.Contains(got, "0x") {
		t.Errorf("flags2 0xfff has unnamed bits: %s", got)
	}
	if !strings.Contains(got, "FUSE_OVER_IO_URING") || !strings.Contains(got, "FUSE_HAS_IO_URING_BUFPOOL") {
		t.Errorf("FormatFlags(flags2=0xfff) = %s", got)
	}
	if got := FormatFlags(FUSE_ASYNC_READ|1<<63, InitFlagNames); got != "FUSE_ASYNC_READ|0x8000000000000000" {
		t.Errorf("FormatFlags with unknown bit = %s", got)
	}
	if got := FormatFlags(uint64(FOPEN_IO_URING_ZERO_COPY|FOPEN_DIRECT_IO), OpenFlagNames); got != "FOPEN_DIRECT_IO|FOPEN_IO_URING_ZERO_COPY" {
		t.Errorf("open flags = %s", got)
	}
	if FOPEN_IO_URING_ZERO_COPY != 0x100 {
		t.Errorf("FOPEN_IO_URING_ZERO_COPY = %#x, want 0x100 (ABI doc §2.5)", FOPEN_IO_URING_ZERO_COPY)
	}
}

func TestLoadStoreDirent(t *testing.T) {
	h := InHeader{Len: 41, Opcode: FUSE_LOOKUP, Unique: 7, NodeID: 1}
	b := make([]byte, 64)
	if n := Store(b, &h); n != SizeofInHeader {
		t.Fatalf("Store = %d", n)
	}
	// Little-endian layout: opcode at byte 4, unique at byte 8.
	if b[4] != byte(FUSE_LOOKUP) || b[8] != 7 {
		t.Fatalf("bytes = % x", b[:16])
	}
	got, ok := Load[InHeader](b[:40])
	if !ok || got != h {
		t.Fatalf("Load = %+v, %v", got, ok)
	}
	if _, ok := Load[InHeader](b[:39]); ok {
		t.Fatal("Load accepted 39 bytes")
	}
	if n := Store(b[:39], &h); n != 0 {
		t.Fatalf("Store into 39 bytes = %d", n)
	}

	rec := make([]byte, 40)
	for i := range rec {
		rec[i] = 0xff
	}
	n := PutDirent(rec, Dirent{Ino: 5, Off: 3, Type: 8}, "abc")
	if n != 32 {
		t.Fatalf("PutDirent = %d, want 32", n)
	}
	if string(rec[24:27]) != "abc" || rec[27] != 0 || rec[31] != 0 || rec[32] != 0xff {
		t.Fatalf("record = % x", rec)
	}
	if PutDirent(rec[:31], Dirent{}, "abc") != 0 {
		t.Fatal("PutDirent wrote past the end")
	}
	if DirentplusSize(1) != 160 {
		t.Fatalf("DirentplusSize(1) = %d", DirentplusSize(1))
	}
}
