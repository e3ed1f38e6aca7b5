package features

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// KmbufRing is the io_uring half of the out-of-tree series "fuse/io-uring:
// add kernel-managed buffer rings and zero-copy": IORING_REGISTER_KMBUF_RING
// (register opcode 37) and its buffers mapped at IORING_OFF_KMBUF_RING
// (zcserver/fuseabi/kmbuf/ABI.md §2.2, §2.3). No mainline release has it.
var KmbufRing = Feature{
	Name:  "io_uring kernel-managed buffer rings (IORING_REGISTER_KMBUF_RING = 37 of the kmbuf zero-copy series)",
	Since: "none: out-of-tree series",
}

// KmbufProbe is what ProbeKmbufRing observed, for reports.
type KmbufProbe struct {
	// Occupied is the answer of register opcode 37 carrying a valid kmbuf
	// registration (buf_size 4096, 1 entry, bgid 0) while a provided-buffer
	// ring holds bgid 0: EEXIST where 37 registers kmbuf rings (the group
	// is taken, §2.2); EINVAL where 37 is unknown or is mainline's
	// IORING_REGISTER_BPF_FILTER (7.2 and later), whose first check
	// (io_uring_bpf.cmd_type, the low 16 bits of buf_size: 0x1000 ≠ 1)
	// fails before it reads or writes anything else. 0 if the call
	// succeeded (a broken kernel).
	Occupied unix.Errno
	// Confirmed is set when, with EEXIST, a fresh registration of the same
	// ring succeeded, its buffer mapped at IORING_OFF_KMBUF_RING read back
	// as zeros, and IORING_UNREGISTER_KMBUF_RING removed it.
	Confirmed bool
	// Steps lists every call and its answer, in order.
	Steps []string
}

func (p *KmbufProbe) step(format string, args ...any) {
	p.Steps = append(p.Steps, fmt.Sprintf(format, args...))
}

// String is a one-line account of the probe.
func (p KmbufProbe) String() string {
	s := ""
	for i, st := range p.Steps {
		if i > 0 {
			s += "; "
		}
		s += st
	}
	return s
}

// errnoOf returns the errno inside err (0 for nil, -1 when there is none).
func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return ^unix.Errno(0)
}

// ProbeKmbufRing asks the running kernel, without caching, whether
// io_uring_register opcode 37 registers kernel-managed buffer rings. It
// works on a private io_uring instance that it closes before returning, so
// nothing outlives it: its provided-buffer ring, any kmbuf ring and any
// mapping are removed explicitly first, and each removal is checked.
//
// The probe is built so that it cannot be mistaken and cannot change a
// kernel that lacks the series: the call that decides is invalid on
// purpose for every meaning opcode 37 has (a kmbuf registration into a
// buffer group that is already taken), and its errno differs between them
// (EEXIST with the series; EINVAL for mainline's BPF filter registration,
// which rejects the bytes at its first check, and for an unknown opcode).
// Only after EEXIST does it register a kmbuf ring for real and map it, to
// confirm. Three answers, as every probe here: nil, an error matching
// ErrNotSupported, or any other error when the kernel's answers do not fit
// either picture (then fail, never skip).
func ProbeKmbufRing() (KmbufProbe, error) {
	var p KmbufProbe
	ring, err := uring.New(4)
	if err != nil {
		return p, fmt.Errorf("features: kmbuf probe: %w", err)
	}
	defer ring.Close()

	// Occupy bgid 0 with a provided-buffer ring whose ring memory the
	// kernel allocates (IOU_PBUF_RING_MMAP, mainline since 6.4).
	pbuf := kmbuf.BufReg{RingEntries: 1, Bgid: 0, Flags: kmbuf.IOU_PBUF_RING_MMAP}
	_, err = ring.Register(uring.IORING_REGISTER_PBUF_RING, unsafe.Pointer(&pbuf), 1)
	p.step("IORING_REGISTER_PBUF_RING bgid 0: %s", errText(err))
	if err != nil {
		return p, fmt.Errorf("features: kmbuf probe cannot occupy bgid 0 with a provided-buffer ring: %w", err)
	}

	// The deciding call. arg points into a whole zeroed page, so a
	// handler that copies more than 40 bytes (the BPF filter copies 72)
	// reads zeros rather than faulting.
	arg := make([]byte, 4096)
	*(*kmbuf.BufReg)(unsafe.Pointer(&arg[0])) = kmbuf.KmbufRingReg(4096, 1, 0)
	_, err = ring.Register(uring.RegisterOp(kmbuf.IORING_REGISTER_KMBUF_RING), unsafe.Pointer(&arg[0]), 1)
	p.Occupied = errnoOf(err)
	p.step("register opcode 37 (kmbuf ring, 4096 x 1, bgid 0 taken): %s", errText(err))
	if err != nil && p.Occupied == ^unix.Errno(0) {
		return p, fmt.Errorf("features: kmbuf probe: %w", err)
	}

	// bgid 0 must still hold our provided-buffer ring, and nothing after
	// it: the opcode-37 call replaced nothing.
	unreg := kmbuf.BufReg{Bgid: 0}
	_, err = ring.Register(uring.IORING_UNREGISTER_PBUF_RING, unsafe.Pointer(&unreg), 1)
	p.step("IORING_UNREGISTER_PBUF_RING bgid 0: %s", errText(err))
	if err != nil {
		return p, fmt.Errorf("features: kmbuf probe: the provided-buffer ring at bgid 0 is gone after opcode 37 (%s): %w", p.String(), err)
	}
	_, err = ring.Register(uring.IORING_UNREGISTER_PBUF_RING, unsafe.Pointer(&unreg), 1)
	p.step("IORING_UNREGISTER_PBUF_RING bgid 0 again: %s", errText(err))
	if !errors.Is(err, unix.ENOENT) {
		return p, fmt.Errorf("features: kmbuf probe: bgid 0 not empty after removing our ring (%s): %v", p.String(), err)
	}

	switch p.Occupied {
	case unix.EINVAL:
		// No filter may have been installed: a NOP must still run.
		if err := nopRuns(ring); err != nil {
			p.step("NOP: %v", err)
			return p, fmt.Errorf("features: kmbuf probe: opcode 37 left the ring restricted (%s): %w", p.String(), err)
		}
		p.step("NOP: ok")
		return p, &NotSupportedError{Feature: KmbufRing,
			Detail: "register opcode 37 answers a kmbuf registration for a taken buffer group with EINVAL, not EEXIST (it is mainline's IORING_REGISTER_BPF_FILTER or unknown)"}
	case unix.EEXIST:
		if err := confirmKmbuf(ring, &p); err != nil {
			return p, fmt.Errorf("features: kmbuf probe: opcode 37 said EEXIST but a kmbuf ring does not work (%s): %w", p.String(), err)
		}
		p.Confirmed = true
		return p, nil
	}
	return p, fmt.Errorf("features: kmbuf probe: unexpected answer %v to register opcode 37 (%s)", p.Occupied, p.String())
}

