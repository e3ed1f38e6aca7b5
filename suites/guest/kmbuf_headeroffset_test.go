package guest

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// kmSlotSize is sizeof(struct fuse_uring_req_header) (§2.5, §3.2), written
// out rather than taken from the code under test.
const kmSlotSize = 288

// rawSlot reads, straight from a headers buffer, the fields the kernel
// writes into header slot id: fuse_in_header.opcode (+4), .unique (+8)
// and ring_ent_in_out.commit_id (+264) (§3.2).
func rawSlot(hdrs []byte, id int) (opcode uint32, unique, commitID uint64) {
	b := hdrs[id*kmSlotSize:]
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[264:])
}

// checkSlots checks every header slot of a queue: a slot whose entry got
// a request holds a consistent header (commit_id = unique); every other
// slot still holds poison.
func checkSlots(hdrs []byte, depth int, used map[uint16]bool) {
	GinkgoHelper()
	for id := range depth {
		slot := hdrs[id*kmSlotSize : (id+1)*kmSlotSize]
		if !used[uint16(id)] {
			Expect(allBytes(slot, poison)).To(BeTrue(), "§3.3: slot %d belongs to an entry that got no request", id)
			continue
		}
		// A slot whose request was already answered holds the reply's
		// fuse_out_header (error 0 where the opcode was), but the unique
		// at +8 stays.
		_, unique, commit := rawSlot(hdrs, id)
		Expect(unique).NotTo(BeZero(), "slot %d: a fuse_in_header (or its reply) at offset %d", id, id*kmSlotSize)
		Expect(commit).To(Equal(unique), "slot %d: ring_ent_in_out.commit_id at +256+8 equals the unique at +8", id)
	}
}

