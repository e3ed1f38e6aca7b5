package guest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// Files whose names start with zcbPrefix are opted into zero copy without
// FOPEN_DIRECT_IO, so their requests carry page-cache folios (buffered
// reads through readahead, buffered write-through writes; ABI doc §4.3);
// bufPrefix files are plain page-cache files, copied through the pool.
const (
	zcbPrefix = "zcb-"
	bufPrefix = "buf-"
)

// guardByte fills the client's memory around (and, for a READ, inside) the
// range it hands the kernel, so that any byte the server moves where it
// must not shows.
const guardByte = 0xee

// pagesRig is a rig whose zero-copy files are zc- (direct I/O on the
// client's own pages) and zcb- (page-cache folios), with a complete
// zero-copy ring: one entry per queue, pool mode.
func pagesRig(ctx SpecContext) *rig {
	GinkgoHelper()
	zc, zcb := zcserver.NamePrefix(zcPrefix), zcserver.NamePrefix(zcbPrefix)
	r := newRig(ctx, zcserver.Config{ZeroCopyFiles: func(p string) bool { return zc(p) || zcb(p) }})
	r.requireBufPool()
	r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
	return r
}

// pageCase is one shape of a zero-copied request whose slot a spec uses.
type pageCase struct {
	read   bool // FUSE_READ (slot direction IO_BUF_DEST) or FUSE_WRITE (IO_BUF_SOURCE)
	direct bool // a zc- file: the slot holds the client's own pages; else page-cache folios
	// off is, for direct I/O, where the client's range starts in its first
	// page, and for a buffered WRITE the file offset of the write.
	off  int
	size int // the client's byte count
}

func (c pageCase) opcode() fuseabi.Opcode {
	if c.read {
		return fuseabi.FUSE_READ
	}
	return fuseabi.FUSE_WRITE
}

func (c pageCase) file(base string) string {
	if c.direct {
		return zcPrefix + base
	}
	return zcbPrefix + base
}

// heldPages is a zero-copied request the spec holds on qid 0's entry.
type heldPages struct {
	c       pageCase
	name    string
	e       *ringtest.Entry
	n       int    // the request's byte count (fuse_read_in/fuse_write_in.size): the slot's length
	fileOff uint64 // the request's file offset
	cl      *ringtest.Client
	// mem is, for direct I/O, the client's whole mapping: its range is
	// mem[c.off:c.off+c.size], the rest is guardByte.
	mem []byte
	// content is the file's content (READ) or the bytes written (WRITE).
	content []byte
	// src is a memfd holding content, the source of READ_FIXED into a
	// READ's slot.
	src int
	got []byte // a buffered READ's client buffer
}

// slotHoldsClient is the positive control of the specs that act on a held
// zero-copied WRITE's slot: a WRITE_FIXED of the request's bytes from the
// slot into a scratch file succeeds and carries exactly the client's data.
// It returns the slot and the scratch file, for the spec's later fixed I/O.
func (r *rig) slotHoldsClient(ctx SpecContext, h *heldPages) (slot uint16, scratch int) {
	GinkgoHelper()
	slot, scratch = h.e.ZCSlot, r.scratch()
	n, err := r.fixedAt(ctx, false, scratch, 0, uint32(h.c.size), 0, slot)
	Expect(err).NotTo(HaveOccurred(), "positive control: the slot holds the client's pages")
	Expect(n).To(Equal(h.c.size))
	Expect(readAt(scratch, h.c.size)).To(Equal(h.content[:h.c.size]), "positive control: the slot holds the client's bytes")
	return slot, scratch
}

