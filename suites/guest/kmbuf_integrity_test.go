package guest

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// kmTransport mounts a zcserver served in kmbuf mode (every queue on a
// kmbuf ring, zero copy as asked) and registers its teardown: abort, close
// the transport, unmount.
func kmTransport(ctx SpecContext, zc bool) *zcserver.Server {
	GinkgoHelper()
	prof := requireKmbuf()
	srv := startDevFuse(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse, RingInit: true, DirectIOFiles: zcserver.NamePrefix(dioPrefix)})
	tr, err := kmbufring.StartTransport(ctx, srv.Conn(), kmbufring.TransportConfig{Profile: prof, ZeroCopy: zc, Depth: 4})
	Expect(err).NotTo(HaveOccurred(), "zcserver in kmbuf mode (%s, zero copy %v)", prof.Name, zc)
	DeferCleanup(tr.Close)
	DeferCleanup(func() error {
		if err := srv.Abort(); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	})
	return srv
}

// kmClient runs fn pinned to cpu and waits for it.
func kmClient(ctx SpecContext, cpu int, fn func() error) error {
	GinkgoHelper()
	c := ringtest.OnCPU(cpu, fn)
	Eventually(c.Done()).WithContext(ctx).Should(BeClosed())
	return c.Err()
}

// roundTrip writes data at off of p (O_DIRECT, from page-aligned memory,
// when direct) and reads it back.
func roundTrip(p string, off int64, data []byte, direct bool) func() error {
	return func() error {
		flags := unix.O_RDWR | unix.O_CREAT | unix.O_CLOEXEC
		src, got := data, make([]byte, len(data))
		if direct {
			flags |= unix.O_DIRECT
			m, err := unix.Mmap(-1, 0, 2*len(data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				return err
			}
			defer unix.Munmap(m)
			src, got = m[:len(data)], m[len(data):]
			copy(src, data)
		}
		fd, err := unix.Open(p, flags, 0o644)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(fd)
		if n, err := unix.Pwrite(fd, src, off); err != nil || n != len(data) {
			return fmt.Errorf("pwrite %d at %d: n=%d: %v", len(data), off, n, err)
		}
		if n, err := unix.Pread(fd, got, off); err != nil || n != len(data) {
			return fmt.Errorf("pread %d at %d: n=%d: %v", len(data), off, n, err)
		}
		if !slices.Equal(got, data) {
			return fmt.Errorf("read back %d bytes at %d: content differs", len(data), off)
		}
		return nil
	}
}

// Data integrity through zcserver in kmbuf mode (the zcserver issue's
// integrity specs, run under the series' ABI).
var _ = Describe("integrity: zcserver in kmbuf mode", Label(labels.Integrity, labels.ABIKmbuf), func() {
	// catches: zero-copied data landing at the wrong offset, in the wrong
	// request's pages, or a reply read through a stale buffer id.
	It("reads back what it wrote with O_DIRECT through zero-copy queues on every CPU, moving the bytes through the page slots", func(ctx SpecContext) {
		srv := kmTransport(ctx, true)
		nq, err := zcserver.PossibleCPUs()
		Expect(err).NotTo(HaveOccurred())
		for cpu := range nq {
			for i, size := range []int{4096, 65536, int(srv.Init().MaxWrite)} {
				p := filepath.Join(srv.MountPoint(), fmt.Sprintf("%skm-int-%d-%d", dioPrefix, cpu, i))
				Expect(kmClient(ctx, cpu, roundTrip(p, int64(i)*4096, pattern(size, byte(cpu*16+i)), true))).To(Succeed(), "CPU %d, %d bytes", cpu, size)
			}
		}
		c := srv.Counters()
		Expect(c.ZeroCopyWriteBytes).To(BeNumerically(">", 0), "WRITE data moved with WRITE_FIXED")
		Expect(c.ZeroCopyReadBytes).To(BeNumerically(">", 0), "READ data moved with READ_FIXED")
		Expect(c.Faults).To(BeZero())
	}, SpecTimeout(maxSpecTimeout))

	// catches: the copy path of buf-ring queues (payload in the kmbuf
	// buffer named by the CQE) mixing up buffers between requests.
	It("reads back what it wrote, buffered and O_DIRECT, through buf-ring queues without zero copy", func(ctx SpecContext) {
		srv := kmTransport(ctx, false)
		for i, direct := range []bool{false, true} {
			name := fmt.Sprintf("km-int-copy-%d", i)
			if direct {
				name = dioPrefix + name
			}
			p := filepath.Join(srv.MountPoint(), name)
			Expect(kmClient(ctx, 0, roundTrip(p, 4096, pattern(3*4096, byte(i+1)), direct))).To(Succeed())
		}
		c := srv.Counters()
		Expect(c.ZeroCopyWriteBytes+c.ZeroCopyReadBytes).To(BeZero(), "no zero copy without it")
		Expect(c.CopiedWriteBytes).To(BeNumerically(">", 0))
		Expect(c.Faults).To(BeZero())
	}, SpecTimeout(maxSpecTimeout))

	// catches: page-carrying replies other than READ (READDIR) lost on
	// zero-copy queues, where their bytes must reach the client's pages
	// through the page slot.
	It("lists a directory through zero-copy queues", func(ctx SpecContext) {
		srv := kmTransport(ctx, true)
		dir := srv.MountPoint()
		names := []string{"a", "bb", "ccc", "a-much-longer-name-than-the-others"}
		err := kmClient(ctx, 0, func() error {
			for _, n := range names {
				fd, err := unix.Open(filepath.Join(dir, n), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
				if err != nil {
					return err
				}
				unix.Close(fd)
			}
			return nil
		})
		Expect(err).NotTo(HaveOccurred())
		var listed []string
		err = kmClient(ctx, 0, func() error {
			fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			buf := make([]byte, 8192)
			for {
				n, err := unix.Getdents(fd, buf)
				if err != nil {
					return err
				}
				if n == 0 {
					return nil
				}
				_, _, listed = unix.ParseDirent(buf[:n], -1, listed)
			}
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(listed).To(ContainElements(names))
		c := srv.Counters()
		Expect(c.Requests[fuseabi.FUSE_READDIR] + c.Requests[fuseabi.FUSE_READDIRPLUS]).To(BeNumerically(">", 0))
		Expect(c.Faults).To(BeZero())
	}, SpecTimeout(edgeTimeout))
})
