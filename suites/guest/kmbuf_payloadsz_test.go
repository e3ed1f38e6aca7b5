package guest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// kmBuffer copies the first n bytes of the kmbuf buffer e holds.
func (r *kmRig) kmBuffer(ctx SpecContext, e *kmbufring.Entry, n int) []byte {
	GinkgoHelper()
	var out []byte
	Expect(r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error {
		out = append(out, t.PayloadBuf(e)[:n]...)
		return nil
	})).To(Succeed())
	return out
}

// slotBytes reads n bytes of a zero-copied WRITE's pages out of page slot
// with WRITE_FIXED into the scratch memfd (§2.7: the only way to see them).
func (r *kmRig) slotBytes(ctx SpecContext, qid int, slot uint16, n int) ([]byte, error) {
	out := make([]byte, n)
	err := r.do(ctx, qid, func(t *kmbufring.Thread) error {
		fd, _, err := t.Scratch(4096)
		if err != nil {
			return err
		}
		if err := unix.Ftruncate(fd, 0); err != nil {
			return err
		}
		if _, err := t.Fixed(false, fd, 0, uint32(n), 0, slot); err != nil {
			return err
		}
		_, err = unix.Pread(fd, out, 0)
		return err
	})
	return out, err
}

// setPayloadSz overwrites the reply's payload_sz in e's header slot.
func (r *kmRig) setPayloadSz(ctx SpecContext, e *kmbufring.Entry, n uint32) {
	GinkgoHelper()
	Expect(r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error {
		e.Hdr().Ent.PayloadSz = n
		return nil
	})).To(Succeed())
}

// commit commits e as it stands.
func (r *kmRig) commit(ctx SpecContext, e *kmbufring.Entry) {
	GinkgoHelper()
	Expect(r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error {
		_, err := t.Commit(e)
		return err
	})).To(Succeed(), "commit %v", e)
}