// confirmKmbuf registers a one-buffer kmbuf ring at the free bgid 0, maps
// and reads its buffer, and removes it again.
func confirmKmbuf(ring *uring.Ring, p *KmbufProbe) error {
	reg := kmbuf.KmbufRingReg(4096, 1, 0)
	_, err := ring.Register(uring.RegisterOp(kmbuf.IORING_REGISTER_KMBUF_RING), unsafe.Pointer(&reg), 1)
	p.step("IORING_REGISTER_KMBUF_RING 4096 x 1 at bgid 0: %s", errText(err))
	if err != nil {
		return err
	}
	unreg := kmbuf.BufReg{Bgid: 0}
	m, err := unix.Mmap(ring.Fd(), kmbuf.KmbufMmapOffset(0), 4096, unix.PROT_READ, unix.MAP_SHARED)
	p.step("mmap IORING_OFF_KMBUF_RING: %s", errText(err))
	if err == nil {
		for _, b := range m {
			if b != 0 {
				err = errors.New("the kmbuf buffer is not zero-filled")
				break
			}
		}
		if merr := unix.Munmap(m); err == nil {
			err = merr
		}
	}
	_, uerr := ring.Register(uring.RegisterOp(kmbuf.IORING_UNREGISTER_KMBUF_RING), unsafe.Pointer(&unreg), 1)
	p.step("IORING_UNREGISTER_KMBUF_RING bgid 0: %s", errText(uerr))
	if err != nil {
		return err
	}
	if uerr != nil {
		return uerr
	}
	_, uerr = ring.Register(uring.RegisterOp(kmbuf.IORING_UNREGISTER_KMBUF_RING), unsafe.Pointer(&unreg), 1)
	p.step("IORING_UNREGISTER_KMBUF_RING bgid 0 again: %s", errText(uerr))
	if !errors.Is(uerr, unix.ENOENT) {
		return fmt.Errorf("second unregister: %v, want ENOENT", uerr)
	}
	return nil
}

// nopRuns submits one NOP and checks that it completes with res 0.
func nopRuns(ring *uring.Ring) error {
	sqe, err := ring.NextSQE()
	if err != nil {
		return err
	}
	sqe.PrepNop()
	sqe.UserData = 0x6b6d6275
	if _, err := ring.SubmitAndWait(1); err != nil {
		return err
	}
	c, err := ring.WaitCQE()
	if err != nil {
		return err
	}
	return c.Err()
}

func errText(err error) string {
	if err == nil {
		return "0"
	}
	if e := errnoOf(err); e != ^unix.Errno(0) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

var kmbufOnce struct {
	sync.Once
	probe KmbufProbe
	err   error
}

// HaveKmbufRing is ProbeKmbufRing, run once per process.
func HaveKmbufRing() (KmbufProbe, error) {
	kmbufOnce.Do(func() { kmbufOnce.probe, kmbufOnce.err = ProbeKmbufRing() })
	return kmbufOnce.probe, kmbufOnce.err
}
