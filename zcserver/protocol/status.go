package protocol

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Status is the result of a FUSE request: 0 for success or a positive errno.
// fuse_out_header.error carries it negated.
type Status int32

// OK is the success status.
const OK Status = 0

// Statuses used by the handlers.
const (
	EIO     = Status(unix.EIO)
	ENOSYS  = Status(unix.ENOSYS)
	EPROTO  = Status(unix.EPROTO)
	EINVAL  = Status(unix.EINVAL)
	ENOENT  = Status(unix.ENOENT)
	EBADF   = Status(unix.EBADF)
	ENOTDIR = Status(unix.ENOTDIR)
)

// maxErrno bounds what the kernel accepts in fuse_out_header.error
// (ABI doc §4.e: error <= -512 is rejected).
const maxErrno = 511

// StatusOf maps an error to a Status: nil is OK, an error wrapping a
// unix.Errno in 1..511 is that errno, anything else is EIO.
func StatusOf(err error) Status {
	if err == nil {
		return OK
	}
	var e unix.Errno
	if errors.As(err, &e) && e > 0 && e <= maxErrno {
		return Status(e)
	}
	return EIO
}

// Errno returns s as a unix.Errno (0 for OK).
func (s Status) Errno() unix.Errno { return unix.Errno(s) }

// Wire returns the value for fuse_out_header.error.
func (s Status) Wire() int32 { return -int32(s) }

// String returns "OK" or the errno's name and text.
func (s Status) String() string {
	if s == OK {
		return "OK"
	}
	if n := unix.ErrnoName(unix.Errno(s)); n != "" {
		return n
	}
	return unix.Errno(s).Error()
}