// Edge case (d), §5 d and §3.3: the headers buffer sits at table index QD
// with zero copy and at index 0 without; entry e's header is at byte
// e × 288 inside it.
var _ = Describe("header-offset: where kmbuf headers are placed", Label(labels.HeaderOffset, labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
	}, NodeTimeout(edgeTimeout))

	// catches: headers_index computed without zero_copy_depth, or the slot
	// offset not scaled by the header size.
	It("zero copy: writes entry e's header at table index QD, byte e × 288, and never touches a canary at QD+1", func(ctx SpecContext) {
		l := r.layout(0, true, kmDepth)
		l.ExtraSlots = 1
		q := r.setupQueue(ctx, l)
		Expect(q.HeadersIndex).To(BeEquivalentTo(kmDepth), "§3.3: FUSE_URING_FIXED_HEADERS_OFFSET + queue_depth")
		fill(q.Headers, poison)
		canary, err := r.ring(0).Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		fill(canary, poison)
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.PutBuffer(kmDepth+1, canary) })).To(Succeed())
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		content := pattern(8192, 1)
		r.createFile(dioPrefix+"hdr-zc", content)
		got := kmAligned(len(content))
		var n int
		used := map[uint16]bool{}
		c := r.clients.Go(0, kmDirectRead(r.path(dioPrefix+"hdr-zc"), 0, got, &n))
		e := r.serveUntil(ctx, 0, func(e *kmbufring.Entry) bool { used[e.ID] = true; return e.Opcode() == fuseabi.FUSE_READ })
		op, unique, _ := rawSlot(q.Headers, int(e.ID))
		Expect(op).To(BeEquivalentTo(fuseabi.FUSE_READ), "§3.3: the READ's header at byte %d of the buffer at index %d", int(e.ID)*kmSlotSize, kmDepth)
		Expect(unique).To(Equal(e.In.Unique))
		checkSlots(q.Headers, kmDepth, used)
		r.answerCommit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(got[:n]).To(Equal(content))
		Expect(allBytes(canary, poison)).To(BeTrue(), "§5 d (1): the canary after the headers slot is untouched")
	}, SpecTimeout(edgeTimeout))

	// catches: a buf-ring-only queue looking for its headers at another
	// index than FUSE_URING_FIXED_HEADERS_OFFSET.
	It("buf ring only: writes entry e's header at table index 0, byte e × 288, and never touches a canary at index 1", func(ctx SpecContext) {
		l := r.layout(0, false, kmDepth)
		l.ExtraSlots = 1
		q := r.setupQueue(ctx, l)
		Expect(q.HeadersIndex).To(BeZero(), "§3.3")
		fill(q.Headers, poison)
		canary, err := r.ring(0).Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		fill(canary, poison)
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.PutBuffer(1, canary) })).To(Succeed())
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		used := map[uint16]bool{}
		c := r.clients.Go(0, r.lookupENOENT("km-hdr-bufring"))
		e := r.serveUntil(ctx, 0, func(e *kmbufring.Entry) bool { used[e.ID] = true; return e.Opcode() == fuseabi.FUSE_LOOKUP })
		op, unique, _ := rawSlot(q.Headers, int(e.ID))
		Expect(op).To(BeEquivalentTo(fuseabi.FUSE_LOOKUP))
		Expect(unique).To(Equal(e.In.Unique))
		checkSlots(q.Headers, kmDepth, used)
		r.answerCommit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(allBytes(canary, poison)).To(BeTrue(), "§5 d (2)")
	}, SpecTimeout(edgeTimeout))

	// catches: zero copy registering something at table index 0 (or any
	// index but the entry's own) for requests without pages.
	It("zero copy with a user canary at slot 0 and no entry 0: header-only requests work and the canary is untouched", func(ctx SpecContext) {
		l := kmbufring.Layout{Qid: 0, ZeroCopy: true, Depth: kmDepth - 1, QueueDepth: kmDepth, PayloadSz: r.info.MaxPayloadSz}
		l.Edit = func(e *kmbufring.Entry) { e.ID++ } // ids 1..QD-1
		q := r.setupQueue(ctx, l)
		canary, err := r.ring(0).Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		fill(canary, poison)
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.PutBuffer(0, canary) })).To(Succeed())
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		for _, name := range []string{"km-hdr-a", "km-hdr-b", "km-hdr-c"} {
			seen, err := r.run(ctx, 0, r.lookupENOENT(name))
			Expect(err).NotTo(HaveOccurred())
			Expect(seen).To(ContainElement(HaveField("Qid", BeEquivalentTo(0))), "%v", seen)
		}
		Expect(allBytes(canary, poison)).To(BeTrue(), "§5 d (3)")
		Expect(allBytes(q.Headers[:kmSlotSize], 0)).To(BeTrue(), "no entry 0: its header slot stays unwritten")
	}, SpecTimeout(edgeTimeout))

	// catches: zero_copy_depth taken from init.queue_depth outside the
	// zero_copy branch of fuse_uring_buf_ring_setup (a buf-ring-only
	// queue would look for its headers at index queue_depth).
	It("buf ring only: keeps the headers at table index 0 when the creating REGISTER carries queue_depth 3", func(ctx SpecContext) {
		l := r.layout(0, false, 1)
		l.Edit = func(e *kmbufring.Entry) { e.QueueDepth = 3 }
		q := r.setupQueue(ctx, l)
		Expect(q.HeadersIndex).To(BeZero(), "§3.3")
		Expect(q.TableSlots).To(BeEquivalentTo(1), "nothing at index 3: a lookup there would park the request (§5 d)")
		fill(q.Headers, poison)
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		c := r.clients.Go(0, r.lookupENOENT("km-hdr-qd-ignored"))
		e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
		op, unique, _ := rawSlot(q.Headers, int(e.ID))
		Expect(op).To(BeEquivalentTo(fuseabi.FUSE_LOOKUP), "§3.3: the header in the buffer at index 0")
		Expect(unique).To(Equal(e.In.Unique))
		r.answerCommit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))

	// catches: the error of fuse_uring_set_up_zero_copy ignored in
	// fuse_uring_args_to_ring (the READ would be delivered and its data
	// written into whatever the slot holds, here the headers buffer).
	DescribeTable("zero copy: takes a REGISTER whose entry id has no free page slot; header-only requests work, a zero-copied READ fails for the client with the install's errno and is never delivered",
		func(ctx SpecContext, id uint16, want unix.Errno) {
			const qd = 1
			var hdrs []byte
			Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
				if err := t.RegisterKmbuf(kmbufring.DefaultBufSize(r.info.MaxPayloadSz), 2); err != nil {
					return err
				}
				var err error
				if hdrs, err = t.Ring().Alloc(kmbuf.HeadersLen(id)); err != nil {
					return err
				}
				if err := t.Table(qd + 1); err != nil {
					return err
				}
				if err := t.PutBuffer(qd, hdrs); err != nil {
					return err
				}
				return t.Register(zcEntry(0, id, qd, hdrs))
			})).To(Succeed(), "§3.3: nothing checks fixed_buf_id at REGISTER")
			for qid := 1; qid < r.nq; qid++ {
				r.setupQueue(ctx, r.layout(qid, false, 1))
			}
			c := r.clients.Go(0, r.lookupENOENT("km-hdr-noslot"))
			e := r.serveUntil(ctx, 0, kmIsOp(fuseabi.FUSE_LOOKUP))
			Expect(e.ID).To(Equal(id))
			op, _, _ := rawSlot(hdrs, int(id))
			Expect(op).To(BeEquivalentTo(fuseabi.FUSE_LOOKUP), "§3.3: its header at byte %d of the buffer at index %d", int(id)*kmSlotSize, qd)
			r.answerCommit(ctx, e)
			r.serveClient(ctx, c)
			Expect(c.Err()).To(Succeed(), "positive control: a header-only request on entry %d", id)
			content := pattern(4096, 0x42)
			r.createFile(dioPrefix+"noslot", content)
			got := kmAligned(len(content))
			var n int
			seen, err := r.run(ctx, 0, kmDirectRead(r.path(dioPrefix+"noslot"), 0, got, &n))
			Expect(err).To(MatchError(want), "§6: the page install's errno reaches the client")
			Expect(seen).NotTo(ContainElement(HaveField("Opcode", fuseabi.FUSE_READ.String())), "§5 f: no CQE for a failed install")
		},
		Entry("id = queue_depth (its page slot holds the headers buffer): EBUSY", uint16(1), unix.EBUSY),
		Entry("id 5, past the table of queue_depth + 1 slots: EINVAL", uint16(5), unix.EINVAL),
	)

	// The headers buffer is looked up in the table (a reference on its
	// node) and put back around every use: the send in task work and each
	// COMMIT_AND_FETCH (§3.3). Its pages come from a memfd here; adding
	// F_SEAL_WRITE to a memfd fails with EBUSY while any of its pages has
	// a reference beyond the page cache's and the mappings' (mm/memfd.c),
	// such as the pin of a registered buffer. Once the server empties slot
	// QD, the last reference is the table's, so the pages are unpinned at
	// once and the seal succeeds; a reference left by a lookup keeps the
	// node, and the pin, alive.
	//
	// catches: the fuse_uring_headers_cleanup call dropped after
	// COMMIT_AND_FETCH or after the send in fuse_uring_send_in_task, or
	// io_reg_buf_index_put not putting the node (io_put_rsrc_node dropped).
	It("zero copy: lets go of the headers buffer after every use: once the server empties slot QD, the memfd behind the headers can be sealed", func(ctx SpecContext) {
		mfd, err := unix.MemfdCreate("km-headers", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() error { return unix.Close(mfd) })
		page := unix.Getpagesize()
		size := (kmbuf.HeadersLen(kmDepth-1) + page - 1) / page * page
		Expect(unix.Ftruncate(mfd, int64(size))).To(Succeed())
		hdrs, err := unix.Mmap(mfd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() error { return unix.Munmap(hdrs) })
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			if err := t.RegisterKmbuf(kmbufring.DefaultBufSize(r.info.MaxPayloadSz), 2); err != nil {
				return err
			}
			if err := t.Table(kmDepth + 1); err != nil {
				return err
			}
			if err := t.PutBuffer(kmDepth, hdrs); err != nil {
				return err
			}
			for id := range uint16(2) {
				if err := t.Register(zcEntry(0, id, kmDepth, hdrs)); err != nil {
					return err
				}
			}
			return nil
		})).To(Succeed(), "§3.3: the headers buffer (a memfd's pages) at index QD, entries 0 and 1")
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		content := pattern(8192, 0x61)
		r.createFile(dioPrefix+"hdr-put", content)
		got := kmAligned(len(content))
		var n int
		seen, err := r.run(ctx, 0, func() error {
			if err := r.lookupENOENT("km-hdr-put")(); err != nil {
				return err
			}
			return kmDirectRead(r.path(dioPrefix+"hdr-put"), 0, got, &n)()
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(got[:n]).To(Equal(content))
		Expect(seen).To(ContainElement(And(HaveField("Opcode", fuseabi.FUSE_READ.String()), HaveField("Qid", BeEquivalentTo(0)), HaveField("ZC", BeTrue()))),
			"positive control: header-only requests and a zero-copied READ went through qid 0's headers: %v", seen)
		// Nothing is delivered any more (the entries wait in FETCH), so the
		// headers need no view: an anonymous mapping replaces the memfd's,
		// which F_SEAL_WRITE would refuse as a writable shared mapping.
		_, err = unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(hdrs)), uintptr(size),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
		Expect(err).NotTo(HaveOccurred())
		_, err = unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
		Expect(err).To(MatchError(unix.EBUSY), "positive control: slot QD still pins the memfd's pages")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.PutBuffer(kmDepth, nil) })).To(Succeed(), "empty slot QD")
		_, err = unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
		Expect(err).NotTo(HaveOccurred(), "§3.3: no lookup of the headers buffer kept a reference on it")
	}, SpecTimeout(edgeTimeout))

	// catches: a bound check of fixed_buf_id against queue_depth on
	// buf-ring-only queues (§3.3: "no check that fixed_buf_id < QD").
	It("buf ring only: takes entry ids up to 9 with no queue depth, each header at byte id × 288", func(ctx SpecContext) {
		l := kmbufring.Layout{Qid: 0, Depth: 10, PayloadSz: r.info.MaxPayloadSz}
		q := r.setupQueue(ctx, l)
		fill(q.Headers, poison)
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		used := map[uint16]bool{}
		c := r.clients.Go(0, r.lookupENOENT("km-hdr-nine"))
		e := r.serveUntil(ctx, 0, func(e *kmbufring.Entry) bool { used[e.ID] = true; return e.Opcode() == fuseabi.FUSE_LOOKUP })
		op, _, _ := rawSlot(q.Headers, int(e.ID))
		Expect(op).To(BeEquivalentTo(fuseabi.FUSE_LOOKUP), "entry %d's header at byte %d", e.ID, int(e.ID)*kmSlotSize)
		checkSlots(q.Headers, 10, used)
		r.answerCommit(ctx, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))
})

