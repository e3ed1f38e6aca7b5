package guest

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// knobDirectWrite creates path and writes 8 KiB to it with O_DIRECT.
func knobDirectWrite(path string) error { return <-knobDirectWriteOn(-1, path) }

// knobDirectWriteOn is knobDirectWrite on a thread pinned to cpu.
func knobDirectWriteOn(cpu int, path string) <-chan error {
	return integOnThread(cpu, func() error {
		fd, err := integOpen(path, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		b := integBuf(8192, 0)
		integFill(b, 3, 0)
		return integPwrite(fd, b, 0)
	})
}

var _ = Describe("fault knobs: buffer indexes", Label(labels.Integrity, labels.ABIUpstream), func() {
	// ABI doc §4.b, §7 H4: REGISTER accepts any ent_zero_copy_buf_index;
	// each zero-copy request on the entry then fails for the client with
	// EINVAL and the server gets no CQE.
	// catches: the ZeroCopyIndex knob not reaching REGISTER.
	It("ZeroCopyIndex out of the table fails zero-copy requests with EINVAL and leaves copied ones alone",
		Label(zcserver.ModeRingZeroCopy.String()), func(ctx SpecContext) {
			srv := integStart(ctx, zcserver.Config{
				Mode: zcserver.ModeRingZeroCopy, QueueDepth: 2, ZeroCopyFiles: zcserver.NamePrefix("zc-"),
				Faults: zcserver.FaultKnobs{ZeroCopyIndex: func(qid, ent int, own uint16) uint16 { return 60000 + own }},
			})
			for _, st := range srv.SetupLog() {
				if st.Cmd == linux73.FUSE_IO_URING_CMD_REGISTER {
					Expect(st.Err).NotTo(HaveOccurred(), "REGISTER does not validate the index: %s", st)
				}
			}
			Expect(knobDirectWrite(filepath.Join(srv.MountPoint(), "plain"))).To(Succeed(), "positive control: a copied WRITE works")

			p := filepath.Join(srv.MountPoint(), "zc-file")
			since := integLastSeq(srv)
			Expect(knobDirectWrite(p)).To(MatchError(unix.EINVAL))
			Expect(integRecords(srv, since, integNodeID(p), fuseabi.FUSE_WRITE)).To(BeEmpty(), "the failed WRITE never reached the server")
			Expect(srv.Counters().Ring.ZeroCopyTotal()).To(BeZero())
		}, SpecTimeout(edgeTimeout))

	// ABI doc §3.2, §5.2: a registered pool's buf_index is only checked when
	// a payload is imported; an empty slot fails the request with EFAULT.
	// catches: the PoolIndex knob not being sent consistently (a mismatch
	// would fail REGISTER instead).
	It("PoolIndex naming an empty slot fails every request needing a pool buffer with EFAULT",
		Label(zcserver.ModeRingPoolRegistered.String()), func(ctx SpecContext) {
			cfg := zcserver.Config{Mode: zcserver.ModeRingPoolRegistered, QueueDepth: 2}
			ctl := integStart(ctx, cfg)
			Expect(knobDirectWrite(filepath.Join(ctl.MountPoint(), "control"))).To(Succeed(), "positive control: the correct index works")

			cfg.Faults.PoolIndex = func(qid int, own uint16) uint16 { return 0 } // slot 0 is empty in this mode
			srv := integStart(ctx, cfg)
			for _, st := range srv.SetupLog() {
				Expect(st.Err).NotTo(HaveOccurred(), "every command accepts the consistent index: %s", st)
			}
			Expect(knobDirectWrite(filepath.Join(srv.MountPoint(), "f"))).To(MatchError(unix.EFAULT))
		}, SpecTimeout(edgeTimeout))
})