// holdPages starts a client on CPU 0 issuing c and serves the ring until
// its zero-copied READ or WRITE arrives, which it returns held.
func (r *rig) holdPages(ctx SpecContext, c pageCase, base string) *heldPages {
	GinkgoHelper()
	h := &heldPages{c: c, name: c.file(base)}
	p := r.path(h.name)
	if c.direct {
		var err error
		h.mem, err = r.ring.Alloc(c.off + c.size + 4096)
		Expect(err).NotTo(HaveOccurred())
		h.mem = h.mem[:cap(h.mem)]
		for i := range h.mem {
			h.mem[i] = guardByte
		}
	}
	var client func() error
	if c.read {
		// A direct READ reads at file offset 0, a buffered one the file's
		// whole content (the readahead covers whole folios).
		size := 16384
		if !c.direct {
			size = c.size
		}
		h.content = pattern(size, 0x41)
		r.createFile(h.name, h.content)
		h.src = r.memfdWith(h.content)
		if c.direct {
			client = readFile(p, 0, h.mem[c.off:c.off+c.size])
		} else {
			h.got = make([]byte, c.size)
			client = readFile(p, 0, h.got)
		}
	} else {
		h.content = pattern(c.size, 0x42)
		if c.direct {
			copy(h.mem[c.off:], h.content)
			client = writeFile(p, 0, h.mem[c.off:c.off+c.size])
		} else {
			// An empty file: the partial first folio is zeroed, not read.
			r.createFile(h.name, nil)
			client = writeFile(p, int64(c.off), h.content)
		}
	}
	h.cl = r.clients.Go(0, client)
	h.e = r.serveUntil(ctx, isOpcode(c.opcode()))
	Expect(h.e.ZeroCopy()).To(BeTrue(), "the %s of %s is zero-copied (§4.3)", c.opcode(), h.name)
	Expect(h.e.Qid).To(BeEquivalentTo(0))
	if c.read {
		ri, _ := fuseabi.Load[fuseabi.ReadIn](h.e.OpIn())
		h.n, h.fileOff = int(ri.Size), ri.Offset
	} else {
		wi, _ := fuseabi.Load[fuseabi.WriteIn](h.e.OpIn())
		h.n, h.fileOff = int(wi.Size), wi.Offset
		wantOff := c.off
		if c.direct {
			wantOff = 0
		}
		Expect(h.fileOff).To(BeEquivalentTo(wantOff), "the WRITE's file offset")
	}
	switch {
	case c.direct:
		Expect(h.n).To(Equal(c.size), "one request for the client's %d bytes", c.size)
	case !c.read:
		// Write-through sends one WRITE per folio: the first carries the
		// bytes up to the end of the first page.
		Expect(h.n).To(Equal(min(c.size, 4096-c.off%4096)), "the first folio's WRITE")
	default:
		Expect(h.n).To(And(BeNumerically(">=", c.size), BeNumerically("<=", len(h.content)+4095)), "a readahead READ covering the file")
	}
	return h
}

// memfdWith returns a memfd holding b, closed at cleanup.
func (r *rig) memfdWith(b []byte) int {
	GinkgoHelper()
	fd, err := unix.MemfdCreate("zc-src", unix.MFD_CLOEXEC)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(unix.Close, fd)
	n, err := unix.Pwrite(fd, b, 0)
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(Equal(len(b)))
	return fd
}

// fixedAt runs one READ_FIXED (read) or WRITE_FIXED of n bytes between
// offset bufOff of slot and fd at fileOff.
func (r *rig) fixedAt(ctx SpecContext, read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (int, error) {
	var got int
	err := r.do(ctx, func(t *ringtest.Thread) error {
		var err error
		got, err = t.Fixed(read, fd, bufOff, n, fileOff, slot)
		return err
	})
	return got, err
}

// finish answers the held request and lets the client complete: a READ
// is answered with content from the request's offset, moved into the slot
// by the spec (READ_FIXED from src) and committed with payload_sz n; a
// WRITE with the server's own answer.
func (h *heldPages) finish(ctx SpecContext, r *rig) {
	GinkgoHelper()
	if h.c.read {
		n, err := r.fixedAt(ctx, true, h.src, 0, uint32(h.n), h.fileOff, h.e.ZCSlot)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(min(h.n, len(h.content)-int(h.fileOff))))
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			t.SetReply(h.e, fuseabi.OutHeader{Len: fuseabi.SizeofOutHeader + uint32(n), Unique: h.e.In.Unique}, uint32(n))
			_, err := t.Commit(h.e)
			return err
		})).To(Succeed())
	} else {
		answerCommit(ctx, r, h.e)
	}
	r.serveClient(ctx, h.cl)
	Expect(h.cl.Err()).To(Succeed(), "the client's %s completes", h.c.opcode())
}

