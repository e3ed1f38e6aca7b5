package guest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// integScenario is one data-integrity workload. It returns nil when every
// byte read back matched the pattern written (checked by SHA-256).
type integScenario struct {
	name string
	run  func(ctx context.Context, srv *zcserver.Server) error
}

// Sizes from 1 byte to 1 MiB around the page and request-size (128 KiB,
// the pool buffers' 256 KiB) boundaries. Each is written at offset 0 and
// at one unaligned offset, 1 and 4093 in turn (4093 makes even a 4-byte
// write cross a page). Calls of many requests are the beyond-pool
// scenario's job, so the largest size is written unaligned only: under TCG
// every request counts in the time to verdict.
var (
	integSizes     = []int{1, 511, 4095, 4096, 4097, 65537, 128 << 10, 128<<10 + 1, 256<<10 + 1, 1<<20 + 4093}
	integUnaligned = []int64{1, 4093}
	// integBigSize is written at an unaligned offset only.
	integBigSize = 1<<20 + 4093
)

// integPoolBufs is the pool size of the integrity servers: 2 buffers of
// max_payload_sz (256 KiB), smaller than the larger files and calls.
const integPoolBufs = 2

var integScenarios = []integScenario{
	{"buffered reads and writes, 1 B to 1 MiB at aligned and unaligned offsets", func(ctx context.Context, srv *zcserver.Server) error {
		return integSizesRun(ctx, srv, 0)
	}},
	{"O_DIRECT reads and writes, 1 B to 1 MiB at aligned and unaligned offsets and buffers", func(ctx context.Context, srv *zcserver.Server) error {
		return integSizesRun(ctx, srv, unix.O_DIRECT)
	}},
	{"random offsets and lengths, buffered and O_DIRECT interleaved on one file", integRandomRun},
	{"two concurrent jobs, one buffered and one O_DIRECT, on different CPUs", integConcurrentRun},
	{"a 1 MiB file, twice the buffer pool, in single 1 MiB calls", integBeyondPoolRun},
}

