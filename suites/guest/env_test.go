package guest

import (
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
)

var _ = Describe("environment", Label(labels.Env), prioBasics, func() {
	It("runs the kernel the host booted", func() {
		var uts unix.Utsname
		Expect(unix.Uname(&uts)).To(Succeed())
		release := unix.ByteSliceToString(uts.Release[:])
		AddReportEntry("kernel-release", release)
		if *expectRelease == "" {
			Skip("the host did not say which release it booted (-zcsuite.expect-release)")
		}
		Expect(release).To(Equal(*expectRelease), "uname -r inside the VM")
	})

	It("has fuse.enable_uring switched on", func() {
		b, err := os.ReadFile("/sys/module/fuse/parameters/enable_uring")
		Expect(err).NotTo(HaveOccurred(), "the fuse module has no enable_uring parameter: kernel built without CONFIG_FUSE_IO_URING?")
		Expect(strings.TrimSpace(string(b))).To(Equal("Y"))
	})

	It("has /dev/fuse as the FUSE character device 10:229", func() {
		var st unix.Stat_t
		Expect(unix.Stat("/dev/fuse", &st)).To(Succeed())
		Expect(st.Mode & unix.S_IFMT).To(BeEquivalentTo(unix.S_IFCHR))
		Expect(unix.Major(st.Rdev)).To(BeEquivalentTo(10))
		Expect(unix.Minor(st.Rdev)).To(BeEquivalentTo(229))
	})
})
