package guest

import (
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// knobTwoWrites writes two 4 KiB blocks with O_DIRECT (two WRITE
// requests) and reads them back.
func knobTwoWrites(path string) <-chan error {
	return integOnThread(-1, func() error {
		fd, err := integOpen(path, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		want := integBuf(8192, 0)
		integFill(want, 11, 0)
		for off := 0; off < len(want); off += 4096 {
			if err := integPwrite(fd, want[off:off+4096], int64(off)); err != nil {
				return err
			}
		}
		got := integBuf(8192, 0)
		n, err := integPread(fd, got, 0)
		if err != nil {
			return err
		}
		return integCompare("held file", got[:n], want)
	})
}

var _ = Describe("fault knobs: held requests", Label(labels.Integrity, labels.ABIUpstream), func() {
	// catches: Hold not holding the Nth request, or Release not answering it.
	DescribeTable("Hold keeps the 2nd WRITE unanswered until Release",
		func(ctx SpecContext, m zcserver.Mode) {
			srv := integStart(ctx, zcserver.Config{
				Mode: m, QueueDepth: 2, ZeroCopyFiles: zcserver.NamePrefix(""),
				Faults: zcserver.FaultKnobs{Hold: []zcserver.HoldRule{{Opcode: fuseabi.FUSE_WRITE, N: 2}}},
			})
			client := knobTwoWrites(filepath.Join(srv.MountPoint(), "held"))
			var held *zcserver.HeldRequest
			Eventually(srv.Held()).WithContext(ctx).Should(Receive(&held))
			DeferCleanup(held.Release)
			Expect(held.Opcode).To(Equal(fuseabi.FUSE_WRITE))
			Expect(srv.Counters().Requests[fuseabi.FUSE_WRITE]).To(BeEquivalentTo(1), "the first WRITE was answered, the second not dispatched")
			Expect(client).NotTo(Receive(), "the client returned while its WRITE was held")
			Expect(integWaiting(srv)).To(BeNumerically(">=", 1))
			if m == zcserver.ModeRingZeroCopy {
				Expect(held.ZeroCopy).To(BeTrue())
				Expect(held.Slot).To(BeEquivalentTo(held.Entry), "the server gives entry i zero-copy slot i")
			}
			held.Release()
			Expect(integAwait(ctx, client)).To(Succeed())
			Expect(srv.Counters().Ring.Held).To(BeEquivalentTo(1))
		},
		Entry(zcserver.ModeDevFuse.String(), Label(zcserver.ModeDevFuse.String()), SpecTimeout(edgeTimeout), zcserver.ModeDevFuse),
		Entry(zcserver.ModeRingPerEntry.String(), Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout), zcserver.ModeRingPerEntry),
		Entry(zcserver.ModeRingZeroCopy.String(), Label(zcserver.ModeRingZeroCopy.String()), SpecTimeout(edgeTimeout), zcserver.ModeRingZeroCopy),
	)

	// ABI doc §4.f, §5.1: aborting through fusectl ends the request held in
	// userspace with ECONNABORTED for the client and ends every waiting
	// entry with a -ENOTCONN CQE; the held entry gets no CQE.
	// catches: Server.Abort not reaching fusectl, or the ring not noticing
	// the teardown.
	It("Abort while a zero-copied WRITE is held: the client gets ECONNABORTED, the other entries end with ENOTCONN",
		Label(zcserver.ModeRingZeroCopy.String()), func(ctx SpecContext) {
			srv := integStart(ctx, zcserver.Config{
				Mode: zcserver.ModeRingZeroCopy, QueueDepth: 2, ZeroCopyFiles: zcserver.NamePrefix(""),
				Faults: zcserver.FaultKnobs{Hold: []zcserver.HoldRule{{Opcode: fuseabi.FUSE_WRITE, N: 1}}},
			})
			client := knobTwoWrites(filepath.Join(srv.MountPoint(), "aborted"))
			var held *zcserver.HeldRequest
			Eventually(srv.Held()).WithContext(ctx).Should(Receive(&held))
			DeferCleanup(held.Release)
			Expect(held.ZeroCopy).To(BeTrue())

			Expect(srv.Abort()).To(Succeed())
			var err error
			Eventually(client).WithContext(ctx).Should(Receive(&err))
			Expect(err).To(MatchError(unix.ECONNABORTED))
			entries := srv.Queues() * 2
			Eventually(func() uint64 { return srv.Counters().Ring.EntriesEnded }).WithContext(ctx).
				Should(BeEquivalentTo(entries-1), "every entry but the held one ends with a teardown CQE")
			Eventually(srv.Done()).WithContext(ctx).Should(BeClosed(), "the /dev/fuse readers see the abort")

			// For the report only (the unregister family owns the verdict):
			// is the held entry's slot still registered after the abort
			// (ABI doc §7 H2)?
			d, err := srv.Ring(held.Queue)
			Expect(err).NotTo(HaveOccurred())
			res, perr := d.ProbeSlot(held.Slot, true, 1)
			AddReportEntry("held-slot-after-abort", fmt.Sprintf("WRITE_FIXED of 1 byte on slot %d: res %d err %v", held.Slot, res, perr))
		}, SpecTimeout(edgeTimeout))

	// ABI doc §4.f, §8: COMMIT unregisters the slot before the probe queued
	// behind it in the same io_uring_enter runs, so the probe gets EFAULT.
	// catches: ProbeSlotAfterCommit not probing, or probing another slot.
	It("ProbeSlotAfterCommit reports EFAULT for the slot of every committed zero-copied request",
		Label(zcserver.ModeRingZeroCopy.String()), func(ctx SpecContext) {
			srv := integStart(ctx, zcserver.Config{
				Mode: zcserver.ModeRingZeroCopy, QueueDepth: 2, ZeroCopyFiles: zcserver.NamePrefix(""),
				Faults: zcserver.FaultKnobs{ProbeSlotAfterCommit: true},
			})
			Expect(integAwait(ctx, knobTwoWrites(filepath.Join(srv.MountPoint(), "probed")))).To(Succeed())
			zc := srv.Counters().Ring.ZeroCopyTotal()
			Expect(zc).To(BeNumerically(">=", 3), "two WRITEs and a READ were zero-copied")
			Eventually(func() uint64 { return srv.Counters().Ring.SlotProbes }).WithContext(ctx).Should(Equal(zc))
			c := srv.Counters().Ring
			Expect(c.SlotProbesEFAULT).To(Equal(zc), "every probe found its slot empty")
			Expect(c.SlotProbesOther).To(BeZero())
			var p zcserver.SlotProbe
			Expect(srv.SlotProbes()).To(Receive(&p))
			Expect(p.Err()).To(MatchError(unix.EFAULT))
			Expect([]fuseabi.Opcode{fuseabi.FUSE_READ, fuseabi.FUSE_WRITE}).To(ContainElement(p.Opcode))
			AddReportEntry("slot-probes", fmt.Sprintf("%d probes after commit, %d EFAULT", c.SlotProbes, c.SlotProbesEFAULT))
		}, SpecTimeout(edgeTimeout))
})
