package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/memfs"
)

var le = binary.LittleEndian

// kernel73Flags/Flags2 approximate what a 7.3 kernel offers: every low bit
// and flags2 0xfff (ABI doc §1.2, observed with enable_uring on).
const (
	kernel73Flags  = 0xffffffff &^ uint32(fuseabi.FUSE_INIT_RESERVED)
	kernel73Flags2 = 0xfff
)

// reqBytes hand-builds a request: a 40-byte fuse_in_header followed by the
// op-in and payload pieces, with len, opcode, unique and nodeid at their
// uapi offsets.
func reqBytes(op fuseabi.Opcode, unique, node uint64, pieces ...[]byte) []byte {
	b := make([]byte, 40)
	for _, p := range pieces {
		b = append(b, p...)
	}
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint32(b[4:], uint32(op))
	le.PutUint64(b[8:], unique)
	le.PutUint64(b[16:], node)
	le.PutUint32(b[24:], 1000) // uid
	le.PutUint32(b[28:], 1001) // gid
	le.PutUint32(b[32:], 4242) // pid
	return b
}

func initIn(major, minor, flags, flags2 uint32) []byte {
	b := make([]byte, 64)
	le.PutUint32(b[0:], major)
	le.PutUint32(b[4:], minor)
	le.PutUint32(b[8:], 128<<10) // max_readahead
	le.PutUint32(b[12:], flags)
	le.PutUint32(b[16:], flags2)
	return b
}

