package guest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// A foreign child (zcserver.Server.ForeignAddQueue) is this test binary
// started again; it must take over before Ginkgo does.
func init() { zcserver.RunForeignChild() }

// integModes are the transports every integrity expectation covers.
var integModes = []zcserver.Mode{
	zcserver.ModeDevFuse, zcserver.ModeRingPerEntry, zcserver.ModeRingPool,
	zcserver.ModeRingPoolRegistered, zcserver.ModeRingZeroCopy,
}

// integRingModes are the ring transports.
var integRingModes = integModes[1:]

// integPoolModes are the transports with a buffer pool.
var integPoolModes = integModes[2:]

// integStart mounts a zcserver with cfg on a fresh directory. A kernel
// lacking what cfg.Mode needs skips the spec with the probe's reason, unless
// the running release should have it (features.RequireOnRelease): then the
// spec fails. The server is closed, and its fault events fail the spec, at
// cleanup.
func integStart(ctx context.Context, cfg zcserver.Config) *zcserver.Server {
	GinkgoHelper()
	srv, err := integTryStart(ctx, cfg)
	integSkipIfAbsent(err)
	Expect(err).NotTo(HaveOccurred(), "start zcserver in mode %s", cfg.Mode)
	return srv
}

// integTryStart is integStart returning Start's error (for specs that
// expect Start to fail).
func integTryStart(ctx context.Context, cfg zcserver.Config) (*zcserver.Server, error) {
	GinkgoHelper()
	mnt, err := os.MkdirTemp("", "zc-integ-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.Remove, mnt)
	cfg.MountPoint = mnt
	srv, err := zcserver.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	DeferCleanup(srv.Close)
	DeferCleanup(func() error { return integFaults(srv) })
	return srv, nil
}

// integSkipIfAbsent skips on a conclusive "feature absent" from a kernel
// that predates the feature.
func integSkipIfAbsent(err error) {
	GinkgoHelper()
	if !errors.Is(err, features.ErrNotSupported) {
		return
	}
	err = features.RequireOnRelease(err, kernelRelease())
	if errors.Is(err, features.ErrNotSupported) {
		Skip(err.Error())
	}
	Fail(err.Error())
}

// integFaults returns the server's fault events so far as one error.
func integFaults(srv *zcserver.Server) error {
	var errs []error
	for {
		select {
		case f := <-srv.Faults():
			errs = append(errs, f)
		default:
			if n := srv.Counters().FaultsDropped; n > 0 {
				errs = append(errs, fmt.Errorf("%d more faults dropped", n))
			}
			return errors.Join(errs...)
		}
	}
}

// integOnThread runs fn on a new goroutine locked to its own OS thread,
// pinned to cpu when cpu >= 0 (FUSE picks the ring queue from the client's
// CPU, ABI doc §4.3). Client I/O on the mount from the server's own process
// must use raw unix calls (package zcserver doc); the thread is never
// returned to the scheduler with its affinity changed.
func integOnThread(cpu int, fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if cpu >= 0 {
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				done <- fmt.Errorf("pin to cpu %d: %w", cpu, err)
				return // the thread exits with the goroutine
			}
		}
		done <- fn()
		if cpu < 0 {
			runtime.UnlockOSThread()
		}
	}()
	return done
}

