package guest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// Edge case (c), ABI doc §4.c: a queue's zero_copy is fixed at creation
// and its payload mode (per-entry or pool) by the first ADD_BUFPOOL or
// successful REGISTER; commands that contradict them are refused.
var _ = Describe("mixed-flags: queue modes and the commands that contradict them", Label(labels.MixedFlags, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// Each case builds a complete pool-mode ring whose queues were created
	// with the first flags, then repeats ADD_QUEUE on qid 0 with the
	// second, and checks that a zero-copy WRITE is (or is not) zero-copied
	// as the first flags say.
	DescribeTable("refuses a second ADD_QUEUE for a qid with EEXIST and keeps the first mode",
		func(ctx SpecContext, c secondAddQueue) {
			r.requireBufPool()
			r.setup(ctx, r.layout(ringtest.PoolMode, c.first == ZC, 1))
			Expect(r.addQueue(ctx, 0, c.second)).To(MatchError(unix.EEXIST), "§3.1 check 5, §4.c")
			seen, err := r.run(ctx, 0, writeFile(r.path(zcPrefix+"second-add"), 0, pattern(4096, 1)))
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: c.first == ZC}), "qid 0 kept its first mode")
		},
		// catches: fuse_uring_create_queue returning the existing queue
		// instead of -EEXIST.
		Entry("without zero copy, then without (§4.c)", secondAddQueue{first: 0, second: 0}, SpecTimeout(edgeTimeout)),
		// catches: a second ADD_QUEUE switching zero copy off on a live queue.
		Entry("with zero copy, then without (§4.c)", secondAddQueue{first: ZC, second: 0}, SpecTimeout(edgeTimeout)),
		// catches: a second ADD_QUEUE switching zero copy on for a queue
		// whose entries were registered without slots.
		Entry("without zero copy, then with (§4.c)", secondAddQueue{first: 0, second: ZC}, SpecTimeout(edgeTimeout)),
		// catches: a repeated identical ADD_QUEUE being accepted as a no-op.
		Entry("with zero copy, then with (§4.c)", secondAddQueue{first: ZC, second: ZC}, SpecTimeout(edgeTimeout)),
	)

	// catches: ADD_QUEUE upgrading a queue that REGISTER created implicitly
	// (non-zero-copy, per-entry) to zero copy.
	It("refuses ADD_QUEUE with zero copy on a qid that REGISTER already created, with EEXIST, and the queue keeps copying", func(ctx SpecContext) {
		r.requireBufPool()
		r.setup(ctx, r.layout(ringtest.PerEntry, false, 1))
		Expect(r.addQueue(ctx, 0, ZC)).To(MatchError(unix.EEXIST), "§3.1: REGISTER created qid 0 without zero copy")
		seen, err := r.run(ctx, 0, writeFile(r.path(zcPrefix+"implicit"), 0, pattern(4096, 2)))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: false}), "copied, not zero-copied")
	}, SpecTimeout(edgeTimeout))

	DescribeTable("refuses unknown ADD_QUEUE flag bits with EINVAL and creates no queue",
		func(ctx SpecContext, c addQueueFlags) {
			r.requireBufPool()
			requireSecondQueue(r.nq)
			Expect(r.addQueue(ctx, r.lastQid(), ZC)).To(Succeed(), "positive control: FUSE_URING_ZERO_COPY alone")
			Expect(r.addQueue(ctx, 0, c.flags)).To(MatchError(unix.EINVAL), "§3.1 check 3: flags %#x", c.flags)
			Expect(r.addQueue(ctx, 0, 0)).To(Succeed(), "the refused call created no queue")
		},
		// catches: FUSE_URING_ADD_QUEUE_FLAGS widened or the mask test dropped.
		Entry("bit 1 (§2.5, §4.c)", addQueueFlags{flags: 1 << 1}, SpecTimeout(edgeTimeout)),
		// catches: the mask test applied to the low byte only.
		Entry("bit 63 (§2.5, §4.c)", addQueueFlags{flags: 1 << 63}, SpecTimeout(edgeTimeout)),
		// catches: the mask test skipped when FUSE_URING_ZERO_COPY is set.
		Entry("FUSE_URING_ZERO_COPY with bit 2 (§2.5, §4.c)", addQueueFlags{flags: ZC | 1<<2}, SpecTimeout(edgeTimeout)),
	)

	DescribeTable("refuses ADD_BUFPOOL with flags or reserved bits with EINVAL and sets no pool",
		func(ctx SpecContext, c bufpoolBits) {
			r.requireBufPool()
			sz := r.info.MaxPayloadSz
			mem, err := r.ring.Alloc(int(sz))
			Expect(err).NotTo(HaveOccurred())
			Expect(r.addQueue(ctx, 0, 0)).To(Succeed())
			req := linux73.AddBufpool(0, addrOf(mem), sz)
			req.Flags = c.flags
			bp := req.Bufpool()
			bp.Reserved = c.reserved
			req.SetBufpool(bp)
			Expect(r.exec(ctx, ringtest.Cmd{Op: linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL, Req: req})).
				To(MatchError(unix.EINVAL), "§3.2 checks 1-2: flags %#x reserved %#x", c.flags, c.reserved)
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: mem, BufSize: sz})
			})).To(Succeed(), "the refused call left qid 0 without a pool")
		},
		// catches: ADD_BUFPOOL ignoring cmd_req.flags (e.g. accepting
		// FUSE_URING_ZERO_COPY there as if it meant something).
		Entry("flags = FUSE_URING_ZERO_COPY (§3.2 check 1, §4.c)", bufpoolBits{flags: ZC}, SpecTimeout(edgeTimeout)),
		// catches: ADD_BUFPOOL checking only known flag bits.
		Entry("flags = bit 1 (§3.2 check 1, §4.c)", bufpoolBits{flags: 2}, SpecTimeout(edgeTimeout)),
		// catches: the bufpool.reserved != 0 check dropped.
		Entry("bufpool.reserved = 1 (§3.2 check 2)", bufpoolBits{reserved: 1}, SpecTimeout(edgeTimeout)),
	)

	// catches: fuse_uring_add_bufpool replacing the pool of a queue whose
	// payload mode is already set (the payload_mode check dropped).
	It("refuses a second buffer pool on a queue with EINVAL and keeps using the first", func(ctx SpecContext) {
		r.requireBufPool()
		sz := r.info.MaxPayloadSz
		ents := r.setup(ctx, r.layout(ringtest.PoolMode, false, 1))
		other, err := r.ring.Alloc(int(sz))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: other, BufSize: sz})
		})).To(MatchError(unix.EINVAL), "§3.2 check 6, §4.c")
		first := ents[0].Pool()
		Expect(first).NotTo(BeNil())
		seen, err := r.run(ctx, 0, r.lookupENOENT("mf-second-pool"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
		Expect(string(first.Mem[:len("mf-second-pool")])).To(Equal("mf-second-pool"), "the LOOKUP name went into the first pool")
		Expect(other[:len("mf-second-pool")]).To(Equal(make([]byte, len("mf-second-pool"))), "and not into the refused one")
	}, SpecTimeout(edgeTimeout))

	// catches: ADD_BUFPOOL accepted after a per-entry REGISTER set the
	// queue's payload mode (entries would point at two payload places).
	It("refuses a buffer pool after a successful per-entry REGISTER with EINVAL, and the per-entry ring keeps serving", func(ctx SpecContext) {
		r.requireBufPool()
		sz := r.info.MaxPayloadSz
		ents := r.setup(ctx, r.layout(ringtest.PerEntry, false, 1))
		mem, err := r.ring.Alloc(int(sz))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: mem, BufSize: sz})
		})).To(MatchError(unix.EINVAL), "§3.2 check 6, §4.c")
		seen, err := r.run(ctx, 0, r.lookupENOENT("mf-pool-after-register"))
		Expect(err).NotTo(HaveOccurred(), "io_uring stays on: ADD_BUFPOOL failures do not disable it")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
		Expect(string(ents[0].Payload[:len("mf-pool-after-register")])).To(Equal("mf-pool-after-register"), "the name went into the entry's own buffer")
	}, SpecTimeout(edgeTimeout))

	// catches: the "Can only use zero copy with bufpools" check dropped
	// from fuse_uring_create_ring_ent (a zero-copy queue would get
	// per-entry payload buffers it cannot use for replies).
	It("refuses a per-entry REGISTER on a zero-copy queue with EINVAL, which turns io_uring off", func(ctx SpecContext) {
		r.requireBufPool()
		requireSecondQueue(r.nq)
		last := r.lastQid()
		l := r.layout(ringtest.PoolMode, true, 1)
		l.Queues = 1
		// Positive control: a zero-copy qid 0 with a pool registers an entry
		// (qid 0 only, so the ring never becomes ready).
		r.setup(ctx, l)
		Expect(r.addQueue(ctx, last, ZC)).To(Succeed())
		_, err := r.register(ctx, last, r.layout(ringtest.PerEntry, false, 1), nil)
		Expect(err).To(MatchError(unix.EINVAL), "§3.3 check 6, §4.c: zero copy without a pool")
		_, err = r.register(ctx, 0, l, nil)
		Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3: io_uring is off for the connection")
	}, SpecTimeout(edgeTimeout))

	// Each case sets up qid 0 alone (so the ring never becomes ready)
	// with a correct REGISTER (positive control), then sends the
	// contradicting one; afterwards any command gets EOPNOTSUPP (H3: every
	// case on its own mount).
	DescribeTable("refuses a REGISTER whose payload iov or FIXED index contradicts the queue's pool, with EINVAL, which turns io_uring off",
		func(ctx SpecContext, c registerContradicts) {
			r.requireBufPool()
			l := r.layout(c.mode, false, 1)
			l.Queues = 1
			r.setup(ctx, l)
			spare, err := r.ring.Alloc(int(r.info.MaxPayloadSz))
			Expect(err).NotTo(HaveOccurred())
			_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) { c.edit(e, spare) })
			Expect(err).To(MatchError(unix.EINVAL), "§3.3 check 6, §4.c")
			_, err = r.register(ctx, 0, l, nil)
			Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3: even a correct REGISTER is refused now")
		},
		// catches: pool-mode REGISTER accepting (and ignoring) a payload iov.
		Entry("pool mode with a non-empty payload iov (§3.3, §4.c)", registerContradicts{mode: ringtest.PoolMode,
			edit: func(e *ringtest.Entry, spare []byte) { e.Payload = spare }}, SpecTimeout(edgeTimeout)),
		// catches: fuse_uring_cmd_index_ok not requiring FIXED on a registered pool.
		Entry("registered pool without IORING_URING_CMD_FIXED (§3.3, §4.c)", registerContradicts{mode: ringtest.RegisteredPool,
			edit: func(e *ringtest.Entry, _ []byte) { e.Fixed = false }}, SpecTimeout(edgeTimeout)),
		// catches: fuse_uring_cmd_index_ok not comparing buf_index with the pool's.
		Entry("registered pool with FIXED and another buf_index (§3.3, §4.c)", registerContradicts{mode: ringtest.RegisteredPool,
			edit: func(e *ringtest.Entry, _ []byte) { e.BufIndex++ }}, SpecTimeout(edgeTimeout)),
	)

	// catches: FUSE starting to interpret IORING_URING_CMD_FIXED/buf_index
	// on a pool that was added without FIXED (fuse_uring_cmd_index_ok
	// applied to unregistered pools).
	It("ignores IORING_URING_CMD_FIXED and any buf_index on REGISTER and COMMIT for a pool added without it", func(ctx SpecContext) {
		r.requireBufPool()
		l := r.layout(ringtest.PoolMode, false, 1)
		l.Edit = func(e *ringtest.Entry) { e.Fixed, e.BufIndex = true, 7 }
		r.setup(ctx, l)
		seen, err := r.run(ctx, 0, r.lookupENOENT("mf-fixed-ignored"))
		Expect(err).NotTo(HaveOccurred(), "REGISTER and COMMIT with FIXED/7 were accepted")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
	}, SpecTimeout(edgeTimeout))

	// catches: can_zero_copy_req honouring FOPEN_IO_URING_ZERO_COPY on a
	// queue created without FUSE_URING_ZERO_COPY.
	It("copies the data of a file opened with FOPEN_IO_URING_ZERO_COPY on queues without zero copy", func(ctx SpecContext) {
		r.requireBufPool()
		r.setup(ctx, r.layout(ringtest.PoolMode, false, 1))
		data := pattern(8192, 3)
		seen, err := r.run(ctx, 0, writeFile(r.path(zcPrefix+"copied"), 0, data))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: false}), "§4.2, §4.c: ent flags 0")
		Expect(seen).NotTo(ContainElement(HaveField("ZC", true)))
		got := make([]byte, len(data))
		seen, err = r.run(ctx, 0, readFile(r.path(zcPrefix+"copied"), 0, got))
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(data))
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_READ", ZC: false}))
	}, SpecTimeout(edgeTimeout))

	// catches: a 7.2 kernel accepting ADD_BUFPOOL or a pool-style REGISTER
	// ({NULL, 0} payload) without the rest of the 7.46 ABI (ABI doc §6).
	It("gets EINVAL for ADD_BUFPOOL and for a pool-style REGISTER on a kernel without the 7.46 ABI, the latter turning io_uring off", func(ctx SpecContext) {
		r.requireNoBufPool()
		sz := r.info.MaxPayloadSz
		mem, err := r.ring.Alloc(int(sz))
		Expect(err).NotTo(HaveOccurred())
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: mem, BufSize: sz})
		})).To(MatchError(unix.EINVAL), "§6: cmd_op 4 falls into the default branch")
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err = r.register(ctx, r.lastQid(), l, nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: a per-entry REGISTER; ADD_BUFPOOL left io_uring on")
		_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) { e.Payload = nil })
		Expect(err).To(MatchError(unix.EINVAL), "§6: {NULL, 0} is a too-small per-entry payload on 7.2")
		_, err = r.register(ctx, 0, l, nil)
		Expect(err).To(MatchError(unix.EOPNOTSUPP), "§6: a failed REGISTER disables io_uring on 7.2 too")
	}, SpecTimeout(edgeTimeout))
})

// secondAddQueue is one case of the repeated ADD_QUEUE table.
type secondAddQueue struct{ first, second uint64 }

// addQueueFlags is one case of the unknown-flags table.
type addQueueFlags struct{ flags uint64 }

// bufpoolBits is one case of the ADD_BUFPOOL flags/reserved table.
type bufpoolBits struct {
	flags    uint64
	reserved uint32
}

// registerContradicts is one case of the contradicting REGISTER table:
// the queue's mode and the change that breaks a correct entry.
type registerContradicts struct {
	mode ringtest.Mode
	edit func(e *ringtest.Entry, spare []byte) // spare: an unused payload-sized buffer
}
