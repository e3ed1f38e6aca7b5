package kmbufring

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Errors of a Ring.
var (
	// ErrClosed: the Ring was closed, or its thread ended.
	ErrClosed = errors.New("kmbufring: ring closed")
	// ErrStopped: Serve's until channel closed while waiting for a request.
	ErrStopped = errors.New("kmbufring: serving stopped")
	// ErrStuck: the ring thread did not come back after a cancellation or
	// Close (the kernel may have killed it, or it waits in a system call
	// nothing wakes).
	ErrStuck = errors.New("kmbufring: ring thread stuck")
)

// stuckGrace is how long Do and Close wait for the ring thread after a
// cancellation or a close request.
const stuckGrace = 10 * time.Second

// user_data of the SQEs: entries carry entryTag|index (REGISTER and
// COMMIT_AND_FETCH), other SQEs opTag|sequence, the wake-up CQE wakeTag.
const (
	entryTag = 1 << 61
	opTag    = 1 << 60
	wakeTag  = 1 << 62
	tagMask  = entryTag | opTag | wakeTag
)

// Config configures Start.
type Config struct {
	// Profile builds every FUSE command (the REGISTER layout).
	Profile kmbuf.Profile
	// Entries is the SQ size; 0 means 64.
	Entries uint32
}

// Ring is one io_uring instance (SQE128) carrying the FUSE commands of one
// queue of a /dev/fuse connection, owned by a dedicated, locked OS thread.
// Its methods may be called from any goroutine; the work runs on the
// thread (Do).
type Ring struct {
	devFD  int32
	ringFD int
	calls  chan call
	quit   chan struct{}
	done   chan struct{}
	// stopNext makes Next return ErrStopped (Serve's until).
	stopNext atomic.Bool

	closeOnce sync.Once
	closeErr  error

	memMu sync.Mutex
	mem   [][]byte // anonymous mappings, unmapped by Close
}

type call struct {
	ctx context.Context
	fn  func(*Thread) error
	res chan error
}

// Start creates the ring on a new locked OS thread for the /dev/fuse
// descriptor devFD.
func Start(devFD int, cfg Config) (*Ring, error) {
	if cfg.Entries == 0 {
		cfg.Entries = 64
	}
	if cfg.Profile.Name == "" {
		return nil, errors.New("kmbufring: Config.Profile is not set")
	}
	r := &Ring{devFD: int32(devFD), ringFD: -1, calls: make(chan call), quit: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go r.loop(cfg, ready)
	if err := <-ready; err != nil {
		<-r.done
		return nil, err
	}
	return r, nil
}

// loop is the ring thread. It never unlocks the OS thread: its
// credentials may have been changed (SetCapSysAdmin), so it ends with the
// goroutine.
func (r *Ring) loop(cfg Config, ready chan<- error) {
	defer close(r.done)
	runtime.LockOSThread()
	ring, err := uring.New(cfg.Entries, uring.WithSQE128())
	if err != nil {
		ready <- fmt.Errorf("kmbufring: %w", err)
		return
	}
	t := &Thread{r: r, ring: ring, fd: r.devFD, Profile: cfg.Profile, scratch: -1}
	defer t.release()
	r.ringFD = ring.Fd()
	ready <- nil
	for {
		select {
		case c := <-r.calls:
			c.res <- t.run(c)
		case <-r.quit:
			return
		}
	}
}

// run calls c.fn, turning a panic into an error.
func (t *Thread) run(c call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("kmbufring: panic on the ring thread: %v", p)
		}
	}()
	t.ctx = c.ctx
	return c.fn(t)
}

// Do runs fn on the ring thread and returns its error. When ctx ends, the
// thread is woken from any wait inside fn (which then returns ctx's
// error); if it does not come back within a grace period Do returns
// ErrStuck. fn must not use Gomega: return errors instead.
func (r *Ring) Do(ctx context.Context, fn func(*Thread) error) error {
	c := call{ctx: ctx, fn: fn, res: make(chan error, 1)}
	select {
	case r.calls <- c:
	case <-r.quit:
		return ErrClosed
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	stop := context.AfterFunc(ctx, r.wake)
	defer stop()
	select {
	case err := <-c.res:
		return err
	case <-ctx.Done():
	}
	tm := time.NewTimer(stuckGrace)
	defer tm.Stop()
	select {
	case err := <-c.res:
		return err
	case <-tm.C:
		return fmt.Errorf("%w: no return %v after %v", ErrStuck, stuckGrace, ctx.Err())
	}
}

// wake posts a CQE into the ring from outside (IORING_REGISTER_SEND_MSG_RING
// without a source ring), ending any io_uring_enter wait of the thread.
func (r *Ring) wake() {
	var sqe uring.SQE
	sqe.Opcode = uring.IORING_OP_MSG_RING
	sqe.Fd = int32(r.ringFD)
	sqe.Off = wakeTag // user_data of the posted CQE
	unix.Syscall6(unix.SYS_IO_URING_REGISTER, ^uintptr(0), uring.IORING_REGISTER_SEND_MSG_RING,
		uintptr(unsafe.Pointer(&sqe)), 1, 0, 0)
}

// Close ends the ring thread and closes the io_uring instance: the kernel
// cancels the waiting FUSE commands, drops the buffer table and releases
// the kmbuf ring. Memory from Alloc is unmapped once the thread is gone.
// Close the FUSE connection first (the kernel may still write into the
// buffers of a live connection). It returns ErrStuck if the thread does
// not end, and is idempotent.
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		r.wake()
		tm := time.NewTimer(stuckGrace)
		defer tm.Stop()
		select {
		case <-r.done:
		case <-tm.C:
			r.closeErr = fmt.Errorf("%w: still running %v after Close", ErrStuck, stuckGrace)
			return // leave the memory mapped: the thread may still use it
		}
		r.memMu.Lock()
		defer r.memMu.Unlock()
		var errs []error
		for _, m := range r.mem {
			if err := unix.Munmap(m); err != nil {
				errs = append(errs, fmt.Errorf("kmbufring: munmap: %w", err))
			}
		}
		r.mem = nil
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Alloc returns n bytes (whole pages) of zeroed, page-aligned anonymous
// memory that stays mapped until Close: headers buffers, canaries, iovec
// payloads.
func (r *Ring) Alloc(n int) ([]byte, error) {
	page := unix.Getpagesize()
	size := max((n+page-1)/page*page, page)
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("kmbufring: mmap %d bytes: %w", size, err)
	}
	r.memMu.Lock()
	r.mem = append(r.mem, m)
	r.memMu.Unlock()
	return m[:n:size], nil
}
