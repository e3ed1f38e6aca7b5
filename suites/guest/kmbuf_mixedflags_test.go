package guest

import (
	"errors"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// devFuseRequests counts the requests the server read from /dev/fuse.
func (r *kmRig) devFuseRequests() uint64 {
	var n uint64
	for _, q := range r.srv.Counters().Queues {
		if q.Transport == zcserver.TransportDevFuse {
			n += q.Requests
		}
	}
	return n
}

// Edge case (c), §5 c: the mode of a queue is fixed by its creating
// REGISTER; zero copy needs buf ring; every refused REGISTER sends the
// connection back to /dev/fuse until the ring is ready.
var _ = Describe("mixed-flags: kmbuf REGISTER modes must agree per queue", Label(labels.MixedFlags, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
		requireSecondQueue(r.nq)
	}, NodeTimeout(edgeTimeout))

	// iovecEntry is a classic REGISTER (no buf ring) for qid with its own
	// header and payload buffers.
	iovecEntry := func(qid int, m kmbuf.Mode) *kmbufring.Entry {
		GinkgoHelper()
		hdr, err := r.ring(qid).Alloc(kmbuf.SizeofReqHeader)
		Expect(err).NotTo(HaveOccurred())
		payload, err := r.ring(qid).Alloc(int(r.info.MaxPayloadSz))
		Expect(err).NotTo(HaveOccurred())
		e := &kmbufring.Entry{Qid: uint16(qid), Mode: m, Header: hdr, Payload: payload}
		if m.ZeroCopy {
			e.QueueDepth = kmDepth
		}
		return e
	}

	// catches: zero_copy accepted on an iovec queue (pages would be
	// installed for a queue that has no table layout).
	It("refuses zero copy without buf ring with EINVAL when creating a queue, without pinning the kmbuf ring", func(ctx SpecContext) {
		Expect(r.register(ctx, iovecEntry(r.lastQid(), kmbuf.Mode{}))).To(Succeed(), "positive control: an iovec queue without zero copy")
		r.kmbufOnly(ctx, 0)
		Expect(r.register(ctx, iovecEntry(0, kmbuf.Mode{ZeroCopy: true}))).To(MatchError(unix.EINVAL), "§5 c")
		Expect(r.unregisterKmbuf(ctx, 0)).To(Succeed(), "§5 c: no pin attempted")
	}, SpecTimeout(edgeTimeout))

	// catches: the use_zero_copy comparison missing from the existing-queue
	// check (v2 added it next to use_bufring's).
	It("refuses a REGISTER whose zero copy differs from its queue's with EINVAL, leaves the queue's entry waiting, and requests go to /dev/fuse", func(ctx SpecContext) {
		q := r.setupQueue(ctx, r.layout(0, false, 1))
		e := q.NewEntry(1)
		e.Mode, e.QueueDepth = kmZC, kmDepth
		Expect(r.register(ctx, e)).To(MatchError(unix.EINVAL), "§5 c: zero copy on a buf-ring-only queue")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			if ended := t.Ended(); len(ended) > 0 {
				return fmt.Errorf("entries ended by the refusal: %v", ended)
			}
			return nil
		})).To(Succeed(), "§5 c: existing entries of the queue are unaffected")
		before := r.devFuseRequests()
		c := r.clients.Go(0, r.lookupENOENT("km-mixed-zc"))
		Eventually(c.Done()).WithContext(ctx).WithTimeout(30*time.Second).Should(BeClosed(), "§5 c: served over /dev/fuse, not blocked waiting for the ring")
		Expect(c.Err()).To(Succeed())
		Expect(r.devFuseRequests()).To(BeNumerically(">", before))
	}, SpecTimeout(edgeTimeout))

	// catches: the use_bufring comparison dropped (an iovec entry on a
	// buf-ring queue would be read through a payload it never registered).
	It("refuses an iovec REGISTER on a buf-ring queue with EINVAL", func(ctx SpecContext) {
		r.setupQueue(ctx, r.layout(0, false, 1))
		e := iovecEntry(0, kmbuf.Mode{})
		e.ID = 1
		Expect(r.register(ctx, e)).To(MatchError(unix.EINVAL), "§5 c")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			if ended := t.Ended(); len(ended) > 0 {
				return fmt.Errorf("entries ended by the refusal: %v", ended)
			}
			return nil
		})).To(Succeed())
	}, SpecTimeout(edgeTimeout))

	// catches: a buf-ring REGISTER on an iovec queue accepted (or pinning
	// the kmbuf ring before the mode check).
	It("refuses a buf-ring REGISTER on an iovec queue with EINVAL, before pinning the kmbuf ring", func(ctx SpecContext) {
		l := r.lastQid()
		Expect(r.register(ctx, iovecEntry(l, kmbuf.Mode{}))).To(Succeed(), "positive control: an iovec queue")
		r.kmbufOnly(ctx, l)
		hdrs := r.headers(l, 2)
		Expect(r.register(ctx, &kmbufring.Entry{Qid: uint16(l), ID: 1, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs})).To(MatchError(unix.EINVAL), "§5 c")
		Expect(r.unregisterKmbuf(ctx, l)).To(Succeed(), "the mode check comes before the pin")
	}, SpecTimeout(edgeTimeout))

	// catches: io_kbuf_ring_pin's "likely(buffer_list)" test dropped (a
	// buf-ring REGISTER on an instance without a ring at bgid 0 would pin
	// a NULL list).
	It("refuses a buf-ring REGISTER with EINVAL when its io_uring instance has no ring at bgid 0, and accepts it once a kmbuf ring is there", func(ctx SpecContext) {
		hdrs := r.headers(0, 1)
		Expect(r.register(ctx, &kmbufring.Entry{Qid: 0, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs})).To(MatchError(unix.EINVAL), "§6: no list at bgid 0")
		r.kmbufOnly(ctx, 0)
		fd := r.otherConn(ctx).DevFD()
		Expect(r.register(ctx, &kmbufring.Entry{Qid: 0, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs, DevFD: &fd})).To(Succeed(),
			"positive control: the same REGISTER through the same instance (to a fresh connection: the refusal turned io_uring off for this one)")
	}, SpecTimeout(edgeTimeout))

	// catches: the io_uring_cmd_is_kmbuf_ring test dropped from
	// fuse_uring_buf_ring_setup (fuse would take buffers from a ring
	// whose memory userspace provides), or its error path keeping the pin.
	It("refuses a buf-ring REGISTER with EINVAL when bgid 0 holds a provided-buffer ring, and drops the pin it took: that ring then unregisters", func(ctx SpecContext) {
		Expect(r.bufRegCall(ctx, 0, uring.IORING_REGISTER_PBUF_RING, pbufReg, 1)).To(Succeed(), "a provided-buffer ring at bgid 0")
		Expect(r.register(ctx, &kmbufring.Entry{Qid: 0, Mode: kmbuf.Mode{BufRing: true}, Headers: r.headers(0, 1)})).To(MatchError(unix.EINVAL), "§6: bgid 0 is not kernel-managed")
		Expect(r.bufRegCall(ctx, 0, uring.IORING_UNREGISTER_PBUF_RING, kmbuf.BufReg{}, 1)).To(Succeed(), "§2.4: the pin was dropped (EBUSY otherwise)")
	}, SpecTimeout(edgeTimeout))

	// catches: io_kbuf_ring_pin not testing IOBL_PINNED (two queues would
	// share one kmbuf ring and recycle each other's buffers).
	It("refuses with EALREADY a second queue whose first REGISTER goes through an io_uring instance whose kmbuf ring another queue pinned", func(ctx SpecContext) {
		l := r.lastQid()
		r.kmbufOnly(ctx, l)
		Expect(r.register(ctx, &kmbufring.Entry{Qid: uint16(l), Mode: kmbuf.Mode{BufRing: true}, Headers: r.headers(l, 1)})).To(Succeed(), "positive control: the first queue pins the ring")
		hdrs := r.headers(l, 1)
		Expect(r.do(ctx, l, func(t *kmbufring.Thread) error {
			return t.Register(&kmbufring.Entry{Qid: 0, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs})
		})).To(MatchError(unix.EALREADY), "§2.4: qid 0 through qid %d's instance", l)
		Expect(r.unregisterKmbuf(ctx, l)).To(MatchError(unix.EBUSY), "§2.4: still pinned by the first queue")
	}, SpecTimeout(edgeTimeout))

	// catches: per-connection instead of per-queue modes.
	It("lets different queues use different modes: qid 0 zero copy, the last qid buf ring only, and both serve reads", func(ctx SpecContext) {
		r.setupAll(ctx, true, 2)
		content := pattern(12288, 3)
		r.createFile(dioPrefix+"modes", content)
		for _, cpu := range []int{0, r.lastQid()} {
			got := kmAligned(len(content))
			var n int
			seen, err := r.run(ctx, cpu, kmDirectRead(r.path(dioPrefix+"modes"), 0, got, &n))
			Expect(err).NotTo(HaveOccurred())
			Expect(got[:n]).To(Equal(content), "CPU %d", cpu)
			Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_READ.String()), HaveField("Qid", BeEquivalentTo(cpu)), HaveField("ZC", Equal(cpu == 0)))),
				"CPU %d: READ through its own queue, zero-copied only on qid 0: %v", cpu, seen)
		}
	}, SpecTimeout(edgeTimeout))

	// The series leaves the iovec transport in place: a queue created
	// without use_bufring keeps its headers and payload in the buffers its
	// REGISTER's iovecs name, and none of the buf-ring steps (kmbuf buffer
	// selection, headers lookup in the table and its put) may touch it.
	//
	// catches: a use_bufring test dropped from the paths every request of
	// an iovec queue takes (fuse_uring_prep_buffer,
	// fuse_uring_next_req_update_buffer, fuse_uring_headers_prep or
	// fuse_uring_headers_cleanup, setup_fuse_copy_state): the iovec queue
	// would select from a kmbuf ring or look up a headers buffer it never
	// registered.
	It("still serves an iovec queue beside buf-ring queues: a LOOKUP, an O_DIRECT WRITE and its read back go through the iovecs of qid 0's entries", func(ctx SpecContext) {
		for id := range uint16(2) {
			e := iovecEntry(0, kmbuf.Mode{})
			e.ID = id
			Expect(r.register(ctx, e)).To(Succeed(), "§5 c: an iovec queue on the series")
		}
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		name := dioPrefix + "iovec"
		content := pattern(12288, 0x17)
		got := kmAligned(len(content))
		var n int
		seen, err := r.run(ctx, 0, func() error {
			if err := r.lookupENOENT("km-mixed-iovec")(); err != nil {
				return err
			}
			if err := writeFile(r.path(name), 0, content)(); err != nil {
				return err
			}
			return kmDirectRead(r.path(name), 0, got, &n)()
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(content)))
		Expect(got).To(Equal(content), "the bytes went through the payload iovec both ways")
		for _, op := range []fuseabi.Opcode{fuseabi.FUSE_LOOKUP, fuseabi.FUSE_WRITE, fuseabi.FUSE_READ} {
			Expect(seen).To(ContainElement(And(HaveField("Opcode", op.String()), HaveField("Qid", BeEquivalentTo(0)), HaveField("HasBuf", BeFalse()))),
				"%s through qid 0's iovec entries, with no kmbuf buffer: %v", op, seen)
		}
	}, SpecTimeout(edgeTimeout))

	// catches: a refused REGISTER before the ring is ready leaving clients
	// blocked instead of sending them to /dev/fuse. Whether io_uring can
	// come back afterwards depends on the base kernel: the series' own
	// base accepts later REGISTERs, a 7.2 base refuses every later command
	// of the connection with EOPNOTSUPP; the spec checks the one it finds.
	It("serves over /dev/fuse after a refused REGISTER, and over the ring only if later REGISTERs are accepted", func(ctx SpecContext) {
		r.kmbufOnly(ctx, 0)
		Expect(r.register(ctx, iovecEntry(0, kmbuf.Mode{ZeroCopy: true}))).To(MatchError(unix.EINVAL))
		for i := range 2 {
			before := r.devFuseRequests()
			c := r.clients.Go(0, r.lookupENOENT(fmt.Sprintf("km-mixed-devfuse-%d", i)))
			Eventually(c.Done()).WithContext(ctx).WithTimeout(30*time.Second).Should(BeClosed(), "§5 c: not blocked waiting for the ring")
			Expect(c.Err()).To(Succeed())
			Expect(r.devFuseRequests()).To(BeNumerically(">", before))
		}
		Expect(r.unregisterKmbuf(ctx, 0)).To(Succeed())
		var later error
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			_, later = t.SetupQueue(r.layout(0, false, 1))
			return nil
		})).To(Succeed())
		if errors.Is(later, unix.EOPNOTSUPP) {
			AddReportEntry("io_uring-after-refusal", "off for good: later REGISTERs get EOPNOTSUPP")
			before := r.devFuseRequests()
			_, err := r.run(ctx, 0, r.lookupENOENT("km-mixed-still-devfuse"))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.devFuseRequests()).To(BeNumerically(">", before), "requests keep going to /dev/fuse")
			return
		}
		Expect(later).NotTo(HaveOccurred(), "a later REGISTER is either accepted or refused with EOPNOTSUPP")
		AddReportEntry("io_uring-after-refusal", "back on: later REGISTERs are accepted")
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		seen, err := r.run(ctx, 0, r.lookupENOENT("km-mixed-ring"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(HaveField("Opcode", fuseabi.FUSE_LOOKUP.String())), "§4 step 5: once every queue has an entry the ring serves: %v", seen)
	}, SpecTimeout(edgeTimeout))
})
