package fuseconn

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

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
