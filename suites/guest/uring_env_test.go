package guest

import (
	"runtime"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

var _ = Describe("environment: io_uring", Label(labels.Env), prioBasics, func() {
	var ring *uring.Ring

	BeforeEach(func() {
		// uring_cmd completions run as task work on the submitting thread.
		runtime.LockOSThread()
		DeferCleanup(runtime.UnlockOSThread)
		var err error
		ring, err = uring.New(8, uring.WithSQE128(), uring.WithCQE32())
		Expect(err).NotTo(HaveOccurred(), "io_uring_setup with SQE128|CQE32")
		DeferCleanup(ring.Close)
	})

	It("sets up a ring with 128-byte SQEs and 32-byte CQEs and completes a NOP", func() {
		Expect(ring.SQE128()).To(BeTrue())
		Expect(ring.CQE32()).To(BeTrue())
		sqe, err := ring.NextSQE()
		Expect(err).NotTo(HaveOccurred())
		Expect(sqe.Cmd()).To(HaveLen(80), "SQE128 slots carry an 80-byte command area")
		sqe.PrepNop()
		sqe.UserData = 0x5a5a
		_, err = ring.SubmitAndWait(1)
		Expect(err).NotTo(HaveOccurred())
		cqe, err := ring.WaitCQE()
		Expect(err).NotTo(HaveOccurred())
		Expect(cqe.UserData).To(BeEquivalentTo(0x5a5a))
		Expect(cqe.Res).To(BeZero())
	})

	It("supports IORING_OP_URING_CMD (probe)", func() {
		p, err := ring.Probe()
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Supported(uring.IORING_OP_URING_CMD)).To(BeTrue(), "IORING_OP_URING_CMD missing from the probe")
	})

	// Upstream 7.3 ABI §1.3 row 2: a FUSE command on a /dev/fuse fd that is
	// not attached to a mount ends with -EPERM; a kernel without
	// CONFIG_FUSE_IO_URING gives -EOPNOTSUPP instead.
	It("routes uring_cmd on an unmounted /dev/fuse to FUSE, which refuses it with EPERM", func() {
		fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(unix.Close, fd)
		sqe, err := ring.NextSQE()
		Expect(err).NotTo(HaveOccurred())
		sqe.PrepURingCmd(int32(fd), 3 /* FUSE_IO_URING_CMD_ADD_QUEUE */)
		sqe.UserData = 7
		_, err = ring.SubmitAndWait(1)
		Expect(err).NotTo(HaveOccurred())
		cqe, err := ring.WaitCQE()
		Expect(err).NotTo(HaveOccurred())
		Expect(cqe.Err()).To(MatchError(unix.EPERM), "CQE res %d", cqe.Res)
	})
})