// checkClientMemory checks, for direct I/O, that the client's pages
// outside its range still hold guardByte and its range holds want (nil:
// guardByte too).
func (h *heldPages) checkClientMemory(what string, want []byte) {
	GinkgoHelper()
	if !h.c.direct {
		return
	}
	head, body, tail := h.mem[:h.c.off], h.mem[h.c.off:h.c.off+h.c.size], h.mem[h.c.off+h.c.size:]
	Expect(countNot(head, guardByte)).To(BeZero(), "%s: the %d bytes before the client's range in its first page", what, len(head))
	Expect(countNot(tail, guardByte)).To(BeZero(), "%s: the %d bytes after the client's range in its last page", what, len(tail))
	if want == nil {
		Expect(countNot(body, guardByte)).To(BeZero(), "%s: the client's range", what)
	} else {
		Expect(bytes.Equal(body, want)).To(BeTrue(), "%s: the client's range holds %d bytes that differ from what it should", what, diffCount(body, want))
	}
}

// countNot counts the bytes of b that are not v.
func countNot(b []byte, v byte) int {
	n := 0
	for _, x := range b {
		if x != v {
			n++
		}
	}
	return n
}

// diffCount counts the positions where a and b differ (a length
// difference counts as differing bytes).
func diffCount(a, b []byte) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// slotRange is one fixed-I/O range on a held request's slot.
type slotRange struct {
	what string
	off  uint64
	n    uint64
}

// beyondEnd lists the ranges that reach past the end of an n-byte slot.
func beyondEnd(n uint64) []slotRange {
	return []slotRange{
		{"one byte more than the request", 0, n + 1},
		{"one byte starting at the end", n, 1},
		{"a page past the end", n, 4096},
		{"from the last byte, one byte past", n - 1, 2},
		{"from the middle, running half a request past", n / 2, n},
		{"offset + length overflowing 64 bits", math.MaxUint64 - 4095, 8192},
	}
}

