package guest

import (
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// bufRegCall issues io_uring_register(op, &reg, nrArgs) on qid's ring
// and returns the kernel's answer.
func (r *kmRig) bufRegCall(ctx SpecContext, qid int, op uring.RegisterOp, reg kmbuf.BufReg, nrArgs uint32) error {
	return r.do(ctx, qid, func(t *kmbufring.Thread) error {
		_, err := t.Uring().Register(op, unsafe.Pointer(&reg), nrArgs)
		return err
	})
}

// pbufReg is a provided-buffer ring at bgid 0 whose memory the kernel
// allocates (IOU_PBUF_RING_MMAP): the other kind of ring a buffer group
// can hold (ABI doc §2.2).
var pbufReg = kmbuf.BufReg{RingEntries: 1, Bgid: kmbuf.FUSE_URING_RINGBUF_GROUP, Flags: kmbuf.IOU_PBUF_RING_MMAP}

const (
	opKmbufReg   = uring.RegisterOp(kmbuf.IORING_REGISTER_KMBUF_RING)
	opKmbufUnreg = uring.RegisterOp(kmbuf.IORING_UNREGISTER_KMBUF_RING)
)

// §2.2: what IORING_REGISTER_KMBUF_RING (opcode 37) validates before it
// allocates anything. Every refusal is followed by the valid registration
// on the same io_uring instance, which must succeed: the positive control,
// and proof that the refusal left no buffer list at bgid 0 (EEXIST
// otherwise). Each entry belongs to the family of the field it checks:
// ring_entries (the ring's depth) to queue-depth, buf_size to payload-sz,
// flags/resv/nr_args (what the call mixes in) to mixed-flags.
var _ = Describe("kmbuf ring registration: IORING_REGISTER_KMBUF_RING refuses what the series does not allow", Label(labels.ABIKmbuf), prioEdge, func() {
	var r *kmRig

	BeforeEach(func(ctx SpecContext) {
		r = newKmRig(ctx)
	}, NodeTimeout(edgeTimeout))

	page := uint32(unix.Getpagesize())
	DescribeTable("refuses the registration with EINVAL, and the valid one then succeeds on the same instance",
		func(ctx SpecContext, edit func(*kmbuf.BufReg), nrArgs uint32) {
			reg := kmbuf.KmbufRingReg(page, 2, kmbuf.FUSE_URING_RINGBUF_GROUP)
			edit(&reg)
			Expect(r.bufRegCall(ctx, 0, opKmbufReg, reg, nrArgs)).To(MatchError(unix.EINVAL), "§2.2: %+v, nr_args %d", reg, nrArgs)
			Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.RegisterKmbuf(page, 2) })).To(Succeed(),
				"positive control: 2 buffers of one page at bgid 0; nothing was left registered by the refusal")
		},
		// catches: the is_power_of_2(ring_entries) test dropped from io_validate_buf_reg.
		Entry("ring_entries 3 (not a power of two)", Label(labels.QueueDepth), func(g *kmbuf.BufReg) { g.RingEntries = 3 }, uint32(1)),
		// catches: the same test replaced by a non-zero test (0 is no power of two).
		Entry("ring_entries 0", Label(labels.QueueDepth), func(g *kmbuf.BufReg) { g.RingEntries = 0 }, uint32(1)),
		// catches: "ring_entries >= 65536" weakened to "> 65536".
		Entry("ring_entries 65536 (one past the largest)", Label(labels.QueueDepth), func(g *kmbuf.BufReg) { g.RingEntries = 1 << 16 }, uint32(1)),
		// catches: "!reg.buf_size ||" dropped from io_register_kmbuf_ring
		// (a zero-sized buffer reaches io_create_region_multi_buf's WARN).
		Entry("buf_size 0", Label(labels.PayloadSz), func(g *kmbuf.BufReg) { g.SetBufSize(0) }, uint32(1)),
		// catches: the PAGE_ALIGNED(buf_size) test dropped.
		Entry("buf_size one page + 512 bytes", Label(labels.PayloadSz), func(g *kmbuf.BufReg) { g.SetBufSize(page + 512) }, uint32(1)),
		// catches: io_validate_buf_reg called with IOU_PBUF_RING_MMAP (the
		// provided-buffer flags) permitted for a kmbuf ring.
		Entry("flags IOU_PBUF_RING_MMAP", Label(labels.MixedFlags), func(g *kmbuf.BufReg) { g.Flags = kmbuf.IOU_PBUF_RING_MMAP }, uint32(1)),
		// catches: the mem_is_zero(resv) test dropped from io_validate_buf_reg.
		Entry("a reserved word not zero", Label(labels.MixedFlags), func(g *kmbuf.BufReg) { g.Resv[2] = 1 }, uint32(1)),
		// catches: "nr_args != 1" dropped from the IORING_REGISTER_KMBUF_RING case.
		Entry("nr_args 2", Label(labels.MixedFlags), func(*kmbuf.BufReg) {}, uint32(2)),
	)

	// catches: "!arg ||" dropped from the IORING_REGISTER_KMBUF_RING case
	// (a NULL argument would reach copy_from_user: EFAULT), or the
	// copy_from_user failure of io_register_kmbuf_ring not returned.
	It("refuses a NULL argument with EINVAL and an unreadable one with EFAULT", Label(labels.MixedFlags), func(ctx SpecContext) {
		noAccess, err := unix.Mmap(-1, 0, int(page), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		Expect(err).NotTo(HaveOccurred())
		// Not DeferCleanup(unix.Munmap, noAccess): Ginkgo would read the
		// PROT_NONE bytes while inspecting its arguments.
		DeferCleanup(func() error { return unix.Munmap(noAccess) })
		call := func(arg unsafe.Pointer) error {
			return r.do(ctx, 0, func(t *kmbufring.Thread) error {
				_, err := t.Uring().Register(opKmbufReg, arg, 1)
				return err
			})
		}
		Expect(call(nil)).To(MatchError(unix.EINVAL), "§2.2: arg NULL")
		Expect(call(unsafe.Pointer(&noAccess[0]))).To(MatchError(unix.EFAULT), "§2.2: the copy of reg fails")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.RegisterKmbuf(page, 2) })).To(Succeed(), "positive control")
	}, SpecTimeout(edgeTimeout))

	// catches: io_alloc_new_buffer_list's EEXIST test ("IOBL_BUF_RING ||")
	// dropped: a second ring would replace the first under its mapping.
	It("refuses a kmbuf ring at a buffer group that holds one (kmbuf or provided-buffer) with EEXIST", Label(labels.MixedFlags), func(ctx SpecContext) {
		valid := kmbuf.KmbufRingReg(page, 2, kmbuf.FUSE_URING_RINGBUF_GROUP)
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, valid, 1)).To(Succeed(), "positive control")
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, valid, 1)).To(MatchError(unix.EEXIST), "§2.2: bgid 0 holds a kmbuf ring")
		Expect(r.bufRegCall(ctx, 0, opKmbufUnreg, kmbuf.BufReg{}, 1)).To(Succeed())
		Expect(r.bufRegCall(ctx, 0, uring.IORING_REGISTER_PBUF_RING, pbufReg, 1)).To(Succeed(), "a provided-buffer ring at bgid 0")
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, valid, 1)).To(MatchError(unix.EEXIST), "§2.2: bgid 0 holds a provided-buffer ring")
	}, SpecTimeout(edgeTimeout))

	// catches: the "nr_pages > UINT_MAX" test dropped from
	// io_create_region_multi_buf (the allocation would be attempted and
	// fail with ENOMEM, or worse, succeed truncated).
	It("refuses a kmbuf ring of more than 2^32 pages in all with E2BIG before allocating, and the group stays free", Label(labels.PayloadSz), func(ctx SpecContext) {
		huge := kmbuf.KmbufRingReg(0xFFFFF000, 8192, kmbuf.FUSE_URING_RINGBUF_GROUP)
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, huge, 1)).To(MatchError(unix.E2BIG), "§2.2: 8192 buffers of 4 GiB - 4 KiB")
		Expect(r.do(ctx, 0, func(t *kmbufring.Thread) error { return t.RegisterKmbuf(page, 2) })).To(Succeed(), "positive control: nothing was left at bgid 0")
	}, SpecTimeout(edgeTimeout))

	// catches: the kernel_managed comparison dropped from
	// io_buf_get_region (the kmbuf mmap offset would map a provided-buffer
	// ring's memory, and the other way round).
	It("maps IORING_OFF_KMBUF_RING only for a kmbuf ring: a provided-buffer ring's group gives EINVAL there and maps at IORING_OFF_PBUF_RING", Label(labels.MixedFlags), func(ctx SpecContext) {
		// mmapAt maps pages pages of the ring at off: a region maps
		// whole (vm_insert_pages refuses a shorter vma with EFAULT).
		mmapAt := func(off int64, pages int) error {
			return r.do(ctx, 0, func(t *kmbufring.Thread) error {
				m, err := unix.Mmap(t.Uring().Fd(), off, pages*int(page), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
				if err == nil {
					return unix.Munmap(m)
				}
				return err
			})
		}
		Expect(r.bufRegCall(ctx, 0, uring.IORING_REGISTER_PBUF_RING, pbufReg, 1)).To(Succeed())
		Expect(mmapAt(kmbuf.IORING_OFF_PBUF_RING, 1)).To(Succeed(), "positive control: the provided-buffer ring maps at its own offset")
		Expect(mmapAt(kmbuf.KmbufMmapOffset(0), 1)).To(MatchError(unix.EINVAL), "§2.3: not kernel-managed")
		Expect(r.bufRegCall(ctx, 0, opKmbufUnreg, kmbuf.BufReg{}, 1)).To(Succeed())
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, kmbuf.KmbufRingReg(page, 2, 0), 1)).To(Succeed())
		Expect(mmapAt(kmbuf.KmbufMmapOffset(0), 2)).To(Succeed(), "positive control: the kmbuf ring (2 buffers of a page) maps at its offset")
		Expect(mmapAt(kmbuf.IORING_OFF_PBUF_RING, 2)).To(MatchError(unix.EINVAL), "a kmbuf ring does not map at the provided-buffer offset")
	}, SpecTimeout(edgeTimeout))

	// catches: IORING_UNREGISTER_KMBUF_RING not routed to the shared
	// unregister handler (EINVAL), or the handler not erasing the list
	// (the group would stay taken: EEXIST on the next registration).
	It("removes a kmbuf ring with IORING_UNREGISTER_KMBUF_RING or IORING_UNREGISTER_PBUF_RING alike, frees the group, and answers ENOENT when nothing is left", Label(labels.Unregister), func(ctx SpecContext) {
		valid := kmbuf.KmbufRingReg(page, 2, kmbuf.FUSE_URING_RINGBUF_GROUP)
		Expect(r.bufRegCall(ctx, 0, opKmbufUnreg, kmbuf.BufReg{}, 1)).To(MatchError(unix.ENOENT), "§2.2: no list at bgid 0")
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, valid, 1)).To(Succeed())
		Expect(r.bufRegCall(ctx, 0, opKmbufUnreg, kmbuf.BufReg{}, 1)).To(Succeed(), "§2.2: opcode 38")
		Expect(r.bufRegCall(ctx, 0, opKmbufUnreg, kmbuf.BufReg{}, 1)).To(MatchError(unix.ENOENT))
		Expect(r.bufRegCall(ctx, 0, opKmbufReg, valid, 1)).To(Succeed(), "the group is free again")
		Expect(r.bufRegCall(ctx, 0, uring.IORING_UNREGISTER_PBUF_RING, kmbuf.BufReg{}, 1)).To(Succeed(), "§2.2: either opcode removes either kind")
		Expect(r.bufRegCall(ctx, 0, opKmbufUnreg, kmbuf.BufReg{}, 1)).To(MatchError(unix.ENOENT))
	}, SpecTimeout(edgeTimeout))
})
