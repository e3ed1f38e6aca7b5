package guest

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Edge case (f), ABI doc §4.f, seen from io_uring's side of the unregister
// (io_uring/rsrc.c, io_buffer_unregister): what the kernel reports when
// the slot is already empty, that the client's pages are really given
// back, and that an unregister on an io-wq worker leaves the ring usable.
var _ = Describe("unregister: the kernel's unregister of a zero-copy slot, as io_uring does it", Label(labels.Unregister, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = pagesRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// catches: io_buffer_unregister's empty-slot `ret = -EINVAL` replaced
	// by 0 (the unregister of a slot the server emptied itself reports
	// success, and FUSE logs nothing). Killed on 7.3-rc7 (mutant 5ab305b34a90).
	It("reports EINVAL (logged) at COMMIT when the server emptied the held request's slot itself, completes the client, and the slot serves the next request", func(ctx SpecContext) {
		h := r.holdPages(ctx, pageCase{direct: true, size: 4096}, "emptied")
		slot, scratch := r.slotHoldsClient(ctx, h)
		kmsg, err := openKmsgAtEnd()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kmsg.Close)
		var emptied error
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			if _, err := t.Answer(h.e, r.srv.Handler()); err != nil {
				return err
			}
			if n, err := t.Uring().UpdateBuffers(uint32(slot), [][]byte{nil}); err != nil || n != 1 {
				return fmt.Errorf("BUFFERS_UPDATE emptying slot %d under the held request: %d, %v", slot, n, err)
			}
			_, emptied = t.Fixed(false, scratch, 0, 1, 0, slot)
			_, err := t.Commit(h.e)
			return err
		})).To(Succeed())
		Expect(emptied).To(MatchError(unix.EFAULT), "the server's BUFFERS_UPDATE emptied slot %d before the COMMIT", slot)
		r.serveClient(ctx, h.cl)
		Expect(h.cl.Err()).To(Succeed(), "§4.f: the client's WRITE completes")
		want := fmt.Sprintf("qid=%d zero-copy unregister failed: %d", h.e.Qid, -int(unix.EINVAL))
		// Logged during the COMMIT; the wait only covers the record
		// reaching the reader.
		Eventually(kmsg.Lines).WithContext(ctx).WithTimeout(10*time.Second).Should(ContainElement(ContainSubstring(want)), "§4.f: io_uring refused to unregister an empty slot")
		seen, err := r.run(ctx, 0, writeFile(r.path(h.name), 0, pattern(4096, 0x47)))
		Expect(err).NotTo(HaveOccurred(), "the empty slot serves the entry's next zero-copied request")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
	}, SpecTimeout(edgeTimeout))

	// The server may replace its whole fixed-buffer table (UNREGISTER_BUFFERS,
	// then a new one) while a zero-copied request is held: the held slot
	// then lies outside the table, and the kernel's unregister at COMMIT
	// must fail with EINVAL without touching the new table. The new table
	// has exactly slot entries (the held slot is the first index past
	// its end), with the server's own buffer in slot 0, where an unchecked
	// index would land (array_index_nospec clamps it to 0).
	//
	// catches: io_buffer_unregister's `index >= data->nr` check dropped,
	// moved to `>`, or its `ret = -EINVAL` changed (the log then names
	// EBUSY from slot 0's buffer, another errno, or nothing). Killed on
	// 7.3-rc7 for `ret = 0` (mutant 9887663c920e); the others not run yet.
	It("reports EINVAL (logged) at COMMIT when the server replaced its buffer table by one that ends before the held request's slot, and leaves the new table alone", func(ctx SpecContext) {
		h := r.holdPages(ctx, pageCase{direct: true, size: 4096}, "table")
		slot, scratch := r.slotHoldsClient(ctx, h)
		Expect(slot).To(BeNumerically(">", 0))
		own, err := r.ring.Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		copy(own, pattern(4096, 0x4b))
		kmsg, err := openKmsgAtEnd()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kmsg.Close)
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			if _, err := t.Answer(h.e, r.srv.Handler()); err != nil {
				return err
			}
			u := t.Uring()
			if err := u.UnregisterBuffers(); err != nil {
				return fmt.Errorf("UNREGISTER_BUFFERS under the held request: %w", err)
			}
			if err := u.RegisterBuffersSparse(uint32(slot)); err != nil {
				return fmt.Errorf("a new table of %d slots: %w", slot, err)
			}
			if n, err := u.UpdateBuffers(0, [][]byte{own}); err != nil || n != 1 {
				return fmt.Errorf("the server's buffer into slot 0: %d, %v", n, err)
			}
			_, err := t.Commit(h.e)
			return err
		})).To(Succeed())
		r.serveClient(ctx, h.cl)
		Expect(h.cl.Err()).To(Succeed(), "§4.f: the client's WRITE completes")
		want := fmt.Sprintf("qid=%d zero-copy unregister failed: %d", h.e.Qid, -int(unix.EINVAL))
		Eventually(kmsg.Lines).WithContext(ctx).WithTimeout(10*time.Second).Should(ContainElement(ContainSubstring(want)), "§4.f: io_uring refused to unregister slot %d of a %d-slot table", slot, slot)
		n, err := r.fixedAt(ctx, false, scratch, addrOf(own), 4096, 0, 0)
		Expect(err).NotTo(HaveOccurred(), "the server's buffer in slot 0 survived the COMMIT")
		Expect(n).To(Equal(4096))
		Expect(readAt(scratch, 4096)).To(Equal(own))
	}, SpecTimeout(edgeTimeout))

	// The client writes from a private read-only mapping of a memfd, so
	// the slot holds the memfd's own page-cache folios. Adding
	// F_SEAL_WRITE to a memfd fails with EBUSY while any of its folios has
	// a reference beyond the page cache's and the mappings' (mm/memfd.c
	// waits about 150 ms for them): that makes a folio reference the slot
	// kept observable.
	//
	// catches: io_buffer_unregister's io_put_rsrc_node dropped (the slot's
	// node is never freed, so its release callback never puts the
	// client's folios: F_SEAL_WRITE stays EBUSY after the client is done).
	// Killed on 7.3-rc7 (mutant 51fb08713562).
	It("gives the client's pages back at COMMIT: a memfd the client wrote from can be sealed once its WRITE completes", func(ctx SpecContext) {
		content := pattern(8192, 0x48)
		mfd, err := unix.MemfdCreate("zc-client", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(unix.Close, mfd)
		n, err := unix.Pwrite(mfd, content, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(content)))
		mem, err := unix.Mmap(mfd, 0, len(content), unix.PROT_READ, unix.MAP_PRIVATE)
		Expect(err).NotTo(HaveOccurred())
		mapped := true
		DeferCleanup(func() {
			if mapped {
				unix.Munmap(mem)
			}
		})
		name := zcPrefix + "release"
		cl := r.clients.Go(0, writeFile(r.path(name), 0, mem))
		e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
		Expect(e.ZeroCopy()).To(BeTrue(), "the WRITE of %s is zero-copied (§4.3)", name)
		scratch := r.scratch()
		n, err = r.fixedAt(ctx, false, scratch, 0, uint32(len(content)), 0, e.ZCSlot)
		Expect(err).NotTo(HaveOccurred(), "positive control: the slot holds the memfd's pages")
		Expect(n).To(Equal(len(content)))
		Expect(readAt(scratch, len(content))).To(Equal(content))
		_, err = unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
		Expect(err).To(MatchError(unix.EBUSY), "positive control: the seal sees the references of the held request's pages")
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			if _, err := t.Answer(e, r.srv.Handler()); err != nil {
				return err
			}
			_, err := t.Commit(e)
			return err
		})).To(Succeed())
		r.serveClient(ctx, cl)
		Expect(cl.Err()).To(Succeed(), "the client's WRITE completes")
		Expect(unix.Munmap(mem)).To(Succeed())
		mapped = false
		_, err = unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
		Expect(err).NotTo(HaveOccurred(), "§4.f: no reference to the client's pages outlives its request")
		seals, err := unix.FcntlInt(uintptr(mfd), unix.F_GET_SEALS, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(seals & unix.F_SEAL_WRITE).To(Equal(unix.F_SEAL_WRITE))
	}, SpecTimeout(edgeTimeout))

	// A COMMIT_AND_FETCH with IOSQE_ASYNC runs on an io-wq worker, which
	// takes the ring's lock itself around the slot's unregister (and
	// around the register of the next request's pages, when one is
	// queued). Each case asserts that the ring's next operation completes
	// within asyncDeadline.
	DescribeTable("unregisters on an io-wq worker (COMMIT_AND_FETCH with IOSQE_ASYNC) and leaves the ring usable",
		func(ctx SpecContext, queued bool) {
			var next *ringtest.Client
			var proceed chan struct{}
			if queued {
				// The second client opens its file before the first
				// request holds qid 0's only entry (the OPEN needs the
				// entry), then writes when told.
				opened := make(chan struct{})
				proceed = make(chan struct{})
				DeferCleanup(func() {
					select {
					case <-proceed:
					default:
						close(proceed)
					}
				})
				next = r.clients.Go(0, func() error {
					fd, err := unix.Open(r.path(zcPrefix+"async-next"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
					close(opened)
					if err != nil {
						return err
					}
					defer unix.Close(fd)
					<-proceed
					_, err = unix.Pwrite(fd, pattern(4096, 0x4a), 0)
					return err
				})
				Expect(r.ring.Serve(ctx, r.srv.Handler(), opened)).To(Succeed())
			}
			h := r.holdPages(ctx, pageCase{direct: true, size: 4096}, "async")
			slot, scratch := r.slotHoldsClient(ctx, h)
			if queued {
				close(proceed)
				// The held request and the queued one.
				Eventually(r.waiting).WithContext(ctx).Should(Equal(2), "the second WRITE is allocated")
				Consistently(next.Done()).WithTimeout(blockedFor).ShouldNot(BeClosed(), "the second WRITE waits in qid 0's queue")
			}
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(h.e, r.srv.Handler()); err != nil {
					return err
				}
				a := h.e.CommitArgs()
				a.SQEFlags = uring.IOSQE_ASYNC
				_, err := t.CommitWith(h.e, a)
				return err
			})).To(Succeed())
			// The worker ends the request; then the entry's next request
			// arrives: the queued WRITE, which the worker delivers itself
			// (registering its pages in the slot), or else the first
			// client's FLUSH from its close.
			dctx, cancel := context.WithTimeout(ctx, asyncDeadline)
			defer cancel()
			var e2 *ringtest.Entry
			Expect(r.do(dctx, func(t *ringtest.Thread) error {
				var err error
				e2, err = t.Next()
				return err
			})).To(Succeed(), "the ring's next operation completes (within %v): the entry's next request arrives", asyncDeadline)
			Expect(e2.Qid).To(BeEquivalentTo(0))
			if queued {
				Expect(e2.Opcode()).To(Equal(fuseabi.FUSE_WRITE))
				Expect(e2.ZeroCopy()).To(BeTrue())
				Expect(e2.ZCSlot).To(Equal(slot))
				n, err := r.fixedAt(ctx, false, scratch, 0, 4096, 0, slot)
				Expect(err).NotTo(HaveOccurred(), "the worker registered the queued WRITE's pages")
				Expect(n).To(Equal(4096))
				Expect(readAt(scratch, 4096)).To(Equal(pattern(4096, 0x4a)))
			} else {
				Expect(e2.ZeroCopy()).To(BeFalse(), "%v", e2)
				_, err := r.fixedAt(ctx, false, scratch, 0, 1, 0, slot)
				Expect(err).To(MatchError(unix.EFAULT), "the worker emptied slot %d", slot)
			}
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(e2, r.srv.Handler()); err != nil {
					return err
				}
				_, err := t.Commit(e2)
				return err
			})).To(Succeed())
			r.serveClient(ctx, h.cl)
			Expect(h.cl.Err()).To(Succeed())
			if queued {
				r.serveClient(ctx, next)
				Expect(next.Err()).To(Succeed())
			}
			seen, err := r.run(ctx, 0, writeFile(r.path(h.name), 0, pattern(4096, 0x49)))
			Expect(err).NotTo(HaveOccurred(), "the entry serves its next zero-copied request")
			Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
		},
		// catches: io_buffer_unregister's io_ring_submit_unlock dropped
		// (the worker returns with the ring's lock held; the ring's next
		// io_uring_enter never returns). On 7.3-rc7 (mutant 02ef1955dce8)
		// the guest hangs: HANG at the run's deadline.
		Entry("with nothing queued: the client's next request arrives in time and the slot is empty", false, SpecTimeout(edgeTimeout)),
		// catches: io_buffer_register_bvec's io_ring_submit_unlock dropped
		// (the worker that registers the queued request's pages keeps the
		// lock), besides the unregister's. Killed on 7.3-rc7 (mutant
		// e011024807b7).
		Entry("with a zero-copied WRITE queued: the worker delivers it and the ring takes it in time", true, SpecTimeout(edgeTimeout)),
	)
})

// asyncDeadline bounds the wait for what an io-wq worker does: it runs in
// milliseconds, even under TCG.
const asyncDeadline = 20 * time.Second
