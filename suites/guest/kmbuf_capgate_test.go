package guest

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// kmZC is the mode of a zero-copy queue of the series.
var kmZC = kmbuf.Mode{BufRing: true, ZeroCopy: true}

// kmDepth is the queue depth of the kmbuf edge specs.
const kmDepth = 4

// zcEntry is an unregistered entry id of a zero-copy queue qid of depth qd
// whose headers buffer is hdrs.
func zcEntry(qid int, id, qd uint16, hdrs []byte) *kmbufring.Entry {
	return &kmbufring.Entry{Qid: uint16(qid), ID: id, Mode: kmZC, QueueDepth: qd, Headers: hdrs}
}

// headers allocates a headers buffer for qd entries on qid's ring.
func (r *kmRig) headers(qid int, qd uint16) []byte {
	GinkgoHelper()
	b, err := r.ring(qid).Alloc(kmbuf.HeadersLen(qd - 1))
	Expect(err).NotTo(HaveOccurred())
	return b
}

// Edge case (a), §5 a: a REGISTER that creates a zero-copy queue needs
// capable(CAP_SYS_ADMIN) of the credentials it runs with; the refusal is
// EINVAL (not EPERM) and drops the kmbuf pin; nothing else is gated.
var _ = Describe("cap-gate: kmbuf zero copy needs CAP_SYS_ADMIN at queue creation", Label(labels.CapGate, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
		requireSecondQueue(r.nq)
	}, NodeTimeout(edgeTimeout))

	// catches: the capable() check dropped from fuse_uring_buf_ring_setup,
	// or the pin leaked on its error path (the retry would get EALREADY).
	It("refuses the creating zero-copy REGISTER with EINVAL without CAP_SYS_ADMIN, and drops the pin: a privileged REGISTER through the same io_uring instance creates a queue", func(ctx SpecContext) {
		l := r.lastQid()
		r.kmbufOnly(ctx, l)
		Expect(r.register(ctx, zcEntry(l, 0, kmDepth, r.headers(l, kmDepth)))).To(Succeed(), "positive control: a privileged thread creates a zero-copy queue")
		r.kmbufOnly(ctx, 0)
		hdrs := r.headers(0, kmDepth)
		r.setCap(ctx, 0, false)
		Expect(r.register(ctx, zcEntry(0, 0, kmDepth, hdrs))).To(MatchError(unix.EINVAL), "§5 a: EINVAL, not EPERM")
		r.setCap(ctx, 0, true)
		// This connection has io_uring off now (7.2 base: EOPNOTSUPP for
		// every later command); the pin is the io_uring instance's, so
		// the retry goes through the same ring to a fresh connection.
		fd := r.otherConn(ctx).DevFD()
		e := zcEntry(0, 0, kmDepth, hdrs)
		e.DevFD = &fd
		Expect(r.register(ctx, e)).To(Succeed(), "§5 a: the refusal released the pin (a leaked one gives EALREADY)")
		Expect(r.unregisterKmbuf(ctx, 0)).To(MatchError(unix.EBUSY), "§2.2: the new queue pins the kmbuf ring")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_buf_ring_setup returning without
	// io_uring_cmd_buf_ring_unpin on the capability error (v2 moved the
	// unpin to a shared error label).
	It("leaves the kmbuf ring unpinned after the refusal: IORING_UNREGISTER_KMBUF_RING returns 0 at once", func(ctx SpecContext) {
		l := r.lastQid()
		r.kmbufOnly(ctx, l)
		Expect(r.register(ctx, zcEntry(l, 0, kmDepth, r.headers(l, kmDepth)))).To(Succeed(), "positive control")
		Expect(r.unregisterKmbuf(ctx, l)).To(MatchError(unix.EBUSY), "positive control: a created queue pins its kmbuf ring")
		r.kmbufOnly(ctx, 0)
		r.setCap(ctx, 0, false)
		Expect(r.register(ctx, zcEntry(0, 0, kmDepth, r.headers(0, kmDepth)))).To(MatchError(unix.EINVAL), "§5 a")
		Expect(r.unregisterKmbuf(ctx, 0)).To(Succeed(), "§5 a: not EBUSY, the pin was dropped")
		Expect(r.unregisterKmbuf(ctx, 0)).To(MatchError(unix.ENOENT), "§2.2: nothing left at bgid 0")
	}, SpecTimeout(edgeTimeout))

	// catches: a capability check of the submitting task
	// (has_capability(current)) instead of the credentials io_uring runs
	// the command with (a registered personality).
	It("judges the REGISTER by its registered personality, not by the submitting thread", func(ctx SpecContext) {
		l := r.lastQid()
		r.kmbufOnly(ctx, l)
		var priv uint16
		Expect(r.do(ctx, l, func(t *kmbufring.Thread) error {
			var err error
			priv, err = t.Uring().RegisterPersonality()
			return err
		})).To(Succeed())
		r.setCap(ctx, l, false)
		e := zcEntry(l, 0, kmDepth, r.headers(l, kmDepth))
		e.Personality = priv
		Expect(r.register(ctx, e)).To(Succeed(), "positive control: a privileged personality from an unprivileged thread")

		r.kmbufOnly(ctx, 0)
		var unpriv uint16
		r.setCap(ctx, 0, false)
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			var err error
			unpriv, err = t.Uring().RegisterPersonality()
			return err
		})).To(Succeed())
		r.setCap(ctx, 0, true)
		e = zcEntry(0, 0, kmDepth, r.headers(0, kmDepth))
		e.Personality = unpriv
		Expect(r.register(ctx, e)).To(MatchError(unix.EINVAL), "§5 a (ii): the unprivileged personality overrides the privileged thread")
	}, SpecTimeout(edgeTimeout))

	// catches: io-wq running a punted uring_cmd with the worker's own
	// credentials instead of the submitter's captured at punt time
	// (REQ_F_CREDS not set in io_prep_async_work).
	It("judges a REGISTER punted to io-wq (IOSQE_ASYNC) by the submitting thread's credentials: accepted privileged, EINVAL unprivileged", func(ctx SpecContext) {
		l := r.lastQid()
		r.kmbufOnly(ctx, l)
		e := zcEntry(l, 0, kmDepth, r.headers(l, kmDepth))
		e.SQEFlags = uring.IOSQE_ASYNC
		// A punted REGISTER is answered by io-wq after the submit returns:
		// a refusal arrives as a later CQE, a success never does.
		Expect(r.register(ctx, e)).To(Succeed(), "submitted")
		Consistently(func() int {
			var n int
			_ = r.do(ctx, l, func(t *kmbufring.Thread) error { n = len(t.Ended()); return nil })
			return n
		}).WithContext(ctx).WithTimeout(time.Second).Should(BeZero(), "positive control: a privileged punted REGISTER is kept")
		Expect(r.unregisterKmbuf(ctx, l)).To(MatchError(unix.EBUSY), "positive control: it created a queue, which pins the kmbuf ring")
		r.kmbufOnly(ctx, 0)
		hdrs := r.headers(0, kmDepth)
		r.setCap(ctx, 0, false)
		e = zcEntry(0, 0, kmDepth, hdrs)
		e.SQEFlags = uring.IOSQE_ASYNC
		Expect(r.register(ctx, e)).To(Succeed(), "submitted")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			_, err := t.Next()
			return err
		})).To(MatchError(unix.EINVAL), "§5 a: io-wq uses the submitter's credentials")
		Expect(r.unregisterKmbuf(ctx, 0)).To(Succeed(), "§5 a: the pin was dropped on the punted path too")
	}, SpecTimeout(edgeTimeout))

	// catches: the capability check applied to every buf-ring queue, or to
	// the kmbuf ring registration itself.
	It("needs no capability for kmbuf rings and buf-ring queues without zero copy, and such a ring serves requests", func(ctx SpecContext) {
		for qid := range r.nq {
			r.setCap(ctx, qid, false)
		}
		r.setupAll(ctx, false, 1)
		seen, err := r.run(ctx, 0, r.lookupENOENT("km-capgate-unpriv"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(HaveField("Qid", BeEquivalentTo(0))), "the LOOKUP went through qid 0 of the unprivileged ring: %v", seen)
	}, SpecTimeout(edgeTimeout))

	// catches: the capability checked on every REGISTER of a zero-copy
	// queue rather than only when it is created (§5 a: "evaluated only at
	// queue creation").
	It("does not check the capability again for later REGISTERs of an existing zero-copy queue, which then serves zero-copied READs", func(ctx SpecContext) {
		q := r.setupQueue(ctx, kmbufring.Layout{Qid: 0, ZeroCopy: true, Depth: 1, QueueDepth: kmDepth, PayloadSz: r.info.MaxPayloadSz})
		r.setCap(ctx, 0, false)
		Expect(r.register(ctx, q.NewEntry(1))).To(Succeed(), "§5 a: no capability check on an existing queue")
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		content := pattern(8192, 7)
		r.createFile(dioPrefix+"capgate", content)
		got := kmAligned(len(content))
		var n int
		seen, err := r.run(ctx, 0, kmDirectRead(r.path(dioPrefix+"capgate"), 0, got, &n))
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(content)))
		Expect(got).To(Equal(content))
		Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_READ.String()), HaveField("ZC", BeTrue()))), "a zero-copied READ on qid 0: %v", seen)
	}, SpecTimeout(edgeTimeout))
})