// integSizesRun writes each size at each offset into a truncated file and
// reads the whole file back: zeros up to the offset, then the pattern.
func integSizesRun(ctx context.Context, srv *zcserver.Server, flags int) error {
	for i, size := range integSizes {
		offsets := []int64{0, integUnaligned[i%2]}
		if size == integBigSize {
			offsets = offsets[1:]
		}
		for j, off := range offsets {
			if err := ctx.Err(); err != nil {
				return err
			}
			seed := uint64(i*16 + j + flags)
			p := filepath.Join(srv.MountPoint(), fmt.Sprintf("sizes-%d", size))
			want := make([]byte, int(off)+size)
			integFill(want[off:], seed, off)
			err := <-integOnThread(-1, func() error {
				got, err := integWriteReread(p, flags, want[off:], off, int(off%2))
				if err != nil {
					return err
				}
				return integCompare(fmt.Sprintf("%d bytes at offset %d", size, off), got, want)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// integRandomRun applies seeded random writes to one 2 MiB file through a
// buffered and an O_DIRECT descriptor in turn, checks random reads against
// an in-memory model, then the whole file.
func integRandomRun(ctx context.Context, srv *zcserver.Server) error {
	const fileSize = 2 << 20
	seed := uint64(time.Now().UnixNano())
	AddReportEntry("random-seed", seed)
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	model := make([]byte, fileSize)
	p := filepath.Join(srv.MountPoint(), "random")
	return <-integOnThread(-1, func() error {
		var fds [2]int
		for i, fl := range []int{0, unix.O_DIRECT} {
			fd, err := integOpen(p, unix.O_CREAT|unix.O_RDWR|fl)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			fds[i] = fd
		}
		if err := unix.Ftruncate(fds[0], fileSize); err != nil {
			return fmt.Errorf("ftruncate: %w", err)
		}
		for op := range 32 {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := 1 + rng.IntN(300<<10)
			off := rng.Int64N(fileSize - int64(n))
			fd := fds[op%2]
			if rng.IntN(10) < 6 {
				integFill(model[off:off+int64(n)], seed+uint64(op), off)
				b := integBuf(n, op%3)
				copy(b, model[off:off+int64(n)])
				if err := integPwrite(fd, b, off); err != nil {
					return fmt.Errorf("op %d: %w", op, err)
				}
				continue
			}
			b := integBuf(n, op%3)
			got, err := integPread(fd, b, off)
			if err != nil {
				return fmt.Errorf("op %d: %w", op, err)
			}
			if err := integCompare(fmt.Sprintf("op %d: read of %d at %d", op, n, off), b[:got], model[off:off+int64(n)]); err != nil {
				return err
			}
		}
		for i, fd := range fds {
			b := integBuf(fileSize+4096, 0)
			n, err := integPread(fd, b, 0)
			if err != nil {
				return err
			}
			if err := integCompare(fmt.Sprintf("whole file through descriptor %d", i), b[:n], model); err != nil {
				return err
			}
		}
		return nil
	})
}

// integJob writes a 1 MiB file in chunks of varying size (up to 384 KiB,
// so some span several requests) and reads it back in different chunks.
func integJob(ctx context.Context, path string, flags int, seed uint64) error {
	const size = 1 << 20
	fd, err := integOpen(path, unix.O_CREAT|unix.O_TRUNC|unix.O_RDWR|flags)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	want := make([]byte, size)
	integFill(want, seed, 0)
	rng := rand.New(rand.NewPCG(seed, seed))
	chunk := func() int {
		n := 4096 * (1 + rng.IntN(96))
		if flags == 0 {
			n += rng.IntN(4096)
		}
		return n
	}
	for off := 0; off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(chunk(), size-off)
		b := integBuf(n, 0)
		copy(b, want[off:off+n])
		if err := integPwrite(fd, b, int64(off)); err != nil {
			return err
		}
		off += n
	}
	got := make([]byte, 0, size)
	for off := 0; off < size; {
		n := min(chunk(), size-off)
		b := integBuf(n, 0)
		k, err := integPread(fd, b, int64(off))
		if err != nil {
			return err
		}
		got = append(got, b[:k]...)
		off += n
	}
	return integCompare(filepath.Base(path), got, want)
}

func integConcurrentRun(ctx context.Context, srv *zcserver.Server) error {
	cpus := []int{-1, -1}
	if srv.Queues() >= 2 {
		cpus = []int{0, 1}
	}
	a := integOnThread(cpus[0], func() error { return integJob(ctx, filepath.Join(srv.MountPoint(), "job-a"), 0, 101) })
	b := integOnThread(cpus[1], func() error { return integJob(ctx, filepath.Join(srv.MountPoint(), "job-b"), unix.O_DIRECT, 202) })
	if err := integAwait(ctx, a, b); err != nil {
		return err
	}
	if srv.Queues() >= 2 {
		// Clients pinned to CPUs 0 and 1 use queues 0 and 1.
		for _, q := range srv.Counters().Queues {
			if q.Transport == zcserver.TransportRing && q.Queue < 2 && q.Requests == 0 {
				return fmt.Errorf("ring queue %d served no request", q.Queue)
			}
		}
	}
	if srv.Mode() == zcserver.ModeRingPool || srv.Mode() == zcserver.ModeRingPoolRegistered || srv.Mode() == zcserver.ModeRingZeroCopy {
		// ring_ent_in_out.offset is a pool buffer's offset (ABI doc §4.d).
		bufSize := uint64(srv.Init().MaxPayloadSz)
		for _, r := range srv.EntLog(0) {
			if uint64(r.Offset)%bufSize != 0 || uint64(r.Offset) >= integPoolBufs*bufSize {
				return fmt.Errorf("request %d (%s) delivered with pool offset %d: not a buffer of a %d x %d pool", r.Unique, r.Opcode, r.Offset, integPoolBufs, bufSize)
			}
		}
	}
	return nil
}

// integWriteReread writes data at off into the truncated file p, closes
// it, reopens it (FUSE drops the page cache at open without
// FOPEN_KEEP_CACHE) and reads the whole file back from offset 0. flags (0
// or O_DIRECT) apply to both opens; shift misaligns both user buffers.
// Call it on a thread from integOnThread.
func integWriteReread(p string, flags int, data []byte, off int64, shift int) ([]byte, error) {
	fd, err := integOpen(p, unix.O_CREAT|unix.O_TRUNC|unix.O_RDWR|flags)
	if err != nil {
		return nil, err
	}
	src := integBuf(len(data), shift)
	copy(src, data)
	err = integPwrite(fd, src, off)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if fd, err = integOpen(p, unix.O_RDONLY|flags); err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// Room past the end: a file longer than written shows up as a
	// length mismatch, not as a short read.
	got := integBuf(int(off)+len(data)+8192, shift)
	n, err := integPread(fd, got, 0)
	if err != nil {
		return nil, err
	}
	return got[:n], nil
}

func integBeyondPoolRun(ctx context.Context, srv *zcserver.Server) error {
	const size = 1<<20 + 12345
	p := filepath.Join(srv.MountPoint(), "beyond-pool")
	want := make([]byte, size)
	integFill(want, 77, 0)
	for _, flags := range []int{0, unix.O_DIRECT} {
		err := <-integOnThread(-1, func() error {
			got, err := integWriteReread(p, flags, want, 0, 0)
			if err != nil {
				return err
			}
			return integCompare(fmt.Sprintf("flags %#x", flags), got, want)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

var _ = Describe("data integrity", Label(labels.Integrity, labels.ABIUpstream), func() {
	var entries []TableEntry
	for _, m := range integModes {
		for _, sc := range integScenarios {
			entries = append(entries, Entry(fmt.Sprintf("%s: %s", m, sc.name), Label(m.String()), SpecTimeout(maxSpecTimeout), m, sc))
		}
	}

	// catches: corrupted, shifted or short data on any transport — a wrong
	// pool offset or payload_sz, a zero-copy slot mapped to the wrong
	// pages, a lost or reordered request under concurrency.
	DescribeTable("reads back exactly what was written",
		func(ctx SpecContext, m zcserver.Mode, sc integScenario) {
			srv := integStart(ctx, zcserver.Config{
				Mode: m, QueueDepth: 4, PoolBuffers: integPoolBufs,
				ZeroCopyFiles: zcserver.NamePrefix(""), // every file opts in; only zero-copy queues honour it
			})
			Expect(sc.run(ctx, srv)).To(Succeed())

			c := srv.Counters()
			integReportCounters(srv)
			Expect(c.Requests[fuseabi.FUSE_WRITE]).To(BeNumerically(">", 0))
			Expect(c.Requests[fuseabi.FUSE_READ]).To(BeNumerically(">", 0))
			var ringRequests uint64
			for _, q := range c.Queues {
				if q.Transport == zcserver.TransportRing {
					ringRequests += q.Requests
				}
			}
			switch {
			case m == zcserver.ModeDevFuse:
				Expect(ringRequests).To(BeZero())
			default:
				Expect(ringRequests).To(BeNumerically(">=", c.Requests[fuseabi.FUSE_WRITE]), "requests served by the rings")
			}
			if m == zcserver.ModeRingZeroCopy {
				// Every READ/WRITE with data pages of an opted-in file is
				// zero-copied (ABI doc §4.3): nothing goes through a buffer.
				Expect(c.Ring.ZeroCopyRequests[fuseabi.FUSE_WRITE]).To(BeNumerically(">", 0))
				Expect(c.Ring.ZeroCopyRequests[fuseabi.FUSE_READ]).To(BeNumerically(">", 0))
				Expect(c.ZeroCopyWriteBytes).To(BeNumerically(">", 0))
				Expect(c.ZeroCopyReadBytes).To(BeNumerically(">", 0))
				Expect(c.CopiedWriteBytes).To(BeZero())
				Expect(c.CopiedReadBytes).To(BeZero())
			} else {
				Expect(c.Ring.ZeroCopyTotal()).To(BeZero())
				Expect(c.ZeroCopyWriteBytes + c.ZeroCopyReadBytes).To(BeZero())
			}
		},
		entries,
	)
})