// §5 d, wrong placement: REGISTER succeeds, and the first request routed
// to the entry finds no header buffer, so the kernel parks it: no CQE,
// the client stays blocked (v2/v3 WARN in fuse_uring_headers_prep). The
// client may never come back, so the spec runs alone in a disposable VM.
var _ = Describe("header-offset: kmbuf headers in the wrong slot", Label(labels.HeaderOffset, labels.ABIKmbuf, labels.Destructive), prioEdge, func() {
	// catches: a wrong headers index being refused at REGISTER time, or a
	// request being delivered (or failed) instead of parked; the WARN's
	// presence per revision.
	It("accepts REGISTERs whose headers are at index 0 instead of QD, and parks the first request without a CQE", func(ctx SpecContext) {
		r := newKmRig(ctx)
		r.leakRings = true
		AddReportEntry(ReportEntryExpectedWedge, "kmbuf §5 d: the parked request is never answered and an abort does not release it, so the suite cannot exit")
		if r.prof.WarnsOnHeadersPrep {
			AddReportEntry(ReportEntryExpectedSplat, "WARNING in fuse_uring_headers_prep")
		}
		at := uint16(0)
		l := r.layout(0, true, kmDepth)
		l.HeadersAt = &at
		q := r.setupQueue(ctx, l)
		Expect(q.Ents).To(HaveLen(kmDepth), "§5 d: every REGISTER succeeds; nothing checks the table")
		for qid := 1; qid < r.nq; qid++ {
			r.setupQueue(ctx, r.layout(qid, false, 1))
		}
		// Not tracked by r.clients: it may never return (§5 d).
		c := ringtest.OnCPU(0, r.lookupENOENT("km-hdr-wrong"))
		Consistently(c.Finished).WithContext(ctx).WithTimeout(blockedFor).Should(BeFalse(), "§5 d: the request is parked")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error {
			if d := t.Delivered(); len(d) > 0 {
				return fmt.Errorf("§5 d: a CQE was posted for %v", d)
			}
			if d := t.Ended(); len(d) > 0 {
				return fmt.Errorf("§5 d: entries ended: %v", d)
			}
			return nil
		})).To(Succeed())
		Expect(allBytes(q.Headers[:kmDepth*kmSlotSize], 0)).To(BeTrue(), "the buffer the kernel does not look at stays unwritten")

		// §5 d [code reading, now observed]: nothing ends the parked
		// request, not even an abort of the connection, so the client
		// waits uninterruptibly until the hung-task detector reports it
		// (20 s in the guest) and the test process cannot exit: the
		// reason this spec has a VM of its own.
		AddReportEntry(ReportEntryExpectedSplat, "INFO: task hung")
		Expect(r.abort()).To(Succeed())
		Consistently(c.Finished).WithContext(ctx).WithTimeout(45*time.Second).Should(BeFalse(), "§5 d: the abort does not end the parked request")
		// Past the detector's report; keep its later repeats out of the
		// time after this spec.
		Expect(os.WriteFile("/proc/sys/kernel/hung_task_timeout_secs", []byte("0"), 0)).To(Succeed())
		// It waits 45 s past the abort on purpose: longer than an edge
		// spec may take.
	}, SpecTimeout(maxSpecTimeout))
})
