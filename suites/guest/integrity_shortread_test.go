package guest

import (
	"bytes"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// shortRead is one short-READ case: a file of fileSize bytes, read from
// offset 0, whose READ the server first fills completely with serverFill
// and then answers with only the first reply bytes of the file.
type shortRead struct {
	zc       bool
	direct   bool // direct I/O into a buffer starting off bytes into a page; else the page cache
	off      int
	size     int // the client's read size
	fileSize int
	reply    int
	extend   bool // afterwards ftruncate the file to the end of its last page and read it again
}

// serverFill is what the server writes over the whole payload before it
// answers short: bytes the client must never see past the reply.
const serverFill = 0x5c

func (c shortRead) file(base string) string {
	switch {
	case c.zc && c.direct:
		return zcPrefix + base
	case c.zc:
		return zcbPrefix + base
	case c.direct:
		return dioPrefix + base
	}
	return bufPrefix + base
}

// pageViews is what the client saw after its short read.
type pageViews struct {
	n        int    // pread's result
	mapped   []byte // the file's last page through mmap (page cache only)
	extended []byte // the file's first pages, read after ftruncate up
}

// answerShort fills e's whole payload (the zero-copy slot, or the payload
// buffer) with serverFill, then puts the first reply bytes of content
// there and commits payload_sz reply.
func answerShort(ctx SpecContext, r *rig, e *ringtest.Entry, content []byte, reply int) {
	GinkgoHelper()
	ri, _ := fuseabi.Load[fuseabi.ReadIn](e.OpIn())
	n := int(ri.Size)
	Expect(reply).To(BeNumerically("<", n), "the reply is short of the %d-byte READ", n)
	data := content[ri.Offset : int(ri.Offset)+reply]
	if e.ZeroCopy() {
		fill := r.memfdWith(filled(n, serverFill))
		src := r.memfdWith(data)
		got, err := r.fixedAt(ctx, true, fill, 0, uint32(n), 0, e.ZCSlot)
		Expect(err).NotTo(HaveOccurred(), "positive control: the server can write the whole slot")
		Expect(got).To(Equal(n))
		got, err = r.fixedAt(ctx, true, src, 0, uint32(reply), 0, e.ZCSlot)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(reply))
	} else {
		buf := e.PayloadBuf()
		Expect(len(buf)).To(BeNumerically(">=", n))
		copy(buf, filled(n, serverFill))
		copy(buf, data)
	}
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		t.SetReply(e, fuseabi.OutHeader{Len: fuseabi.SizeofOutHeader + uint32(reply), Unique: e.In.Unique}, uint32(reply))
		_, err := t.Commit(e)
		return err
	})).To(Succeed())
}

