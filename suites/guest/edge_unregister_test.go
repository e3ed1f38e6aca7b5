package guest

import (
	"bytes"
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// Edge case (f), ABI doc §4.f, §7 H2: a zero-copy slot holds the client's
// pages only while the server holds the request. Every path that ends the
// request must empty it; the consequence is checked with fixed I/O on the
// slot (EFAULT once empty, ABI doc §8).
var _ = Describe("unregister: zero-copy slots are emptied when the request ends", Label(labels.Unregister, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// Each case holds a zero-copied WRITE, proves its slot holds the
	// client's data (WRITE_FIXED from it into a scratch file), replies as
	// the case says, and puts a WRITE_FIXED on the slot into the same
	// io_uring_enter as the COMMIT: it must fail with EFAULT.
	DescribeTable("empties a zero-copied WRITE's slot at COMMIT, before a fixed write in the same submit",
		func(ctx SpecContext, c unregisterReply) {
			r.requireBufPool()
			r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
			scratch := r.scratch()
			data := pattern(4096, 11)
			cl := r.clients.Go(0, writeFile(r.path(zcPrefix+"unreg-write"), 0, data))
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
			Expect(e.ZeroCopy()).To(BeTrue())
			n, err := r.fixed(ctx, false, scratch, len(data), e.ZCSlot)
			Expect(err).NotTo(HaveOccurred(), "positive control: the held request's slot %d holds the client's pages", e.ZCSlot)
			Expect(n).To(Equal(len(data)))
			Expect(readAt(scratch, len(data))).To(Equal(data))
			var probe []error
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(e, r.srv.Handler()); err != nil {
					return err
				}
				c.edit(t, e)
				cqes, err := t.Commit(e, ringtest.FixedProbe(false, scratch, 1, e.ZCSlot))
				for _, q := range cqes {
					probe = append(probe, q.Err())
				}
				return err
			})).To(Succeed())
			Expect(probe).To(HaveExactElements(MatchError(unix.EFAULT)), "§4.f: the COMMIT emptied slot %d", e.ZCSlot)
			r.serveClient(ctx, cl)
			if c.want == 0 {
				Expect(cl.Err()).To(Succeed())
			} else {
				Expect(cl.Err()).To(MatchError(c.want))
			}
		},
		// catches: fuse_uring_req_end no longer calling zero_copy_unregister
		// (the server keeps the client's pages after a normal commit).
		Entry("after a normal reply (§4.f path 1)", unregisterReply{edit: func(*ringtest.Thread, *ringtest.Entry) {}}, SpecTimeout(edgeTimeout)),
		// catches: the unregister skipped when the reply carries an errno.
		Entry("after an error reply: the client gets EIO (§4.f path 1)", unregisterReply{edit: func(t *ringtest.Thread, e *ringtest.Entry) {
			t.SetReply(e, fuseabi.OutHeader{Len: fuseabi.SizeofOutHeader, Error: -int32(unix.EIO), Unique: e.In.Unique}, 0)
		}, want: unix.EIO}, SpecTimeout(edgeTimeout)),
		// catches: an early return on a rejected reply (bad payload_sz)
		// that skips the unregister.
		Entry("after a reply the kernel rejects (payload_sz 9): the client gets EINVAL (§4.f path 1)", unregisterReply{edit: func(t *ringtest.Thread, e *ringtest.Entry) {
			t.SetReply(e, fuseabi.OutHeader{Len: fuseabi.SizeofOutHeader + 9, Unique: e.In.Unique}, 9)
		}, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
	)

	// catches: the READ slot (IO_BUF_DEST) left registered at commit, so
	// the server could still write into the client's pages after the
	// client had its data.
	It("empties a zero-copied READ's slot at COMMIT: a fixed read into it in the same submit fails and the client's data stays as committed", func(ctx SpecContext) {
		r.requireBufPool()
		r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
		content := pattern(8192, 12)
		r.createFile(zcPrefix+"unreg-read", content)
		scratch := r.scratch()
		got := make([]byte, len(content))
		cl := r.clients.Go(0, readFile(r.path(zcPrefix+"unreg-read"), 0, got))
		e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_READ))
		Expect(e.ZeroCopy()).To(BeTrue())
		var probe []error
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			rep, err := t.Answer(e, r.srv.Handler())
			if err != nil {
				return err
			}
			if rep.N != len(content) {
				return fmt.Errorf("positive control: READ_FIXED into slot %d moved %d of %d bytes", e.ZCSlot, rep.N, len(content))
			}
			cqes, err := t.Commit(e, ringtest.FixedProbe(true, scratch, 1, e.ZCSlot))
			for _, q := range cqes {
				probe = append(probe, q.Err())
			}
			return err
		})).To(Succeed())
		Expect(probe).To(HaveExactElements(MatchError(unix.EFAULT)), "§4.f, §8: the COMMIT emptied slot %d", e.ZCSlot)
		r.serveClient(ctx, cl)
		Expect(cl.Err()).To(Succeed())
		Expect(got).To(Equal(content), "nothing from the late fixed read reached the client")
	}, SpecTimeout(edgeTimeout))

	// catches: the kernel leaving a slot occupied after a commit, which the
	// next zero-copied request of the entry would find busy (EBUSY).
	It("reuses the entry's slot for consecutive zero-copied requests, emptying it at each COMMIT", func(ctx SpecContext) {
		r.requireBufPool()
		r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
		scratch := r.scratch()
		const rounds = 3
		// The client writes round i+1 only once round i's probe is done:
		// a WRITE sent as soon as the COMMIT completed the previous one
		// could reach the re-armed entry, and fill its slot, between the
		// COMMIT and the probe of the same submit.
		next := make(chan struct{}, rounds)
		DeferCleanup(func() { close(next) }) // a failed round must not leave the client waiting
		cl := r.clients.Go(0, func() error {
			fd, err := unix.Open(r.path(zcPrefix+"unreg-reuse"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			for i := range rounds {
				if i > 0 {
					<-next
				}
				if _, err := unix.Pwrite(fd, pattern(4096, byte(20+i)), int64(i)*4096); err != nil {
					return fmt.Errorf("round %d: %w", i, err)
				}
			}
			return nil
		})
		slots := map[uint16]bool{}
		for i := range rounds {
			e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
			Expect(e.ZeroCopy()).To(BeTrue(), "round %d", i)
			slots[e.ZCSlot] = true
			n, err := r.fixed(ctx, false, scratch, 4096, e.ZCSlot)
			Expect(err).NotTo(HaveOccurred(), "round %d: the slot holds the new request", i)
			Expect(n).To(Equal(4096))
			Expect(readAt(scratch, 4096)).To(Equal(pattern(4096, byte(20+i))), "round %d: the slot holds this round's pages", i)
			var probe []error
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(e, r.srv.Handler()); err != nil {
					return err
				}
				cqes, err := t.Commit(e, ringtest.FixedProbe(false, scratch, 1, e.ZCSlot))
				for _, q := range cqes {
					probe = append(probe, q.Err())
				}
				return err
			})).To(Succeed())
			Expect(probe).To(HaveExactElements(MatchError(unix.EFAULT)), "round %d", i)
			next <- struct{}{}
		}
		r.serveClient(ctx, cl)
		Expect(cl.Err()).To(Succeed())
		Expect(slots).To(HaveLen(1), "one entry, one slot, reused")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_prepare_send's failure path not ending the
	// request through fuse_uring_req_end (the slot stays registered after
	// a failed delivery, and the entry's next zero-copied request gets
	// EBUSY).
	It("empties the slot when delivery fails after it was filled (header copy EFAULT), and the slot serves the next request", func(ctx SpecContext) {
		r.requireBufPool()
		ents := r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
		e0 := ents[0]
		Expect(e0.Qid).To(BeEquivalentTo(0))
		scratch := r.scratch()
		name := r.path(zcPrefix + "unreg-fail")
		seen, err := r.run(ctx, 0, writeFile(name, 0, pattern(4096, 13)))
		Expect(err).NotTo(HaveOccurred(), "positive control: a zero-copied WRITE on qid 0")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
		opened, proceed := make(chan struct{}), make(chan struct{})
		var werr error
		cl := r.clients.Go(0, func() error {
			fd, err := unix.Open(name, unix.O_RDWR|unix.O_CLOEXEC, 0)
			close(opened)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			<-proceed
			_, werr = unix.Pwrite(fd, pattern(4096, 14), 0)
			return nil
		})
		Expect(r.ring.Serve(ctx, r.srv.Handler(), opened)).To(Succeed())
		// The slot is filled before anything is copied (ABI doc §4.4); the
		// header copy that follows then faults.
		Expect(r.ring.Unmap(e0.Header)).To(Succeed(), "unmap qid 0's header buffer")
		close(proceed)
		Eventually(cl.Done()).WithContext(ctx).Should(BeClosed(), "every request of the client fails on qid 0 without reaching the server")
		Expect(cl.Err()).To(Succeed())
		Expect(werr).To(MatchError(unix.EFAULT), "§4.f path 2, §5.2: header copy fault")
		Expect(r.ready(ctx)).To(BeEmpty(), "no CQE for the failed deliveries")
		_, err = r.fixed(ctx, false, scratch, 1, e0.ZCSlot)
		Expect(err).To(MatchError(unix.EFAULT), "§4.f path 2: slot %d is empty", e0.ZCSlot)
		Expect(r.ring.Remap(e0.Header)).To(Succeed())
		seen, err = r.run(ctx, 0, writeFile(name, 0, pattern(4096, 15)))
		Expect(err).NotTo(HaveOccurred(), "the slot was free for the entry's next zero-copied request (else EBUSY)")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
	}, SpecTimeout(edgeTimeout))

	// H2 (ABI doc §7): on 7.3-rc7 the teardown of an entry whose request
	// is in userspace ends the request with ECONNABORTED but leaves its
	// slot registered; these specs assert the correct behaviour and are
	// known failures there (fixtures/expectations).
	DescribeTable("empties the slot of a held zero-copied request when the connection is aborted (H2)",
		func(ctx SpecContext, c abortHeld) {
			r.requireBufPool()
			r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
			scratch := r.scratch()
			name := zcPrefix + "unreg-abort"
			buf := pattern(4096, 16)
			var client func() error
			if c.read {
				r.createFile(name, pattern(4096, 17))
				client = readFile(r.path(name), 0, buf)
			} else {
				client = writeFile(r.path(name), 0, buf)
			}
			before := bytes.Clone(buf)
			cl := r.clients.Go(0, client)
			e := r.serveUntil(ctx, isOpcode(c.opcode()))
			Expect(e.ZeroCopy()).To(BeTrue())
			if !c.read {
				n, err := r.fixed(ctx, false, scratch, len(buf), e.ZCSlot)
				Expect(err).NotTo(HaveOccurred(), "positive control: the held WRITE's slot works")
				Expect(n).To(Equal(len(buf)))
			}
			Expect(r.abort()).To(Succeed())
			Eventually(cl.Done()).WithContext(ctx).Should(BeClosed())
			Expect(cl.Err()).To(MatchError(unix.ECONNABORTED), "§4.f: the held request ends with ECONNABORTED")
			n, err := r.fixed(ctx, c.read, scratch, len(buf), e.ZCSlot)
			Expect(err).To(MatchError(unix.EFAULT),
				"§4.f, §7 H2: after the client's answer, slot %d must not reach its pages (fixed I/O moved %d bytes; client buffer changed: %v)",
				e.ZCSlot, n, !bytes.Equal(buf, before))
			Expect(buf).To(Equal(before), "the client's buffer changed after it got ECONNABORTED")
		},
		// catches: fuse_uring_entry_teardown ending a userspace-held request
		// without zero_copy_unregister (the H2 bug itself, fixed by routing
		// it through fuse_uring_req_end).
		Entry("a WRITE: the server can no longer read the client's pages (§4.f, §7 H2)", abortHeld{read: false}, SpecTimeout(edgeTimeout)),
		// catches: the same teardown path for a READ slot, through which
		// the server could write into the client's buffer after the abort.
		Entry("a READ: the server can no longer write the client's pages (§4.f, §7 H2)", abortHeld{read: true}, SpecTimeout(edgeTimeout)),
	)
})

