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
	"github.com/zcsuite/zcsuite/zcserver/uring"
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

// Register submits e's REGISTER. It returns the kernel's error when the
// command is refused at once, and nil when the kernel keeps it (the entry
// then waits; a successful REGISTER has no CQE until a request arrives,
// ABI doc §2.6). Any refused REGISTER turns io_uring off for the
// connection until the ring becomes ready (§5 c).
func (t *Thread) Register(e *Entry) error { return t.m.Register(e) }

// Next waits for the next request delivered to any waiting entry of this
// ring and returns that entry, which now holds it. Inside Serve it returns
// ErrStopped once Serve's until channel closed. A waiting SQE that ends
// with an error (-ENOTCONN at teardown) is returned with its entry and an
// error matching the errno.
func (t *Thread) Next() (*Entry, error) { return t.m.Next() }

// Answer computes the reply to e's request with h as the kmbuf transport
// does, without committing: non-page payload is read from the entry's
// kmbuf buffer; a zero-copied READ or WRITE moves its data with
// READ_FIXED/WRITE_FIXED on the entry's page slot; a zero-copied READDIR or
// READLINK is built in server memory and moved into the page slot through
// the scratch memfd; fuse_write_out and other out-arguments go to the
// kmbuf buffer; the out-header and payload_sz go to the header slot.
func (t *Thread) Answer(e *Entry, h *protocol.Handler) (protocol.Reply, error) {
	return t.m.Answer(e, h)
}

// SetReply writes an out-header and payload_sz into e's header slot (the
// payload itself belongs in the kmbuf buffer or the page slot).
func (t *Thread) SetReply(e *Entry, oh fuseabi.OutHeader, payloadSz uint32) {
	h := e.Hdr()
	fuseabi.Store(h.InOut[:], &oh)
	h.Ent.PayloadSz = payloadSz
}

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
type Probe func(*Thread) (*uring.SQE, error)

// FixedProbe is a Probe doing READ_FIXED (read) or WRITE_FIXED of n bytes
// at offset 0 of slot against fd at file offset 0.
func FixedProbe(read bool, fd int, n uint32, slot uint16) Probe {
	return func(t *Thread) (*uring.SQE, error) { return t.FixedSQE(read, fd, 0, n, 0, slot) }
}

// Commit commits e's reply with the correct fields; see CommitWith.
func (t *Thread) Commit(e *Entry, probes ...Probe) ([]uring.CQE, error) {
	return t.CommitWith(e, e.CommitArgs(), probes...)
}

// CommitWith submits COMMIT_AND_FETCH for e with a, followed by the
// probes' SQEs in the same io_uring_enter, and returns the probes' CQEs in
// order. When the kernel refuses the COMMIT at once the error matches its
// errno and e still holds its request; otherwise e waits for its next one.
func (t *Thread) CommitWith(e *Entry, a CommitArgs, probes ...Probe) ([]uring.CQE, error) {
	raw := make([]rawring.Probe, len(probes))
	for i, p := range probes {
		raw[i] = func() (*uring.SQE, error) { return p(t) }
	}
	return t.m.CommitWith(e, a, raw...)
}

// ServeUntil answers (Answer + Commit) every delivered request until stop
// returns true for one; that entry is returned still holding its request.
// A nil stop serves until the context ends or a waiting SQE fails.
func (t *Thread) ServeUntil(h *protocol.Handler, stop func(*Entry) bool) (*Entry, error) {
	return t.m.ServeUntil(h, stop)
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
		_, err := r.t.ServeUntil(h, func(e *Entry) bool {
			if seen != nil {
				seen(r.t, e)
			}
			return false
		})
		return err
	})
}

// Ended returns, without waiting, the entries whose waiting command the
// kernel ended with an error CQE that Next has not returned yet.
func (t *Thread) Ended() []*Entry { return t.m.Pending(true) }

// Delivered returns, without waiting, the entries to which a request was
// delivered that Next has not returned yet.
func (t *Thread) Delivered() []*Entry { return t.m.Pending(false) }
