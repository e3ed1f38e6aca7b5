package guest

import (
	"fmt"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// integZCWorkload writes a file (O_DIRECT, then buffered write-through),
// reads it back (O_DIRECT, then buffered after a reopen) and verifies it.
// It returns the bytes the client wrote and read.
func integZCWorkload(path string, size int) (written, read int, err error) {
	want := make([]byte, size)
	integFill(want, 9, 0)
	err = <-integOnThread(-1, func() error {
		for _, flags := range []int{unix.O_DIRECT, 0} {
			fd, err := integOpen(path, unix.O_CREAT|unix.O_RDWR|flags)
			if err != nil {
				return err
			}
			b := integBuf(size, 0)
			copy(b, want)
			err = integPwrite(fd, b, 0)
			if cerr := unix.Close(fd); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			written += size
		}
		for _, flags := range []int{unix.O_DIRECT, 0} {
			fd, err := integOpen(path, unix.O_RDONLY|flags)
			if err != nil {
				return err
			}
			got := integBuf(size+4096, 0)
			n, err := integPread(fd, got, 0)
			unix.Close(fd)
			if err != nil {
				return err
			}
			read += n
			if err := integCompare(fmt.Sprintf("read back (flags %#x)", flags), got[:n], want); err != nil {
				return err
			}
		}
		return nil
	})
	return written, read, err
}

var _ = Describe("zero copy", Label(labels.Integrity, labels.ABIUpstream, zcserver.ModeRingZeroCopy.String()), func() {
	const size = 1<<20 + 3*4096 + 100
	var srv *zcserver.Server

	BeforeEach(func(ctx SpecContext) {
		srv = integStart(ctx, zcserver.Config{
			Mode: zcserver.ModeRingZeroCopy, QueueDepth: 4,
			ZeroCopyFiles: zcserver.NamePrefix("zc-"),
		})
	}, NodeTimeout(time.Minute))

	// ABI doc §4.2-§4.4: a file opted in at OPEN/CREATE with
	// FOPEN_IO_URING_ZERO_COPY on a FUSE_URING_ZERO_COPY queue gets its
	// READ/WRITE pages registered in the entry's slot and flagged
	// FUSE_URING_ENT_ZERO_COPY.
	// catches: the kernel ignoring the open flag, not flagging the entry,
	// or handing the server data in the pool instead of the slot.
	It("moves READ and WRITE data of an opted-in file through the entry's slot", func(ctx SpecContext) {
		p := filepath.Join(srv.MountPoint(), "zc-data")
		since := integLastSeq(srv)
		before := srv.Counters()
		written, read, err := integZCWorkload(p, size)
		Expect(err).NotTo(HaveOccurred())
		after := srv.Counters()
		integReportCounters(srv)

		node := integNodeID(p)
		writes := integRecords(srv, since, node, fuseabi.FUSE_WRITE)
		reads := integRecords(srv, since, node, fuseabi.FUSE_READ)
		Expect(writes).NotTo(BeEmpty())
		Expect(reads).NotTo(BeEmpty())
		for _, r := range writes {
			Expect(r.ZeroCopy()).To(BeTrue(), "WRITE %d delivered without FUSE_URING_ENT_ZERO_COPY", r.Unique)
			// §2.4/§4.e: payload_sz and fuse_in_header.len still count the
			// zero-copied bytes.
			Expect(r.PayloadSz).To(BeNumerically(">", 0))
			Expect(r.InLen).To(BeEquivalentTo(fuseabi.SizeofInHeader + fuseabi.SizeofWriteIn + int(r.PayloadSz)))
			Expect(r.ReplyPayloadSz).To(BeEquivalentTo(fuseabi.SizeofWriteOut))
		}
		for _, r := range reads {
			Expect(r.ZeroCopy()).To(BeTrue(), "READ %d delivered without FUSE_URING_ENT_ZERO_COPY", r.Unique)
			Expect(r.PayloadSz).To(BeZero(), "a zero-copied READ brings no in-payload (§4.e)")
			Expect(r.Offset).To(BeZero(), "a zero-copied READ takes no pool buffer (§4.d)")
		}
		zcWrites := after.Ring.ZeroCopyRequests[fuseabi.FUSE_WRITE] - before.Ring.ZeroCopyRequests[fuseabi.FUSE_WRITE]
		zcReads := after.Ring.ZeroCopyRequests[fuseabi.FUSE_READ] - before.Ring.ZeroCopyRequests[fuseabi.FUSE_READ]
		Expect(zcWrites).To(BeEquivalentTo(len(writes)))
		Expect(zcReads).To(BeEquivalentTo(len(reads)))
		// Every byte moved through the slot with READ_FIXED/WRITE_FIXED,
		// none through the server's buffers.
		Expect(after.ZeroCopyWriteBytes - before.ZeroCopyWriteBytes).To(BeEquivalentTo(written))
		Expect(after.ZeroCopyReadBytes - before.ZeroCopyReadBytes).To(BeEquivalentTo(read))
		Expect(after.CopiedWriteBytes - before.CopiedWriteBytes).To(BeZero())
		Expect(after.CopiedReadBytes - before.CopiedReadBytes).To(BeZero())
		Expect(after.Ring.DataOps - before.Ring.DataOps).To(BeEquivalentTo(len(writes) + len(reads)))
		Expect(after.Ring.DataOpErrors).To(BeZero())
		AddReportEntry("zero-copy-file", fmt.Sprintf("%d WRITE and %d READ requests zero-copied, %d and %d bytes through the slots",
			zcWrites, zcReads, after.ZeroCopyWriteBytes-before.ZeroCopyWriteBytes, after.ZeroCopyReadBytes-before.ZeroCopyReadBytes))
	}, SpecTimeout(maxSpecTimeout))

	// ABI doc §4.2: without FOPEN_IO_URING_ZERO_COPY the same queue copies.
	// catches: zero copy applied to files that did not opt in.
	It("copies READ and WRITE data of a file that did not opt in", func(ctx SpecContext) {
		p := filepath.Join(srv.MountPoint(), "plain-data")
		since := integLastSeq(srv)
		before := srv.Counters()
		written, read, err := integZCWorkload(p, size)
		Expect(err).NotTo(HaveOccurred())
		after := srv.Counters()

		node := integNodeID(p)
		recs := append(integRecords(srv, since, node, fuseabi.FUSE_WRITE), integRecords(srv, since, node, fuseabi.FUSE_READ)...)
		Expect(recs).NotTo(BeEmpty())
		for _, r := range recs {
			Expect(r.ZeroCopy()).To(BeFalse(), "%s %d of a file that did not opt in was zero-copied", r.Opcode, r.Unique)
		}
		Expect(after.Ring.ZeroCopyTotal() - before.Ring.ZeroCopyTotal()).To(BeZero())
		Expect(after.ZeroCopyWriteBytes + after.ZeroCopyReadBytes - before.ZeroCopyWriteBytes - before.ZeroCopyReadBytes).To(BeZero())
		Expect(after.CopiedWriteBytes - before.CopiedWriteBytes).To(BeEquivalentTo(written))
		Expect(after.CopiedReadBytes - before.CopiedReadBytes).To(BeEquivalentTo(read))
	}, SpecTimeout(maxSpecTimeout))
})