// Fixed I/O on a zero-copy slot reaches exactly the request's bytes
// (ABI doc §4.4, "Range errors"; rsrc.c validate_fixed_range): the slot is
// a kernel buffer at address 0 whose length is the request's byte count.
var _ = Describe("header-offset: fixed I/O on a zero-copy slot reaches exactly the request's bytes", Label(labels.HeaderOffset, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = pagesRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// Each case holds a zero-copied request and runs, in the slot's
	// direction (READ_FIXED into a READ's slot, WRITE_FIXED out of a
	// WRITE's), every range that reaches past the end (EFAULT, nothing
	// moved), then the ranges that end exactly at the end (positive
	// controls), checking the client's memory and the other side's file.
	DescribeTable("refuses every range past the end with EFAULT and moves no byte, and serves the exact range",
		func(ctx SpecContext, c pageCase) {
			h := r.holdPages(ctx, c, fmt.Sprintf("bounds-%d-%d", c.off, c.size))
			slot, n := h.e.ZCSlot, uint64(h.n)
			scratch := r.scratch()
			// The other side of each fixed I/O: for a READ the source of
			// the bytes (the file's content, with more than a request's
			// worth after the request's offset), for a WRITE the scratch
			// memfd the slot is written into.
			fd := scratch
			if c.read {
				fd = h.src
			}
			var wrong []string
			for _, b := range beyondEnd(n) {
				got, err := r.fixedAt(ctx, c.read, fd, b.off, uint32(min(b.n, math.MaxUint32)), h.fileOff, slot)
				if !errors.Is(err, unix.EFAULT) {
					wrong = append(wrong, fmt.Sprintf("%s (offset %d, %d bytes): moved %d bytes, error %v", b.what, b.off, b.n, got, err))
				}
			}
			Expect(wrong).To(BeEmpty(), "§4.4: a range past the end of the %d-byte slot %d gets EFAULT", n, slot)
			Expect(countNot(readAt(scratch, 64<<10), scratchByte)).To(BeZero(), "no byte reached the scratch file")
			if c.read {
				h.checkClientMemory("after the refused ranges", nil)
			} else {
				h.checkClientMemory("after the refused ranges", h.content)
			}

			// Positive controls: the last n-1 bytes, then all n.
			for _, b := range []slotRange{{"from byte 1 to the end", 1, n - 1}, {"exactly the request", 0, n}} {
				fileOff := b.off // the scratch file mirrors the slot
				if c.read {
					fileOff += h.fileOff // the slot mirrors the file from the request's offset
				}
				got, err := r.fixedAt(ctx, c.read, fd, b.off, uint32(b.n), fileOff, slot)
				Expect(err).NotTo(HaveOccurred(), "positive control, %s", b.what)
				Expect(got).To(BeEquivalentTo(b.n), "positive control, %s", b.what)
			}
			if c.read {
				h.checkClientMemory("after READ_FIXED of exactly the request", h.content[:c.size])
			} else {
				out := readAt(scratch, 64<<10)
				Expect(out[:n]).To(Equal(h.content[:n]), "WRITE_FIXED of exactly the request moved the client's bytes")
				Expect(countNot(out[n:], scratchByte)).To(BeZero(), "nothing past the request's bytes left the slot")
				h.checkClientMemory("after WRITE_FIXED of exactly the request", h.content)
			}
			h.finish(ctx, r)
			if c.read && !c.direct {
				Expect(h.got).To(Equal(h.content[:c.size]))
			}
		},
		// catches: validate_fixed_range's end check
		// (buf_end > imu->ubuf + imu->len) dropped, which lets the
		// server read the page-cache or user memory after the request.
		Entry("a direct WRITE of one page (§4.4)", pageCase{direct: true, size: 4096}, SpecTimeout(edgeTimeout)),
		// catches: the same end check, on a slot of three bvecs whose first
		// starts 100 bytes into its page.
		Entry("a direct WRITE of 8192 bytes starting 100 bytes into a page (§4.4)", pageCase{direct: true, off: 100, size: 8192}, SpecTimeout(edgeTimeout)),
		// catches: check_add_overflow dropped from validate_fixed_range
		// (the wrapped end passes the end check).
		Entry("a buffered WRITE of one page (§4.4)", pageCase{size: 4096}, SpecTimeout(edgeTimeout)),
		// catches: the end check measured against the folios' total size
		// instead of the request's byte count (the kernel buffer's len).
		Entry("a buffered WRITE at file offset 100: its first folio's request, 3996 bytes from 100 bytes into the page (§4.4)", pageCase{off: 100, size: 5000}, SpecTimeout(edgeTimeout)),
		// catches: validate_fixed_range's end check dropped for READ_FIXED,
		// which lets the server write past the client's buffer.
		Entry("a direct READ of one page (§4.4)", pageCase{read: true, direct: true, size: 4096}, SpecTimeout(edgeTimeout)),
		// catches: the same, writing into the head or tail of the client's
		// first and last pages outside its buffer.
		Entry("a direct READ of 8192 bytes starting 100 bytes into a page (§4.4)", pageCase{read: true, direct: true, off: 100, size: 8192}, SpecTimeout(edgeTimeout)),
		// catches: the end check dropped for a page-cache READ slot.
		Entry("a buffered READ of a one-page file (§4.4)", pageCase{read: true, size: 4096}, SpecTimeout(edgeTimeout)),
		// catches: the end check dropped for a multi-folio page-cache READ.
		Entry("a buffered READ of a three-page file (§4.4)", pageCase{read: true, size: 3 * 4096}, SpecTimeout(edgeTimeout)),
	)

})

