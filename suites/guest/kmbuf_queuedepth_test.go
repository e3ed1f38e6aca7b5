package guest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
)

// Edge case (b), §5 b: a REGISTER that creates a zero-copy queue with
// queue_depth 0 is refused with EINVAL (pin released, no queue);
// queue_depth means nothing without zero copy and on REGISTERs that do not
// create the queue.
var _ = Describe("queue-depth: kmbuf zero copy needs a non-zero queue_depth", Label(labels.QueueDepth, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// catches: the zero_copy_depth check dropped (the headers would then
	// be looked up at index 0 + 0 = the first page slot).
	It("refuses a creating zero-copy REGISTER with queue_depth 0 with EINVAL, and the same REGISTER with queue_depth QD through the same instance is then kept", func(ctx SpecContext) {
		r.kmbufOnly(ctx, 0)
		hdrs := r.headers(0, kmDepth)
		Expect(r.register(ctx, zcEntry(0, 0, 0, hdrs))).To(MatchError(unix.EINVAL), "§5 b")
		fd := r.otherConn(ctx).DevFD()
		e := zcEntry(0, 0, kmDepth, hdrs)
		e.DevFD = &fd
		Expect(r.register(ctx, e)).To(Succeed(), "§5 b: queue_depth %d through the same io_uring instance (to a fresh connection: the refusal turned io_uring off for this one): no pin leaked", kmDepth)
	}, SpecTimeout(edgeTimeout))

	// catches: the queue_depth refusal leaving the kmbuf ring pinned.
	It("leaves the kmbuf ring unpinned after the refusal: IORING_UNREGISTER_KMBUF_RING returns 0, then ENOENT", func(ctx SpecContext) {
		r.kmbufOnly(ctx, 0)
		Expect(r.register(ctx, zcEntry(0, 0, 0, r.headers(0, kmDepth)))).To(MatchError(unix.EINVAL), "§5 b")
		Expect(r.unregisterKmbuf(ctx, 0)).To(Succeed(), "§5 b: same cleanup as (a), pin released")
		Expect(r.unregisterKmbuf(ctx, 0)).To(MatchError(unix.ENOENT))
	}, SpecTimeout(edgeTimeout))

	// catches: queue_depth validated for buf-ring queues without zero copy.
	It("ignores queue_depth 0 without zero copy: buf-ring queues are created and serve", func(ctx SpecContext) {
		for qid := range r.nq {
			l := r.layout(qid, false, 1)
			l.Edit = func(e *kmbufring.Entry) { e.QueueDepth = 0 }
			r.setupQueue(ctx, l)
		}
		seen, err := r.run(ctx, 0, r.lookupENOENT("km-qd-zero"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(HaveField("Opcode", fuseabi.FUSE_LOOKUP.String())), "%v", seen)
	}, SpecTimeout(edgeTimeout))

	// catches: a later REGISTER's queue_depth overwriting the queue's
	// zero_copy_depth (the headers index would move under live entries).
	It("ignores queue_depth on REGISTERs that do not create the queue: the headers stay at the creating REGISTER's index", func(ctx SpecContext) {
		q := r.setupQueue(ctx, kmbufring.Layout{Qid: 0, ZeroCopy: true, Depth: 1, QueueDepth: kmDepth, PayloadSz: r.info.MaxPayloadSz})
		Expect(q.HeadersIndex).To(BeEquivalentTo(kmDepth), "§3.3")
		for id, qd := range map[uint16]uint16{1: 0, 2: kmDepth + 3} {
			e := q.NewEntry(id)
			e.QueueDepth = qd
			Expect(r.register(ctx, e)).To(Succeed(), "§5 b: queue_depth %d on an existing queue is not checked", qd)
		}
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		content := pattern(4096, 9)
		r.createFile(dioPrefix+"qd", content)
		for i := range 3 {
			got := kmAligned(len(content))
			var n int
			seen, err := r.run(ctx, 0, kmDirectRead(r.path(dioPrefix+"qd"), 0, got, &n))
			Expect(err).NotTo(HaveOccurred(), "read %d: every entry finds its header at index %d", i, kmDepth)
			Expect(got[:n]).To(Equal(content))
			Expect(seen).NotTo(BeEmpty())
		}
		// The headers of entries that served a request are in the buffer
		// at index QD (a header read from index 0 or 7 would have hung).
		used := 0
		for id := range uint16(3) {
			if h := kmbuf.HeaderAt(q.Headers, id); h.Ent.CommitID != 0 {
				used++
			}
		}
		Expect(used).To(BeNumerically(">=", 1))
	}, SpecTimeout(edgeTimeout))
})
