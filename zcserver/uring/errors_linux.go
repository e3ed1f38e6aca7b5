package uring

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrSQFull: every submission slot holds an SQE the kernel has not
	// consumed yet; Submit, then try again.
	ErrSQFull = errors.New("uring: submission queue full")
	// ErrClosed: the Ring was closed.
	ErrClosed = errors.New("uring: ring closed")
	// ErrNeedSQE128: a 128-byte SQE was asked of a ring created with
	// neither IORING_SETUP_SQE128 nor IORING_SETUP_SQE_MIXED.
	ErrNeedSQE128 = errors.New("uring: ring has no 128-byte SQEs (needs IORING_SETUP_SQE128 or IORING_SETUP_SQE_MIXED)")
	// ErrUnsupportedSetup: a setup flag asks for a ring protocol this
	// package does not implement (New fails before any syscall).
	ErrUnsupportedSetup = errors.New("uring: setup flags not supported by this package")
	// ErrNotSupported: the kernel has no io_uring (io_uring_setup gives
	// ENOSYS). The returned error also matches unix.ENOSYS.
	ErrNotSupported = errors.New("uring: io_uring not supported by this kernel")
)

// CQEError is the error of a CQE with a negative res. It unwraps to the
// unix.Errno, so errors.Is(err, unix.EFAULT) works.
type CQEError struct {
	UserData uint64
	Errno    unix.Errno
}

func (e *CQEError) Error() string {
	return "cqe user_data=" + strconv.FormatUint(e.UserData, 10) +
		" (0x" + strconv.FormatUint(e.UserData, 16) + "): " + e.Errno.Error()
}

func (e *CQEError) Unwrap() error { return e.Errno }