type harness struct {
	t      *testing.T
	fs     *memfs.FS
	h      *Handler
	out    []byte
	mu     sync.Mutex
	faults []Fault
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	fs, err := memfs.New(memfs.Options{Now: func() time.Time { return time.Unix(1700000000, 5) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	x := &harness{t: t, fs: fs}
	cfg.OnFault = func(f Fault) {
		x.mu.Lock()
		x.faults = append(x.faults, f)
		x.mu.Unlock()
	}
	x.h, err = New(fs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x.out = make([]byte, x.h.PayloadSize())
	return x
}

// serve runs one contiguous /dev/fuse-style request and returns the reply
// as it would be written to /dev/fuse (out header + out-args), or nil for
// no reply.
func (x *harness) serve(buf []byte) []byte {
	x.t.Helper()
	req, err := SplitDev(buf)
	if err != nil {
		x.t.Fatal(err)
	}
	rep := x.h.Serve(&req, x.out)
	if rep.NoReply {
		return nil
	}
	hdr := make([]byte, 16)
	if rep.PutOutHeader(hdr) != 16 {
		x.t.Fatal("PutOutHeader")
	}
	return append(hdr, x.out[:rep.N]...)
}

func (x *harness) init(flags2 uint32) []byte {
	return x.serve(reqBytes(fuseabi.FUSE_INIT, 2, 0, initIn(7, 46, kernel73Flags, flags2)))
}

func (x *harness) wantFaults(kind FaultKind, n int) {
	x.t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	got := 0
	for _, f := range x.faults {
		if f.Kind == kind {
			got++
		}
	}
	if got != n {
		x.t.Fatalf("%d faults of kind %s, want %d (all: %v)", got, kind, n, x.faults)
	}
}

func wantHeader(t *testing.T, rep []byte, wantLen int, status Status, unique uint64) {
	t.Helper()
	if len(rep) != wantLen {
		t.Fatalf("reply is %d bytes, want %d: % x", len(rep), wantLen, rep)
	}
	if got := le.Uint32(rep[0:]); got != uint32(wantLen) {
		t.Errorf("out_header.len = %d, want %d", got, wantLen)
	}
	if got := int32(le.Uint32(rep[4:])); got != -int32(status) {
		t.Errorf("out_header.error = %d, want %d (%s)", got, -int32(status), status)
	}
	if got := le.Uint64(rep[8:]); got != unique {
		t.Errorf("out_header.unique = %d, want %d", got, unique)
	}
}

func TestTableChecked(t *testing.T) {
	tab, err := table()
	if err != nil {
		t.Fatal(err)
	}
	for op, row := range tab {
		if row == nil {
			continue
		}
		if int(row.op) != op || row.name != row.op.String() || strings.HasPrefix(row.name, "Opcode(") {
			t.Errorf("row %d: op %d name %q", op, row.op, row.name)
		}
	}
	for _, op := range []fuseabi.Opcode{
		fuseabi.FUSE_INIT, fuseabi.FUSE_LOOKUP, fuseabi.FUSE_GETATTR, fuseabi.FUSE_SETATTR,
		fuseabi.FUSE_OPEN, fuseabi.FUSE_CREATE, fuseabi.FUSE_READ, fuseabi.FUSE_WRITE,
		fuseabi.FUSE_FLUSH, fuseabi.FUSE_FSYNC, fuseabi.FUSE_RELEASE, fuseabi.FUSE_OPENDIR,
		fuseabi.FUSE_READDIR, fuseabi.FUSE_READDIRPLUS, fuseabi.FUSE_RELEASEDIR, fuseabi.FUSE_MKDIR,
		fuseabi.FUSE_UNLINK, fuseabi.FUSE_RMDIR, fuseabi.FUSE_RENAME, fuseabi.FUSE_RENAME2,
		fuseabi.FUSE_STATFS, fuseabi.FUSE_FORGET, fuseabi.FUSE_BATCH_FORGET, fuseabi.FUSE_INTERRUPT,
		fuseabi.FUSE_DESTROY, fuseabi.FUSE_ACCESS,
	} {
		if !Implemented(op) {
			t.Errorf("%s not implemented", op)
		}
	}
	if Implemented(fuseabi.FUSE_POLL) || Implemented(fuseabi.FUSE_GETXATTR) {
		t.Error("POLL/GETXATTR should answer ENOSYS")
	}
	if OpInSize(fuseabi.FUSE_READ) != 40 || OpInSize(fuseabi.FUSE_LOOKUP) != 0 || OpInSize(fuseabi.FUSE_SETATTR) != 88 {
		t.Error("op-in sizes")
	}
	bad := opInfo{op: fuseabi.FUSE_SETATTR, name: "x", opInSize: 129, handle: (*Handler).opOK}
	if checkRow(&bad) == nil {
		t.Error("checkRow accepted an op-in larger than the ring's op_in area")
	}
}

// TestInitGolden feeds a 7.3-style INIT and checks every reply byte.
func TestInitGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ring   bool
		flags2 uint32
		want2  uint32
	}{
		{"no ring asked", false, kernel73Flags2, 0},
		{"ring asked and offered", true, kernel73Flags2, 1 << 9},
		{"ring asked, not offered (enable_uring off)", true, 0x5ff &^ (1 << 9), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHarness(t, Config{Ring: tc.ring})
			rep := x.init(tc.flags2)
			wantFlags := uint32(fuseabi.FUSE_ASYNC_READ | fuseabi.FUSE_BIG_WRITES | fuseabi.FUSE_DO_READDIRPLUS |
				fuseabi.FUSE_PARALLEL_DIROPS | fuseabi.FUSE_MAX_PAGES | fuseabi.FUSE_INIT_EXT)
			want := make([]byte, 16+64)
			le.PutUint32(want[0:], 80)
			le.PutUint64(want[8:], 2)
			o := want[16:]
			le.PutUint32(o[0:], 7)
			le.PutUint32(o[4:], 46)
			le.PutUint32(o[8:], 128<<10)
			le.PutUint32(o[12:], wantFlags)
			le.PutUint16(o[16:], 64)      // max_background
			le.PutUint16(o[18:], 48)      // congestion_threshold
			le.PutUint32(o[20:], 128<<10) // max_write
			le.PutUint32(o[24:], 1)       // time_gran
			le.PutUint16(o[28:], 32)      // max_pages
			le.PutUint32(o[32:], tc.want2)
			if !bytes.Equal(rep, want) {
				t.Fatalf("INIT reply\n got % x\nwant % x", rep, want)
			}
			info, ok := x.h.Init()
			if !ok || info.KernelMinor != 46 || info.KernelFlags2 != tc.flags2 || info.MaxPayloadSz != 131072 || info.Ring != (tc.want2 != 0) {
				t.Fatalf("InitInfo = %+v", info)
			}
			if info.OffersBufPool() != (tc.flags2&(1<<11) != 0) {
				t.Fatal("OffersBufPool")
			}
			if !strings.Contains(info.String(), "FUSE_MAX_PAGES") {
				t.Fatalf("String() = %s", info.String())
			}
			// A second INIT is a fault.
			rep = x.serve(reqBytes(fuseabi.FUSE_INIT, 4, 0, initIn(7, 46, kernel73Flags, tc.flags2)))
			wantHeader(t, rep, 16, EIO, 4)
			x.wantFaults(FaultBadRequest, 1)
		})
	}
}

func TestNegotiate(t *testing.T) {
	mk := func(maxWrite uint32) negotiation {
		h, err := New(must(memfs.New(memfs.Options{})), Config{MaxWrite: maxWrite, Ring: true})
		if err != nil {
			t.Fatal(err)
		}
		return h.neg
	}
	in := fuseabi.InitIn{Major: 7, Minor: 45, Flags: kernel73Flags, Flags2: 0x3ff}
	// 7.2: minor 45, bit 9 only.
	n := mk(4096)
	o, info, err := n.negotiate(in, false)
	if err != nil || o.Minor != 45 || o.Flags2 != 1<<9 || info.MaxPayloadSz != 131072 || info.OffersBufPool() || !info.OffersIOURing() {
		t.Fatalf("7.2: %+v %+v %v", o, info, err)
	}
	// 1 MiB max_write: 256 pages.
	n = mk(1 << 20)
	o, info, _ = n.negotiate(in, false)
	if o.MaxPages != 256 || info.MaxPayloadSz != 1<<20 {
		t.Fatalf("1MiB: max_pages %d payload %d", o.MaxPages, info.MaxPayloadSz)
	}
	// Kernel without FUSE_MAX_PAGES: 32 pages implied.
	in2 := in
	in2.Flags &^= uint32(fuseabi.FUSE_MAX_PAGES)
	o, info, _ = n.negotiate(in2, false)
	if o.MaxPages != 0 || info.EffectiveMaxPages != 32 || info.MaxPayloadSz != 1<<20 {
		t.Fatalf("no MAX_PAGES: %+v", info)
	}
	// Compat init_in: no flags2 at all.
	_, info, _ = n.negotiate(fuseabi.InitIn{Major: 7, Minor: 36, Flags: kernel73Flags, Flags2: 0xfff}, true)
	if info.KernelFlags2 != 0 || info.Ring {
		t.Fatalf("compat: %+v", info)
	}
	if _, _, err := n.negotiate(fuseabi.InitIn{Major: 8, Minor: 0}, false); err == nil {
		t.Fatal("major 8 accepted")
	}
	if _, _, err := n.negotiate(fuseabi.InitIn{Major: 7, Minor: 31}, false); err == nil {
		t.Fatal("minor 31 accepted")
	}
	if _, err := New(must(memfs.New(memfs.Options{})), Config{MaxWrite: 100}); err == nil {
		t.Fatal("max_write 100 accepted")
	}
	// FUSE_ABORT_ERROR only when asked for.
	if info.Flags&fuseabi.FUSE_ABORT_ERROR != 0 {
		t.Fatal("FUSE_ABORT_ERROR asked for by default")
	}
	h, err := New(must(memfs.New(memfs.Options{})), Config{AbortError: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, info, _ = h.neg.negotiate(in, false); info.Flags&fuseabi.FUSE_ABORT_ERROR == 0 {
		t.Fatalf("AbortError: FUSE_ABORT_ERROR not in %#x", info.Flags)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestBadInitVersion(t *testing.T) {
	x := newHarness(t, Config{})
	rep := x.serve(reqBytes(fuseabi.FUSE_INIT, 2, 0, initIn(7, 20, 0, 0)))
	wantHeader(t, rep, 16, EPROTO, 2)
	x.wantFaults(FaultProtocol, 1)
	if _, ok := x.h.Init(); ok {
		t.Fatal("INIT recorded after EPROTO")
	}
}

func TestBeforeInit(t *testing.T) {
	x := newHarness(t, Config{})
	rep := x.serve(reqBytes(fuseabi.FUSE_GETATTR, 3, 1, make([]byte, 16)))
	wantHeader(t, rep, 16, EIO, 3)
	x.wantFaults(FaultBeforeInit, 1)
}

func TestLookupGolden(t *testing.T) {
	x := newHarness(t, Config{EntryTimeout: 1500 * time.Millisecond, AttrTimeout: 2 * time.Second})
	x.init(kernel73Flags2)
	a, err := x.fs.Mknod(memfs.RootID, "f", 0o644, memfs.Owner{UID: 5, GID: 6})
	if err != nil {
		t.Fatal(err)
	}
	rep := x.serve(reqBytes(fuseabi.FUSE_LOOKUP, 10, 1, []byte("f\x00")))
	wantHeader(t, rep, 16+128, OK, 10)
	e := rep[16:]
	checks := []struct {
		name string
		off  int
		size int
		want uint64
	}{
		{"nodeid", 0, 8, a.Ino},
		{"generation", 8, 8, 1},
		{"entry_valid", 16, 8, 1},
		{"attr_valid", 24, 8, 2},
		{"entry_valid_nsec", 32, 4, 500000000},
		{"attr_valid_nsec", 36, 4, 0},
		{"attr.ino", 40, 8, a.Ino},
		{"attr.size", 48, 8, 0},
		{"attr.mtime", 40 + 32, 8, 1700000000},
		{"attr.mtimensec", 40 + 52, 4, 5},
		{"attr.mode", 40 + 60, 4, unix.S_IFREG | 0o644},
		{"attr.nlink", 40 + 64, 4, 1},
		{"attr.uid", 40 + 68, 4, 5},
		{"attr.gid", 40 + 72, 4, 6},
		{"attr.blksize", 40 + 80, 4, 4096},
	}
	for _, c := range checks {
		var got uint64
		if c.size == 8 {
			got = le.Uint64(e[c.off:])
		} else {
			got = uint64(le.Uint32(e[c.off:]))
		}
		if got != c.want {
			t.Errorf("entry_out.%s = %d, want %d", c.name, got, c.want)
		}
	}
	if l, _ := x.fs.Lookups(a.Ino); l != 2 {
		t.Errorf("nlookup = %d, want 2 (mknod + lookup)", l)
	}
	rep = x.serve(reqBytes(fuseabi.FUSE_LOOKUP, 11, 1, []byte("nope\x00")))
	wantHeader(t, rep, 16, ENOENT, 11)
	// A name without its NUL is a malformed request.
	rep = x.serve(reqBytes(fuseabi.FUSE_LOOKUP, 12, 1, []byte("f")))
	wantHeader(t, rep, 16, EIO, 12)
	x.wantFaults(FaultBadRequest, 1)
	// FORGET: no reply, count drops.
	fi := make([]byte, 8)
	le.PutUint64(fi, 2)
	if rep := x.serve(reqBytes(fuseabi.FUSE_FORGET, 13, a.Ino, fi)); rep != nil {
		t.Fatalf("FORGET replied % x", rep)
	}
	if l, _ := x.fs.Lookups(a.Ino); l != 0 {
		t.Errorf("nlookup after FORGET = %d", l)
	}
}

func openFile(t *testing.T, x *harness, name string) (ino, fh uint64) {
	t.Helper()
	ci := make([]byte, 16)
	le.PutUint32(ci[0:], unix.O_RDWR|unix.O_CREAT)
	le.PutUint32(ci[4:], unix.S_IFREG|0o644)
	rep := x.serve(reqBytes(fuseabi.FUSE_CREATE, 20, 1, ci, []byte(name+"\x00")))
	wantHeader(t, rep, 16+128+16, OK, 20)
	return le.Uint64(rep[16:]), le.Uint64(rep[16+128:])
}

func readIn(fh, off uint64, size uint32) []byte {
	b := make([]byte, 40)
	le.PutUint64(b[0:], fh)
	le.PutUint64(b[8:], off)
	le.PutUint32(b[16:], size)
	return b
}

func TestWriteReadGolden(t *testing.T) {
	x := newHarness(t, Config{OpenPolicy: func(o OpenInfo) uint32 {
		if strings.HasPrefix(o.Path, "zc") {
			return fuseabi.FOPEN_IO_URING_ZERO_COPY
		}
		return 0
	}})
	x.init(kernel73Flags2)
	_, fh := openFile(t, x, "data")

	rep := x.serve(reqBytes(fuseabi.FUSE_WRITE, 30, 2, readIn(fh, 3, 5), []byte("hello")))
	wantHeader(t, rep, 16+8, OK, 30)
	if !bytes.Equal(rep[16:], []byte{5, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("write_out = % x", rep[16:])
	}
	rep = x.serve(reqBytes(fuseabi.FUSE_READ, 31, 2, readIn(fh, 0, 4096)))
	wantHeader(t, rep, 16+8, OK, 31)
	if !bytes.Equal(rep[16:], []byte("\x00\x00\x00hello")) {
		t.Fatalf("read data = %q", rep[16:])
	}
	// Past EOF: empty success.
	rep = x.serve(reqBytes(fuseabi.FUSE_READ, 32, 2, readIn(fh, 100, 10)))
	wantHeader(t, rep, 16, OK, 32)
	// Bad handle.
	rep = x.serve(reqBytes(fuseabi.FUSE_READ, 33, 2, readIn(999, 0, 10)))
	wantHeader(t, rep, 16, EBADF, 33)
	// WRITE whose payload disagrees with its size.
	rep = x.serve(reqBytes(fuseabi.FUSE_WRITE, 34, 2, readIn(fh, 0, 6), []byte("hello")))
	wantHeader(t, rep, 16, EIO, 34)
	x.wantFaults(FaultShortRequest, 1)

	c := x.h.Counters()
	if c.CopiedWriteBytes != 5 || c.CopiedReadBytes != 8 || c.Op(fuseabi.FUSE_READ) != 3 || c.Op(fuseabi.FUSE_WRITE) != 2 {
		t.Fatalf("counters %+v", c)
	}

	// Open policy: "zc*" files get FOPEN_IO_URING_ZERO_COPY in CREATE and OPEN.
	ci := make([]byte, 16)
	le.PutUint32(ci[4:], unix.S_IFREG|0o644)
	rep = x.serve(reqBytes(fuseabi.FUSE_CREATE, 40, 1, ci, []byte("zcfile\x00")))
	wantHeader(t, rep, 16+144, OK, 40)
	if got := le.Uint32(rep[16+128+8:]); got != fuseabi.FOPEN_IO_URING_ZERO_COPY {
		t.Fatalf("CREATE open_flags = %#x", got)
	}
	zino := le.Uint64(rep[16:])
	rep = x.serve(reqBytes(fuseabi.FUSE_OPEN, 41, zino, make([]byte, 8)))
	wantHeader(t, rep, 16+16, OK, 41)
	if got := le.Uint32(rep[16+8:]); got != fuseabi.FOPEN_IO_URING_ZERO_COPY {
		t.Fatalf("OPEN open_flags = %#x", got)
	}
}

// TestRingPieces drives READ and WRITE the way a ring transport would: the
// header, the 128-byte op_in area and the payload come as separate slices,
// and the data moves outside the protocol layer (zero copy).
func TestRingPieces(t *testing.T) {
	x := newHarness(t, Config{})
	x.init(kernel73Flags2)
	_, fh := openFile(t, x, "f")

	// Zero-copied WRITE of 8192 bytes: in_header.len = 40+40+8192 (ABI doc
	// §2.4), payload empty.
	hdr := reqBytes(fuseabi.FUSE_WRITE, 50, 2)
	le.PutUint32(hdr[0:], 40+40+8192)
	opIn := make([]byte, 128)
	copy(opIn, readIn(fh, 0, 8192))
	req, err := Decode(hdr, opIn, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ZeroCopy = true
	rep := x.h.Dispatch(&req, x.out)
	if !rep.Pending() || rep.Data.Kind != DataWrite || rep.Data.Src != nil || rep.Data.Len != 8192 || rep.Data.Off != 0 {
		t.Fatalf("pending write = %+v", rep)
	}
	// Serve refuses zero-copied data it cannot reach.
	if r := x.h.Serve(&req, x.out); r.Status != EIO {
		t.Fatalf("Serve on zero-copied write: %v", r.Status)
	}
	x.wantFaults(FaultTransport, 1)
	pattern := bytes.Repeat([]byte{0xab}, 8192)
	if n, err := unix.Pwrite(rep.Data.Fd, pattern, rep.Data.Off); n != 8192 || err != nil {
		t.Fatal(n, err)
	}
	fin := x.h.Finish(rep, 8192, nil, true, x.out)
	if fin.Status != OK || fin.N != 8 || le.Uint32(x.out) != 8192 || fin.Unique != 50 {
		t.Fatalf("finish = %+v", fin)
	}
	// Zero-copied READ: clamp to size, data moved by the transport.
	hdr = reqBytes(fuseabi.FUSE_READ, 51, 2)
	le.PutUint32(hdr[0:], 80)
	copy(opIn, readIn(fh, 4096, 65536))
	req, _ = Decode(hdr, opIn, nil)
	req.ZeroCopy = true
	rep = x.h.Dispatch(&req, x.out)
	if rep.Data.Kind != DataRead || rep.Data.Len != 4096 || rep.Data.Off != 4096 {
		t.Fatalf("pending read = %+v", rep)
	}
	fin = x.h.Finish(rep, 4096, nil, true, x.out)
	if fin.N != 4096 || fin.Status != OK {
		t.Fatalf("finish read = %+v", fin)
	}
	// A transport error with nothing moved becomes the status.
	rep = x.h.Dispatch(&req, x.out)
	if fin = x.h.Finish(rep, 0, unix.EFAULT, true, x.out); fin.Status != Status(unix.EFAULT) || fin.N != 0 {
		t.Fatalf("finish error = %+v", fin)
	}
	c := x.h.Counters()
	if c.ZeroCopyWriteBytes != 8192 || c.ZeroCopyReadBytes != 4096 || c.CopiedReadBytes != 0 {
		t.Fatalf("counters %+v", c)
	}
	// Copied WRITE on the ring: payload holds the data.
	hdr = reqBytes(fuseabi.FUSE_WRITE, 52, 2)
	le.PutUint32(hdr[0:], 40+40+3)
	copy(opIn, readIn(fh, 0, 3))
	req, _ = Decode(hdr, opIn, []byte("xyz"))
	if r := x.h.Serve(&req, x.out); r.Status != OK || le.Uint32(x.out) != 3 {
		t.Fatalf("copied ring write = %+v", r)
	}
	// Header len disagreeing with the pieces.
	le.PutUint32(hdr[0:], 40+40+4)
	req, _ = Decode(hdr, opIn, []byte("xyz"))
	if r := x.h.Serve(&req, x.out); r.Status != EIO {
		t.Fatalf("len mismatch = %+v", r)
	}
	if _, err := Decode(hdr[:39], nil, nil); !errors.Is(err, ErrShortHeader) {
		t.Fatalf("Decode short: %v", err)
	}
}

func TestShortAndUnknown(t *testing.T) {
	x := newHarness(t, Config{})
	x.init(kernel73Flags2)
	// READ with a 39-byte op-in.
	rep := x.serve(reqBytes(fuseabi.FUSE_READ, 60, 2, make([]byte, 39)))
	wantHeader(t, rep, 16, EIO, 60)
	x.wantFaults(FaultShortRequest, 1)
	// Unknown and unimplemented opcodes: ENOSYS, no fault.
	rep = x.serve(reqBytes(fuseabi.Opcode(99), 61, 1, []byte("junk")))
	wantHeader(t, rep, 16, ENOSYS, 61)
	rep = x.serve(reqBytes(fuseabi.FUSE_GETXATTR, 62, 1, make([]byte, 8), []byte("user.x\x00")))
	wantHeader(t, rep, 16, ENOSYS, 62)
	rep = x.serve(reqBytes(fuseabi.FUSE_POLL, 63, 1, make([]byte, 24)))
	wantHeader(t, rep, 16, ENOSYS, 63)
	x.wantFaults(FaultShortRequest, 1)
	// Read buffer disagreeing with in_header.len.
	b := reqBytes(fuseabi.FUSE_GETATTR, 64, 1, make([]byte, 16))
	le.PutUint32(b[0:], 100)
	rep = x.serve(b)
	wantHeader(t, rep, 16, EIO, 64)
	x.wantFaults(FaultShortRequest, 2)
	if _, err := SplitDev(make([]byte, 39)); !errors.Is(err, ErrShortHeader) {
		t.Fatalf("SplitDev(39 bytes) = %v", err)
	}
	c := x.h.Counters()
	if c.Unimplemented != 3 || c.OtherOpcodes != 1 || c.Op(fuseabi.Opcode(99)) != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func TestPanicRecovered(t *testing.T) {
	x := newHarness(t, Config{})
	x.init(kernel73Flags2)
	tab, _ := table()
	old := tab[fuseabi.FUSE_STATFS]
	row := *old
	row.handle = func(*Handler, *Request, []byte) Reply { panic("boom") }
	tab[fuseabi.FUSE_STATFS] = &row
	defer func() { tab[fuseabi.FUSE_STATFS] = old }()
	rep := x.serve(reqBytes(fuseabi.FUSE_STATFS, 70, 1))
	wantHeader(t, rep, 16, EIO, 70)
	x.wantFaults(FaultPanic, 1)
	if f := x.faults[len(x.faults)-1]; !strings.Contains(f.Error(), "boom") || len(f.Stack) == 0 {
		t.Fatalf("fault = %v", f)
	}
}

func TestDirOpsGolden(t *testing.T) {
	x := newHarness(t, Config{})
	x.init(kernel73Flags2)
	mi := make([]byte, 8)
	le.PutUint32(mi, 0o755)
	rep := x.serve(reqBytes(fuseabi.FUSE_MKDIR, 80, 1, mi, []byte("d\x00")))
	wantHeader(t, rep, 16+128, OK, 80)
	d := le.Uint64(rep[16:])
	if mode := le.Uint32(rep[16+40+60:]); mode != unix.S_IFDIR|0o755 {
		t.Fatalf("mode %o", mode)
	}
	_, fh := openFile(t, x, "a")
	_ = fh
	rep = x.serve(reqBytes(fuseabi.FUSE_RMDIR, 81, 1, []byte("a\x00")))
	wantHeader(t, rep, 16, ENOTDIR, 81)
	ri := make([]byte, 8)
	le.PutUint64(ri, d)
	rep = x.serve(reqBytes(fuseabi.FUSE_RENAME, 82, 1, ri, []byte("a\x00b\x00")))
	wantHeader(t, rep, 16, OK, 82)
	rep = x.serve(reqBytes(fuseabi.FUSE_RMDIR, 83, 1, []byte("d\x00")))
	wantHeader(t, rep, 16, Status(unix.ENOTEMPTY), 83)
	r2 := make([]byte, 16)
	le.PutUint64(r2, 1)
	le.PutUint32(r2[8:], memfs.RENAME_NOREPLACE)
	x.serve(reqBytes(fuseabi.FUSE_MKDIR, 84, 1, mi, []byte("e\x00")))
	rep = x.serve(reqBytes(fuseabi.FUSE_RENAME2, 85, 1, r2, []byte("d\x00e\x00")))
	wantHeader(t, rep, 16, Status(unix.EEXIST), 85)

	// READDIR of the root: ".", "..", "d", "e", each a 32-byte record.
	rep = x.serve(reqBytes(fuseabi.FUSE_OPENDIR, 86, 1, make([]byte, 8)))
	wantHeader(t, rep, 32, OK, 86)
	dfh := le.Uint64(rep[16:])
	rep = x.serve(reqBytes(fuseabi.FUSE_READDIR, 87, 1, readIn(dfh, 0, 4096)))
	wantHeader(t, rep, 16+4*32, OK, 87)
	var got []string
	for rec := rep[16:]; len(rec) > 0; {
		nl := int(le.Uint32(rec[16:]))
		got = append(got, string(rec[24:24+nl]))
		rec = rec[fuseabi.DirentSize(nl):]
	}
	if strings.Join(got, ",") != ".,..,d,e" {
		t.Fatalf("readdir = %v", got)
	}
	// A 70-byte buffer takes two records; continue from the second's off.
	rep = x.serve(reqBytes(fuseabi.FUSE_READDIR, 88, 1, readIn(dfh, 0, 70)))
	wantHeader(t, rep, 16+64, OK, 88)
	off := le.Uint64(rep[16+32+8:])
	rep = x.serve(reqBytes(fuseabi.FUSE_READDIRPLUS, 89, 1, readIn(dfh, off, 4096)))
	wantHeader(t, rep, 16+2*160, OK, 89)
	if ino := le.Uint64(rep[16:]); ino != d {
		t.Fatalf("direntplus nodeid = %d want %d", ino, d)
	}
	if l, _ := x.fs.Lookups(d); l != 2 {
		t.Fatalf("d nlookup = %d, want 2 (mkdir + readdirplus)", l)
	}
	rep = x.serve(reqBytes(fuseabi.FUSE_RELEASEDIR, 90, 1, readIn(dfh, 0, 0)[:24]))
	wantHeader(t, rep, 16, OK, 90)
	rep = x.serve(reqBytes(fuseabi.FUSE_STATFS, 91, 1))
	wantHeader(t, rep, 16+80, OK, 91)
	if le.Uint32(rep[16+40:]) != 4096 || le.Uint32(rep[16+44:]) != 255 {
		t.Fatalf("statfs = % x", rep[16:])
	}
	// BATCH_FORGET of two nodes.
	bf := make([]byte, 8)
	le.PutUint32(bf, 2)
	arr := make([]byte, 32)
	le.PutUint64(arr[0:], d)
	le.PutUint64(arr[8:], 2)
	le.PutUint64(arr[16:], 12345)
	le.PutUint64(arr[24:], 1)
	if rep := x.serve(reqBytes(fuseabi.FUSE_BATCH_FORGET, 92, 0, bf, arr)); rep != nil {
		t.Fatal("BATCH_FORGET replied")
	}
	if l, _ := x.fs.Lookups(d); l != 0 {
		t.Fatalf("d nlookup after batch forget = %d", l)
	}
	// INTERRUPT: no reply.
	if rep := x.serve(reqBytes(fuseabi.FUSE_INTERRUPT, 93|1, 0, make([]byte, 8))); rep != nil {
		t.Fatal("INTERRUPT replied")
	}
	// SETATTR size + mode on the file "b" inside d.
	rep = x.serve(reqBytes(fuseabi.FUSE_LOOKUP, 94, d, []byte("b\x00")))
	b := le.Uint64(rep[16:])
	si := make([]byte, 88)
	le.PutUint32(si[0:], fuseabi.FATTR_SIZE|fuseabi.FATTR_MODE|fuseabi.FATTR_MTIME_NOW)
	le.PutUint64(si[16:], 12345)
	le.PutUint32(si[68:], 0o600)
	rep = x.serve(reqBytes(fuseabi.FUSE_SETATTR, 95, b, si))
	wantHeader(t, rep, 16+104, OK, 95)
	if size, mode := le.Uint64(rep[16+16+8:]), le.Uint32(rep[16+16+60:]); size != 12345 || mode != unix.S_IFREG|0o600 {
		t.Fatalf("setattr size %d mode %o", size, mode)
	}
	rep = x.serve(reqBytes(fuseabi.FUSE_UNLINK, 96, d, []byte("b\x00")))
	wantHeader(t, rep, 16, OK, 96)
	rep = x.serve(reqBytes(fuseabi.FUSE_RMDIR, 97, 1, []byte("d\x00")))
	wantHeader(t, rep, 16, OK, 97)
	rep = x.serve(reqBytes(fuseabi.FUSE_ACCESS, 98, 1, make([]byte, 8)))
	wantHeader(t, rep, 16, OK, 98)
	rep = x.serve(reqBytes(fuseabi.FUSE_DESTROY, 99, 0))
	wantHeader(t, rep, 16, OK, 99)
}

// TestPayloadAliasesOut checks the ring's situation where one payload
// buffer carries the request's payload in and the reply's out-arguments
// back: handlers must finish reading the payload before writing out.
func TestPayloadAliasesOut(t *testing.T) {
	x := newHarness(t, Config{})
	x.init(kernel73Flags2)
	buf := make([]byte, x.h.PayloadSize())
	opIn := make([]byte, 128)

	ring := func(op fuseabi.Opcode, unique, node uint64, in []byte, payload string) Reply {
		t.Helper()
		n := copy(buf, payload)
		hdr := reqBytes(op, unique, node)
		le.PutUint32(hdr[0:], uint32(40+OpInSize(op)+n))
		clear(opIn)
		copy(opIn, in)
		req, err := Decode(hdr, opIn, buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return x.h.Serve(&req, buf)
	}
	ci := make([]byte, 16)
	le.PutUint32(ci[4:], unix.S_IFREG|0o644)
	rep := ring(fuseabi.FUSE_CREATE, 1, 1, ci, "a-rather-long-file-name-that-the-entry-out-overwrites\x00")
	if rep.Status != OK || rep.N != 144 {
		t.Fatalf("CREATE = %+v", rep)
	}
	fh := le.Uint64(buf[128:])
	if _, err := x.fs.Lookup(memfs.RootID, "a-rather-long-file-name-that-the-entry-out-overwrites"); err != nil {
		t.Fatalf("created name mangled: %v", err)
	}
	data := strings.Repeat("0123456789abcdef", 512)
	rep = ring(fuseabi.FUSE_WRITE, 2, 2, readIn(fh, 0, uint32(len(data))), data)
	if rep.Status != OK || le.Uint32(buf) != uint32(len(data)) {
		t.Fatalf("WRITE = %+v", rep)
	}
	rep = ring(fuseabi.FUSE_READ, 3, 2, readIn(fh, 0, uint32(len(data))), "")
	if rep.Status != OK || string(buf[:rep.N]) != data {
		t.Fatalf("READ back %d bytes, equal=%v", rep.N, string(buf[:rep.N]) == data)
	}
	rep = ring(fuseabi.FUSE_LOOKUP, 4, 1, nil, "a-rather-long-file-name-that-the-entry-out-overwrites\x00")
	if rep.Status != OK || le.Uint64(buf) != le.Uint64(buf[40:]) {
		t.Fatalf("LOOKUP = %+v", rep)
	}
}