// integAwait waits for every channel and returns the first error.
func integAwait(ctx context.Context, chans ...<-chan error) error {
	var errs []error
	for _, c := range chans {
		select {
		case err := <-c:
			errs = append(errs, err)
		case <-ctx.Done():
			return fmt.Errorf("client still running: %w", ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// integOpen opens path on the mount with raw open(2).
func integOpen(path string, flags int) (int, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return -1, fmt.Errorf("open %s (flags %#x): %w", filepath.Base(path), flags, err)
	}
	return fd, nil
}

// integPwrite writes all of b at off.
func integPwrite(fd int, b []byte, off int64) error {
	for done := 0; done < len(b); {
		n, err := unix.Pwrite(fd, b[done:], off+int64(done))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("pwrite %d bytes at %d: %w", len(b)-done, off+int64(done), err)
		}
		done += n
	}
	return nil
}

// integPread reads up to len(b) bytes at off, stopping at end of file.
func integPread(fd int, b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Pread(fd, b[done:], off+int64(done))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("pread %d bytes at %d: %w", len(b)-done, off+int64(done), err)
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// integBuf returns n bytes starting at a page boundary plus shift (O_DIRECT
// buffers; shift > 0 makes the user buffer itself unaligned).
func integBuf(n, shift int) []byte {
	b := make([]byte, n+2*4096+shift)
	a := 4096 - int(uintptrOf(b)%4096)
	return b[a+shift : a+shift+n : a+shift+n]
}

// integFill writes the pattern of seed for file offsets [off, off+len(b)).
// Each byte depends on the seed and its absolute offset, so any range can
// be checked on its own.
func integFill(b []byte, seed uint64, off int64) {
	// One mix per 8-byte word of the file, stored whole where the word
	// lies whole in b: under TCG a mix per byte cost more than the I/O.
	word := func(o uint64) uint64 { return integMix(seed ^ (o>>3)*0x9e3779b97f4a7c15) }
	o := uint64(off)
	i := 0
	for ; i < len(b) && o&7 != 0; i, o = i+1, o+1 {
		b[i] = byte(word(o) >> (8 * (o & 7)))
	}
	for ; i+8 <= len(b); i, o = i+8, o+8 {
		binary.LittleEndian.PutUint64(b[i:], word(o))
	}
	for ; i < len(b); i, o = i+1, o+1 {
		b[i] = byte(word(o) >> (8 * (o & 7)))
	}
}

// integMix is a 64-bit finaliser (splitmix64's).
func integMix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// integCompare checks got against want and, when they differ, reports
// both SHA-256 sums and counts the mismatching 4 KiB blocks. It returns nil for a match.
func integCompare(what string, got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	if bytes.Equal(got, want) {
		return nil
	}
	gs, ws := sha256.Sum256(got), sha256.Sum256(want)
	bad, first := 0, -1
	for i := 0; i < len(got); i += 4096 {
		end := min(i+4096, len(got))
		if string(got[i:end]) != string(want[i:end]) {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	return fmt.Errorf("%s: sha256 %x, want %x: %d mismatching 4 KiB blocks, first at byte %d", what, gs[:8], ws[:8], bad, first)
}

// integNodeID returns the FUSE node ID of a file on the mount (st_ino).
func integNodeID(path string) uint64 {
	GinkgoHelper()
	var st unix.Stat_t
	Expect(unix.Stat(path, &st)).To(Succeed())
	return st.Ino
}

// integRecords returns the EntLog records of node with opcode op since seq.
func integRecords(srv *zcserver.Server, since, node uint64, op fuseabi.Opcode) []zcserver.EntRecord {
	var out []zcserver.EntRecord
	for _, r := range srv.EntLog(since) {
		if r.NodeID == node && r.Opcode == op {
			out = append(out, r)
		}
	}
	return out
}

// integLastSeq returns the newest EntLog sequence number.
func integLastSeq(srv *zcserver.Server) uint64 {
	recs := srv.EntLog(0)
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Seq
}

// integWaiting reads fusectl's count of requests the connection waits for
// (queued in the kernel or held by the server).
func integWaiting(srv *zcserver.Server) (int, error) {
	b, err := os.ReadFile(zcserver.FusectlDir + "/" + strconv.FormatUint(uint64(srv.ConnID()), 10) + "/waiting")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// integReportCounters adds the zero-copy facts of srv to the report.
func integReportCounters(srv *zcserver.Server) {
	c := srv.Counters()
	AddReportEntry("zero-copy", fmt.Sprintf("mode %s: %d zero-copied requests (READ %d, WRITE %d); bytes zero-copied read/write %d/%d, copied read/write %d/%d",
		srv.Mode(), c.Ring.ZeroCopyTotal(), c.Ring.ZeroCopyRequests[fuseabi.FUSE_READ], c.Ring.ZeroCopyRequests[fuseabi.FUSE_WRITE],
		c.ZeroCopyReadBytes, c.ZeroCopyWriteBytes, c.CopiedReadBytes, c.CopiedWriteBytes))
}

// uintptrOf is the address of b's first byte.
func uintptrOf(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}