// filled returns n bytes of v.
func filled(n int, v byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// A READ answered short leaves, in each page-cache folio, zeros after the
// data (ABI doc §4.e, "Page-cache reads"; dev.c fuse_copy_folio): the
// client sees EOF there, and nothing of what the server wrote into the
// folio beyond its reply. With direct I/O the client's memory outside its
// buffer is never touched.
var _ = Describe("integrity: a short READ leaves no server bytes past its data", Label(labels.Integrity, labels.ABIUpstream), func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = pagesRig(ctx)
	}, NodeTimeout(edgeTimeout))

	DescribeTable("zeroes the rest of each page-cache page, and keeps direct I/O to the client's buffer",
		func(ctx SpecContext, c shortRead) {
			content := pattern(c.fileSize, 0x51)
			name := c.file(fmt.Sprintf("short-%d-%d", c.fileSize, c.reply))
			r.createFile(name, content)
			var mem []byte
			if c.direct {
				var err error
				mem, err = r.ring.Alloc(c.off + c.size + 4096)
				Expect(err).NotTo(HaveOccurred())
				mem = mem[:cap(mem)]
				copy(mem, filled(len(mem), guardByte))
			}
			var v pageViews
			page := (c.reply + 4095) / 4096 * 4096 // the end of the page the data ends in
			cl := r.clients.Go(0, func() error {
				fd, err := unix.Open(r.path(name), unix.O_RDWR|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				buf := make([]byte, c.size)
				if c.direct {
					buf = mem[c.off : c.off+c.size]
				}
				if v.n, err = unix.Pread(fd, buf, 0); err != nil {
					return fmt.Errorf("pread: %w", err)
				}
				if c.direct {
					return nil
				}
				// The page the data ends in, through a mapping of the
				// file: the bytes past EOF in it show the page cache as is.
				m, err := unix.Mmap(fd, 0, page, unix.PROT_READ, unix.MAP_SHARED)
				if err != nil {
					return fmt.Errorf("mmap: %w", err)
				}
				v.mapped = append([]byte(nil), m[page-4096:]...)
				if err := unix.Munmap(m); err != nil {
					return err
				}
				if !c.extend {
					return nil
				}
				if err := unix.Ftruncate(fd, int64(page)); err != nil {
					return fmt.Errorf("ftruncate %d: %w", page, err)
				}
				v.extended = make([]byte, page)
				n, err := unix.Pread(fd, v.extended, 0)
				if err != nil {
					return fmt.Errorf("pread after ftruncate: %w", err)
				}
				v.extended = v.extended[:n]
				return nil
			})
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_READ))
			Expect(e.ZeroCopy()).To(Equal(c.zc), "FUSE_URING_ENT_ZERO_COPY")
			answerShort(ctx, r, e, content, c.reply)
			r.serveClient(ctx, cl)
			Expect(cl.Err()).To(Succeed())
			Expect(v.n).To(Equal(c.reply), "pread returns the reply's bytes")
			if c.direct {
				Expect(countNot(mem[:c.off], guardByte)).To(BeZero(), "the head of the client's first page, before its buffer")
				Expect(mem[c.off : c.off+c.reply]).To(Equal(content[:c.reply]))
				Expect(countNot(mem[c.off+c.size:], guardByte)).To(BeZero(), "the tail of the client's last page, after its buffer")
				if !c.zc {
					Expect(countNot(mem[c.off+c.reply:c.off+c.size], guardByte)).To(BeZero(), "copy mode writes only the reply's bytes")
				}
				// Zero copy: the buffer past the reply holds what the
				// server wrote through the slot; read(2) leaves those
				// bytes unspecified, so nothing is asserted there.
				return
			}
			tail := c.reply % 4096
			Expect(v.mapped[:tail]).To(Equal(content[page-4096:c.reply]), "the data in the last page")
			Expect(countNot(v.mapped[tail:], 0)).To(BeZero(), "§4.e: the %d bytes after the data in the page cache are zero (%d of them are the server's fill)",
				4096-tail, bytes.Count(v.mapped[tail:], []byte{serverFill}))
			if c.extend {
				// truncate_pagecache_range zeroes the old EOF page again
				// and the pages are dropped, so this is read from the
				// server: it pins the client's view of an extended file,
				// not the READ reply's zeroing.
				want := append(append([]byte(nil), content[:c.reply]...), make([]byte, page-c.reply)...)
				Expect(v.extended).To(Equal(want), "after ftruncate to %d the old EOF page reads as data, then zeros", page)
			}
		},
		// catches: fuse_copy_folio's folio_zero_segments for skipped
		// (zero-copied) folios dropped: the server's bytes after its reply
		// stay in the page cache past EOF.
		Entry("zero copy: a 5000-byte file answered with its 5000 bytes after the server filled both pages (§4.e)", shortRead{zc: true, size: 8192, fileSize: 5000, reply: 5000, extend: true}, SpecTimeout(edgeTimeout)),
		// The control of the case above: copy mode copies only the reply.
		// catches: copy mode's folio_zero_range dropped (seen when the new
		// page-cache page held old bytes).
		Entry("copy: a 5000-byte file answered with its 5000 bytes after the server filled the payload buffer (§4.e)", shortRead{size: 8192, fileSize: 5000, reply: 5000, extend: true}, SpecTimeout(edgeTimeout)),
		// catches: folio_zero_segments dropped for zero-copied folios, with
		// a reply shorter than the file says (the server's fill stays after
		// the data in the page that is now at EOF).
		Entry("zero copy: a 16384-byte file answered short, mid-page, at 5000 bytes (§4.e)", shortRead{zc: true, size: 16384, fileSize: 16384, reply: 5000}, SpecTimeout(edgeTimeout)),
		// The control of the case above.
		// catches: copy mode's folio_zero_range dropped (as above).
		Entry("copy: a 16384-byte file answered short, mid-page, at 5000 bytes (§4.e)", shortRead{size: 16384, fileSize: 16384, reply: 5000}, SpecTimeout(edgeTimeout)),
		// catches: the slot's first bvec registered from the start of the
		// page instead of the buffer's offset (the server's fill would
		// land in the head of the client's page).
		Entry("zero copy: direct I/O of 8192 bytes starting 100 bytes into a page, answered with 5000 (§4.4)", shortRead{zc: true, direct: true, off: 100, size: 8192, fileSize: 16384, reply: 5000}, SpecTimeout(edgeTimeout)),
		// The control of the case above.
		// catches: copy mode copying past the reply into the client's buffer.
		Entry("copy: direct I/O of 8192 bytes starting 100 bytes into a page, answered with 5000 (§4.4)", shortRead{direct: true, off: 100, size: 8192, fileSize: 16384, reply: 5000}, SpecTimeout(edgeTimeout)),
	)
})