// A zero-copy slot has the request's direction (ABI doc §4.4, the table
// of valid and wrong ops; rsrc.c io_import_fixed): a WRITE's pages are a
// source only, a READ's a destination only.
var _ = Describe("header-offset: fixed I/O on a zero-copy slot goes only the request's way", Label(labels.HeaderOffset, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = pagesRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// Each case holds a zero-copied request and tries the fixed I/O of the
	// wrong direction on its whole slot and on its first byte (EFAULT),
	// then the right one (positive control).
	DescribeTable("refuses fixed I/O against the slot's direction with EFAULT",
		func(ctx SpecContext, c pageCase) {
			h := r.holdPages(ctx, c, fmt.Sprintf("dir-%d-%d", c.off, c.size))
			slot, n := h.e.ZCSlot, uint32(h.n)
			scratch := r.scratch()
			// A READ's slot must not be read from (WRITE_FIXED into the
			// scratch memfd would show the pages' previous bytes); a
			// WRITE's slot must not be written into (READ_FIXED from a
			// memfd of other bytes would change the client's data).
			wrongFD := scratch
			if !c.read {
				wrongFD = r.memfdWith(pattern(64<<10, 0x43))
			}
			for _, m := range []uint32{n, 1} {
				got, err := r.fixedAt(ctx, !c.read, wrongFD, 0, m, 0, slot)
				Expect(err).To(MatchError(unix.EFAULT), "§4.4: %s of %d bytes against a %s slot (moved %d)", fixedOpName(!c.read), m, c.opcode(), got)
			}
			Expect(countNot(readAt(scratch, 64<<10), scratchByte)).To(BeZero(), "nothing left the slot")
			if c.read {
				h.checkClientMemory("after the refused WRITE_FIXED", nil)
				got, err := r.fixedAt(ctx, true, h.src, 0, n, h.fileOff, slot)
				Expect(err).NotTo(HaveOccurred(), "positive control: READ_FIXED into the READ's slot")
				Expect(got).To(BeEquivalentTo(min(int(n), len(h.content)-int(h.fileOff))))
			} else {
				h.checkClientMemory("after the refused READ_FIXED", h.content)
				got, err := r.fixedAt(ctx, false, scratch, 0, n, 0, slot)
				Expect(err).NotTo(HaveOccurred(), "positive control: WRITE_FIXED out of the WRITE's slot")
				Expect(got).To(BeEquivalentTo(n))
				Expect(readAt(scratch, int(n))).To(Equal(h.content[:n]), "the slot still holds exactly the client's bytes")
			}
			h.finish(ctx, r)
			if c.read {
				if c.direct {
					h.checkClientMemory("after the READ", h.content[:c.size])
				} else {
					Expect(h.got).To(Equal(h.content[:c.size]))
				}
				return
			}
			back := make([]byte, c.size)
			_, err := r.run(ctx, 0, readFile(r.path(h.name), int64(h.fileOff), back))
			Expect(err).NotTo(HaveOccurred())
			Expect(back).To(Equal(h.content), "the file holds the client's bytes, untouched by the refused READ_FIXED")
		},
		// catches: io_import_fixed's direction check
		// (!(imu->dir & (1 << ddir))) dropped: the server overwrites the
		// client's data in flight.
		Entry("a direct WRITE's slot refuses READ_FIXED (§4.4)", pageCase{direct: true, off: 100, size: 8192}, SpecTimeout(edgeTimeout)),
		// catches: the same check, with page-cache folios (the server
		// would change the page cache behind the writer).
		Entry("a buffered WRITE's slot, starting 100 bytes into a folio, refuses READ_FIXED (§4.4)", pageCase{off: 100, size: 5000}, SpecTimeout(edgeTimeout)),
		// catches: the direction check dropped for IO_BUF_DEST slots: the
		// server reads what the client's buffer held before the READ.
		Entry("a direct READ's slot refuses WRITE_FIXED (§4.4)", pageCase{read: true, direct: true, off: 100, size: 8192}, SpecTimeout(edgeTimeout)),
		// catches: the same for new page-cache folios, whose old bytes
		// must never reach the server.
		Entry("a buffered READ's slot refuses WRITE_FIXED (§4.4)", pageCase{read: true, size: 3 * 4096}, SpecTimeout(edgeTimeout)),
	)
})

