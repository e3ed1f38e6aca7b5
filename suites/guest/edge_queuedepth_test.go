package guest

import (
	"bytes"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// Edge case (b), ABI doc §4.b: "queue depth" is the number of REGISTERed
// entries per qid; indexes are qids, zero-copy slots and pool sizes.
var _ = Describe("queue-depth: entries per queue, qid and slot indexes, pool sizes", Label(labels.QueueDepth, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// catches: is_ring_ready counting a ring as ready while a possible
	// CPU's queue has no entry (or fuse_block_alloc no longer waiting for
	// the ring), which fails or misroutes the blocked request.
	It("blocks a client, without failing it, until every possible CPU's queue has an entry, then serves it over the ring", func(ctx SpecContext) {
		requireSecondQueue(r.nq)
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err := r.register(ctx, 0, l, nil)
		Expect(err).NotTo(HaveOccurred(), "REGISTER on qid 0 only")
		c := r.clients.Go(0, r.lookupENOENT("qd-blocked"))
		Eventually(r.waiting).WithContext(ctx).Should(Equal(1), "the client's LOOKUP reached fuse_get_req")
		Consistently(c.Finished).WithContext(ctx).WithTimeout(blockedFor).Should(BeFalse(), "§4.b: the client blocks while qid 1 has no entry")
		Expect(r.ready(ctx)).To(BeEmpty(), "nothing was delivered to qid 0 while the ring was not ready")
		for q := 1; q < r.nq; q++ {
			_, err = r.register(ctx, uint16(q), l, nil)
			Expect(err).NotTo(HaveOccurred(), "REGISTER on qid %d", q)
		}
		seen := r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed(), "the released client got its answer (ENOENT from the server)")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}), "the blocked LOOKUP went to qid 0 (CPU 0) of the ring")
	}, SpecTimeout(edgeTimeout))

	// catches: dropping the `ent_zero_copy_buf_index && !queue->zero_copy`
	// check in fuse_uring_create_ring_ent.
	It("refuses a non-zero ent_zero_copy_buf_index on a queue without zero copy with EINVAL, which turns io_uring off", func(ctx SpecContext) {
		r.requireBufPool()
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err := r.register(ctx, 0, l, nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: index 0 on the implicitly created, non-zero-copy qid 0")
		_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) { e.ZCSlot = 5 })
		Expect(err).To(MatchError(unix.EINVAL), "§4.b: index 5 on a queue without zero copy")
		Expect(r.addQueue(ctx, r.lastQid(), 0)).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3: the failed REGISTER disabled io_uring")
	}, SpecTimeout(edgeTimeout))

	// catches: 7.2 starting to read bytes 24.. of the command (the union
	// is new in 7.46, ABI doc §6), e.g. a backport that checks the index
	// without the rest of the zero-copy ABI.
	It("ignores ent_zero_copy_buf_index on a kernel without the 7.46 ABI: REGISTER with index 5 is accepted and serves", func(ctx SpecContext) {
		r.requireNoBufPool()
		l := r.layout(ringtest.PerEntry, false, 1)
		l.Edit = func(e *ringtest.Entry) { e.ZCSlot = 5 }
		r.setup(ctx, l)
		seen, err := r.run(ctx, 0, r.lookupENOENT("qd-index-ignored"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
	}, SpecTimeout(edgeTimeout))

	// catches: the slot registration error being ignored in
	// fuse_uring_set_up_zero_copy (the request would reach the server
	// without its pages) or the entry not returning to the available list
	// after the failed delivery.
	It("accepts a zero-copy slot beyond the buffer table at REGISTER, then fails each zero-copied request with EINVAL for the client and no CQE, and the entry keeps serving", func(ctx SpecContext) {
		r.requireBufPool()
		l := r.layout(ringtest.PoolMode, true, 1)
		l.Edit = func(e *ringtest.Entry) {
			if e.Qid == 0 {
				e.ZCSlot = 1000 // the table has 64 slots
			}
		}
		r.setup(ctx, l)
		var werr, lerr error
		seen, err := r.run(ctx, 0, func() error {
			fd, err := unix.Open(r.path(zcPrefix+"beyond"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, werr = unix.Pwrite(fd, bytes.Repeat([]byte{0x5a}, 4096), 0)
			lerr = r.lookupENOENT("qd-after-einval")()
			return nil
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(werr).To(MatchError(unix.EINVAL), "§4.b: slot 1000 does not exist")
		Expect(seen).NotTo(ContainElement(HaveField("Opcode", "FUSE_WRITE")), "the failed WRITE never reached the server")
		Expect(lerr).NotTo(HaveOccurred(), "the entry served the next request")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
	}, SpecTimeout(edgeTimeout))

	// catches: io_buffer_register_bvec replacing a buffer that occupies
	// the slot instead of failing with -EBUSY.
	It("fails a zero-copied request with EBUSY while the entry's slot holds a server buffer, and serves it again once the slot is empty", func(ctx SpecContext) {
		r.requireBufPool()
		ents := r.setup(ctx, r.layout(ringtest.PoolMode, true, 1))
		slot := ents[0].ZCSlot
		Expect(ents[0].Qid).To(BeEquivalentTo(0))
		write := func() error {
			fd, err := unix.Open(r.path(zcPrefix+"busy"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			_, err = unix.Pwrite(fd, bytes.Repeat([]byte{0xa5}, 4096), 0)
			return err
		}
		seen, err := r.run(ctx, 0, write)
		Expect(err).NotTo(HaveOccurred(), "positive control: the slot is empty")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
		buf := make([]byte, 4096)
		setSlot(ctx, r, slot, buf)
		seen, err = r.run(ctx, 0, write)
		Expect(err).To(MatchError(unix.EBUSY), "§4.b: the slot is occupied")
		Expect(seen).NotTo(ContainElement(HaveField("Opcode", "FUSE_WRITE")))
		setSlot(ctx, r, slot, nil)
		seen, err = r.run(ctx, 0, write)
		Expect(err).NotTo(HaveOccurred(), "the same entry zero-copies again")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_WRITE", ZC: true}))
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_select_buffer failing the request (or handing
	// out a buffer twice) when every pool buffer is held, instead of
	// leaving it queued until a buffer comes back.
	It("queues a payload request, without error, while every pool buffer is held, and delivers it into the freed buffer", func(ctx SpecContext) {
		r.requireBufPool()
		l := r.layout(ringtest.PoolMode, false, 2)
		l.PoolBufs = 1
		r.setup(ctx, l)
		a := r.clients.Go(0, r.lookupENOENT("qd-pool-a"))
		held := r.serveUntil(ctx, isLookupOf("qd-pool-a"))
		Expect(held.Ent.Offset).To(BeZero(), "the only buffer")
		b := r.clients.Go(0, r.lookupENOENT("qd-pool-b"))
		Eventually(r.waiting).WithContext(ctx).Should(Equal(2), "the second LOOKUP is in the kernel")
		Consistently(func() []*ringtest.Entry { return r.ready(ctx) }).WithContext(ctx).WithTimeout(blockedFor).
			Should(BeEmpty(), "§4.b: no delivery to the second entry while the pool is empty")
		Expect(b.Finished()).To(BeFalse(), "and no error for its client")
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			if _, err := t.Answer(held, r.srv.Handler()); err != nil {
				return err
			}
			_, err := t.Commit(held)
			return err
		})).To(Succeed())
		Eventually(a.Done()).WithContext(ctx).Should(BeClosed())
		Expect(a.Err()).To(Succeed())
		var offsets []uint32
		Expect(r.ring.ServeFunc(ctx, r.srv.Handler(), b.Done(), func(e *ringtest.Entry) {
			if isLookupOf("qd-pool-b")(e) {
				offsets = append(offsets, e.Ent.Offset)
			}
		})).To(Succeed())
		Expect(b.Err()).To(Succeed())
		Expect(offsets).To(Equal([]uint32{0}), "delivered once, into the freed buffer")
	}, SpecTimeout(edgeTimeout))

	DescribeTable("checks the pool length at ADD_BUFPOOL",
		func(ctx SpecContext, c poolLen) {
			r.requireBufPool()
			requireSecondQueue(r.nq)
			sz := r.info.MaxPayloadSz
			last := r.lastQid()
			mem, err := r.ring.Alloc(int(3 * sz))
			Expect(err).NotTo(HaveOccurred())
			for q := 0; q < r.nq; q++ {
				Expect(r.addQueue(ctx, uint16(q), 0)).To(Succeed())
			}
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				return t.AddBufpool(&ringtest.Pool{Qid: last, Mem: mem[2*sz : 3*sz], BufSize: sz})
			})).To(Succeed(), "positive control: a one-buffer pool on qid %d", last)
			n := c.len(sz)
			err = r.do(ctx, func(t *ringtest.Thread) error {
				return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: mem[:n], BufSize: sz})
			})
			if c.want != 0 {
				Expect(err).To(MatchError(c.want), "§3.2 check 4: len %d, max_payload_sz %d", n, sz)
				Expect(r.do(ctx, func(t *ringtest.Thread) error {
					return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: mem[:sz], BufSize: sz})
				})).To(Succeed(), "the refused pool left qid 0 without a payload mode")
			} else {
				Expect(err).To(Succeed(), "len %d, max_payload_sz %d", n, sz)
			}
			for q := 0; q < r.nq; q++ {
				_, err := r.register(ctx, uint16(q), r.layout(ringtest.PoolMode, false, 1), nil)
				Expect(err).NotTo(HaveOccurred(), "pool-mode entry on qid %d", q)
			}
			seen, err := r.run(ctx, 0, r.lookupENOENT("qd-pool-len"))
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}), "qid 0's pool carries the LOOKUP name")
		},
		// catches: the nr_bufs == 0 check dropped from fuse_uring_add_bufpool.
		Entry("a zero-length pool is EINVAL (§3.2 check 4, §4.b)", poolLen{len: func(uint32) uint32 { return 0 }, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the pool length rounded up instead of down to whole buffers.
		Entry("a pool one byte short of max_payload_sz is EINVAL (§3.2 check 4, §4.b)", poolLen{len: func(sz uint32) uint32 { return sz - 1 }, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: an off-by-one that needs more than one buffer's length.
		Entry("a pool of exactly max_payload_sz is accepted (§3.2)", poolLen{len: func(sz uint32) uint32 { return sz }}, SpecTimeout(edgeTimeout)),
		// catches: a new requirement that the length be a multiple of the buffer size.
		Entry("a pool with a partial trailing buffer is accepted, the remainder unused (§3.2)", poolLen{len: func(sz uint32) uint32 { return 2*sz - 1 }}, SpecTimeout(edgeTimeout)),
	)

	DescribeTable("refuses qid = nr_queues with EINVAL",
		func(ctx SpecContext, c qidRange) {
			if c.op == linux73.FUSE_IO_URING_CMD_ADD_QUEUE || c.op == linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL {
				r.requireBufPool()
			}
			last, bad := r.lastQid(), uint16(r.nq)
			l := r.layout(ringtest.PerEntry, false, 1)
			switch c.op {
			case linux73.FUSE_IO_URING_CMD_ADD_QUEUE:
				Expect(r.addQueue(ctx, last, 0)).To(Succeed(), "positive control: the last valid qid")
				Expect(r.addQueue(ctx, bad, 0)).To(MatchError(unix.EINVAL), "§3.1 check 2")
			case linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL:
				sz := r.info.MaxPayloadSz
				mem, err := r.ring.Alloc(int(sz))
				Expect(err).NotTo(HaveOccurred())
				Expect(r.addQueue(ctx, last, 0)).To(Succeed())
				Expect(r.do(ctx, func(t *ringtest.Thread) error {
					return t.AddBufpool(&ringtest.Pool{Qid: last, Mem: mem, BufSize: sz})
				})).To(Succeed(), "positive control: the last valid qid")
				Expect(r.do(ctx, func(t *ringtest.Thread) error {
					return t.AddBufpool(&ringtest.Pool{Qid: bad, Mem: mem, BufSize: sz})
				})).To(MatchError(unix.EINVAL), "§3.2 check 1")
			case linux73.FUSE_IO_URING_CMD_REGISTER:
				_, err := r.register(ctx, last, l, nil)
				Expect(err).NotTo(HaveOccurred(), "positive control: the last valid qid")
				_, err = r.register(ctx, bad, l, nil)
				Expect(err).To(MatchError(unix.EINVAL), "§3.3 check 1")
				_, err = r.register(ctx, 0, l, nil)
				Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3: the failed REGISTER disabled io_uring")
			case linux73.FUSE_IO_URING_CMD_COMMIT_AND_FETCH:
				_, err := r.register(ctx, last, l, nil)
				Expect(err).NotTo(HaveOccurred(), "create qid %d", last)
				Expect(r.exec(ctx, ringtest.Cmd{Op: c.op, Req: linux73.CommitAndFetch(last, 0xdead)})).
					To(MatchError(unix.ENOENT), "positive control: a valid qid reaches the commit_id lookup")
				Expect(r.exec(ctx, ringtest.Cmd{Op: c.op, Req: linux73.CommitAndFetch(bad, 0xdead)})).
					To(MatchError(unix.EINVAL), "§3.4")
			}
		},
		// catches: `qid > ring->nr_queues` (off by one) in fuse_uring_add_queue.
		Entry("ADD_QUEUE (§3.1, §4.b)", qidRange{op: linux73.FUSE_IO_URING_CMD_ADD_QUEUE}, SpecTimeout(edgeTimeout)),
		// catches: `qid > ring->nr_queues` (off by one) in fuse_uring_add_bufpool.
		Entry("ADD_BUFPOOL (§3.2, §4.b)", qidRange{op: linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL}, SpecTimeout(edgeTimeout)),
		// catches: `qid > ring->nr_queues` (off by one) in fuse_uring_register.
		Entry("REGISTER, which then disables io_uring (§3.3, §4.b)", qidRange{op: linux73.FUSE_IO_URING_CMD_REGISTER}, SpecTimeout(edgeTimeout)),
		// catches: `qid > ring->nr_queues` (off by one) in fuse_uring_commit_fetch.
		Entry("COMMIT_AND_FETCH (§3.4, §4.b)", qidRange{op: linux73.FUSE_IO_URING_CMD_COMMIT_AND_FETCH}, SpecTimeout(edgeTimeout)),
	)

	// catches: the header length check (< sizeof(struct
	// fuse_uring_req_header)) dropped or weakened in
	// fuse_uring_create_ring_ent (the kernel would write 288 bytes into a
	// 287-byte buffer).
	It("refuses a 287-byte header iov with EINVAL, which turns io_uring off", func(ctx SpecContext) {
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err := r.register(ctx, r.lastQid(), l, nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: a 288-byte header")
		_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) { e.Header = e.Header[:linux73.SizeofReqHeader-1] })
		Expect(err).To(MatchError(unix.EINVAL), "§3.3 iov[0], §4.b")
		_, err = r.register(ctx, 0, l, nil)
		Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3")
	}, SpecTimeout(edgeTimeout))
})

