package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// knobCapSysAdmin is CAP_SYS_ADMIN's bit in a capability set.
const knobCapSysAdmin = 1 << 21

// knobThreadCapEff reads the calling goroutine's thread's effective
// capabilities (the goroutine is locked to its thread meanwhile).
func knobThreadCapEff() (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff in /proc/thread-self/status")
}

// knobZCWrite writes through O_DIRECT to an opted-in file and returns how
// many requests the server saw zero-copied.
func knobZCWrite(srv *zcserver.Server) uint64 {
	GinkgoHelper()
	p := filepath.Join(srv.MountPoint(), "zc-probe")
	Expect(<-integOnThread(-1, func() error {
		fd, err := integOpen(p, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		b := integBuf(8192, 0)
		integFill(b, 5, 0)
		return integPwrite(fd, b, 0)
	})).To(Succeed())
	return srv.Counters().Ring.ZeroCopyRequests[fuseabi.FUSE_WRITE]
}

var _ = Describe("fault knobs: credentials", Label(labels.Integrity, labels.ABIUpstream, zcserver.ModeRingZeroCopy.String()), func() {
	zcConfig := func(k zcserver.FaultKnobs) zcserver.Config {
		return zcserver.Config{Mode: zcserver.ModeRingZeroCopy, QueueDepth: 2, ZeroCopyFiles: zcserver.NamePrefix("zc-"), Faults: k}
	}

	// ABI doc §4.a: ADD_QUEUE(FUSE_URING_ZERO_COPY) checks capable(CAP_SYS_ADMIN)
	// of the submitting thread.
	// catches: a DropCapSysAdminBefore knob that does not drop, or drops on
	// the wrong thread.
	It("DropCapSysAdminBefore(ADD_QUEUE) makes the zero-copy ADD_QUEUE fail with EPERM", func(ctx SpecContext) {
		ctl := integStart(ctx, zcConfig(zcserver.FaultKnobs{}))
		Expect(knobZCWrite(ctl)).To(BeNumerically(">", 0), "positive control: the privileged setup zero-copies")

		_, err := integTryStart(ctx, zcConfig(zcserver.FaultKnobs{DropCapSysAdminBefore: linux73.FUSE_IO_URING_CMD_ADD_QUEUE}))
		Expect(err).To(MatchError(unix.EPERM))
		Expect(err).To(MatchError(zcserver.ErrRingSetup))
	}, SpecTimeout(maxSpecTimeout))

	// ABI doc §4.a: a registered personality overrides the submitter's
	// credentials.
	// catches: the Personality knob not attaching the personality.
	It("PersonalityCapable lets a ring thread without CAP_SYS_ADMIN create zero-copy queues", func(ctx SpecContext) {
		srv := integStart(ctx, zcConfig(zcserver.FaultKnobs{
			DropCapSysAdminBefore: linux73.FUSE_IO_URING_CMD_ADD_QUEUE,
			Personality:           zcserver.PersonalityCapable,
		}))
		d, err := srv.Ring(0)
		Expect(err).NotTo(HaveOccurred())
		eff, err := d.ThreadCapEff()
		Expect(err).NotTo(HaveOccurred())
		Expect(eff&knobCapSysAdmin).To(BeZero(), "the ring thread dropped CAP_SYS_ADMIN (CapEff %#x)", eff)
		Expect(knobZCWrite(srv)).To(BeNumerically(">", 0), "zero-copy queues work through the personality")
	}, SpecTimeout(maxSpecTimeout))

	// catches: the Personality knob registering the thread's current
	// credentials instead of the dropped ones.
	It("PersonalityDropped makes a capable ring thread's zero-copy ADD_QUEUE fail with EPERM", func(ctx SpecContext) {
		ctl := integStart(ctx, zcConfig(zcserver.FaultKnobs{Personality: zcserver.PersonalityCapable}))
		Expect(knobZCWrite(ctl)).To(BeNumerically(">", 0), "positive control: a capable personality works")

		_, err := integTryStart(ctx, zcConfig(zcserver.FaultKnobs{Personality: zcserver.PersonalityDropped}))
		Expect(err).To(MatchError(unix.EPERM))
	}, SpecTimeout(maxSpecTimeout))

	// ABI doc §4.a: the check is the credentials of the process issuing
	// the command; an fd handed to another uid does not carry the
	// opener's privilege. §3.1 check order: capability before existence.
	// catches: ForeignAddQueue not running the command as the other uid.
	It("ForeignAddQueue: another uid with the inherited /dev/fuse fd gets EPERM for zero copy, and reaches FUSE", func(ctx SpecContext) {
		cfg := zcConfig(zcserver.FaultKnobs{})
		cfg.ManualRing = true
		srv := integStart(ctx, cfg)
		d, err := srv.Ring(0)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.AddQueue(0, linux73.FUSE_URING_ZERO_COPY)).To(Succeed(), "positive control: root creates the zero-copy queue")

		res, err := srv.ForeignAddQueue(ctx, 65534, 65534, []zcserver.ForeignCommand{
			{Qid: 0, Flags: linux73.FUSE_URING_ZERO_COPY},
			{Qid: 0, Flags: 0},
		})
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("foreign-child", fmt.Sprintf("uid %d gid %d CapEff %#x", res.UID, res.GID, res.CapEff))
		Expect(res.UID).To(Equal(65534))
		Expect(res.CapEff).To(BeZero())
		Expect(res.Errs[0]).To(MatchError(unix.EPERM), "zero-copy ADD_QUEUE as uid 65534")
		Expect(res.Errs[1]).To(MatchError(unix.EEXIST), "plain ADD_QUEUE as uid 65534 passes the capability check and finds the queue")
	}, SpecTimeout(maxSpecTimeout))

	// catches: RingDriver.DropCapSysAdmin acting on the wrong thread (the
	// spec's own thread must stay capable) or not being undone by Raise.
	It("RingDriver.DropCapSysAdmin and RaiseCapSysAdmin act on the ring thread only", func(ctx SpecContext) {
		cfg := zcConfig(zcserver.FaultKnobs{})
		cfg.ManualRing = true
		srv := integStart(ctx, cfg)
		d, err := srv.Ring(0)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.DropCapSysAdmin()).To(Succeed())
		eff, err := d.ThreadCapEff()
		Expect(err).NotTo(HaveOccurred())
		Expect(eff & knobCapSysAdmin).To(BeZero())
		mine, err := knobThreadCapEff()
		Expect(err).NotTo(HaveOccurred())
		Expect(mine&knobCapSysAdmin).NotTo(BeZero(), "the spec's thread keeps CAP_SYS_ADMIN")
		Expect(d.AddQueue(0, linux73.FUSE_URING_ZERO_COPY)).To(MatchError(unix.EPERM))
		Expect(d.RaiseCapSysAdmin()).To(Succeed())
		Expect(d.AddQueue(0, linux73.FUSE_URING_ZERO_COPY)).To(Succeed(), "EPERM left no queue behind (§4.a)")
	}, SpecTimeout(edgeTimeout))
})
