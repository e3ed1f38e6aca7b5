package guest

import (
	"context"
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// integSlowClients is the number of concurrent clients of the slow-path
// specs, all pinned to CPU 0 so that they share queue 0.
const integSlowClients = 4

// integSlowPath runs integSlowClients clients on CPU 0, each writing,
// reading back and verifying its own file with O_DIRECT, while the server
// holds the first WRITE (Config.Faults.Hold). With the held entry (and its
// pool buffer) taken, every other client request must wait in the kernel:
// the spec sees fusectl's waiting count reach the number of clients while
// no further request is delivered on queue 0. Then it releases the WRITE
// and every client must finish with its data intact.
func integSlowPath(ctx context.Context, srv *zcserver.Server) {
	GinkgoHelper()
	const size = 256<<10 + 4096
	path := func(i int) string { return filepath.Join(srv.MountPoint(), fmt.Sprintf("slow-%d", i)) }
	// Create the files first: concurrent O_CREATs serialise on the
	// directory's lock outside FUSE, and would not all reach the queue.
	Expect(<-integOnThread(-1, func() error {
		for i := range integSlowClients {
			fd, err := integOpen(path(i), unix.O_CREAT|unix.O_RDWR)
			if err != nil {
				return err
			}
			unix.Close(fd)
		}
		return nil
	})).To(Succeed())
	var clients []<-chan error
	for i := range integSlowClients {
		p := path(i)
		clients = append(clients, integOnThread(0, func() error {
			want := integBuf(size, 0)
			integFill(want, uint64(i), 0)
			fd, err := integOpen(p, unix.O_RDWR|unix.O_DIRECT)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := integPwrite(fd, want, 0); err != nil {
				return err
			}
			got := integBuf(size, 0)
			n, err := integPread(fd, got, 0)
			if err != nil {
				return err
			}
			return integCompare(filepath.Base(p), got[:n], want)
		}))
	}
	var held *zcserver.HeldRequest
	Eventually(srv.Held()).WithContext(ctx).Should(Receive(&held))
	DeferCleanup(held.Release)
	Expect(held.Opcode).To(Equal(fuseabi.FUSE_WRITE))
	Expect(held.Queue).To(BeZero(), "a client pinned to CPU 0 uses queue 0")

	Eventually(func() (int, error) { return integWaiting(srv) }).WithContext(ctx).
		Should(BeNumerically(">=", integSlowClients), "requests of every client outstanding (fusectl waiting)")
	var heldSeq uint64
	for _, r := range srv.EntLog(0) {
		if r.Unique == held.Unique {
			heldSeq = r.Seq
		}
	}
	Expect(heldSeq).NotTo(BeZero(), "the held request is in the EntLog")
	for _, r := range srv.EntLog(heldSeq) {
		Expect(r.Qid).NotTo(BeZero(), "request %d (%s) was delivered on queue 0 while the held WRITE blocked it", r.Unique, r.Opcode)
	}
	AddReportEntry("queued", fmt.Sprintf("%d clients' requests waited behind the held WRITE %d", integSlowClients, held.Unique))

	held.Release()
	Expect(integAwait(ctx, clients...)).To(Succeed())
}

var _ = Describe("slow path", Label(labels.Integrity, labels.ABIUpstream), func() {
	var queueEntries, poolEntries []TableEntry
	for _, m := range integRingModes {
		queueEntries = append(queueEntries, Entry(m.String(), Label(m.String()), SpecTimeout(maxSpecTimeout), m))
	}
	for _, m := range integPoolModes {
		poolEntries = append(poolEntries, Entry(m.String(), Label(m.String()), SpecTimeout(maxSpecTimeout), m))
	}

	// ABI doc §4.b: depth is the number of REGISTERed entries; a request
	// finding no available entry waits in the queue's list.
	// catches: requests lost, failed or delivered twice when they
	// outnumber a queue's entries.
	DescribeTable("stays correct when requests outnumber the entries of a queue of depth 1",
		func(ctx SpecContext, m zcserver.Mode) {
			srv := integStart(ctx, zcserver.Config{
				Mode: m, QueueDepth: 1,
				Faults: zcserver.FaultKnobs{Hold: []zcserver.HoldRule{{Opcode: fuseabi.FUSE_WRITE, N: 1}}},
			})
			integSlowPath(ctx, srv)
		},
		queueEntries,
	)

	// ABI doc §4.b, §4.d: a request needing a pool buffer waits until an
	// entry holding one commits, even with entries available; buffer 0 is
	// the only one, so every delivered offset is 0.
	// catches: a request given an out-of-pool offset, a buffer shared by
	// two entries, or a request failed instead of waiting.
	DescribeTable("stays correct when the pool (1 buffer, 4 entries) is exhausted",
		func(ctx SpecContext, m zcserver.Mode) {
			srv := integStart(ctx, zcserver.Config{
				Mode: m, QueueDepth: integSlowClients, PoolBuffers: 1,
				Faults: zcserver.FaultKnobs{Hold: []zcserver.HoldRule{{Opcode: fuseabi.FUSE_WRITE, N: 1}}},
			})
			integSlowPath(ctx, srv)
			for _, r := range srv.EntLog(0) {
				Expect(r.Offset).To(BeZero(), "request %d (%s) got pool offset %d from a 1-buffer pool", r.Unique, r.Opcode, r.Offset)
			}
		},
		poolEntries,
	)
})