// poolLen is one ADD_BUFPOOL length case.
type poolLen struct {
	len  func(maxPayloadSz uint32) uint32
	want unix.Errno // 0: accepted
}

// qidRange is one command of the qid range table.
type qidRange struct {
	op linux73.Cmd
}

// isLookupOf selects a LOOKUP of name (the payload is the NUL-terminated
// name).
func isLookupOf(name string) func(*ringtest.Entry) bool {
	return func(e *ringtest.Entry) bool {
		if e.Opcode() != fuseabi.FUSE_LOOKUP {
			return false
		}
		p := e.PayloadBuf()
		if int(e.Ent.PayloadSz) > len(p) {
			return false
		}
		n, _, _ := bytes.Cut(p[:e.Ent.PayloadSz], []byte{0})
		return string(n) == name
	}
}

// H1 (ABI doc §7): a NULL payload buffer — a per-entry iov[1] base of 0, or
// a pool at uaddr 0 — is accepted, and the first reply whose payload the
// kernel must copy reaches BUG_ON in fuse_copy_fill on 7.3-rc7. 7.2 fails
// the request with EFAULT instead. These specs assert the non-crashing
// behaviour (refused at once, or EFAULT for the client); each crashes the
// 7.3-rc7 kernel, so each runs in its own VM (fixtures/expectations).
var _ = Describe("queue-depth: NULL payload buffers (H1)", Label(labels.QueueDepth, labels.ABIUpstream, labels.Destructive), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		// The VM is sacrificial: make an oops fatal, so that the BUG ends
		// the VM at once (outcome PANIC) instead of leaving the server
		// thread dead and the connection's teardown stuck behind it.
		old, err := os.ReadFile(panicOnOops)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(panicOnOops, []byte("1"), 0)).To(Succeed())
		DeferCleanup(os.WriteFile, panicOnOops, old, os.FileMode(0))
		AddReportEntry(ReportEntryExpectedSplat, h1Splat)
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// catches: fuse_uring_import_payload treating a NULL per-entry payload
	// base as "no buffer" (an empty iterator) instead of importing it as
	// user memory, which faults with EFAULT as on 7.2.
	It("fails a GETATTR whose reply would be copied from a NULL per-entry payload buffer with EFAULT, not a kernel BUG", func(ctx SpecContext) {
		l := r.layout(ringtest.PerEntry, false, 1)
		l.Edit = func(e *ringtest.Entry) {
			e.Iov = make([]unix.Iovec, 2)
			e.Iov[0].Base = &e.Header[0]
			e.Iov[0].SetLen(len(e.Header))
			e.Iov[1].SetLen(int(r.info.MaxPayloadSz)) // base NULL
			e.Payload = nil
		}
		var setupErr error
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			_, setupErr = t.Setup(l)
			return nil
		})).To(Succeed())
		if setupErr != nil {
			Expect(setupErr).To(Or(MatchError(unix.EINVAL), MatchError(unix.EFAULT)), "a refused NULL payload is fine, with EINVAL or EFAULT")
			return
		}
		h1GetattrEFAULT(ctx, r)
	}, SpecTimeout(h1Timeout))

	// catches: fuse_uring_add_bufpool accepting uaddr 0 (and the import
	// treating the NULL base as "no buffer") instead of refusing it or
	// failing the request with EFAULT.
	It("refuses a buffer pool at address 0, or fails the GETATTR that would be copied from it with EFAULT, not a kernel BUG", func(ctx SpecContext) {
		r.requireBufPool()
		sz := r.info.MaxPayloadSz
		var poolErr error
		for q := 0; q < r.nq; q++ {
			Expect(r.addQueue(ctx, uint16(q), 0)).To(Succeed())
			poolErr = r.exec(ctx, ringtest.Cmd{Op: linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL, Req: linux73.AddBufpool(uint16(q), 0, sz)})
			if poolErr != nil {
				Expect(poolErr).To(Or(MatchError(unix.EINVAL), MatchError(unix.EFAULT)), "a refused NULL pool is fine, with EINVAL or EFAULT")
				return
			}
		}
		for q := 0; q < r.nq; q++ {
			_, err := r.register(ctx, uint16(q), r.layout(ringtest.PoolMode, false, 1), nil)
			Expect(err).NotTo(HaveOccurred(), "pool-mode entry on qid %d", q)
		}
		h1GetattrEFAULT(ctx, r)
	}, SpecTimeout(h1Timeout))
})