// unregisterReply is one reply of the commit-unregisters table: edit turns
// the server's correct answer into the case's reply.
type unregisterReply struct {
	edit func(t *ringtest.Thread, e *ringtest.Entry)
	want unix.Errno // the client's errno; 0: success
}

// abortHeld is one case of the abort table.
type abortHeld struct{ read bool }

func (c abortHeld) opcode() fuseabi.Opcode {
	if c.read {
		return fuseabi.FUSE_READ
	}
	return fuseabi.FUSE_WRITE
}

// scratch returns a memfd for fixed I/O probes, holding 64 KiB of
// scratchByte (so that a READ_FIXED from it has bytes to move), closed at
// cleanup.
func (r *rig) scratch() int {
	GinkgoHelper()
	fd, err := unix.MemfdCreate("zc-scratch", unix.MFD_CLOEXEC)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(unix.Close, fd)
	_, err = unix.Pwrite(fd, bytes.Repeat([]byte{scratchByte}, 64<<10), 0)
	Expect(err).NotTo(HaveOccurred())
	return fd
}

// scratchByte fills the scratch file.
const scratchByte = 0x77

// fixed runs READ_FIXED (read) or WRITE_FIXED of n bytes between offset 0
// of slot and offset 0 of fd, waiting with ctx.
func (r *rig) fixed(ctx context.Context, read bool, fd, n int, slot uint16) (int, error) {
	var got int
	err := r.do(ctx, func(t *ringtest.Thread) error {
		var err error
		got, err = t.Fixed(read, fd, 0, uint32(n), 0, slot)
		return err
	})
	return got, err
}

// readAt returns the first n bytes of fd.
func readAt(fd, n int) []byte {
	GinkgoHelper()
	b := make([]byte, n)
	m, err := unix.Pread(fd, b, 0)
	Expect(err).NotTo(HaveOccurred())
	return b[:m]
}
