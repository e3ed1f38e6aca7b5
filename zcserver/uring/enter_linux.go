package uring

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// enter is the one io_uring_enter(2) call site. It returns the raw result
// and errno; callers decide about retries.
func (r *Ring) enter(toSubmit, minComplete, flags uint32) (int, unix.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd),
		uintptr(toSubmit), uintptr(minComplete), uintptr(flags), 0, 0)
	return int(n), errno
}

func enterError(toSubmit, minComplete, flags uint32, errno unix.Errno) error {
	return fmt.Errorf("io_uring_enter(to_submit=%d, min_complete=%d, flags=%#x): %w",
		toSubmit, minComplete, flags, errno)
}

// publish makes every SQE handed out so far visible to the kernel (one
// store-release of the SQ tail) and returns how many the kernel has not
// consumed yet.
func (r *Ring) publish() uint32 {
	if r.sqeTail != r.sqPub {
		atomic.StoreUint32(r.sqKTail, r.sqeTail)
		r.sqPub = r.sqeTail
	}
	return r.sqeTail - atomic.LoadUint32(r.sqKHead)
}

// Submit hands every prepared SQE to the kernel with io_uring_enter and
// returns the kernel's count of SQ entries consumed. On an SQE_MIXED ring
// that count is in 64-byte slots: a 128-byte SQE counts 2, a pad NOP from
// NextSQE128 counts 1 (observed on 7.3). EINTR is retried; any other errno is returned wrapped, and the
// unconsumed SQEs stay queued for the next Submit. With nothing to submit
// it makes no syscall. The success path does not allocate.
func (r *Ring) Submit() (int, error) { return r.SubmitAndWait(0) }

// SubmitAndWait submits like Submit and then blocks until at least waitNr
// CQEs are ready to be consumed (io_uring_enter with
// IORING_ENTER_GETEVENTS). EINTR is retried at both stages. It returns the
// kernel's count of SQ entries consumed, as Submit does.
func (r *Ring) SubmitAndWait(waitNr uint32) (int, error) {
	if r.sqeBase == nil {
		return 0, ErrClosed
	}
	submitted := 0
	for {
		toSubmit := r.publish()
		if toSubmit == 0 {
			break
		}
		var flags uint32
		if waitNr > 0 {
			flags = IORING_ENTER_GETEVENTS
		}
		n, errno := r.enter(toSubmit, waitNr, flags)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return submitted, enterError(toSubmit, waitNr, flags, errno)
		}
		submitted += n
		break
	}
	for waitNr > 0 && r.cqReady() < waitNr {
		_, errno := r.enter(0, waitNr, IORING_ENTER_GETEVENTS)
		if errno != 0 && errno != unix.EINTR {
			return submitted, enterError(0, waitNr, IORING_ENTER_GETEVENTS, errno)
		}
	}
	return submitted, nil
}
