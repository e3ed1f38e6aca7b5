package kmbufring

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// ErrNotHeld: the entry holds no delivered request.
var ErrNotHeld = errors.New("kmbufring: entry holds no request")

// Entry is one ring entry (a "ring ent"): its REGISTER's fields and, after
// Next, the request the kernel delivered to it.
type Entry struct {
	Qid uint16
	// ID is the REGISTER's sqe.buf_index, the kernel's fixed_buf_id: the
	// header slot number and, with zero copy, the page slot (ABI doc §3.3).
	ID   uint16
	Mode kmbuf.Mode
	// QueueDepth is init.queue_depth (read only when the REGISTER creates
	// a zero-copy queue).
	QueueDepth uint16
	// Headers is the buffer installed at the queue's headers index; the
	// entry's slot is at kmbuf.HeaderSlotOffset(ID). Buf-ring queues only.
	Headers []byte
	// Header and Payload are iov[0] and iov[1] of a REGISTER without buf
	// ring (the classic per-entry form).
	Header, Payload []byte
	// Cmd, when set, replaces the 24 command bytes the profile builds
	// (raw encodings: cross-talk and revision probes).
	Cmd *[kmbuf.SizeofCmdReq]byte
	// Personality, when non-zero, replaces the ring's personality for
	// this entry's REGISTER.
	Personality uint16
	// SQEFlags are extra IOSQE_* bits of the REGISTER (e.g. IOSQE_ASYNC).
	SQEFlags uint8
	// DevFD, when set, is the /dev/fuse descriptor of another connection
	// that this entry's commands go to through this ring (the kmbuf pin
	// belongs to the io_uring instance, not to a connection).
	DevFD *int

	// The delivered request (valid after Next).
	In    fuseabi.InHeader
	EntIO kmbuf.EntInOut
	// CQEFlags are the flags of the delivery CQE; Bid and HasBuf the
	// entry's payload buffer after applying them (a CQE without
	// IORING_CQE_F_BUFFER keeps the previous buffer, ABI doc §2.4).
	CQEFlags uint32
	Bid      uint16
	HasBuf   bool

	rawring.Slot // REGISTER order and state, kept by the ring's machine
	fd           int32
	iov          []unix.Iovec
	sticky       kmbuf.StickyBuffer
}

// Hdr returns the entry's header slot as the kernel's struct, or nil if
// the entry has none that fits.
func (e *Entry) Hdr() *kmbuf.ReqHeader {
	if e.Mode.BufRing {
		return kmbuf.HeaderAt(e.Headers, e.ID)
	}
	if len(e.Header) < kmbuf.SizeofReqHeader {
		return nil
	}
	return (*kmbuf.ReqHeader)(unsafe.Pointer(&e.Header[0]))
}

// Opcode is the delivered request's opcode.
func (e *Entry) Opcode() fuseabi.Opcode { return e.In.Opcode }

// PageOp reports whether requests with opcode op carry page arrays, which
// a zero-copy queue installs in the entry's page slot instead of copying
// (READ, WRITE, READDIR, READDIRPLUS, READLINK; ABI doc §2.7).
func PageOp(op fuseabi.Opcode) bool {
	switch op {
	case fuseabi.FUSE_READ, fuseabi.FUSE_WRITE, fuseabi.FUSE_READDIR, fuseabi.FUSE_READDIRPLUS, fuseabi.FUSE_READLINK:
		return true
	}
	return false
}

// ZeroCopied reports whether the delivered request's pages sit in the
// entry's page slot (the kernel does not say so: the queue's mode and the
// opcode decide, ABI doc §2.4).
func (e *Entry) ZeroCopied() bool { return e.Mode.ZeroCopy && PageOp(e.In.Opcode) }

// PayloadBuf returns the buffer that carries this request's payload in and
// its reply out: the kmbuf buffer the entry holds (buf-ring queues), or
// iov[1]. It is nil when the entry holds none.
func (t *Thread) PayloadBuf(e *Entry) []byte {
	if !e.Mode.BufRing {
		return e.Payload
	}
	if !e.HasBuf {
		return nil
	}
	return t.KmbufBuffer(e.Bid)
}

func (e *Entry) String() string {
	s := fmt.Sprintf("ent %d (qid %d, %s", e.ID, e.Qid, e.Mode)
	if e.Held() {
		s += fmt.Sprintf(", holds %s unique %d", e.In.Opcode, e.In.Unique)
	}
	return s + ")"
}

// Register, Next, Answer, SetReply, Commit, CommitWith and ServeUntil are the
// ring's entry state machine (rawring.Machine, embedded in Thread).

// CommitArgs are the fields of a COMMIT_AND_FETCH a spec may get wrong on
// purpose.
type CommitArgs struct {
	Qid      uint16
	CommitID uint64
}

// CommitArgs returns the correct COMMIT_AND_FETCH fields for e's request.
func (e *Entry) CommitArgs() CommitArgs {
	return CommitArgs{Qid: e.Qid, CommitID: e.EntIO.CommitID}
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
// serving fails.
func (r *Ring) Serve(ctx context.Context, h *protocol.Handler, until <-chan struct{}) error {
	return r.ServeFunc(ctx, h, until, nil)
}

// ServeFunc is Serve calling seen for every request before answering it
// (on the ring thread; seen must not block). A Next after it returns waits
// as usual (the stop ends with ServeFunc).
func (r *Ring) ServeFunc(ctx context.Context, h *protocol.Handler, until <-chan struct{}, seen func(*Thread, *Entry)) error {
	return r.rt.Serve(ctx, until, func(context.Context) error {
		return r.t.Serve(h, func(e *Entry) {
			if seen != nil {
				seen(r.t, e)
			}
		})
	})
}

// Ended returns, without waiting, the entries whose waiting command the
// kernel ended with an error CQE that Next has not returned yet.
func (t *Thread) Ended() []*Entry { return t.Pending(true) }

// Delivered returns, without waiting, the entries to which a request was
// delivered that Next has not returned yet.
func (t *Thread) Delivered() []*Entry { return t.Pending(false) }
