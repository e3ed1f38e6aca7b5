package guest

import (
	"bytes"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// Edge case (e), ABI doc §2.4, §4.e: payload_sz at delivery counts the
// in-payload bytes (zero-copied WRITE data included); at commit it counts
// the reply's out-argument bytes, and the kernel checks it.
var _ = Describe("payload-sz: payload_sz at delivery and at commit", Label(labels.PayloadSz, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	DescribeTable("delivers a WRITE with payload_sz = fuse_write_in.size and the data where the mode puts it",
		func(ctx SpecContext, c transfer) {
			c.require(r)
			ents := r.setup(ctx, r.layout(c.mode, c.zc, 1))
			data := pattern(3*4096+100, 7)
			name := c.file("ps-write")
			cl := r.clients.Go(0, writeFile(r.path(name), 0, data))
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
			Expect(e.ZeroCopy()).To(Equal(c.zc), "FUSE_URING_ENT_ZERO_COPY")
			wi, _ := fuseabi.Load[fuseabi.WriteIn](e.OpIn())
			Expect(wi.Size).To(BeEquivalentTo(len(data)))
			Expect(e.Ent.PayloadSz).To(BeEquivalentTo(len(data)), "§4.e: fuse_write_in.size, zero-copied or not")
			Expect(e.In.Len).To(BeEquivalentTo(fuseabi.SizeofInHeader+fuseabi.SizeofWriteIn+len(data)), "§2.4: zero-copied data counts too")
			if c.zc {
				Expect(bytes.Contains(ents[0].Pool().Mem, data[:256])).To(BeFalse(), "§4.e: the data of a zero-copied WRITE is nowhere in the pool")
			} else {
				Expect(e.PayloadBuf()[:len(data)]).To(Equal(data), "§4.e: the data is in the payload buffer")
			}
			answerCommit(ctx, r, e)
			r.serveClient(ctx, cl)
			Expect(cl.Err()).To(Succeed())
			got := make([]byte, len(data))
			_, err := r.run(ctx, 0, readFile(r.path(name), 0, got))
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(data), "the server stored exactly what the client wrote")
		},
		// catches: payload_sz at delivery set from the bytes copied into the
		// buffer minus the op-in header, or counting fuse_write_in.
		Entry("copied, per-entry payload buffer (§4.e)", transfer{mode: ringtest.PerEntry}, SpecTimeout(edgeTimeout)),
		// catches: a pool-mode delivery copying to the pool base instead of
		// base + offset, or payload_sz not set in pool mode.
		Entry("copied, buffer pool (§4.e)", transfer{mode: ringtest.PoolMode}, SpecTimeout(edgeTimeout)),
		// catches: payload_sz 0 for a zero-copied WRITE (the in-pages
		// argument not added, dev_uring.c:908-910), or its data copied too.
		Entry("zero-copied (§4.e)", transfer{mode: ringtest.PoolMode, zc: true}, SpecTimeout(edgeTimeout)),
	)

	DescribeTable("delivers a READ with payload_sz 0",
		func(ctx SpecContext, c transfer) {
			c.require(r)
			r.setup(ctx, r.layout(c.mode, c.zc, 1))
			content := pattern(16384, 8)
			name := c.file("ps-read")
			r.createFile(name, content)
			got := make([]byte, 8192)
			cl := r.clients.Go(0, readFile(r.path(name), 4096, got))
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_READ))
			Expect(e.ZeroCopy()).To(Equal(c.zc))
			ri, _ := fuseabi.Load[fuseabi.ReadIn](e.OpIn())
			Expect(ri.Size).To(BeEquivalentTo(len(got)))
			Expect(e.Ent.PayloadSz).To(BeZero(), "§4.e: a READ has no in-payload")
			answerCommit(ctx, r, e)
			r.serveClient(ctx, cl)
			Expect(cl.Err()).To(Succeed())
			Expect(got).To(Equal(content[4096 : 4096+len(got)]))
		},
		// catches: payload_sz at delivery counting the READ's out-pages.
		Entry("copied, per-entry payload buffer (§4.e)", transfer{mode: ringtest.PerEntry}, SpecTimeout(edgeTimeout)),
		// catches: payload_sz at delivery counting the READ's out-pages.
		Entry("copied, buffer pool (§4.e)", transfer{mode: ringtest.PoolMode}, SpecTimeout(edgeTimeout)),
		// catches: the zero-copy path adding the out-pages to payload_sz
		// (it must add only in-pages).
		Entry("zero-copied (§4.e)", transfer{mode: ringtest.PoolMode, zc: true}, SpecTimeout(edgeTimeout)),
	)

	// Each case answers an 8192-byte READ (of a 16384-byte file) with the
	// right bytes and then sets the reply's payload_sz to the case's value.
	DescribeTable("checks a READ reply's payload_sz at commit",
		func(ctx SpecContext, c replySize) {
			c.require(r)
			r.setup(ctx, r.layout(c.mode, c.zc, 1))
			content := pattern(16384, 9)
			name := c.file("ps-read-reply")
			r.createFile(name, content)
			got := make([]byte, 8192)
			var n int
			cl := r.clients.Go(0, func() error {
				fd, err := unix.Open(r.path(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				n, err = unix.Pread(fd, got, 0)
				return err
			})
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_READ))
			Expect(e.ZeroCopy()).To(Equal(c.zc))
			sz := c.size(len(got))
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(e, r.srv.Handler()); err != nil {
					return err
				}
				if own := e.Hdr().Ent.PayloadSz; own != uint32(len(got)) {
					return fmt.Errorf("the server's own reply has payload_sz %d", own)
				}
				t.SetReply(e, fuseabi.OutHeader{Len: uint32(fuseabi.SizeofOutHeader + sz), Unique: e.In.Unique}, uint32(sz))
				_, err := t.Commit(e)
				return err
			})).To(Succeed(), "COMMIT with payload_sz %d", sz)
			r.serveClient(ctx, cl)
			if c.want != 0 {
				Expect(cl.Err()).To(MatchError(c.want), "§4.e: payload_sz %d for a READ of %d", sz, len(got))
				return
			}
			Expect(cl.Err()).To(Succeed())
			Expect(n).To(Equal(sz), "§4.e: the client gets payload_sz bytes")
			Expect(got[:n]).To(Equal(content[:n]))
		},
		// catches: the exact-size case rejected (an off-by-one in the
		// out-argument size check of fuse_copy_out_args).
		Entry("copied, exact: the client reads it all (§4.e)", replySize{transfer: transfer{mode: ringtest.PerEntry}, size: same}, SpecTimeout(edgeTimeout)),
		// catches: a too-large reply truncated instead of refused.
		Entry("copied, one byte too large: EINVAL (§4.e)", replySize{transfer: transfer{mode: ringtest.PerEntry}, size: plus1, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: a short reply to a variable-size READ refused, or padded
		// to the requested size.
		Entry("copied, half: a short read (§4.e)", replySize{transfer: transfer{mode: ringtest.PerEntry}, size: half}, SpecTimeout(edgeTimeout)),
		// catches: the zero-copy commit path skipping the size check.
		Entry("zero-copied, exact: the client reads it all (§4.e)", replySize{transfer: transfer{mode: ringtest.PoolMode, zc: true}, size: same}, SpecTimeout(edgeTimeout)),
		// catches: the zero-copy commit path skipping the size check.
		Entry("zero-copied, one byte too large: EINVAL (§4.e)", replySize{transfer: transfer{mode: ringtest.PoolMode, zc: true}, size: plus1, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: a zero-copied READ always returning the full request
		// size, whatever payload_sz says.
		Entry("zero-copied, half: a short read (§4.e)", replySize{transfer: transfer{mode: ringtest.PoolMode, zc: true}, size: half}, SpecTimeout(edgeTimeout)),
	)

	// Each case answers a WRITE correctly, then sets payload_sz of the
	// 8-byte fuse_write_out reply to the case's value.
	DescribeTable("checks a WRITE reply's payload_sz at commit",
		func(ctx SpecContext, c replySize) {
			c.require(r)
			r.setup(ctx, r.layout(c.mode, c.zc, 1))
			data := pattern(4096, 10)
			cl := r.clients.Go(0, writeFile(r.path(c.file("ps-write-reply")), 0, data))
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
			Expect(e.ZeroCopy()).To(Equal(c.zc))
			sz := c.size(fuseabi.SizeofWriteOut)
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(e, r.srv.Handler()); err != nil {
					return err
				}
				t.SetReply(e, fuseabi.OutHeader{Len: uint32(fuseabi.SizeofOutHeader + sz), Unique: e.In.Unique}, uint32(sz))
				_, err := t.Commit(e)
				return err
			})).To(Succeed(), "COMMIT with payload_sz %d", sz)
			r.serveClient(ctx, cl)
			if c.want != 0 {
				Expect(cl.Err()).To(MatchError(c.want), "§4.e: payload_sz %d for fuse_write_out", sz)
				return
			}
			Expect(cl.Err()).To(Succeed())
		},
		// catches: an off-by-one rejecting the exact fixed-size reply.
		Entry("copied, exactly 8 bytes (§4.e)", replySize{transfer: transfer{mode: ringtest.PerEntry}, size: same}, SpecTimeout(edgeTimeout)),
		// catches: a short fixed-size reply accepted (fuse_write_out half
		// read from stale memory).
		Entry("copied, 7 bytes: EINVAL (§4.e)", replySize{transfer: transfer{mode: ringtest.PerEntry}, size: minus1, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: a too-large reply truncated instead of refused.
		Entry("copied, 9 bytes: EINVAL (§4.e)", replySize{transfer: transfer{mode: ringtest.PerEntry}, size: plus1, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the zero-copied WRITE's reply read from somewhere other
		// than its pool buffer.
		Entry("zero-copied, exactly 8 bytes (§4.e)", replySize{transfer: transfer{mode: ringtest.PoolMode, zc: true}, size: same}, SpecTimeout(edgeTimeout)),
		// catches: the zero-copy commit path skipping the fixed-size check.
		Entry("zero-copied, 7 bytes: EINVAL (§4.e)", replySize{transfer: transfer{mode: ringtest.PoolMode, zc: true}, size: minus1, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the zero-copy commit path skipping the size check.
		Entry("zero-copied, 9 bytes: EINVAL (§4.e)", replySize{transfer: transfer{mode: ringtest.PoolMode, zc: true}, size: plus1, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
	)

	// Each case answers a GETATTR of the mount root with only an
	// out-header (payload_sz 0); afterwards the next GETATTR is served
	// normally, so the bad reply cost the connection nothing.
	DescribeTable("checks the out-header of a reply",
		func(ctx SpecContext, c outHeader) {
			r.setup(ctx, r.layout(ringtest.PerEntry, false, 1))
			stat := func() error {
				var stx unix.Statx_t
				return unix.Statx(unix.AT_FDCWD, r.srv.MountPoint(), unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &stx)
			}
			cl := r.clients.Go(0, stat)
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_GETATTR))
			oh := fuseabi.OutHeader{Len: fuseabi.SizeofOutHeader, Error: c.error, Unique: c.uniqueFor(e.In.Unique)}
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				t.SetReply(e, oh, 0)
				_, err := t.Commit(e)
				return err
			})).To(Succeed())
			r.serveClient(ctx, cl)
			Expect(cl.Err()).To(MatchError(c.want), "§4.e: out-header %+v", oh)
			seen, err := r.run(ctx, 0, stat)
			Expect(err).NotTo(HaveOccurred(), "the next GETATTR is answered normally")
			Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_GETATTR"}))
		},
		// catches: fuse_uring_out_header_has_err no longer passing a
		// server errno through.
		Entry("error -EIO reaches the client (§4.e)", outHeader{error: -int32(unix.EIO), want: unix.EIO}, SpecTimeout(edgeTimeout)),
		// catches: the `error > 0` check dropped (a positive value would
		// reach the client as a bogus success or errno).
		Entry("error +5 is EINVAL (§4.e)", outHeader{error: 5, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the `error <= -512` check dropped (kernel-internal
		// errnos would leak to the client).
		Entry("error -512 is EINVAL (§4.e)", outHeader{error: -512, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the unique comparison dropped from the ring commit path
		// (a reply to another request would be accepted).
		Entry("another request's unique is ENOENT (§4.e)", outHeader{unique: func(u uint64) uint64 { return u + 2 }, want: unix.ENOENT}, SpecTimeout(edgeTimeout)),
		// catches: the unique == 0 check dropped (a notification-style
		// header accepted as a reply).
		Entry("unique 0 is EINVAL (§1.2, §4.e)", outHeader{unique: func(uint64) uint64 { return 0 }, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
	)
})

// transfer is a payload mode of the payload-sz tables: copied through a
// per-entry buffer or a pool, or zero-copied.
type transfer struct {
	mode ringtest.Mode
	zc   bool
}

// require skips cases that need the 7.46 ABI on kernels without it.
func (c transfer) require(r *rig) {
	GinkgoHelper()
	if c.mode != ringtest.PerEntry || c.zc {
		r.requireBufPool()
	}
}

// file names a file for the case: opted into zero copy or direct I/O
// only, so every read(2)/write(2) is one request on the client's pages.
func (c transfer) file(base string) string {
	if c.zc {
		return zcPrefix + base
	}
	return dioPrefix + base
}

// replySize is one reply payload_sz case.
type replySize struct {
	transfer
	size func(exact int) int
	want unix.Errno // 0: accepted
}

func same(n int) int   { return n }
func plus1(n int) int  { return n + 1 }
func minus1(n int) int { return n - 1 }
func half(n int) int   { return n / 2 }

// outHeader is one out-header case.
type outHeader struct {
	error  int32
	unique func(request uint64) uint64 // nil: the request's unique
	want   unix.Errno
}

// uniqueFor is the out-header unique for a request with unique u.
func (c outHeader) uniqueFor(u uint64) uint64 {
	if c.unique == nil {
		return u
	}
	return c.unique(u)
}
