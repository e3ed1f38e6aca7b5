package guest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// kernelRelease is uname -r of the running kernel.
func kernelRelease() string {
	var uts unix.Utsname
	unix.Uname(&uts)
	return unix.ByteSliceToString(uts.Release[:])
}

// startDevFuse mounts a fresh zcserver over /dev/fuse and registers its
// unmount.
func startDevFuse(ctx context.Context, cfg zcserver.Config) *zcserver.Server {
	GinkgoHelper()
	mnt, err := os.MkdirTemp("", "zc-mnt-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.Remove, mnt)
	cfg.MountPoint = mnt
	srv, err := zcserver.Start(ctx, cfg)
	Expect(err).NotTo(HaveOccurred(), "mount zcserver over /dev/fuse")
	DeferCleanup(srv.Close)
	return srv
}

var _ = Describe("FUSE_INIT negotiation", Label(labels.Init), prioBasics, func() {
	var (
		srv  *zcserver.Server
		info protocol.InitInfo
	)

	BeforeEach(func(ctx SpecContext) {
		srv = startDevFuse(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse})
		info = srv.Init()
		AddReportEntry("fuse-init", info.String())
	}, NodeTimeout(30*time.Second))

	// catches: a kernel that stops sending FUSE_INIT or mangles its header
	// (fuse_new_init / fuse_send_init).
	It("receives a protocol 7 INIT that offers at least minor 36 with FUSE_INIT_EXT", func() {
		Expect(info.KernelMajor).To(BeEquivalentTo(7))
		Expect(info.KernelMinor).To(BeNumerically(">=", protocol.MinKernelMinor))
		Expect(info.KernelOffered() & fuseabi.FUSE_INIT_EXT).NotTo(BeZero())
		Expect(info.Minor).To(Equal(info.KernelMinor), "we reply the kernel's minor")
	})

	// catches: fuse.enable_uring no longer advertised in INIT
	// (inode.c: FUSE_OVER_IO_URING added to flags2 only when the parameter is on).
	It("offers FUSE_OVER_IO_URING (flags2 bit 9) with fuse.enable_uring on", func() {
		Expect(features.HaveIOURing(info)).To(Succeed(), info.String())
	})

	// The 7.46 ABI is stated twice by the kernel (minor and flags2 bit 11):
	// on a kernel from 7.3 on both must be there, before 7.3 neither.
	// catches: FUSE_KERNEL_MINOR_VERSION not bumped with the bufpool ABI, or
	// FUSE_HAS_IO_URING_BUFPOOL dropped from the INIT offer.
	It("states the buffer-pool ABI (minor >= 46 and FUSE_HAS_IO_URING_BUFPOOL) exactly on kernels from 7.3", func() {
		release := kernelRelease()
		err := features.HaveBufPool(info)
		AddReportEntry("bufpool-abi", fmt.Sprintf("release %s: %v", release, err))
		if features.AtLeast(release, features.BufPool.Since) {
			Expect(err).NotTo(HaveOccurred(), "kernel %s should offer the 7.46 ABI", release)
			Expect(info.KernelMinor).To(BeNumerically(">=", 46))
			Expect(info.KernelFlags2 & (1 << 11)).NotTo(BeZero())
			return
		}
		Expect(errors.Is(err, features.ErrNotSupported)).To(BeTrue(), "kernel %s predates 7.3 but: %v", release, err)
		Expect(info.KernelMinor).To(BeNumerically("<", 46))
		Expect(info.KernelFlags2 & (1 << 11)).To(BeZero())
	})

	// catches: a mounted connection whose requests never reach /dev/fuse,
	// or a WRITE split or sent twice (the server would count other bytes).
	It("serves a real mount over /dev/fuse: create, write, read back, unlink", func(ctx SpecContext) {
		p := filepath.Join(srv.MountPoint(), "init-probe")
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() error { return ignoreEBADF(unix.Close(fd)) })
		want := make([]byte, 3*4096+17)
		for i := range want {
			want[i] = byte(i*7 + 3)
		}
		n, err := unix.Pwrite(fd, want, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(want)))
		got := make([]byte, len(want)+100)
		n, err = unix.Pread(fd, got, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(got[:n]).To(Equal(want))
		Expect(unix.Close(fd)).To(Succeed())
		Expect(unix.Unlink(p)).To(Succeed())
		Expect(unix.Access(p, unix.F_OK)).To(MatchError(unix.ENOENT))
		c := srv.Counters()
		Expect(c.Requests[fuseabi.FUSE_WRITE]).To(BeNumerically(">=", 1), "WRITE went through the server")
		Expect(c.CopiedWriteBytes).To(BeEquivalentTo(len(want)), "every written byte reached the server once")
		Expect(c.Faults).To(BeZero(), "server faults")
	}, SpecTimeout(60*time.Second))
})

func ignoreEBADF(err error) error {
	if errors.Is(err, unix.EBADF) {
		return nil
	}
	return err
}
