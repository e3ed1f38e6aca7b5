package uring

import (
	"sync/atomic"
	"unsafe"
)

// NextSQE reserves the next submission slot and returns it zeroed: all 64
// bytes, or all 128 (command area included) on an SQE128 ring, so no field
// of an earlier use survives. Set fields (or call a Prep method) afterwards;
// the SQE reaches the kernel at the next Submit. It returns ErrSQFull when
// every slot is taken by SQEs the kernel has not consumed yet, and
// ErrClosed after Close. It does not allocate.
//
// On an SQE_MIXED ring NextSQE returns a 64-byte slot; use NextSQE128 for
// NOP128 / URING_CMD128.
func (r *Ring) NextSQE() (*SQE, error) {
	if r.sqeBase == nil {
		return nil, ErrClosed
	}
	if r.sqeTail-atomic.LoadUint32(r.sqKHead) >= r.sqEntries {
		return nil, ErrSQFull
	}
	slot := r.sqeTail & r.sqMask
	p := unsafe.Add(r.sqeBase, uintptr(slot)<<r.sqeShift)
	if r.sqeShift == 7 {
		*(*[SQE128Size]byte)(p) = [SQE128Size]byte{}
	} else {
		*(*[SQESize]byte)(p) = [SQESize]byte{}
		if r.wide != nil {
			r.wide[slot] = false
		}
	}
	r.sqeTail++
	return (*SQE)(p), nil
}

// NextSQE128 returns a zeroed 128-byte SQE whose Cmd area is valid. On an
// SQE128 ring it is NextSQE. On an SQE_MIXED ring it takes two consecutive
// 64-byte slots; because a 128-byte SQE may not start in the ring's last
// slot (ABI doc §2.1), it first fills that slot with a NOP carrying
// IOSQE_CQE_SKIP_SUCCESS (so it posts no CQE) when needed. The kernel
// counts the 128-byte SQE as two submitted entries and a pad NOP as one.
// Other rings get ErrNeedSQE128.
func (r *Ring) NextSQE128() (*SQE, error) {
	if r.sqeShift == 7 {
		return r.NextSQE()
	}
	if r.sqeBase == nil {
		return nil, ErrClosed
	}
	if r.wide == nil {
		return nil, ErrNeedSQE128
	}
	slot := r.sqeTail & r.sqMask
	need := uint32(2)
	if slot == r.sqMask {
		need = 3
	}
	if r.sqeTail-atomic.LoadUint32(r.sqKHead)+need > r.sqEntries {
		return nil, ErrSQFull
	}
	if slot == r.sqMask {
		pad := (*SQE)(unsafe.Add(r.sqeBase, uintptr(slot)<<6))
		*pad = SQE{}
		pad.Opcode = IORING_OP_NOP
		pad.Flags = IOSQE_CQE_SKIP_SUCCESS
		r.wide[slot] = false
		r.sqeTail++
		slot = 0
	}
	p := unsafe.Add(r.sqeBase, uintptr(slot)<<6)
	*(*[SQE128Size]byte)(p) = [SQE128Size]byte{}
	r.wide[slot] = true
	r.wide[slot+1] = false
	r.sqeTail += 2
	return (*SQE)(p), nil
}

// SQSpace returns how many 64-byte (or, on SQE128 rings, 128-byte) slots
// NextSQE can still hand out before the kernel consumes more.
func (r *Ring) SQSpace() uint32 {
	if r.sqeBase == nil {
		return 0
	}
	return r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqKHead))
}

// Pending returns how many slots were handed out but not yet consumed by
// the kernel (prepared, or submitted and refused).
func (r *Ring) Pending() uint32 {
	if r.sqeBase == nil {
		return 0
	}
	return r.sqeTail - atomic.LoadUint32(r.sqKHead)
}

// SetCmdOp stores cmd_op (SQE offset 8) and clears __pad1 (offset 12),
// which the kernel requires to be zero for uring_cmd (ABI doc §2.1).
func (s *SQE) SetCmdOp(op uint32) {
	p := unsafe.Pointer(&s.Off)
	*(*uint32)(p) = op
	*(*uint32)(unsafe.Add(p, 4)) = 0
}

