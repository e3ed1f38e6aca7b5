package uring

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Err returns nil when c.Res >= 0, and otherwise a *CQEError that matches
// errors.Is(err, unix.Errno(-c.Res)) and names c.UserData.
func (c CQE) Err() error {
	if c.Res >= 0 {
		return nil
	}
	return &CQEError{UserData: c.UserData, Errno: unix.Errno(-c.Res)}
}

// cqReady returns the number of CQ ring slots the kernel has filled and we
// have not consumed (on a CQE_MIXED ring a 32-byte CQE fills two).
func (r *Ring) cqReady() uint32 {
	if r.cqeBase == nil {
		return 0
	}
	return atomic.LoadUint32(r.cqKTail) - r.cqHead
}

// pop consumes one CQE from the shared ring, if any.
func (r *Ring) pop() (CQE, bool) {
	for {
		tail := atomic.LoadUint32(r.cqKTail)
		if r.cqHead == tail {
			return CQE{}, false
		}
		p := unsafe.Add(r.cqeBase, uintptr(r.cqHead&r.cqMask)<<r.cqeShift)
		var c CQE
		c.UserData = *(*uint64)(p)
		c.Res = *(*int32)(unsafe.Add(p, 8))
		c.Flags = *(*uint32)(unsafe.Add(p, 12))
		step := uint32(1)
		switch {
		case r.cqeShift == 5:
			c.Big = *(*[2]uint64)(unsafe.Add(p, 16))
		case r.flags&IORING_SETUP_CQE_MIXED != 0:
			if c.Flags&IORING_CQE_F_SKIP != 0 {
				// Filler before a 32-byte CQE that would not fit at the end.
				r.cqHead++
				atomic.StoreUint32(r.cqKHead, r.cqHead)
				continue
			}
			if c.Flags&IORING_CQE_F_32 != 0 {
				c.Big = *(*[2]uint64)(unsafe.Add(p, 16))
				step = 2
			}
		}
		r.cqHead += step
		atomic.StoreUint32(r.cqKHead, r.cqHead)
		return c, true
	}
}

// needsFlush reports whether completions may be held back in the kernel
// until the next io_uring_enter with GETEVENTS: overflowed CQEs, pending
// task work, or any DEFER_TASKRUN ring.
func (r *Ring) needsFlush() bool {
	return r.flags&IORING_SETUP_DEFER_TASKRUN != 0 ||
		atomic.LoadUint32(r.sqKFlags)&(IORING_SQ_CQ_OVERFLOW|IORING_SQ_TASKRUN) != 0
}

// PeekCQE consumes and returns one CQE if one is ready, without blocking.
// When completions may be held in the kernel (see IORING_SQ_CQ_OVERFLOW,
// IORING_SQ_TASKRUN, DEFER_TASKRUN) and the ring looks empty it makes one
// non-blocking io_uring_enter(GETEVENTS) to flush them; an error from that
// call is not reported here (WaitCQE reports it). It does not allocate.
func (r *Ring) PeekCQE() (CQE, bool) {
	if r.cqeBase == nil {
		return CQE{}, false
	}
	if c, ok := r.pop(); ok {
		return c, true
	}
	if !r.needsFlush() {
		return CQE{}, false
	}
	r.enter(0, 0, IORING_ENTER_GETEVENTS)
	return r.pop()
}

// WaitCQE consumes and returns one CQE, blocking in io_uring_enter
// (IORING_ENTER_GETEVENTS, min_complete 1) until one is posted. EINTR is
// retried; any other errno is returned wrapped. WaitCQE does not submit:
// call Submit first, or it waits for requests already in flight. It does
// not allocate.
func (r *Ring) WaitCQE() (CQE, error) {
	if r.cqeBase == nil {
		return CQE{}, ErrClosed
	}
	for {
		if c, ok := r.pop(); ok {
			return c, nil
		}
		_, errno := r.enter(0, 1, IORING_ENTER_GETEVENTS)
		if errno != 0 && errno != unix.EINTR {
			return CQE{}, enterError(0, 1, IORING_ENTER_GETEVENTS, errno)
		}
	}
}

// WaitCQEs consumes n CQEs, blocking as WaitCQE does, and returns them in
// ring order. On error it returns those consumed so far.
func (r *Ring) WaitCQEs(n int) ([]CQE, error) {
	out := make([]CQE, 0, n)
	for len(out) < n {
		c, err := r.WaitCQE()
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// CQOverflow returns the kernel's count of CQEs it had to drop (only
// possible without IORING_FEAT_NODROP).
func (r *Ring) CQOverflow() uint32 {
	if r.cqeBase == nil {
		return 0
	}
	return atomic.LoadUint32(r.cqKOver)
}

// SQDropped returns the kernel's count of invalid SQ index entries it
// skipped.
func (r *Ring) SQDropped() uint32 {
	if r.sqeBase == nil {
		return 0
	}
	return atomic.LoadUint32(r.sqKDrop)
}