// Edge case (e), §5 e and §3.4: payload_sz of zero-copied requests counts
// the page data that is not in the kmbuf buffer.
var _ = Describe("payload-sz: kmbuf payload_sz accounting", Label(labels.PayloadSz, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// catches: the in-page size not added to payload_sz when the folio
	// copy is skipped (fuse_uring_args_to_ring), or the data copied anyway.
	It("reports a zero-copied WRITE of n bytes as payload_sz n with in-header len 80+n, its data only in the page slot", func(ctx SpecContext) {
		r.setupAll(ctx, true, kmDepth)
		data := pattern(8192, 2)
		c := r.clients.Go(0, writeFile(r.path(dioPrefix+"psz-w"), 0, data))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_WRITE))
		Expect(e.ZeroCopied()).To(BeTrue())
		wi, ok := fuseabi.Load[fuseabi.WriteIn](e.Hdr().OpIn[:])
		Expect(ok).To(BeTrue())
		Expect(wi.Size).To(BeEquivalentTo(len(data)))
		Expect(e.EntIO.PayloadSz).To(BeEquivalentTo(len(data)), "§5 e: payload_sz = fuse_write_in.size")
		Expect(e.In.Len).To(BeEquivalentTo(40+40+len(data)), "§5 e: in-header len 40+40+n")
		Expect(e.HasBuf).To(BeTrue(), "§5 e: a buffer for the fuse_write_out reply")
		got, err := r.slotBytes(ctx, 0, e.ID, len(data))
		Expect(err).NotTo(HaveOccurred(), "§2.7: WRITE_FIXED from the page slot")
		Expect(got).To(Equal(data), "the client's data is in page slot %d", e.ID)
		Expect(r.kmBuffer(ctx, e, 64)).NotTo(Equal(data[:64]), "§5 e: the kmbuf buffer holds no request data")
		r.answerCommit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))

	// catches: a buffer selected for a zero-copied READ (it has no
	// copyable payload), or payload_sz counting the out pages at delivery.
	It("reports a zero-copied READ as payload_sz 0 without IORING_CQE_F_BUFFER, and takes the reply's payload_sz as the byte count", func(ctx SpecContext) {
		r.setupAll(ctx, true, kmDepth)
		content := pattern(16384, 4)
		r.createFile(dioPrefix+"psz-r", content)
		got := kmAligned(len(content))
		var n int
		c := r.clients.Go(0, kmDirectRead(r.path(dioPrefix+"psz-r"), 0, got, &n))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_READ))
		Expect(e.EntIO.PayloadSz).To(BeZero(), "§5 e")
		Expect(e.CQEFlags&uring.IORING_CQE_F_BUFFER).To(BeZero(), "§5 e: never F_BUFFER on a zero-copied READ")
		rep := r.answer(ctx, e)
		Expect(rep.N).To(Equal(len(content)))
		Expect(e.Hdr().Ent.PayloadSz).To(BeEquivalentTo(len(content)), "§3.4: READ payload_sz = bytes placed into the client buffer")
		r.commit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(n).To(Equal(len(content)))
		Expect(got).To(Equal(content))
	}, SpecTimeout(edgeTimeout))

	// catches: buf-ring-only queues accounting like zero-copy ones.
	It("on a buf-ring-only queue, puts a WRITE's n bytes in the kmbuf buffer (payload_sz n) and a READ's reply there too", func(ctx SpecContext) {
		r.setupAll(ctx, false, kmDepth)
		data := pattern(8192, 5)
		c := r.clients.Go(0, writeFile(r.path(dioPrefix+"psz-copy"), 0, data))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_WRITE))
		Expect(e.ZeroCopied()).To(BeFalse())
		Expect(e.EntIO.PayloadSz).To(BeEquivalentTo(len(data)))
		Expect(e.HasBuf).To(BeTrue())
		Expect(r.kmBuffer(ctx, e, len(data))).To(Equal(data), "§5 e: the data is in the kmbuf buffer bid %d", e.Bid)
		r.answerCommit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())

		got := kmAligned(len(data))
		var n int
		c = r.clients.Go(0, kmDirectRead(r.path(dioPrefix+"psz-copy"), 0, got, &n))
		e = r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_READ))
		Expect(e.EntIO.PayloadSz).To(BeZero())
		Expect(e.HasBuf).To(BeTrue(), "§5 e: a buffer for the reply data")
		r.answer(ctx, e)
		Expect(r.kmBuffer(ctx, e, len(data))).To(Equal(data), "the reply data is in the kmbuf buffer")
		r.commit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(got[:n]).To(Equal(data))
	}, SpecTimeout(edgeTimeout))

	// catches: a zero-copied READ reply larger than the request accepted,
	// or a short one refused.
	It("fails a zero-copied READ whose reply payload_sz exceeds the request with EINVAL, and makes a smaller one a short read", func(ctx SpecContext) {
		r.setupAll(ctx, true, kmDepth)
		content := pattern(8192, 6)
		r.createFile(dioPrefix+"psz-rsize", content)
		got := kmAligned(len(content))
		var n int
		c := r.clients.Go(0, kmDirectRead(r.path(dioPrefix+"psz-rsize"), 0, got, &n))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_READ))
		r.answer(ctx, e)
		r.setPayloadSz(ctx, e, uint32(len(content))+1)
		r.commit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(MatchError(unix.EINVAL), "§3.4: more than requested → EINVAL")

		c = r.clients.Go(0, kmDirectRead(r.path(dioPrefix+"psz-rsize"), 0, got, &n))
		e = r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_READ))
		r.answer(ctx, e)
		r.setPayloadSz(ctx, e, 4096)
		r.commit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(n).To(Equal(4096), "§3.4: a smaller payload_sz is a short read")
		Expect(got[:n]).To(Equal(content[:n]))
	}, SpecTimeout(edgeTimeout))

	// catches: the fixed-size fuse_write_out not enforced on a zero-copied
	// WRITE reply.
	It("accepts a zero-copied WRITE reply only with payload_sz 8 (fuse_write_out): 7 gives the client EINVAL", func(ctx SpecContext) {
		r.setupAll(ctx, true, kmDepth)
		data := pattern(4096, 8)
		seen, err := r.run(ctx, 0, writeFile(r.path(dioPrefix+"psz-wout"), 0, data))
		Expect(err).NotTo(HaveOccurred(), "positive control: payload_sz 8")
		Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_WRITE.String()), HaveField("ZC", BeTrue()))))
		c := r.clients.Go(0, writeFile(r.path(dioPrefix+"psz-wout"), 4096, data))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_WRITE))
		rep := r.answer(ctx, e)
		Expect(rep.N).To(Equal(8), "fuse_write_out")
		r.setPayloadSz(ctx, e, 7)
		r.commit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(MatchError(unix.EINVAL), "§3.4: payload_sz must be exactly 8")
	}, SpecTimeout(edgeTimeout))
})
