package uring

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Option configures New.
type Option func(*config) error

type config struct {
	flags     uint32
	cqEntries uint32
}

// WithSQE128 makes every SQE 128 bytes (IORING_SETUP_SQE128), giving each
// an 80-byte command area; FUSE-over-io_uring needs it (ABI doc §2.1).
func WithSQE128() Option {
	return func(c *config) error { c.flags |= IORING_SETUP_SQE128; return nil }
}

// WithCQE32 makes every CQE 32 bytes (IORING_SETUP_CQE32); CQE.Big is
// filled from the extra 16 bytes.
func WithCQE32() Option {
	return func(c *config) error { c.flags |= IORING_SETUP_CQE32; return nil }
}

// WithSetupFlags ors extra IORING_SETUP_* bits into the setup flags, e.g.
// SINGLE_ISSUER, DEFER_TASKRUN, COOP_TASKRUN, NO_SQARRAY, SQE_MIXED,
// CQE_MIXED. Flags whose ring protocol this package does not implement
// (SQPOLL, NO_MMAP, REGISTERED_FD_ONLY, SQ_REWIND) make New fail with
// ErrUnsupportedSetup before any syscall.
func WithSetupFlags(f uint32) Option {
	return func(c *config) error { c.flags |= f; return nil }
}

// WithCQSize asks for a completion ring of n entries (IORING_SETUP_CQSIZE)
// instead of the kernel's default of twice the SQ size.
func WithCQSize(n uint32) Option {
	return func(c *config) error {
		if n == 0 {
			return errors.New("uring: WithCQSize(0)")
		}
		c.flags |= IORING_SETUP_CQSIZE
		c.cqEntries = n
		return nil
	}
}

// unsupportedSetup are setup flags whose ring protocol this package lacks.
const unsupportedSetup = IORING_SETUP_SQPOLL | IORING_SETUP_NO_MMAP |
	IORING_SETUP_REGISTERED_FD_ONLY | IORING_SETUP_SQ_REWIND

// Ring is one io_uring instance: its fd, its three shared mappings and the
// resources registered on it. A Ring is owned by one goroutine at a time and
// has no locks; see the package documentation for the threading rules.
type Ring struct {
	fd       int
	flags    uint32
	features uint32
	params   Params

	ringMap []byte // SQ ring (and CQ ring with IORING_FEAT_SINGLE_MMAP)
	cqMap   []byte // CQ ring when it is a separate mapping, else nil
	sqeMap  []byte // the SQE array

	// Submission queue.
	sqKHead   *uint32 // written by the kernel
	sqKTail   *uint32 // written by us (store-release)
	sqKFlags  *uint32
	sqKDrop   *uint32
	sqMask    uint32
	sqEntries uint32
	sqeBase   unsafe.Pointer
	sqeShift  uint   // log2 of the SQE slot size: 6, or 7 with SQE128
	sqeTail   uint32 // slots handed out by NextSQE (local, not yet published)
	sqPub     uint32 // last tail value published to *sqKTail
	wide      []bool // SQE_MIXED: slot i starts a 128-byte SQE

	// Completion queue.
	cqKHead   *uint32 // written by us (store-release)
	cqKTail   *uint32 // written by the kernel
	cqKOver   *uint32
	cqMask    uint32
	cqEntries uint32
	cqeBase   unsafe.Pointer
	cqeShift  uint // 4, or 5 with CQE32
	cqHead    uint32

	// Memory the kernel may touch after the registering call returned: the
	// buffers of the fixed-buffer table (by slot) and every buffer that was
	// ever in it, kept until Close because fixed I/O in flight holds pages
	// past an update or unregister.
	bufTable [][]byte
	retired  [][]byte

	closed bool
}

