package fuseconn

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEndAfterTheConnectionEnded ends a connection that has already
// ended when End aborts it: its fusectl entry is gone (no
// fusectl has connection 4294967295), and its readers return a moment
// later. That is how an idle mount ends when its readers are slower than
// the grace after the unmount, and End must succeed; it used to return
// the abort's ENOENT ("abort connection N: ... missing"), which failed
// zcserver's TestDevFuse in the VM now and then on a loaded host. The
// passed-descriptor path (Config.DevFD) is used so that nothing is
// unmounted.
func TestEndAfterTheConnectionEnded(t *testing.T) {
	fd, err := unix.MemfdCreate("not-fuse", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{cfg: Config{MountPoint: "/unused", DevFD: fd}, fd: fd, connID: 1<<32 - 1, done: make(chan struct{})}
	readersEnd := time.AfterFunc(500*time.Millisecond, func() { close(c.done) })
	defer readersEnd.Stop()
	if err := c.End(); err != nil {
		t.Fatalf("End after the connection ended: %v", err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("End returned before the readers ended")
	}
	if err := c.CloseFD(); err != nil {
		t.Fatal(err)
	}
}
