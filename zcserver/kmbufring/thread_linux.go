package kmbufring

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Thread is the ring thread's view of a Ring. Its methods may only be
// called inside a Do callback.
type Thread struct {
	r                                    *Ring
	th                                   *rawring.Thread // CQE stash, fixed I/O, credentials
	ring                                 *uring.Ring
	fd                                   int32
	*rawring.Machine[*Entry, CommitArgs] // the entry state machine
	Profile                              kmbuf.Profile

	// The kmbuf ring at bgid 0 (RegisterKmbuf).
	bufs    []byte
	bufSize uint32
	nbufs   uint32

	// personality is put into every FUSE command SQE (0: none).
	personality uint16

	// scratch is a memfd through which reply bytes that sit in server
	// memory reach a zero-copied client buffer (READ_FIXED from it).
	scratch    int
	scratchOut []byte
}

// release runs when the thread ends, after rawring closed the io_uring
// instance (the kernel ended the waiting commands and freed the kmbuf
// ring): it unmaps the kmbuf buffers and closes the scratch memfd.
func (t *Thread) release() {
	if t.bufs != nil {
		unix.Munmap(t.bufs)
		t.bufs = nil
	}
	if t.scratch >= 0 {
		unix.Close(t.scratch)
		t.scratch = -1
	}
}

// Uring returns the io_uring instance, for operations this package has no
// helper for (buffer updates, personalities, raw SQEs).
func (t *Thread) Uring() *uring.Ring { return t.ring }

// Ring returns the handle (for Alloc).
func (t *Thread) Ring() *Ring { return t.r }

// UsePersonality makes every later FUSE command SQE of this ring carry the
// registered personality id (0: the thread's own credentials).
func (t *Thread) UsePersonality(id uint16) { t.personality = id }

// RegisterKmbuf registers a kmbuf ring of entries buffers of bufSize bytes
// at bgid 0 (FUSE_URING_RINGBUF_GROUP) on this io_uring instance and maps
// its buffers at IORING_OFF_KMBUF_RING (ABI doc §2.2, §2.3). Buffer bid is
// then KmbufBuffer(bid).
func (t *Thread) RegisterKmbuf(bufSize, entries uint32) error {
	if t.bufs != nil {
		return errors.New("kmbufring: this ring already has a kmbuf ring")
	}
	reg := kmbuf.KmbufRingReg(bufSize, entries, kmbuf.FUSE_URING_RINGBUF_GROUP)
	if err := t.RegisterKmbufRaw(reg); err != nil {
		return err
	}
	m, err := unix.Mmap(t.ring.Fd(), kmbuf.KmbufMmapOffset(kmbuf.FUSE_URING_RINGBUF_GROUP), int(bufSize)*int(entries),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("kmbufring: mmap the kmbuf ring (%d x %d) at %#x: %w", entries, bufSize, kmbuf.KmbufMmapOffset(0), err)
	}
	t.bufs, t.bufSize, t.nbufs = m, bufSize, entries
	return nil
}

// RegisterKmbufRaw issues IORING_REGISTER_KMBUF_RING with reg as is, for
// specs that send invalid registrations; nothing is mapped.
func (t *Thread) RegisterKmbufRaw(reg kmbuf.BufReg) error {
	_, err := t.ring.Register(uring.RegisterOp(kmbuf.IORING_REGISTER_KMBUF_RING), unsafe.Pointer(&reg), 1)
	if err != nil {
		return fmt.Errorf("IORING_REGISTER_KMBUF_RING (bgid %d, %d x %d): %w", reg.Bgid, reg.RingEntries, reg.BufSize(), errnoOnly(err))
	}
	return nil
}

// UnregisterKmbuf issues IORING_UNREGISTER_KMBUF_RING for bgid 0 and
// returns its answer (EBUSY while a FUSE queue pins the ring, ABI doc
// §2.2). The mapping stays until the Ring closes: the kernel keeps the
// pages alive for it.
func (t *Thread) UnregisterKmbuf() error {
	reg := kmbuf.BufReg{Bgid: kmbuf.FUSE_URING_RINGBUF_GROUP}
	_, err := t.ring.Register(uring.RegisterOp(kmbuf.IORING_UNREGISTER_KMBUF_RING), unsafe.Pointer(&reg), 1)
	if err != nil {
		return fmt.Errorf("IORING_UNREGISTER_KMBUF_RING bgid 0: %w", errnoOnly(err))
	}
	return nil
}

// errnoOnly strips the uring package's opcode name from a register error
// (it names opcode 37 after mainline's BPF filter) but keeps the errno.
func errnoOnly(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// KmbufBuffer returns buffer bid of the kmbuf ring, or nil.
func (t *Thread) KmbufBuffer(bid uint16) []byte {
	if t.bufs == nil || uint32(bid) >= t.nbufs {
		return nil
	}
	off := kmbuf.BufferOffset(bid, t.bufSize)
	return t.bufs[off : off+uint64(t.bufSize) : off+uint64(t.bufSize)]
}

// KmbufBuffers returns the whole mapping of the kmbuf ring (nil before
// RegisterKmbuf), its buffer size and count.
func (t *Thread) KmbufBuffers() ([]byte, uint32, uint32) { return t.bufs, t.bufSize, t.nbufs }

// Table installs a sparse fixed-buffer table of n slots.
func (t *Thread) Table(n uint32) error { return t.ring.RegisterBuffersSparse(n) }

// PutBuffer installs buf (nil: empties the slot) in slot of the table and
// returns the kernel's answer; buf must stay mapped for the Ring's life
// (Alloc'd memory does).
func (t *Thread) PutBuffer(slot uint16, buf []byte) error {
	_, err := t.ring.UpdateBuffers(uint32(slot), [][]byte{buf})
	return err
}

// FixedSQE prepares (without submitting) a READ_FIXED (read) or
// WRITE_FIXED of n bytes between fd at fileOff and offset bufOff of table
// slot; for a slot holding a client's pages bufOff counts from 0 (ABI doc
// §2.7). Commit can submit it in the same io_uring_enter as a COMMIT.
func (t *Thread) FixedSQE(read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (*uring.SQE, error) {
	return t.th.FixedSQE(read, fd, bufOff, n, fileOff, slot)
}

// Fixed runs one FixedSQE and returns the byte count or an error matching
// the CQE's errno (EFAULT: nothing, or a buffer of the wrong direction,
// in the slot).
func (t *Thread) Fixed(read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (int, error) {
	return t.th.Fixed(t.th.Ctx(), read, fd, bufOff, n, fileOff, slot)
}

// Scratch returns the thread's scratch memfd (created on first use) and a
// buffer of size bytes for replies built in server memory.
func (t *Thread) Scratch(size int) (int, []byte, error) {
	if t.scratch < 0 {
		fd, err := unix.MemfdCreate("kmbufring-scratch", unix.MFD_CLOEXEC)
		if err != nil {
			return -1, nil, fmt.Errorf("kmbufring: memfd_create: %w", err)
		}
		t.scratch = fd
	}
	if len(t.scratchOut) < size {
		b, err := t.r.Alloc(size)
		if err != nil {
			return -1, nil, err
		}
		t.scratchOut = b
	}
	return t.scratch, t.scratchOut[:size], nil
}

// SetCapSysAdmin raises (on) or lowers CAP_SYS_ADMIN in the effective set
// of the ring thread only; the permitted set is kept, so it can be raised
// again. The thread dies with the Ring, so no other goroutine ever runs
// with the change.
func (t *Thread) SetCapSysAdmin(on bool) error { return t.th.SetCapSysAdmin(on) }
