package zcserver

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/memfs"
)

// TestCloseAfterTheConnectionEnded closes a server whose connection has
// already ended when Close aborts it: its fusectl entry is gone (no
// fusectl has connection 4294967295), and its readers return a moment
// later. That is how an idle mount ends when its readers are slower than
// the grace after the unmount, and Close must succeed; it used to return
// the abort's ENOENT ("abort connection N: ... missing"), which failed
// TestDevFuse in the VM now and then on a loaded host. The passed-descriptor
// path (Config.DevFD) is used so that nothing is unmounted.
func TestCloseAfterTheConnectionEnded(t *testing.T) {
	fs, err := memfs.New(memfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.MemfdCreate("not-fuse", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{MountPoint: "/unused", DevFD: fd}, fs: fs, fd: fd, connID: 1<<32 - 1, done: make(chan struct{})}
	readersEnd := time.AfterFunc(500*time.Millisecond, func() { close(s.done) })
	defer readersEnd.Stop()
	if err := s.Close(); err != nil {
		t.Fatalf("Close after the connection ended: %v", err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned before the readers ended")
	}
}
