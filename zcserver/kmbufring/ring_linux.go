package kmbufring

import (
	"context"
	"errors"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Errors of a Ring (those of package rawring, which owns the thread).
var (
	// ErrClosed: the Ring was closed, or its thread ended.
	ErrClosed = rawring.ErrClosed
	// ErrStopped: Serve's until channel closed while waiting for a request.
	ErrStopped = rawring.ErrStopped
	// ErrStuck: the ring thread did not come back after a cancellation or
	// Close (the kernel may have killed it, or it waits in a system call
	// nothing wakes).
	ErrStuck = rawring.ErrStuck
)

// Config configures Start.
type Config struct {
	// Profile builds every FUSE command (the REGISTER layout).
	Profile kmbuf.Profile
	// Entries is the SQ size; 0 means 64.
	Entries uint32
}

// Ring is one io_uring instance (SQE128) carrying the FUSE commands of one
// queue of a /dev/fuse connection, owned by a dedicated, locked OS thread
// (package rawring). Its methods may be called from any goroutine; the
// work runs on the thread (Do).
type Ring struct {
	rt *rawring.Ring
	t  *Thread // set on the ring thread by Start, used only there
}

// Start creates the ring on a new locked OS thread for the /dev/fuse
// descriptor devFD.
func Start(devFD int, cfg Config) (*Ring, error) {
	if cfg.Profile.Name == "" {
		return nil, errors.New("kmbufring: Config.Profile is not set")
	}
	r := &Ring{}
	rt, err := rawring.Start(rawring.Config{
		Name:     "kmbufring",
		Entries:  cfg.Entries,
		Options:  []uring.Option{uring.WithSQE128()},
		Populate: true,
		Setup: func(th *rawring.Thread) error {
			r.t = &Thread{r: r, th: th, ring: th.Uring(), fd: int32(devFD), Profile: cfg.Profile, scratch: -1}
			r.t.Machine = rawring.NewMachine[*Entry, CommitArgs](th, abi{r.t})
			return nil
		},
		// The instance is closed first: the kernel ends the waiting
		// commands and frees the kmbuf ring before its buffers go.
		Release: func() { r.t.release() },
	})
	if err != nil {
		return nil, err
	}
	r.rt = rt
	return r, nil
}

// Do runs fn on the ring thread and returns its error. When ctx ends, the
// thread is woken from any wait inside fn (which then returns ctx's
// error); if it does not come back within a grace period Do returns
// ErrStuck. fn must not use Gomega: return errors instead.
func (r *Ring) Do(ctx context.Context, fn func(*Thread) error) error {
	return r.rt.Do(ctx, func(context.Context) error { return fn(r.t) })
}

// Close ends the ring thread and closes the io_uring instance: the kernel
// cancels the waiting FUSE commands, drops the buffer table and releases
// the kmbuf ring. Memory from Alloc is unmapped once the thread is gone.
// Close the FUSE connection first (the kernel may still write into the
// buffers of a live connection). It returns ErrStuck if the thread does
// not end, and is idempotent.
func (r *Ring) Close() error { return r.rt.Close() }

// Alloc returns n bytes (whole pages) of zeroed, page-aligned anonymous
// memory that stays mapped until Close: headers buffers, canaries, iovec
// payloads.
func (r *Ring) Alloc(n int) ([]byte, error) { return r.rt.Alloc(n) }