// New creates a ring with at least entries SQ slots (io_uring_setup(2)),
// maps it and returns it. Errors wrap the errno; a kernel without
// io_uring_setup gives an error matching both ErrNotSupported and
// unix.ENOSYS.
func New(entries uint32, opts ...Option) (*Ring, error) {
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if bad := cfg.flags & unsupportedSetup; bad != 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedSetup, SetupFlags(bad))
	}
	if cfg.flags&IORING_SETUP_SQE128 != 0 && cfg.flags&IORING_SETUP_SQE_MIXED != 0 {
		return nil, fmt.Errorf("%w: SQE128 together with SQE_MIXED", ErrUnsupportedSetup)
	}
	r := &Ring{fd: -1, flags: cfg.flags}
	r.params.Flags = cfg.flags
	r.params.CQEntries = cfg.cqEntries
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries),
		uintptr(unsafe.Pointer(&r.params)), 0)
	if errno != 0 {
		if errno == unix.ENOSYS {
			return nil, fmt.Errorf("io_uring_setup: %w: %w", ErrNotSupported, errno)
		}
		return nil, fmt.Errorf("io_uring_setup(entries=%d, flags=%s): %w",
			entries, SetupFlags(cfg.flags), errno)
	}
	r.fd = int(fd)
	r.features = r.params.Features
	if err := r.mapRings(); err != nil {
		r.unmap()
		unix.Close(r.fd)
		return nil, err
	}
	spans.add(r)
	return r, nil
}

// mapRings maps the SQ ring, the CQ ring and the SQE array and resolves
// the kernel-shared fields.
func (r *Ring) mapRings() error {
	p := &r.params
	sqeSize := uintptr(SQESize)
	r.sqeShift = 6
	if r.flags&IORING_SETUP_SQE128 != 0 {
		sqeSize, r.sqeShift = SQE128Size, 7
	}
	cqeSize := uintptr(CQESize)
	r.cqeShift = 4
	if r.flags&IORING_SETUP_CQE32 != 0 {
		cqeSize, r.cqeShift = CQE32Size, 5
	}
	useArray := r.flags&IORING_SETUP_NO_SQARRAY == 0

	// Bytes of the SQ ring region we touch: up to the end of the index
	// array, or (without one) past the last header field.
	so := &p.SQOff
	sqLen := uintptr(max(so.Head, so.Tail, so.RingMask, so.RingEntries, so.Flags, so.Dropped)) + 4
	if useArray {
		sqLen = uintptr(so.Array) + uintptr(p.SQEntries)*4
	}
	co := &p.CQOff
	cqLen := uintptr(co.CQEs) + uintptr(p.CQEntries)*cqeSize

	const prot = unix.PROT_READ | unix.PROT_WRITE
	const mflags = unix.MAP_SHARED | unix.MAP_POPULATE
	single := r.features&IORING_FEAT_SINGLE_MMAP != 0
	if single {
		sqLen = max(sqLen, cqLen)
	}
	var err error
	if r.ringMap, err = unix.Mmap(r.fd, IORING_OFF_SQ_RING, int(sqLen), prot, mflags); err != nil {
		return fmt.Errorf("mmap SQ ring (%d bytes): %w", sqLen, err)
	}
	cqRegion := r.ringMap
	if !single {
		if r.cqMap, err = unix.Mmap(r.fd, IORING_OFF_CQ_RING, int(cqLen), prot, mflags); err != nil {
			return fmt.Errorf("mmap CQ ring (%d bytes): %w", cqLen, err)
		}
		cqRegion = r.cqMap
	}
	sqesLen := uintptr(p.SQEntries) * sqeSize
	if r.sqeMap, err = unix.Mmap(r.fd, IORING_OFF_SQES, int(sqesLen), prot, mflags); err != nil {
		return fmt.Errorf("mmap SQEs (%d bytes): %w", sqesLen, err)
	}

	u32 := func(m []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }
	r.sqKHead = u32(r.ringMap, so.Head)
	r.sqKTail = u32(r.ringMap, so.Tail)
	r.sqKFlags = u32(r.ringMap, so.Flags)
	r.sqKDrop = u32(r.ringMap, so.Dropped)
	r.sqMask = *u32(r.ringMap, so.RingMask)
	r.sqEntries = *u32(r.ringMap, so.RingEntries)
	r.sqeBase = unsafe.Pointer(&r.sqeMap[0])
	if useArray {
		// One SQE slot per ring position, in order: the index array is the
		// identity and never changes afterwards.
		arr := unsafe.Slice(u32(r.ringMap, so.Array), r.sqEntries)
		for i := range arr {
			arr[i] = uint32(i)
		}
	}
	if r.flags&IORING_SETUP_SQE_MIXED != 0 {
		r.wide = make([]bool, r.sqEntries)
	}
	r.sqeTail = atomic.LoadUint32(r.sqKTail)
	r.sqPub = r.sqeTail

	r.cqKHead = u32(cqRegion, co.Head)
	r.cqKTail = u32(cqRegion, co.Tail)
	r.cqKOver = u32(cqRegion, co.Overflow)
	r.cqMask = *u32(cqRegion, co.RingMask)
	r.cqEntries = *u32(cqRegion, co.RingEntries)
	r.cqeBase = unsafe.Pointer(&cqRegion[co.CQEs])
	r.cqHead = atomic.LoadUint32(r.cqKHead)
	return nil
}

