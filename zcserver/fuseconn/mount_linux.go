package fuseconn

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// The fd-passing mount: a privileged mounter opens /dev/fuse, mounts the
// connection for the unprivileged server's uid and gid (MountFD), and
// hands the descriptor over a unix socket (SendFD). The server receives it
// (ReceiveFD) and serves it with Config.DevFD: Open then neither opens
// /dev/fuse nor mounts, and End does not unmount (see End).

// fuseMisc is the device number of /dev/fuse: misc major 10, minor 229
// (Documentation/admin-guide/devices.txt).
var fuseMisc = unix.Mkdev(10, 229)

// MountFD opens /dev/fuse and mounts it on mountPoint for a server running
// as uid and gid: the mount's user_id and group_id are theirs (so they own
// the connection's fusectl files, and may abort it), and allow_other lets
// every user, the mounter included, use the mount. maxRead is the mount's
// max_read: the server's payload size, i.e. max(8192, the max_write
// rounded up to a page); 0 means that of protocol.DefaultMaxWrite. It needs
// CAP_SYS_ADMIN. The caller owns the returned descriptor: it passes it to
// the server (SendFD, or inheritance) and closes its own copy; it also
// unmounts when done (unix.Unmount with MNT_DETACH), since a server
// serving a passed descriptor never does.
func MountFD(mountPoint string, uid, gid int, maxRead int) (int, error) {
	if maxRead == 0 {
		maxRead = max(8192, protocol.DefaultMaxWrite)
	}
	if maxRead < 4096 || uid < 0 || gid < 0 {
		return -1, fmt.Errorf("zcserver: mount %s: uid %d, gid %d, max_read %d: %w", mountPoint, uid, gid, maxRead, unix.EINVAL)
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("zcserver: open /dev/fuse: %w", err)
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,max_read=%d", fd, uid, gid, maxRead)
	if err := unix.Mount("zcserver", mountPoint, "fuse.zcserver", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("zcserver: mount fuse.zcserver on %s (%s): %w", mountPoint, opts, err)
	}
	return fd, nil
}

// CheckDevFuse reports whether fd is an open /dev/fuse descriptor.
func CheckDevFuse(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat descriptor %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != fuseMisc {
		return fmt.Errorf("descriptor %d is not /dev/fuse (mode %#o, rdev %#x)", fd, st.Mode, st.Rdev)
	}
	return nil
}

// connID returns the fusectl connection number of the FUSE mount at mnt:
// the kernel's dev_t of the superblock. statx with AT_STATX_DONT_SYNC
// reads the cached root inode, so no FUSE request is sent (ABI doc §8).
func connID(mnt string) (uint32, error) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, mnt, unix.AT_STATX_DONT_SYNC|unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
	if err != nil {
		return 0, fmt.Errorf("zcserver: statx %s: %w", mnt, err)
	}
	// The kernel names the directory after its internal dev_t encoding,
	// major<<20 | minor; FUSE superblocks are anonymous, major 0.
	return stx.Dev_major<<20 | stx.Dev_minor, nil
}
