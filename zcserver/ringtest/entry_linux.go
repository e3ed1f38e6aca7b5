package ringtest

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// ErrNotHeld: the entry holds no delivered request.
var ErrNotHeld = errors.New("ringtest: entry holds no request")

// Pool is one queue's buffer pool (ADD_BUFPOOL, ABI doc §3.2): Mem split
// into buffers of BufSize (= max_payload_sz) bytes. With Fixed the pool is
// a registered pool whose io_uring slot is Slot.
type Pool struct {
	Qid     uint16
	Mem     []byte
	BufSize uint32
	Fixed   bool
	Slot    uint16
}

// Buf returns the pool buffer at byte offset off (as reported in
// ring_ent_in_out.offset), or nil if it is outside the pool.
func (p *Pool) Buf(off uint32) []byte {
	if p == nil || uint64(off)+uint64(p.BufSize) > uint64(len(p.Mem)) {
		return nil
	}
	return p.Mem[off : off+p.BufSize]
}

// AddBufpool issues ADD_BUFPOOL for p and, when the kernel accepts it,
// makes p the pool of its queue for later deliveries.
func (t *Thread) AddBufpool(p *Pool) error {
	// The base address even of a zero-length pool (ABI doc §7 H1: a NULL
	// uaddr crashes 7.3; only a nil Mem gives 0).
	uaddr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p.Mem))))
	req := linux73.AddBufpool(p.Qid, uaddr, uint32(len(p.Mem)))
	if err := t.Exec(Cmd{Op: linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL, Req: req, Fixed: p.Fixed, BufIndex: p.Slot}); err != nil {
		return err
	}
	if t.pools == nil {
		t.pools = map[uint16]*Pool{}
	}
	t.pools[p.Qid] = p
	return nil
}

// Pool returns the pool the kernel accepted for qid, or nil.
func (t *Thread) Pool(qid uint16) *Pool { return t.pools[qid] }

// Entry is one ring entry: a header buffer (REGISTER iov[0]), in per-entry
// mode a payload buffer (iov[1]), and its zero-copy slot. After Next
// returns it, In and Ent describe the delivered request.
type Entry struct {
	Qid     uint16
	Header  []byte // iov[0]; at least linux73.SizeofReqHeader for a valid entry
	Payload []byte // iov[1] in per-entry mode; nil in pool mode ({NULL, 0})
	ZCSlot  uint16 // ent_zero_copy_buf_index
	// Fixed and BufIndex go into REGISTER and COMMIT (registered pools).
	Fixed    bool
	BufIndex uint16
	// Iov, when set, replaces the iovec array built from Header and
	// Payload; IovLen, when set, replaces sqe.len.
	Iov    []unix.Iovec
	IovLen *uint32

	// The delivered request (valid after Next).
	In  fuseabi.InHeader
	Ent linux73.EntInOut

	rawring.Slot // REGISTER order and state, kept by the ring's machine
	iov          []unix.Iovec
	pool         *Pool
}

// Hdr returns the entry's header buffer as the kernel's struct.
func (e *Entry) Hdr() *linux73.ReqHeader {
	if len(e.Header) < linux73.SizeofReqHeader {
		return nil
	}
	return (*linux73.ReqHeader)(unsafe.Pointer(&e.Header[0]))
}

// ZeroCopy reports FUSE_URING_ENT_ZERO_COPY in the delivered request.
func (e *Entry) ZeroCopy() bool { return e.Ent.Flags&linux73.FUSE_URING_ENT_ZERO_COPY != 0 }

// Opcode is the delivered request's opcode.
func (e *Entry) Opcode() fuseabi.Opcode { return e.In.Opcode }

// OpIn returns the op_in area of the header (the request's first
// in-argument, e.g. fuse_write_in).
func (e *Entry) OpIn() []byte { return e.Hdr().OpIn[:] }

// PayloadBuf returns the buffer that carries this request's payload in and
// its reply out: the entry's own payload buffer, or the queue's pool buffer
// at the offset the kernel reported. It is nil if there is none.
func (e *Entry) PayloadBuf() []byte {
	if e.Payload != nil {
		return e.Payload
	}
	return e.pool.Buf(e.Ent.Offset)
}

// Pool returns the pool of the entry's queue (nil in per-entry mode).
func (e *Entry) Pool() *Pool { return e.pool }

// String names the entry and what it holds.
func (e *Entry) String() string {
	s := fmt.Sprintf("entry %d (qid %d", e.Index(), e.Qid)
	if e.Held() {
		s += fmt.Sprintf(", holds %s unique %d", e.In.Opcode, e.In.Unique)
	}
	return s + ")"
}

// Register, Next, Answer, SetReply, Commit, CommitWith and ServeUntil are the
// ring's entry state machine (rawring.Machine, embedded in Thread).

// CommitArgs are the fields of a COMMIT_AND_FETCH that a spec may get
// wrong on purpose.
type CommitArgs struct {
	Qid      uint16
	CommitID uint64
	Fixed    bool
	BufIndex uint16
	// SQEFlags are IOSQE_* bits of the COMMIT's SQE (IOSQE_ASYNC: the
	// kernel runs it on an io-wq worker, without the ring's lock held).
	SQEFlags uint8
}

// CommitArgs returns the correct COMMIT_AND_FETCH fields for e's request.
func (e *Entry) CommitArgs() CommitArgs {
	return CommitArgs{Qid: e.Qid, CommitID: e.Ent.CommitID, Fixed: e.Fixed, BufIndex: e.BufIndex}
}

// Probe prepares one SQE that CommitWith places right after the COMMIT,
// in the same io_uring_enter.
type Probe = rawring.Probe

// FixedProbe is a Probe doing READ_FIXED (read) or WRITE_FIXED of n bytes
// at offset 0 of slot against fd at file offset 0.
func FixedProbe(read bool, fd int, n uint32, slot uint16) Probe {
	return rawring.FixedProbe(read, fd, n, slot)
}

// Serve answers every request on the ring thread until until is closed
// (then it returns nil, leaving no entry half answered) or ctx ends or
// serving fails. Entries it stops at are left waiting, never held.
func (r *Ring) Serve(ctx context.Context, h *protocol.Handler, until <-chan struct{}) error {
	return r.ServeFunc(ctx, h, until, nil)
}

// ServeFunc is Serve calling seen for every request before answering it
// (on the ring thread; seen must not block). A Next after it returns waits
// as usual (the stop ends with ServeFunc).
func (r *Ring) ServeFunc(ctx context.Context, h *protocol.Handler, until <-chan struct{}, seen func(*Entry)) error {
	return r.rt.Serve(ctx, until, func(context.Context) error { return r.t.Serve(h, seen) })
}

// Ready returns the entries whose request has been delivered but not yet
// taken by Next (it does not wait).
func (t *Thread) Ready() []*Entry { return t.Pending(false) }
