package ringtest

import (
	"context"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Errors of the Ring handle (those of package rawring, which owns the
// thread).
var (
	// ErrClosed: the Ring was closed (or its thread has ended).
	ErrClosed = rawring.ErrClosed
	// ErrStopped: Serve's until channel closed while waiting for a request.
	ErrStopped = rawring.ErrStopped
	// ErrStuck: the ring thread did not come back after the context ended
	// or after Close; the kernel may have killed it (an oops) or it is
	// blocked in a system call that nothing wakes.
	ErrStuck = rawring.ErrStuck
)

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
// connection, owned by a dedicated, locked OS thread (package rawring).
// Its methods may be called from any goroutine; the work itself runs on
// the thread (Do).
type Ring struct {
	rt *rawring.Ring
	t  *Thread // set on the ring thread by Start, used only there
}

// Start creates the ring (IORING_SETUP_SQE128 | IORING_SETUP_CQE32) on a
// new locked OS thread for the /dev/fuse descriptor devFD.
func Start(devFD int, cfg Config) (*Ring, error) {
	r := &Ring{}
	rt, err := rawring.Start(rawring.Config{
		Name:    "ringtest",
		Entries: cfg.Entries,
		Options: []uring.Option{uring.WithSQE128(), uring.WithCQE32()},
		Setup: func(th *rawring.Thread) error {
			if cfg.BufSlots > 0 {
				if err := th.Uring().RegisterBuffersSparse(cfg.BufSlots); err != nil {
					return fmt.Errorf("ringtest: buffer table of %d slots: %w", cfg.BufSlots, err)
				}
			}
			r.t = &Thread{r: r, th: th, ring: th.Uring(), fd: int32(devFD), slots: cfg.BufSlots}
			r.t.Machine = rawring.NewMachine[*Entry, CommitArgs](th, abi{r.t})
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	r.rt = rt
	return r, nil
}

// Do runs fn on the ring thread and returns its error. When ctx ends, the
// thread is woken from any wait inside fn (which then returns ctx's error);
// if it does not come back within a grace period Do returns ErrStuck.
// fn must not use Gomega (it runs outside the spec's goroutine): return
// errors instead.
func (r *Ring) Do(ctx context.Context, fn func(*Thread) error) error {
	return r.rt.Do(ctx, func(context.Context) error { return fn(r.t) })
}

// Close ends the ring thread: the io_uring instance is closed (the kernel
// cancels the waiting FUSE commands and drops the buffer table), the thread
// exits, and the memory from Alloc is unmapped. It returns ErrStuck if the
// thread does not end. Close is idempotent.
func (r *Ring) Close() error { return r.rt.Close() }

// Alloc returns n bytes (rounded up to whole pages) of zeroed, page-aligned
// anonymous memory that stays mapped until Close. Headers, payload buffers
// and pools handed to the kernel come from here.
func (r *Ring) Alloc(n int) ([]byte, error) { return r.rt.Alloc(n) }

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