func (r *Ring) unmap() {
	for _, m := range []*[]byte{&r.sqeMap, &r.cqMap, &r.ringMap} {
		if *m != nil {
			_ = unix.Munmap(*m)
			*m = nil
		}
	}
	r.sqeBase, r.cqeBase = nil, nil
}

// Close unmaps the ring and closes its fd; the kernel then tears the ring
// down (asynchronously) and drops the registered buffers, files and
// personalities. Close does not wait for requests in flight: collect their
// CQEs first if they point at memory you are about to reuse. Calling Close
// again returns nil.
func (r *Ring) Close() error {
	if r == nil || r.closed {
		return nil
	}
	r.closed = true
	spans.remove(r)
	r.unmap()
	err := unix.Close(r.fd)
	r.fd = -1
	r.bufTable, r.retired = nil, nil
	if err != nil {
		return fmt.Errorf("close io_uring fd: %w", err)
	}
	return nil
}

// Fd returns the ring's file descriptor (-1 after Close).
func (r *Ring) Fd() int { return r.fd }

// SQE128 reports whether every SQE of this ring is 128 bytes.
func (r *Ring) SQE128() bool { return r.flags&IORING_SETUP_SQE128 != 0 }

// SQEMixed reports whether the ring takes both 64- and 128-byte SQEs
// (IORING_SETUP_SQE_MIXED; 128-byte ones come from NextSQE128).
func (r *Ring) SQEMixed() bool { return r.flags&IORING_SETUP_SQE_MIXED != 0 }

// CQE32 reports whether every CQE of this ring is 32 bytes.
func (r *Ring) CQE32() bool { return r.flags&IORING_SETUP_CQE32 != 0 }

// Features returns the IORING_FEAT_* bits the kernel reported at setup.
func (r *Ring) Features() uint32 { return r.features }

// SetupFlags returns the IORING_SETUP_* bits the ring was created with.
func (r *Ring) SetupFlags() uint32 { return r.flags }

// Params returns the io_uring_params the kernel filled in at setup.
func (r *Ring) Params() Params { return r.params }

// SQEntries and CQEntries return the ring sizes the kernel chose.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the completion ring size the kernel chose.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// sqeSpans maps SQE memory back to its ring, so that (*SQE).Cmd can tell a
// 128-byte slot from a 64-byte one without a ring argument. Readers load
// the slice without locking or allocating; New and Close replace it.
type sqeSpans struct {
	mu  sync.Mutex
	cur atomic.Pointer[[]sqeSpan]
}

type sqeSpan struct {
	start, end uintptr
	ring       *Ring
}

var spans sqeSpans

func (s *sqeSpans) add(r *Ring) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []sqeSpan
	if old := s.cur.Load(); old != nil {
		next = append(next, *old...)
	}
	start := uintptr(r.sqeBase)
	next = append(next, sqeSpan{start: start, end: start + uintptr(len(r.sqeMap)), ring: r})
	s.cur.Store(&next)
}

func (s *sqeSpans) remove(r *Ring) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if old == nil {
		return
	}
	next := make([]sqeSpan, 0, len(*old))
	for _, sp := range *old {
		if sp.ring != r {
			next = append(next, sp)
		}
	}
	s.cur.Store(&next)
}

// cmdArea returns the 80-byte command area of the SQE at p, or nil when p
// is not the start of a 128-byte SQE of a live ring.
func (s *sqeSpans) cmdArea(sqe unsafe.Pointer) []byte {
	p := uintptr(sqe)
	cur := s.cur.Load()
	if cur == nil {
		return nil
	}
	for _, sp := range *cur {
		if p < sp.start || p >= sp.end {
			continue
		}
		r := sp.ring
		off := p - sp.start
		switch {
		case r.flags&IORING_SETUP_SQE128 != 0:
			if off%SQE128Size != 0 {
				return nil
			}
		case r.wide != nil:
			if off%SQESize != 0 || !r.wide[off/SQESize] {
				return nil
			}
		default:
			return nil
		}
		return unsafe.Slice((*byte)(unsafe.Add(sqe, CmdOffset)), CmdSize)
	}
	return nil
}
