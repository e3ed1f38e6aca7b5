package guest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// nobody is the uid/gid of the unprivileged child process.
const nobody = 65534

// Edge case (a), ABI doc §4.a: FUSE_URING_ZERO_COPY in ADD_QUEUE needs
// CAP_SYS_ADMIN (capable(), i.e. the effective set of the credentials the
// command runs with); nothing else in the feature does.
var _ = Describe("cap-gate: ADD_QUEUE zero copy needs CAP_SYS_ADMIN", Label(labels.CapGate, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// catches: dropping the capable(CAP_SYS_ADMIN) check in fuse_uring_add_queue.
	It("refuses FUSE_URING_ZERO_COPY with EPERM once the submitting thread drops CAP_SYS_ADMIN, creates no queue and keeps io_uring on", func(ctx SpecContext) {
		r.requireBufPool()
		requireSecondQueue(r.nq)
		Expect(r.addQueue(ctx, 0, ZC)).To(Succeed(), "positive control: the privileged thread gets a zero-copy queue")
		r.setCap(ctx, false)
		Expect(r.addQueue(ctx, 1, ZC)).To(MatchError(unix.EPERM), "§4.a: no CAP_SYS_ADMIN in the effective set")
		r.setCap(ctx, true)
		Expect(r.addQueue(ctx, 1, ZC)).To(Succeed(), "the refused call created no queue (else EEXIST) and io_uring is still on (else EOPNOTSUPP)")
	}, SpecTimeout(edgeTimeout))

	// catches: checking the capability of the /dev/fuse opener
	// (file->f_cred, e.g. file_ns_capable) instead of the submitter's.
	It("refuses it with EPERM for a process of another uid that inherited the /dev/fuse fd", func(ctx SpecContext) {
		r.requireBufPool()
		requireSecondQueue(r.nq)
		res, err := ringtest.AddQueueAs(ctx, 0, 0, r.srv.DevFD(), 0, ZC)
		Expect(err).NotTo(HaveOccurred())
		Expect(cqeErr(res)).To(Succeed(), "positive control: a root child with the inherited fd gets a zero-copy queue")
		res, err = ringtest.AddQueueAs(ctx, nobody, nobody, r.srv.DevFD(), 1, ZC)
		Expect(err).NotTo(HaveOccurred())
		Expect(cqeErr(res)).To(MatchError(unix.EPERM), "§4.a: uid %d has no capabilities although root opened the fd", nobody)
		Expect(r.addQueue(ctx, 1, ZC)).To(Succeed(), "no queue was created by the refused call")
	}, SpecTimeout(edgeTimeout))

	// catches: replacing capable() by a check of the task's objective
	// credentials (has_capability(current, ...)), which ignores the
	// credentials io_uring installs for a registered personality.
	It("judges a command by its registered personality, not by the submitting thread", func(ctx SpecContext) {
		r.requireBufPool()
		requireSecondQueue(r.nq)
		var priv, unpriv uint16
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			var err error
			priv, err = t.Uring().RegisterPersonality()
			return err
		})).To(Succeed())
		r.setCap(ctx, false)
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			var err error
			unpriv, err = t.Uring().RegisterPersonality()
			return err
		})).To(Succeed())
		q0 := opCmd(linux73.FUSE_IO_URING_CMD_ADD_QUEUE, 0, ZC)
		q0.Personality = priv
		Expect(r.exec(ctx, q0)).To(Succeed(), "positive control: a privileged personality works from the unprivileged thread")
		r.setCap(ctx, true)
		q1 := opCmd(linux73.FUSE_IO_URING_CMD_ADD_QUEUE, 1, ZC)
		q1.Personality = unpriv
		Expect(r.exec(ctx, q1)).To(MatchError(unix.EPERM), "§4.a: an unprivileged personality overrides the privileged thread")
		Expect(r.addQueue(ctx, 1, ZC)).To(Succeed(), "no queue was created by the refused call")
	}, SpecTimeout(edgeTimeout))

	// catches: io-wq running a punted uring_cmd with the worker's own
	// credentials instead of the submitter's captured at punt time
	// (REQ_F_CREDS not set in io_prep_async_work).
	It("refuses it with EPERM when the command is punted to io-wq (IOSQE_ASYNC) from an unprivileged thread", func(ctx SpecContext) {
		r.requireBufPool()
		requireSecondQueue(r.nq)
		q0 := opCmd(linux73.FUSE_IO_URING_CMD_ADD_QUEUE, 0, ZC)
		q0.SQEFlags = uring.IOSQE_ASYNC
		Expect(r.exec(ctx, q0)).To(Succeed(), "positive control: a privileged punted ADD_QUEUE works")
		r.setCap(ctx, false)
		q1 := opCmd(linux73.FUSE_IO_URING_CMD_ADD_QUEUE, 1, ZC)
		q1.SQEFlags = uring.IOSQE_ASYNC
		Expect(r.exec(ctx, q1)).To(MatchError(unix.EPERM), "§4.a: io-wq uses the submitter's credentials")
		r.setCap(ctx, true)
		Expect(r.addQueue(ctx, 1, ZC)).To(Succeed(), "no queue was created by the refused call")
	}, SpecTimeout(edgeTimeout))

	// catches: a capability check applied to every ADD_QUEUE or to
	// ADD_BUFPOOL/REGISTER (e.g. the capable() test moved out of the
	// FUSE_URING_ZERO_COPY branch).
	It("needs no capability for queues without zero copy, their pools and entries, and such a ring serves requests", func(ctx SpecContext) {
		r.requireBufPool()
		r.setCap(ctx, false)
		r.setup(ctx, r.layout(ringtest.PoolMode, false, 1))
		seen, err := r.run(ctx, 0, r.lookupENOENT("capgate-unprivileged"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}), "the LOOKUP went through qid 0 of the unprivileged ring")
	}, SpecTimeout(edgeTimeout))

	// catches: ADD_QUEUE (an unknown cmd_op on 7.2) turning the
	// connection's io_uring off, or a 7.2 kernel answering it with
	// anything but the default branch's EINVAL (ABI doc §6).
	It("gets EINVAL for ADD_QUEUE, privileged or not, on a kernel without the 7.46 ABI, and io_uring stays on", func(ctx SpecContext) {
		r.requireNoBufPool()
		Expect(r.addQueue(ctx, 0, 0)).To(MatchError(unix.EINVAL), "§6: cmd_op 3 falls into the default branch")
		Expect(r.addQueue(ctx, 0, ZC)).To(MatchError(unix.EINVAL))
		r.setCap(ctx, false)
		Expect(r.addQueue(ctx, 0, ZC)).To(MatchError(unix.EINVAL), "no EPERM: there is no capability check to reach")
		r.setCap(ctx, true)
		r.setup(ctx, r.layout(ringtest.PerEntry, false, 1))
		seen, err := r.run(ctx, 0, r.lookupENOENT("capgate-absent"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}), "a per-entry ring still works")
	}, SpecTimeout(edgeTimeout))

	// The check order of fuse_uring_add_queue: qid range, unknown flags,
	// capability, existing queue (ABI doc §3.1, §4.a). Each case first
	// proves zero copy works for this server (privileged ADD_QUEUE with
	// FUSE_URING_ZERO_COPY on the last qid), then runs its command on qid
	// 0 (or nr_queues) with or without the capability.
	DescribeTable("pins the ADD_QUEUE check order",
		func(ctx SpecContext, c addQueueOrder) {
			r.requireBufPool()
			requireSecondQueue(r.nq)
			Expect(r.addQueue(ctx, r.lastQid(), ZC)).To(Succeed(), "positive control: privileged zero-copy queue")
			qid := uint16(0)
			if c.outOfRange {
				qid = uint16(r.nq)
			}
			if c.exists {
				Expect(r.addQueue(ctx, 0, 0)).To(Succeed(), "create qid 0")
			}
			r.setCap(ctx, c.privileged)
			err := r.addQueue(ctx, qid, c.flags)
			if c.want == 0 {
				Expect(err).To(Succeed())
			} else {
				Expect(err).To(MatchError(c.want))
			}
		},
		// catches: the capability check moved before the qid range check.
		Entry("qid out of range beats the capability: EINVAL (§3.1 check 2)",
			addQueueOrder{outOfRange: true, flags: ZC, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the capability check moved before the unknown-flags check.
		Entry("unknown flag bits beat the capability: EINVAL (§3.1 check 3, §4.a)",
			addQueueOrder{flags: ZC | 2, want: unix.EINVAL}, SpecTimeout(edgeTimeout)),
		// catches: the existence check moved before the capability check
		// (an unprivileged server could probe queues with EEXIST).
		Entry("the capability beats an existing queue: EPERM (§4.a)",
			addQueueOrder{flags: ZC, exists: true, want: unix.EPERM}, SpecTimeout(edgeTimeout)),
		// catches: fuse_uring_create_queue returning the existing queue
		// instead of -EEXIST.
		Entry("with the capability an existing queue gives EEXIST (§3.1 check 5)",
			addQueueOrder{flags: ZC, exists: true, privileged: true, want: unix.EEXIST}, SpecTimeout(edgeTimeout)),
		// catches: a capability check on ADD_QUEUE without zero copy.
		Entry("without zero copy an unprivileged ADD_QUEUE on an existing queue reaches EEXIST (§4.a)",
			addQueueOrder{exists: true, want: unix.EEXIST}, SpecTimeout(edgeTimeout)),
		// catches: a capability check on ADD_QUEUE without zero copy.
		Entry("without zero copy an unprivileged ADD_QUEUE succeeds (§4.a)",
			addQueueOrder{}, SpecTimeout(edgeTimeout)),
	)
})

// addQueueOrder is one case of the ADD_QUEUE check-order table.
type addQueueOrder struct {
	outOfRange bool   // qid = nr_queues
	flags      uint64 // ADD_QUEUE flags
	privileged bool   // CAP_SYS_ADMIN kept in the submitting thread
	exists     bool   // qid 0 created before (privileged, flags 0)
	want       unix.Errno
}
