package zcserver

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// The fd-passing mount: a privileged mounter opens /dev/fuse, mounts the
// connection for the unprivileged server's uid and gid (MountFD), and
// hands the descriptor over a unix socket (SendFD). The server receives it
// (ReceiveFD) and serves it with Config.DevFD: Start then neither opens
// /dev/fuse nor mounts, and Close does not unmount (see Close).

// fuseMisc is the device number of /dev/fuse: misc major 10, minor 229
// (Documentation/admin-guide/devices.txt).
var fuseMisc = unix.Mkdev(10, 229)

// MountFD opens /dev/fuse and mounts it on mountPoint for a server running
// as uid and gid: the mount's user_id and group_id are theirs (so they own
// the connection's fusectl files, and may abort it), and allow_other lets
// every user, the mounter included, use the mount. maxRead is the mount's
// max_read: the server's payload size, i.e. max(8192, Config.MaxWrite
// rounded up to a page); 0 means that of DefaultMaxWrite. It needs
// CAP_SYS_ADMIN. The caller owns the returned descriptor: it passes it to
// the server (SendFD, or inheritance) and closes its own copy; it also
// unmounts when done (unix.Unmount with MNT_DETACH), since a server
// serving a passed descriptor never does.
func MountFD(mountPoint string, uid, gid int, maxRead int) (int, error) {
	if maxRead == 0 {
		maxRead = max(8192, DefaultMaxWrite)
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

// SendFD sends fd over conn as SCM_RIGHTS, with one data byte (a stream
// socket carries no control message without data). fd stays open; the
// receiver gets its own descriptor of the same file.
func SendFD(conn *net.UnixConn, fd int) error {
	n, oobn, err := conn.WriteMsgUnix([]byte{0}, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("zcserver: send fd %d: %w", fd, err)
	}
	if n != 1 || oobn != unix.CmsgSpace(4) {
		return fmt.Errorf("zcserver: send fd %d: short write (%d data, %d control bytes)", fd, n, oobn)
	}
	return nil
}

// ReceiveFD receives one descriptor that SendFD sent over conn, close-on-
// exec. A message without exactly one descriptor is an error (any
// descriptors it did carry are closed); so is the peer closing first
// (io.EOF, wrapped).
func ReceiveFD(conn *net.UnixConn) (int, error) {
	var data [1]byte
	oob := make([]byte, unix.CmsgSpace(4*4)) // room to notice extra descriptors
	n, oobn, flags, _, err := conn.ReadMsgUnix(data[:], oob)
	if err != nil {
		return -1, fmt.Errorf("zcserver: receive fd: %w", err)
	}
	var fds []int
	msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) == 1 && perr == nil && flags&unix.MSG_CTRUNC == 0 {
		return fds[0], nil
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if n == 0 && oobn == 0 {
		return -1, errors.New("zcserver: receive fd: peer closed the socket")
	}
	return -1, fmt.Errorf("zcserver: receive fd: got %d descriptors (control %d bytes, flags %#x, parse error %v)", len(fds), oobn, flags, perr)
}

// checkDevFuse reports whether fd is an open /dev/fuse descriptor.
func checkDevFuse(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat descriptor %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != fuseMisc {
		return fmt.Errorf("descriptor %d is not /dev/fuse (mode %#o, rdev %#x)", fd, st.Mode, st.Rdev)
	}
	return nil
}
