package rawring

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

// Errors of a Ring.
var (
	// ErrClosed: the Ring was closed, or its thread ended.
	ErrClosed = errors.New("rawring: ring closed")
	// ErrStopped: a stoppable wait ended because of StopOn's channel.
	ErrStopped = errors.New("rawring: serving stopped")
	// ErrStuck: the ring thread did not come back after a cancellation or
	// Close (the kernel may have killed it, or it waits in a system call
	// nothing wakes).
	ErrStuck = errors.New("rawring: ring thread stuck")
)

// stuckGrace is how long Do and Close wait for the ring thread after a
// cancellation or a close request before reporting ErrStuck.
const stuckGrace = 10 * time.Second

// user_data of the SQEs of a ring thread: FUSE entries carry
// UserDataEntry|index, other SQEs UserDataOp|sequence, and the CQE that
// Wake posts is UserDataWake. UserDataKind masks the kind bits.
const (
	UserDataEntry = 1 << 61
	UserDataOp    = 1 << 60
	UserDataWake  = 1 << 62
	UserDataKind  = UserDataEntry | UserDataOp | UserDataWake
)

// Config configures Start.
type Config struct {
	// Name starts the text of the errors this package builds for its
	// caller ("kmbufring", "ringtest").
	Name string
	// Entries is the SQ size; 0 means 64.
	Entries uint32
	// Options are the io_uring setup options (SQE128 for FUSE commands).
	Options []uring.Option
	// Populate makes Alloc pre-fault its pages (MAP_POPULATE).
	Populate bool
	// Setup, when set, runs on the ring thread once the instance exists;
	// when it fails the instance is closed and Start returns its error.
	Setup func(*Thread) error
	// Release, when set, runs on the ring thread when it ends, right after
	// the instance is closed.
	Release func()
}

// Ring is one io_uring instance owned by a dedicated, locked OS thread.
// Its methods may be called from any goroutine.
type Ring struct {
	cfg    Config
	ringFD int
	calls  chan call
	quit   chan struct{} // closed by Close
	done   chan struct{} // closed when the thread has left its loop
	// stopNext makes stoppable waits return ErrStopped (StopOn).
	stopNext atomic.Bool

	closeOnce sync.Once
	closeErr  error

	memMu sync.Mutex
	mem   [][]byte // anonymous mappings, unmapped by Close

	t *Thread // the ring thread's state, used only on the thread
}

type call struct {
	ctx context.Context
	fn  func(context.Context) error
	res chan error
}

// Start creates the io_uring instance on a new locked OS thread.
func Start(cfg Config) (*Ring, error) {
	if cfg.Entries == 0 {
		cfg.Entries = 64
	}
	r := &Ring{cfg: cfg, ringFD: -1, calls: make(chan call), quit: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go r.loop(ready)
	if err := <-ready; err != nil {
		<-r.done
		return nil, err
	}
	return r, nil
}

// loop is the ring thread. It never unlocks the OS thread: the thread may
// carry changed credentials, so it ends with the goroutine.
func (r *Ring) loop(ready chan<- error) {
	defer close(r.done)
	runtime.LockOSThread()
	ring, err := uring.New(r.cfg.Entries, r.cfg.Options...)
	if err != nil {
		ready <- fmt.Errorf("%s: %w", r.cfg.Name, err)
		return
	}
	t := &Thread{r: r, ring: ring, ctx: context.Background()}
	r.t = t
	if r.cfg.Setup != nil {
		if err := r.cfg.Setup(t); err != nil {
			ring.Close()
			ready <- err
			return
		}
	}
	defer func() {
		ring.Close()
		if r.cfg.Release != nil {
			r.cfg.Release()
		}
	}()
	r.ringFD = ring.Fd()
	ready <- nil
	for {
		select {
		case c := <-r.calls:
			c.res <- r.run(c)
		case <-r.quit:
			return
		}
	}
}

// run calls c.fn, turning a panic into an error.
func (r *Ring) run(c call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic on the ring thread: %v", r.cfg.Name, p)
		}
	}()
	r.t.ctx = c.ctx
	defer func() { r.t.ctx = context.Background() }()
	return c.fn(c.ctx)
}

// Do runs fn on the ring thread with ctx and returns its error. When ctx
// ends, the thread is woken from any wait inside fn (which then returns
// ctx's error); if it does not come back within a grace period Do returns
// ErrStuck. fn runs outside the caller's goroutine: it must not use
// Gomega, but return errors.
func (r *Ring) Do(ctx context.Context, fn func(context.Context) error) error {
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
	stop := context.AfterFunc(ctx, r.Wake)
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

// Wake posts a CQE with user_data UserDataWake into the ring from outside
// (IORING_REGISTER_SEND_MSG_RING without a source ring), ending any
// io_uring_enter wait of the thread.
func (r *Ring) Wake() {
	var sqe uring.SQE
	sqe.Opcode = uring.IORING_OP_MSG_RING
	sqe.Fd = int32(r.ringFD)
	sqe.Off = UserDataWake // user_data of the posted CQE
	unix.Syscall6(unix.SYS_IO_URING_REGISTER, ^uintptr(0), uring.IORING_REGISTER_SEND_MSG_RING,
		uintptr(unsafe.Pointer(&sqe)), 1, 0, 0)
}

// StopOn makes stoppable waits (Thread.Wait with stoppable set) return
// ErrStopped, and wakes the thread, once until is closed. It clears an
// earlier stop first. Call the returned function, which waits for the
// watcher to end, when the stoppable work is over; it leaves the stop as
// it is (ClearStop clears it).
func (r *Ring) StopOn(until <-chan struct{}) (end func()) {
	r.stopNext.Store(false)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-until:
			r.stopNext.Store(true)
			r.Wake()
		case <-done:
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// ClearStop clears the stop StopOn set.
func (r *Ring) ClearStop() { r.stopNext.Store(false) }

// Serve runs fn on the ring thread (Do) with its stoppable waits ended by
// until: once until is closed they return ErrStopped, which Serve turns
// into nil. The stop is cleared before Serve returns, so a later Next or
// stoppable wait outside Serve waits as usual.
func (r *Ring) Serve(ctx context.Context, until <-chan struct{}, fn func(context.Context) error) error {
	// Deferred first, so it runs last: after the watcher has ended.
	defer r.ClearStop()
	defer r.StopOn(until)()
	err := r.Do(ctx, fn)
	if errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}

// Close ends the ring thread: the io_uring instance is closed (the kernel
// cancels its waiting commands and drops its buffer table), Release runs,
// the thread exits, and the memory from Alloc is unmapped. It returns
// ErrStuck if the thread does not end, and is idempotent.
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		r.Wake()
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
				errs = append(errs, fmt.Errorf("%s: munmap: %w", r.cfg.Name, err))
			}
		}
		r.mem = nil
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

// Alloc returns n bytes (rounded up to whole pages, at least one) of
// zeroed, page-aligned anonymous memory that stays mapped until Close:
// headers, payload buffers and pools handed to the kernel.
func (r *Ring) Alloc(n int) ([]byte, error) {
	page := unix.Getpagesize()
	size := max((n+page-1)/page*page, page)
	flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	if r.cfg.Populate {
		flags |= unix.MAP_POPULATE
	}
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap %d bytes: %w", r.cfg.Name, size, err)
	}
	r.memMu.Lock()
	r.mem = append(r.mem, m)
	r.memMu.Unlock()
	return m[:n:size], nil
}
