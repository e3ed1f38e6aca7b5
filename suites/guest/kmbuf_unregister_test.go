package guest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
)

// nextWriteWorks writes once more through qid 0 (one entry: the same ent)
// and checks that the zero-copied WRITE went through: the slot was free
// for the kernel to install the new request's pages (no EBUSY).
func (r *kmRig) nextWriteWorks(ctx SpecContext, name string) {
	GinkgoHelper()
	data := pattern(4096, 0x3c)
	seen, err := r.run(ctx, 0, writeFile(r.path(name), 8192, data))
	Expect(err).NotTo(HaveOccurred(), "§5 f: the next zero-copied request on the entry works (no leaked slot)")
	Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_WRITE.String()), HaveField("ZC", BeTrue()))), "%v", seen)
}

// heldWrite starts a client writing 4096 bytes to name on CPU 0 and
// returns it with its WRITE held on qid 0's only entry.
func (r *kmRig) heldWrite(ctx SpecContext, name string) (*kmbufring.Entry, func() error) {
	GinkgoHelper()
	c := r.clients.Go(0, writeFile(r.path(name), 0, pattern(4096, 0x5a)))
	e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_WRITE))
	Expect(e.ZeroCopied()).To(BeTrue())
	return e, func() error {
		r.serveClient(ctx, c)
		return c.Err()
	}
}

// Edge case (f), §5 f: the page slot of a zero-copied request is emptied
// when the request ends, on every path, before the client is woken.
var _ = Describe("unregister: kmbuf page slots are emptied when a request ends", Label(labels.Unregister, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
		r.setupAll(ctx, true, 1)
	}, NodeTimeout(edgeTimeout))

	// catches: io_buffer_unregister missing from fuse_uring_req_end, or
	// called after the request completed.
	It("empties the slot on a successful commit: fixed I/O on it in the same io_uring_enter gets EFAULT, and the next zero-copied request works", func(ctx SpecContext) {
		e, finish := r.heldWrite(ctx, dioPrefix+"unreg-ok")
		got, err := r.slotBytes(ctx, 0, e.ID, 16)
		Expect(err).NotTo(HaveOccurred(), "positive control: the pages are in slot %d while the request is held", e.ID)
		Expect(got).To(Equal(pattern(4096, 0x5a)[:16]))
		r.answer(ctx, e)
		res, err := r.commitWithProbe(ctx, e, false, e.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(BeEquivalentTo(-int32(unix.EFAULT)), "§5 f: slot %d is empty right after the commit", e.ID)
		Expect(finish()).To(Succeed())
		r.nextWriteWorks(ctx, dioPrefix+"unreg-ok")
	}, SpecTimeout(edgeTimeout))

	// catches: the unregister in fuse_uring_req_end limited to requests
	// with in-pages ("if (ent->zero_copied && req->args->in_pages)"): a
	// zero-copied READ's slot is registered the other way (ITER_DEST).
	It("empties the slot of a zero-copied READ on commit: READ_FIXED into it in the same io_uring_enter gets EFAULT", func(ctx SpecContext) {
		content := pattern(8192, 0x21)
		r.createFile(dioPrefix+"unreg-read", content)
		got := kmAligned(len(content))
		var n int
		c := r.clients.Go(0, kmDirectRead(r.path(dioPrefix+"unreg-read"), 0, got, &n))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_READ))
		Expect(e.ZeroCopied()).To(BeTrue())
		rep := r.answer(ctx, e)
		Expect(rep.N).To(Equal(len(content)), "positive control: the reply went into slot %d with READ_FIXED", e.ID)
		res, err := r.commitWithProbe(ctx, e, true, e.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(BeEquivalentTo(-int32(unix.EFAULT)), "§5 f: slot %d is empty right after the commit", e.ID)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(got[:n]).To(Equal(content))
		r.nextWriteWorks(ctx, dioPrefix+"unreg-read")
	}, SpecTimeout(edgeTimeout))

	// catches: the error-reply path ending the request without the
	// unregister (the next install on the entry would get EBUSY).
	It("empties the slot when the reply is an error (the client gets EIO)", func(ctx SpecContext) {
		e, finish := r.heldWrite(ctx, dioPrefix+"unreg-eio")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			t.SetReply(e, fuseabi.OutHeader{Len: 16, Error: -int32(unix.EIO), Unique: e.In.Unique}, 0)
			return nil
		})).To(Succeed())
		res, err := r.commitWithProbe(ctx, e, false, e.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(BeEquivalentTo(-int32(unix.EFAULT)), "§5 f: error reply")
		Expect(finish()).To(MatchError(unix.EIO))
		r.nextWriteWorks(ctx, dioPrefix+"unreg-eio")
	}, SpecTimeout(edgeTimeout))

	// catches: a failing payload copy at commit (payload_sz inconsistent)
	// returning before fuse_uring_req_end's unregister.
	It("empties the slot when the reply's payload_sz is invalid (the client gets EINVAL)", func(ctx SpecContext) {
		e, finish := r.heldWrite(ctx, dioPrefix+"unreg-psz")
		r.answer(ctx, e)
		r.setPayloadSz(ctx, e, 7)
		res, err := r.commitWithProbe(ctx, e, false, e.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(BeEquivalentTo(-int32(unix.EFAULT)), "§5 f: payload copy failure")
		Expect(finish()).To(MatchError(unix.EINVAL))
		r.nextWriteWorks(ctx, dioPrefix+"unreg-psz")
	}, SpecTimeout(edgeTimeout))

	// catches: a slot the server replaced while the request was out being
	// silently freed or reused (the kernel must refuse to install over a
	// user buffer: EBUSY for the client, and the entry moves on).
	It("keeps a user buffer put into the slot meanwhile: the commit still completes the client, and the next zero-copied request gets EBUSY until the slot is emptied", func(ctx SpecContext) {
		if r.prof.WarnsOnUnregisterFailure {
			AddReportEntry(ReportEntryExpectedSplat, "WARNING in fuse_uring_")
		}
		e, finish := r.heldWrite(ctx, dioPrefix+"unreg-tamper")
		r.answer(ctx, e)
		user, err := r.ring(0).Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.PutBuffer(e.ID, user) })).To(Succeed(), "replace slot %d while its request is out", e.ID)
		r.commit(ctx, e)
		Expect(finish()).To(Succeed(), "§5 f: the client request still completes normally")
		seen, err := r.run(ctx, 0, writeFile(r.path(dioPrefix+"unreg-tamper"), 0, pattern(4096, 1)))
		Expect(err).To(MatchError(unix.EBUSY), "§5 f: the slot holds our user buffer, so the install fails")
		Expect(seen).NotTo(ContainElement(HaveField("Opcode", fuseabi.FUSE_WRITE.String())), "§5 f: no CQE for the failed install")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.PutBuffer(e.ID, nil) })).To(Succeed())
		r.nextWriteWorks(ctx, dioPrefix+"unreg-tamper")
	}, SpecTimeout(edgeTimeout))
})
