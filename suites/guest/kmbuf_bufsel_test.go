package guest

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// oneBufferQueues sets up qid 0 as a buf-ring queue of depth entries
// sharing a kmbuf ring of a single buffer, and a one-entry buf-ring queue
// on every other qid.
func (r *kmRig) oneBufferQueues(ctx SpecContext, depth uint16) {
	GinkgoHelper()
	l := r.layout(0, false, depth)
	l.Buffers = 1
	r.setupQueue(ctx, l)
	for qid := 1; qid < r.nq; qid++ {
		r.setupQueue(ctx, r.layout(qid, false, 1))
	}
}

// fsyncFile is a client that opens p, fsyncs and closes it.
func fsyncFile(p string) func() error {
	return func() error {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(fd)
		if err := unix.Fsync(fd); err != nil {
			return fmt.Errorf("fsync %s: %w", p, err)
		}
		return nil
	}
}

// §2.4 and §3.4: which requests take a buffer from the kmbuf ring, what
// happens when none is free, and how buffers go back to the ring. Counted
// in the payload-sz family: the kmbuf buffer is where payload_sz's bytes
// travel.
var _ = Describe("payload-sz: kmbuf buffer selection and recycling", Label(labels.PayloadSz, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// catches: fuse_uring_req_has_copyable_payload's non-zero-copy rule
	// ("in_numargs > 1 || out_numargs") loosened to select a buffer for
	// every request.
	It("selects no buffer for a request without copyable payload: FSYNC (one in-arg, no out-arg) comes without IORING_CQE_F_BUFFER and with payload_sz 0, the OPEN before it with a buffer", func(ctx SpecContext) {
		r.setupAll(ctx, false, 1)
		r.createFile("km-sel-fsync", pattern(4096, 1))
		seen, err := r.run(ctx, 0, fsyncFile(r.path("km-sel-fsync")))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_OPEN.String()), HaveField("Qid", BeEquivalentTo(0)), HaveField("CQEBuf", BeTrue()))),
			"positive control: OPEN has an out-arg, so its CQE names a buffer: %v", seen)
		Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_FSYNC.String()), HaveField("Qid", BeEquivalentTo(0)))), "%v", seen)
		Expect(seen).NotTo(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_FSYNC.String()), HaveField("CQEBuf", BeTrue()))), "§2.4: no buffer for FSYNC: %v", seen)
		Expect(seen).NotTo(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_FSYNC.String()), HaveField("PayloadSz", Not(BeZero())))), "%v", seen)
	}, SpecTimeout(edgeTimeout))

	// catches: the IOBL_KERNEL_MANAGED case dropped from io_should_commit
	// (a uring_cmd selection would not advance the ring's head, and the
	// second request would get the first one's buffer).
	It("gives two requests out at the same time two different buffers, each holding its own payload at buffer id × buf_size", func(ctx SpecContext) {
		l := r.layout(0, false, 2)
		l.Buffers = 2
		r.setupQueue(ctx, l)
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		names := []string{"km-sel-two-a", "km-sel-two-bb"}
		c1 := r.clients.Go(0, r.lookupENOENT(names[0]))
		a := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
		c2 := r.clients.Go(0, r.lookupENOENT(names[1]))
		b := r.serveUntil(ctx, 0, func(e *kmbufring.Entry) bool { return e.Opcode() == fuseabi.FUSE_LOOKUP && e.ID != a.ID })
		for _, e := range []*kmbufring.Entry{a, b} {
			Expect(e.CQEFlags&uring.IORING_CQE_F_BUFFER).NotTo(BeZero(), "entry %d: selected at delivery", e.ID)
		}
		Expect(a.Bid).NotTo(Equal(b.Bid), "§2.4: one buffer per request out")
		Expect(string(r.kmBuffer(ctx, a, len(names[0])+1))).To(Equal(names[0] + "\x00"))
		Expect(string(r.kmBuffer(ctx, b, len(names[1])+1))).To(Equal(names[1] + "\x00"))
		r.answerCommit(ctx, a)
		r.answerCommit(ctx, b)
		r.serveClient(ctx, c2)
		Expect(c1.Err()).To(Succeed())
		Expect(c2.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))

	// A buffer goes back into the ring (fuse_uring_clean_up_buffer ->
	// io_kmbuf_recycle) with the address, length and id it was selected
	// with, so its id keeps naming the same memory (bid × buf_size, §2.3)
	// however often it is reused. Only a buffer with an id other than 0
	// shows a lost id, and only when it is selected again: three rounds,
	// committing in both orders, so each buffer goes back through either
	// ring slot.
	//
	// catches: io_kmbuf_recycle writing another id into the ring entry
	// ("buf->bid = bid"), or fuse_uring_select_buffer not keeping the
	// selected id for the recycle (ent->ringbuf_buf_id, sel.buf_id of
	// io_ring_buffer_select).
	It("puts each buffer back under its own id: in three rounds of two requests out at once on a ring of two buffers, each pair names two buffers and each payload is in the buffer its id names", func(ctx SpecContext) {
		l := r.layout(0, false, 2)
		l.Buffers = 2
		r.setupQueue(ctx, l)
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		for round := range 3 {
			names := []string{fmt.Sprintf("km-sel-ids-%d-a", round), fmt.Sprintf("km-sel-ids-%d-bbbb", round)}
			c1 := r.clients.Go(0, r.lookupENOENT(names[0]))
			a := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
			c2 := r.clients.Go(0, r.lookupENOENT(names[1]))
			b := r.serveUntil(ctx, 0, func(e *kmbufring.Entry) bool { return e.Opcode() == fuseabi.FUSE_LOOKUP && e.ID != a.ID })
			for _, e := range []*kmbufring.Entry{a, b} {
				Expect(e.CQEFlags&uring.IORING_CQE_F_BUFFER).NotTo(BeZero(), "round %d, entry %d: selected at delivery (both entries were idle without a buffer)", round, e.ID)
			}
			Expect(a.Bid).NotTo(Equal(b.Bid), "round %d: §2.4: two requests out hold two buffers", round)
			Expect(string(r.kmBuffer(ctx, a, len(names[0])+1))).To(Equal(names[0]+"\x00"), "round %d: §2.3: the payload is in buffer %d", round, a.Bid)
			Expect(string(r.kmBuffer(ctx, b, len(names[1])+1))).To(Equal(names[1]+"\x00"), "round %d: §2.3: the payload is in buffer %d", round, b.Bid)
			first, second := a, b
			if round%2 == 1 {
				first, second = b, a
			}
			r.answerCommit(ctx, first)
			r.answerCommit(ctx, second)
			r.serveClient(ctx, c1)
			r.serveClient(ctx, c2)
			Expect(c1.Err()).To(Succeed())
			Expect(c2.Err()).To(Succeed())
		}
	}, SpecTimeout(edgeTimeout))

	// catches: the fuse_uring_clean_up_buffer call dropped from
	// fuse_uring_next_req_update_buffer (an entry whose next request
	// needs no buffer would sit on the one it had, and a request on
	// another entry would wait for it).
	It("puts the committing entry's buffer back when its next request needs none: while that ACCESS is held, a LOOKUP on the other entry gets the one buffer", func(ctx SpecContext) {
		r.oneBufferQueues(ctx, 2)
		isAccess := kmIsOp(fuseabi.FUSE_ACCESS)
		accessRoot := func() error { return unix.Access(r.srv.MountPoint(), unix.R_OK) }
		c1 := r.clients.Go(0, r.lookupENOENT("km-sel-next-a"))
		x := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
		Expect(x.CQEFlags&uring.IORING_CQE_F_BUFFER).NotTo(BeZero(), "positive control: the LOOKUP holds the buffer")
		c2 := r.clients.Go(0, accessRoot)
		y := r.serveUntil(ctx, 0, isAccess)
		Expect(y.ID).NotTo(Equal(x.ID), "an ACCESS needs no buffer: the idle entry takes it at once")
		c3 := r.clients.Go(0, accessRoot)
		Consistently(c3.Done()).WithContext(ctx).WithTimeout(500*time.Millisecond).ShouldNot(BeClosed(), "both entries are busy: the second ACCESS waits")
		r.answerCommit(ctx, x)
		x2 := r.serveUntil(ctx, 0, isAccess)
		Expect(x2.ID).To(Equal(x.ID), "the waiting ACCESS goes to the entry that committed")
		Expect(x2.CQEFlags & uring.IORING_CQE_F_BUFFER).To(BeZero())
		r.answerCommit(ctx, y)
		c4 := r.clients.Go(0, r.lookupENOENT("km-sel-next-b"))
		Eventually(func() int {
			var n int
			_ = r.do(ctx, 0, func(t *kmbufring.Thread) error { n = len(t.Delivered()); return nil })
			return n
		}).WithContext(ctx).WithTimeout(10*time.Second).Should(Equal(1), "§2.4: the buffer went back to the ring when the entry's next request needed none")
		z := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
		Expect(z.ID).To(Equal(y.ID))
		Expect(z.CQEFlags&uring.IORING_CQE_F_BUFFER).NotTo(BeZero(), "selected anew from the ring")
		Expect(z.Bid).To(Equal(x.Bid), "the one buffer")
		r.answerCommit(ctx, x2)
		r.answerCommit(ctx, z)
		r.serveClient(ctx, c4)
		for _, c := range []*ringtest.Client{c1, c2, c3, c4} {
			Expect(c.Err()).To(Succeed())
		}
	}, SpecTimeout(edgeTimeout))

	// catches: the recycle dropped from fuse_uring_clean_up_buffer (the
	// one buffer would stay with the first request's entry and the second
	// request would wait for ever).
	It("puts a finished request's buffer back into the ring: one kmbuf buffer serves two entries through four LOOKUPs, each delivered with IORING_CQE_F_BUFFER", func(ctx SpecContext) {
		r.oneBufferQueues(ctx, 2)
		for i := range 4 {
			seen, err := r.run(ctx, 0, r.lookupENOENT(fmt.Sprintf("km-sel-recycle-%d", i)))
			Expect(err).NotTo(HaveOccurred(), "LOOKUP %d", i)
			Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_LOOKUP.String()), HaveField("Qid", BeEquivalentTo(0)), HaveField("CQEBuf", BeTrue()))),
				"LOOKUP %d: §2.4: no next request at commit, so the buffer went back and was selected again: %v", i, seen)
		}
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_queue_fuse_req failing the request (or
	// dispatching it without a payload buffer) when io_ring_buffer_select
	// finds the kmbuf ring empty, or fuse_uring_next_req_update_buffer
	// selecting again for a request the entry's kept buffer serves.
	It("keeps a request waiting without error while the kmbuf ring is empty, then hands it the committing entry's buffer: same entry, same buffer, no IORING_CQE_F_BUFFER", func(ctx SpecContext) {
		r.oneBufferQueues(ctx, 2)
		c1 := r.clients.Go(0, r.lookupENOENT("km-sel-first"))
		a := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
		Expect(a.CQEFlags&uring.IORING_CQE_F_BUFFER).NotTo(BeZero(), "positive control: the buffer was selected at delivery")
		const second = "km-sel-second"
		c2 := r.clients.Go(0, r.lookupENOENT(second))
		Consistently(c2.Done()).WithContext(ctx).WithTimeout(2*time.Second).ShouldNot(BeClosed(), "§2.4: no free buffer: the request waits")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			if d := t.Delivered(); len(d) > 0 {
				return fmt.Errorf("§2.4: a CQE for the waiting request (the other entry is idle, but there is no buffer): %v", d)
			}
			return nil
		})).To(Succeed())
		r.answerCommit(ctx, a)
		b := r.serveUntil(ctx, 0, func(*kmbufring.Entry) bool { return true })
		Expect(b.Opcode()).To(Equal(fuseabi.FUSE_LOOKUP))
		Expect(b.ID).To(Equal(a.ID), "§2.4: the waiting request goes to the entry that committed")
		Expect(b.CQEFlags&uring.IORING_CQE_F_BUFFER).To(BeZero(), "§2.4: a kept buffer is not announced again")
		Expect(b.HasBuf).To(BeTrue())
		Expect(b.Bid).To(Equal(a.Bid))
		Expect(b.EntIO.PayloadSz).To(BeEquivalentTo(len(second)+1), "§3.4: the name and its NUL")
		Expect(string(r.kmBuffer(ctx, b, len(second)+1))).To(Equal(second+"\x00"), "§3.4: the name at offset 0 of the kept buffer")
		r.answerCommit(ctx, b)
		r.serveClient(ctx, c2)
		Expect(c1.Err()).To(Succeed())
		Expect(c2.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))
})