// Edge case (f), ABI doc §4.f: the server may put its own buffer into the
// slot of an outstanding zero-copied request (BUFFERS_UPDATE); the
// kernel's unregister at COMMIT must then leave that buffer alone.
var _ = Describe("unregister: a server buffer put into a held request's slot stays the server's", Label(labels.Unregister, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = pagesRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// catches: io_buffer_unregister's IO_REGBUF_F_KBUF check dropped, so
	// the COMMIT frees the server's own registered buffer (later fixed
	// I/O on it gets EFAULT, and the slot is empty for the next request).
	It("refuses to drop it at COMMIT (EBUSY, logged), keeps it usable, completes the client, and fails the next zero-copied request with EBUSY until the slot is emptied", func(ctx SpecContext) {
		h := r.holdPages(ctx, pageCase{direct: true, size: 4096}, "own")
		slot, scratch := r.slotHoldsClient(ctx, h)
		own, err := r.ring.Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		copy(own, pattern(4096, 0x44))
		kmsg, err := openKmsgAtEnd()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kmsg.Close)
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			if _, err := t.Answer(h.e, r.srv.Handler()); err != nil {
				return err
			}
			if n, err := t.Uring().UpdateBuffers(uint32(slot), [][]byte{own}); err != nil || n != 1 {
				return fmt.Errorf("BUFFERS_UPDATE of slot %d over the held request: %d, %v", slot, n, err)
			}
			_, err := t.Commit(h.e)
			return err
		})).To(Succeed())
		r.serveClient(ctx, h.cl)
		Expect(h.cl.Err()).To(Succeed(), "§4.f: the client's WRITE completes")
		want := fmt.Sprintf("qid=%d zero-copy unregister failed: %d", h.e.Qid, -int(unix.EBUSY))
		// The line is logged during the COMMIT; the wait only covers the
		// record reaching the reader.
		Eventually(kmsg.Lines).WithContext(ctx).WithTimeout(10*time.Second).Should(ContainElement(ContainSubstring(want)), "§4.f: the refused unregister is logged")
		// The server's buffer is still in the slot, at its own address.
		n, err := r.fixedAt(ctx, false, scratch, addrOf(own), 4096, 0, slot)
		Expect(err).NotTo(HaveOccurred(), "the server's buffer survived the COMMIT")
		Expect(n).To(Equal(4096))
		Expect(readAt(scratch, 4096)).To(Equal(own))
		seen, err := r.run(ctx, 0, writeFile(r.path(h.name), 0, pattern(4096, 0x45)))
		Expect(err).To(MatchError(unix.EBUSY), "§4.f, §4.b: the slot is occupied")
		Expect(seen).NotTo(ContainElement(HaveField("Opcode", "FUSE_WRITE")))
		setSlot(ctx, r, slot, nil)
		seen, err = r.run(ctx, 0, writeFile(r.path(h.name), 0, pattern(4096, 0x46)))
		Expect(err).NotTo(HaveOccurred(), "the emptied slot serves the entry again")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
	}, SpecTimeout(edgeTimeout))
})

func fixedOpName(read bool) string {
	if read {
		return "READ_FIXED"
	}
	return "WRITE_FIXED"
}

// kmsgReader reads the kernel log records written after it was opened.
type kmsgReader struct {
	fd    int
	lines []string
}

// openKmsgAtEnd opens /dev/kmsg positioned after the last record.
func openKmsgAtEnd() (*kmsgReader, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/kmsg: %w", err)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	return &kmsgReader{fd: fd}, nil
}

// Lines returns the messages of every record logged since the open, reading
// what arrived without waiting.
func (k *kmsgReader) Lines() ([]string, error) {
	var b [8192]byte
	for {
		n, err := unix.Read(k.fd, b[:])
		switch {
		case errors.Is(err, unix.EPIPE): // records overwritten meanwhile: go on
			continue
		case errors.Is(err, unix.EAGAIN):
			return k.lines, nil
		case err != nil:
			return k.lines, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		rec, _, _ := strings.Cut(string(b[:n]), "\n")
		if _, msg, ok := strings.Cut(rec, ";"); ok {
			k.lines = append(k.lines, msg)
		}
	}
}

// Close closes the reader.
func (k *kmsgReader) Close() error { return unix.Close(k.fd) }