// CmdOp returns cmd_op (SQE offset 8).
func (s *SQE) CmdOp() uint32 { return *(*uint32)(unsafe.Pointer(&s.Off)) }

// Cmd returns the 80-byte command area (SQE bytes 48..127) of a 128-byte
// SQE: any SQE of a live SQE128 ring, or one obtained from NextSQE128 on an
// SQE_MIXED ring. For any other SQE it returns nil; it never panics and
// does not allocate. The slice aliases ring memory: it is valid until the
// SQE is submitted.
func (s *SQE) Cmd() []byte { return spans.cmdArea(unsafe.Pointer(s)) }

// PrepNop makes s an IORING_OP_NOP.
func (s *SQE) PrepNop() { s.Opcode = IORING_OP_NOP }

// PrepURingCmd makes s an IORING_OP_URING_CMD for fd (a file descriptor,
// or a fixed-file index when the caller also sets IOSQE_FIXED_FILE). The
// driver-specific payload goes into s.Cmd() and s.OpFlags / s.BufIndex.
func (s *SQE) PrepURingCmd(fd int32, cmdOp uint32) {
	s.Opcode = IORING_OP_URING_CMD
	s.Fd = fd
	s.SetCmdOp(cmdOp)
}

// PrepURingCmd128 is PrepURingCmd with IORING_OP_URING_CMD128, the form
// used on SQE_MIXED rings (s must come from NextSQE128).
func (s *SQE) PrepURingCmd128(fd int32, cmdOp uint32) {
	s.Opcode = IORING_OP_URING_CMD128
	s.Fd = fd
	s.SetCmdOp(cmdOp)
}

// PrepReadFixed makes s an IORING_OP_READ_FIXED: read n bytes of fd at
// fileOff into registered buffer bufIndex at bufAddr. For a user buffer
// bufAddr is a user address inside the registered range; for a
// kernel-registered (zero-copy) buffer it is a byte offset starting at 0
// (ABI doc §4.4).
func (s *SQE) PrepReadFixed(fd int32, bufAddr uint64, n uint32, fileOff uint64, bufIndex uint16) {
	s.prepRW(IORING_OP_READ_FIXED, fd, bufAddr, n, fileOff)
	s.BufIndex = bufIndex
}

// PrepWriteFixed makes s an IORING_OP_WRITE_FIXED; see PrepReadFixed.
func (s *SQE) PrepWriteFixed(fd int32, bufAddr uint64, n uint32, fileOff uint64, bufIndex uint16) {
	s.prepRW(IORING_OP_WRITE_FIXED, fd, bufAddr, n, fileOff)
	s.BufIndex = bufIndex
}

// PrepRead makes s an IORING_OP_READ of len(p) bytes of fd at fileOff
// (^uint64(0) = current file position). p must stay reachable, unchanged in
// length, until the CQE arrives; PrepRead moves its backing array to the
// heap so that a goroutine stack move cannot strand the kernel's address.
func (s *SQE) PrepRead(fd int32, p []byte, fileOff uint64) {
	s.prepRW(IORING_OP_READ, fd, bufAddr(p), uint32(len(p)), fileOff)
}

// PrepWrite makes s an IORING_OP_WRITE; see PrepRead.
func (s *SQE) PrepWrite(fd int32, p []byte, fileOff uint64) {
	s.prepRW(IORING_OP_WRITE, fd, bufAddr(p), uint32(len(p)), fileOff)
}

func (s *SQE) prepRW(op uint8, fd int32, addr uint64, n uint32, off uint64) {
	s.Opcode = op
	s.Fd = fd
	s.Addr = addr
	s.Len = n
	s.Off = off
}

// heapSink makes any buffer passed to bufAddr escape, so the compiler
// never places it on a goroutine stack (stacks move; the kernel keeps the
// old address). It holds the last buffer only; callers keep theirs alive.
var heapSink atomic.Pointer[byte]

func bufAddr(p []byte) uint64 {
	if len(p) == 0 {
		return 0
	}
	heapSink.Store(&p[0])
	return addrOf(unsafe.Pointer(&p[0]))
}
