package zcserver

import (
	"net"

	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
)

// The fd-passing mount: a privileged mounter opens /dev/fuse, mounts the
// connection for the unprivileged server's uid and gid (MountFD), and
// hands the descriptor over a unix socket (SendFD). The server receives it
// (ReceiveFD) and serves it with Config.DevFD: Start then neither opens
// /dev/fuse nor mounts, and Close does not unmount (see Close). Package
// fuseconn implements all three.

// MountFD opens /dev/fuse and mounts it on mountPoint for a server running
// as uid and gid, with max_read maxRead (0: that of DefaultMaxWrite); see
// fuseconn.MountFD. The caller owns the descriptor and unmounts when done.
func MountFD(mountPoint string, uid, gid int, maxRead int) (int, error) {
	return fuseconn.MountFD(mountPoint, uid, gid, maxRead)
}

// SendFD sends fd over conn as SCM_RIGHTS (fuseconn.SendFD).
func SendFD(conn *net.UnixConn, fd int) error { return fuseconn.SendFD(conn, fd) }

// ReceiveFD receives one descriptor that SendFD sent over conn,
// close-on-exec (fuseconn.ReceiveFD).
func ReceiveFD(conn *net.UnixConn) (int, error) { return fuseconn.ReceiveFD(conn) }
