package ringtest

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

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Errors of the Ring handle.
var (
	// ErrClosed: the Ring was closed (or its thread has ended).
	ErrClosed = errors.New("ringtest: ring closed")
	// ErrStopped: Serve's until channel closed while waiting for a request.
	ErrStopped = errors.New("ringtest: serving stopped")
	// ErrStuck: the ring thread did not come back after the context ended
	// or after Close; the kernel may have killed it (an oops) or it is
	// blocked in a system call that nothing wakes.
	ErrStuck = errors.New("ringtest: ring thread stuck")
)

// stuckGrace is how long Do and Close wait for the ring thread after a
// cancellation or a close request before reporting ErrStuck.
const stuckGrace = 10 * time.Second

// Config configures Start.
type Config struct {
	// Entries is the SQ size; 0 means 64.
	Entries uint32
	// BufSlots, when non-zero, installs a sparse fixed-buffer table of
	// that many slots (registered pools and zero-copy slots live there,
	// ABI doc §4.1 step 3).
	BufSlots uint32
}

// Ring is one io_uring instance carrying FUSE uring_cmds for one /dev/fuse
// connection, owned by a dedicated, locked OS thread. Its methods may be
// called from any goroutine; the work itself runs on the thread (Do).
type Ring struct {
	devFD  int32
	ringFD int
	calls  chan call
	quit   chan struct{} // closed by Close
	// stopNext makes Next return ErrStopped (set by Serve's until).
	stopNext atomic.Bool
	done     chan struct{} // closed when the thread has left its loop

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

// Start creates the ring (IORING_SETUP_SQE128 | IORING_SETUP_CQE32) on a
// new locked OS thread for the /dev/fuse descriptor devFD.
func Start(devFD int, cfg Config) (*Ring, error) {
	if cfg.Entries == 0 {
		cfg.Entries = 64
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

// loop is the ring thread. It never unlocks the OS thread: the thread may
// carry changed credentials, so it ends with the goroutine.
func (r *Ring) loop(cfg Config, ready chan<- error) {
	defer close(r.done)
	runtime.LockOSThread()
	ring, err := uring.New(cfg.Entries, uring.WithSQE128(), uring.WithCQE32())
	if err != nil {
		ready <- fmt.Errorf("ringtest: %w", err)
		return
	}
	if cfg.BufSlots > 0 {
		if err := ring.RegisterBuffersSparse(cfg.BufSlots); err != nil {
			ring.Close()
			ready <- fmt.Errorf("ringtest: buffer table of %d slots: %w", cfg.BufSlots, err)
			return
		}
	}
	r.ringFD = ring.Fd()
	t := &Thread{r: r, ring: ring, fd: r.devFD, slots: cfg.BufSlots}
	ready <- nil
	for {
		select {
		case c := <-r.calls:
			c.res <- t.run(c)
		case <-r.quit:
			ring.Close()
			return
		}
	}
}

// run calls c.fn, turning a panic into an error.
func (t *Thread) run(c call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("ringtest: panic on the ring thread: %v", p)
		}
	}()
	t.ctx = c.ctx
	return c.fn(t)
}

// Do runs fn on the ring thread and returns its error. When ctx ends, the
// thread is woken from any wait inside fn (which then returns ctx's error);
// if it does not come back within a grace period Do returns ErrStuck.
// fn must not use Gomega (it runs outside the spec's goroutine): return
// errors instead.
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
	t := time.NewTimer(stuckGrace)
	defer t.Stop()
	select {
	case err := <-c.res:
		return err
	case <-t.C:
		return fmt.Errorf("%w: no return %v after %v", ErrStuck, stuckGrace, ctx.Err())
	}
}

// wakeUserData marks the CQE that wake posts.
const wakeUserData = 1 << 62

// wake posts a CQE into the ring from outside (IORING_REGISTER_SEND_MSG_RING
// with no source ring), which ends any io_uring_enter wait of the thread.
func (r *Ring) wake() {
	var sqe uring.SQE
	sqe.Opcode = uring.IORING_OP_MSG_RING
	sqe.Fd = int32(r.ringFD)
	sqe.Off = wakeUserData // user_data of the posted CQE
	unix.Syscall6(unix.SYS_IO_URING_REGISTER, ^uintptr(0), uring.IORING_REGISTER_SEND_MSG_RING,
		uintptr(unsafe.Pointer(&sqe)), 1, 0, 0)
}

// Close ends the ring thread: the io_uring instance is closed (the kernel
// cancels the waiting FUSE commands and drops the buffer table), the thread
// exits, and the memory from Alloc is unmapped. It returns ErrStuck if the
// thread does not end. Close is idempotent.
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		r.wake()
		t := time.NewTimer(stuckGrace)
		defer t.Stop()
		select {
		case <-r.done:
		case <-t.C:
			r.closeErr = fmt.Errorf("%w: still running %v after Close", ErrStuck, stuckGrace)
			return // leave the memory mapped: the thread may still use it
		}
		r.memMu.Lock()
		defer r.memMu.Unlock()
		var errs []error
		for _, m := range r.mem {
			if err := unix.Munmap(m); err != nil {
				errs = append(errs, fmt.Errorf("ringtest: munmap: %w", err))
			}
		}
		r.mem = nil
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Alloc returns n bytes (rounded up to whole pages) of zeroed, page-aligned
// anonymous memory that stays mapped until Close. Headers, payload buffers
// and pools handed to the kernel come from here.
func (r *Ring) Alloc(n int) ([]byte, error) {
	page := unix.Getpagesize()
	size := (n + page - 1) / page * page
	if size == 0 {
		size = page
	}
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("ringtest: mmap %d bytes: %w", size, err)
	}
	r.memMu.Lock()
	r.mem = append(r.mem, m)
	r.memMu.Unlock()
	return m[:n:size], nil
}

// Unmap removes the pages of b (memory from Alloc) from the address space
// while the kernel may still hold b's address (a registered header or
// payload buffer), so that the kernel's next copy to or from it faults.
// Remap puts fresh zeroed pages back at the same address.
func (r *Ring) Unmap(b []byte) error {
	if err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(cap(b))); err != nil {
		return fmt.Errorf("ringtest: munmap: %w", err)
	}
	return nil
}

// Remap maps fresh zeroed pages at b's address again (see Unmap).
func (r *Ring) Remap(b []byte) error {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(cap(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("ringtest: mmap at %p: %w", unsafe.SliceData(b), err)
	}
	return nil
}