// h1Splat is the title of the report H1 produces on 7.3-rc7 ("kernel BUG
// at fs/fuse/dev.c:1064!", RIP in fuse_copy_fill).
const h1Splat = "kernel BUG in fuse_copy_fill"

// panicOnOops is the sysctl that turns an oops into a panic.
const panicOnOops = "/proc/sys/kernel/panic_on_oops"

// h1Timeout bounds an H1 spec: after the BUG the ring thread is gone and
// the spec ends by its timeout.
const h1Timeout = 45 * time.Second

// h1GetattrEFAULT sends a GETATTR of the mount root from CPU 0 and answers
// it like a server that believes its payload buffer is valid: a successful
// fuse_attr_out of 104 bytes it never wrote. The kernel must then fail the
// client's stat with EFAULT.
func h1GetattrEFAULT(ctx SpecContext, r *rig) {
	GinkgoHelper()
	c := r.clients.Go(0, func() error {
		var stx unix.Statx_t
		return unix.Statx(unix.AT_FDCWD, r.srv.MountPoint(), unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &stx)
	})
	held := r.serveUntil(ctx, func(e *ringtest.Entry) bool { return e.Opcode() == fuseabi.FUSE_GETATTR })
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		t.SetReply(held, fuseabi.OutHeader{Len: fuseabi.SizeofOutHeader + fuseabi.SizeofAttrOut, Unique: held.In.Unique}, fuseabi.SizeofAttrOut)
		_, err := t.Commit(held)
		return err
	})).To(Succeed(), "COMMIT of the GETATTR reply")
	Eventually(c.Done()).WithContext(ctx).Should(BeClosed())
	Expect(c.Err()).To(MatchError(unix.EFAULT), "§7 H1: the reply cannot be copied from address 0")
}
