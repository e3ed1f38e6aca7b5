package fuseconn

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ErrStuck: the connection did not end after unmount and abort.
var ErrStuck = errors.New("fuse connection did not end")

// End timing: how long End lets the connection end by itself after the
// lazy unmount before aborting it, and how long it then waits.
const (
	closeGrace      = 2 * time.Second
	closeAbortGrace = 10 * time.Second
)

// Abort aborts the FUSE connection through fusectl: every pending and
// future request fails, and the readers stop. End uses it when the
// connection outlives the unmount.
func (c *Conn) Abort() error {
	p := FusectlDir + "/" + strconv.FormatUint(uint64(c.connID), 10) + "/abort"
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("zcserver: abort connection %d: %s missing (connection gone, or fusectl not mounted): %w", c.connID, p, err)
		}
		return fmt.Errorf("zcserver: abort connection %d: %w", c.connID, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("1")); err != nil {
		return fmt.Errorf("zcserver: abort connection %d: write %s: %w", c.connID, p, err)
	}
	return nil
}

// End unmounts (MNT_DETACH) and waits for the readers to return. If the
// connection does not end by itself shortly (a client still holds files
// open, or a request is stuck), End aborts it through fusectl. It returns
// an error matching ErrStuck if even that does not end it: readers and
// rings may then still use the descriptor and their buffers.
//
// A connection of a passed descriptor (Config.DevFD) is not unmounted:
// unless it already ended (its mounter unmounted first), End aborts it
// through fusectl at once — the connection's fusectl files belong to the
// mount's user_id, so an unprivileged server may — and the mount stays,
// failing every access with ENOTCONN, until the mounter unmounts it.
func (c *Conn) End() error {
	var errs []error
	// A passed connection does not end by itself: abort it at once.
	grace := time.Duration(0)
	if c.cfg.DevFD == 0 {
		grace = closeGrace
		if err := unix.Unmount(c.cfg.MountPoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("zcserver: unmount %s: %w", c.cfg.MountPoint, err))
		}
	}
	if c.wait(grace) {
		return errors.Join(errs...)
	}
	var abortErr error
	if c.connID == 0 {
		errs = append(errs, errors.New("zcserver: connection still up after unmount and its fusectl ID is unknown"))
	} else {
		abortErr = c.Abort()
	}
	if !c.wait(closeAbortGrace) {
		return errors.Join(append(errs, abortErr, fmt.Errorf("zcserver: close %s: %w", c.cfg.MountPoint, ErrStuck))...)
	}
	// The readers returned. An abort that found no fusectl entry (ENOENT)
	// came after the connection had ended by itself: the unmount ends an
	// idle connection and removes its entry before it returns, and the
	// readers may take longer than the grace to see it (a loaded host
	// stops the guest, whose clock then jumps past the grace before they
	// run).
	if abortErr != nil && !errors.Is(abortErr, unix.ENOENT) {
		errs = append(errs, abortErr)
	}
	return errors.Join(errs...)
}

// CloseFD closes the /dev/fuse descriptor. Call it once End returned
// without ErrStuck and every ring transport on the connection stopped.
func (c *Conn) CloseFD() error {
	if err := unix.Close(c.fd); err != nil {
		return fmt.Errorf("zcserver: close /dev/fuse: %w", err)
	}
	return nil
}

// wait waits up to d for the readers to return.
func (c *Conn) wait(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}
