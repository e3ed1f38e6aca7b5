package guest

import (
	"errors"
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/memfs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// ringConn is what the ring rigs of both ABIs (rig, kmRig) share: one
// spec's fresh FUSE connection, served by a zcserver, and the spec's
// clients.
type ringConn struct {
	srv     *zcserver.Server
	info    protocol.InitInfo
	clients ringtest.Clients
}

// deferRelease registers the cleanups that abort the connection (which
// releases blocked clients) and then wait for every client. Call it after
// registering the ring's cleanup, so that these run first.
func (c *ringConn) deferRelease() {
	DeferCleanup(func(ctx SpecContext) {
		Eventually(c.clients.Running).WithContext(ctx).Should(BeZero(), "clients still blocked after the abort")
	}, NodeTimeout(cleanupTimeout))
	DeferCleanup(c.abort)
}

// abort aborts the connection through fusectl (idempotent).
func (c *ringConn) abort() error {
	if err := c.srv.Abort(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// path is the mount-relative path p.
func (c *ringConn) path(p string) string { return filepath.Join(c.srv.MountPoint(), p) }

// lookupENOENT is a client that looks up a name that does not exist
// (LOOKUP with the name as payload; our server answers ENOENT).
func (c *ringConn) lookupENOENT(name string) func() error {
	p := c.path(name)
	return func() error {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("stat %s: got %v, want ENOENT", p, err)
		}
		return nil
	}
}

// createFile puts a regular file with content into the served tree
// directly (no FUSE request); clients then LOOKUP and OPEN it over the
// ring.
func (c *ringConn) createFile(name string, content []byte) {
	GinkgoHelper()
	fs := c.srv.FS()
	_, fh, err := fs.Create(memfs.RootID, name, 0o644, unix.O_RDWR, memfs.Owner{})
	Expect(err).NotTo(HaveOccurred(), "create %s", name)
	defer func() { Expect(fs.Release(fh)).To(Succeed()) }()
	ext, err := fs.WriteExtent(fh, 0, uint32(len(content)))
	Expect(err).NotTo(HaveOccurred())
	n, err := unix.Pwrite(ext.Fd, content, 0)
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(Equal(len(content)))
	fs.Wrote(ext, n)
}
