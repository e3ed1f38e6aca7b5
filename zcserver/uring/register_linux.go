package uring

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// register is the one io_uring_register(2) call site. Errors name the
// opcode and wrap the errno ("register BUFFERS_UPDATE: invalid argument").
// EINTR is retried (the kernel may be interrupted while quiescing the
// ring); nothing else is. arg must stay valid for the duration of the call.
func (r *Ring) register(op RegisterOp, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("register %s: %w", op, ErrClosed)
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd),
			uintptr(op), uintptr(arg), uintptr(nrArgs), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, fmt.Errorf("register %s: %w", op, errno)
		}
		return int(n), nil
	}
}

// iovecs builds the iovec array for bufs; a nil or empty element becomes
// {NULL, 0}, which the kernel takes as an empty slot.
func iovecs(bufs [][]byte) []unix.Iovec {
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
		}
	}
	return iov
}

func iovPtr(iov []unix.Iovec) unsafe.Pointer {
	if len(iov) == 0 {
		return nil
	}
	return unsafe.Pointer(&iov[0])
}

// RegisterBuffers installs a fixed-buffer table with one slot per element
// of bufs (IORING_REGISTER_BUFFERS). A nil or empty element leaves its slot
// empty. The Ring keeps every buffer reachable until Close; the kernel pins
// the pages.
func (r *Ring) RegisterBuffers(bufs [][]byte) error {
	iov := iovecs(bufs)
	_, err := r.register(IORING_REGISTER_BUFFERS, iovPtr(iov), uint32(len(iov)))
	runtime.KeepAlive(iov)
	if err != nil {
		return err
	}
	r.bufTable = append([][]byte(nil), bufs...)
	return nil
}

// RegisterBuffersSparse installs a fixed-buffer table of n empty slots
// (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE; ABI doc §4.1
// step 3). Fill slots with UpdateBuffers; the kernel may also fill them
// (zero-copy requests, §4.4).
func (r *Ring) RegisterBuffersSparse(n uint32) error {
	rr := RsrcRegister{Nr: n, Flags: IORING_RSRC_REGISTER_SPARSE}
	_, err := r.register(IORING_REGISTER_BUFFERS2, unsafe.Pointer(&rr), uint32(unsafe.Sizeof(rr)))
	if err != nil {
		return err
	}
	r.bufTable = make([][]byte, n)
	return nil
}

// UpdateBuffers replaces len(bufs) consecutive slots starting at offset
// (IORING_REGISTER_BUFFERS_UPDATE with io_uring_rsrc_update2; §4.1 step
// 4). A nil or empty element empties its slot. It returns the number of
// slots the kernel updated. Replaced buffers stay reachable until Close.
func (r *Ring) UpdateBuffers(offset uint32, bufs [][]byte) (int, error) {
	iov := iovecs(bufs)
	up := RsrcUpdate2{Offset: offset, Data: addrOf(iovPtr(iov)), Nr: uint32(len(iov))}
	n, err := r.register(IORING_REGISTER_BUFFERS_UPDATE, unsafe.Pointer(&up), uint32(unsafe.Sizeof(up)))
	runtime.KeepAlive(iov)
	if err != nil {
		return 0, err
	}
	for i := 0; i < n && i < len(bufs); i++ {
		slot := int(offset) + i
		for slot >= len(r.bufTable) {
			r.bufTable = append(r.bufTable, nil)
		}
		if old := r.bufTable[slot]; old != nil {
			r.retired = append(r.retired, old)
		}
		r.bufTable[slot] = bufs[i]
	}
	return n, nil
}

// UnregisterBuffers removes the fixed-buffer table
// (IORING_UNREGISTER_BUFFERS). Without a table the kernel says ENXIO.
func (r *Ring) UnregisterBuffers() error {
	if _, err := r.register(IORING_UNREGISTER_BUFFERS, nil, 0); err != nil {
		return err
	}
	for _, b := range r.bufTable {
		if b != nil {
			r.retired = append(r.retired, b)
		}
	}
	r.bufTable = nil
	return nil
}

// RegisterFiles installs a fixed-file table (IORING_REGISTER_FILES); an
// fd of -1 leaves its slot empty. SQEs then name a slot in Fd and set
// IOSQE_FIXED_FILE.
func (r *Ring) RegisterFiles(fds []int32) error {
	var p unsafe.Pointer
	if len(fds) > 0 {
		p = unsafe.Pointer(&fds[0])
	}
	_, err := r.register(IORING_REGISTER_FILES, p, uint32(len(fds)))
	runtime.KeepAlive(fds)
	return err
}

// UnregisterFiles removes the fixed-file table (IORING_UNREGISTER_FILES).
func (r *Ring) UnregisterFiles() error {
	_, err := r.register(IORING_UNREGISTER_FILES, nil, 0)
	return err
}

// RegisterPersonality records the calling thread's credentials and returns
// their id for SQE.Personality (IORING_REGISTER_PERSONALITY).
func (r *Ring) RegisterPersonality() (uint16, error) {
	id, err := r.register(IORING_REGISTER_PERSONALITY, nil, 0)
	return uint16(id), err
}

// UnregisterPersonality drops personality id (IORING_UNREGISTER_PERSONALITY).
func (r *Ring) UnregisterPersonality(id uint16) error {
	_, err := r.register(IORING_UNREGISTER_PERSONALITY, nil, uint32(id))
	return err
}

// Probe asks the kernel which opcodes it implements (IORING_REGISTER_PROBE).
func (r *Ring) Probe() (*Probe, error) {
	p := new(Probe)
	if _, err := r.register(IORING_REGISTER_PROBE, unsafe.Pointer(p), probeOps); err != nil {
		return nil, err
	}
	return p, nil
}

// Register is the generic entry to io_uring_register(2) for opcodes
// without a dedicated method. arg must point to memory that stays valid for
// the call; errors are formatted like the dedicated methods'.
func (r *Ring) Register(op RegisterOp, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	return r.register(op, arg, nrArgs)
}
