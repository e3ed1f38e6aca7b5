package kmbufring

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// ErrNotHeld: the entry holds no delivered request.
var ErrNotHeld = errors.New("kmbufring: entry holds no request")

type entState int

const (
	stateNew     entState = iota
	stateWaiting          // the kernel holds its REGISTER or COMMIT SQE
	stateHeld             // a delivered request waits for our COMMIT
	stateGone             // its SQE completed with an error
)

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

	index  int
	fd     int32
	iov    []unix.Iovec
	sticky kmbuf.StickyBuffer
	state  entState
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

// Held reports whether the entry holds a delivered request.
func (e *Entry) Held() bool { return e.state == stateHeld }

// Index is the entry's position among the REGISTERs of its ring.
func (e *Entry) Index() int { return e.index }

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
	if e.state == stateHeld {
		s += fmt.Sprintf(", holds %s unique %d", e.In.Opcode, e.In.Unique)
	}
	return s + ")"
}

// Register submits e's REGISTER. It returns the kernel's error when the
// command is refused at once, and nil when the kernel keeps it (the entry
// then waits; a successful REGISTER has no CQE until a request arrives,
// ABI doc §2.6). Any refused REGISTER turns io_uring off for the
// connection until the ring becomes ready (§5 c).
func (t *Thread) Register(e *Entry) error {
	e.index = len(t.ents)
	t.ents = append(t.ents, e)
	ud := uint64(entryTag | e.index)
	args := kmbuf.RegisterArgs{Qid: e.Qid, Mode: e.Mode, QueueDepth: e.QueueDepth, Ent: e.ID}
	if !e.Mode.BufRing && (e.Header != nil || e.Payload != nil) {
		e.iov = make([]unix.Iovec, kmbuf.RegisterIovecs)
		if len(e.Header) > 0 {
			e.iov[0].Base = &e.Header[0]
			e.iov[0].SetLen(len(e.Header))
		}
		if len(e.Payload) > 0 {
			e.iov[1].Base = &e.Payload[0]
			e.iov[1].SetLen(len(e.Payload))
		}
		args.Iovecs, args.NrIovecs = uint64(uintptr(unsafe.Pointer(&e.iov[0]))), kmbuf.RegisterIovecs
	}
	pers := t.personality
	if e.Personality != 0 {
		pers = e.Personality
	}
	e.fd = t.fd
	if e.DevFD != nil {
		e.fd = int32(*e.DevFD)
	}
	q := t.Profile.RegisterSQE(kmbuf.SQEArgs{Fd: e.fd, UserData: ud, Personality: pers}, args)
	if e.Cmd != nil {
		copy(q.Cmd[:kmbuf.SizeofCmdReq], e.Cmd[:])
	}
	q.Flags |= e.SQEFlags
	if err := t.put(&q); err != nil {
		return err
	}
	if _, err := t.ring.Submit(); err != nil {
		return fmt.Errorf("kmbufring: submit REGISTER: %w", err)
	}
	runtime.KeepAlive(e.iov)
	e.state = stateWaiting
	t.th.Reap()
	if cqe, ok := t.th.Take(func(c uring.CQE) bool { return c.UserData == ud && c.Res < 0 }); ok {
		e.state = stateGone
		return fmt.Errorf("REGISTER qid %d ent %d (%s): %w", e.Qid, e.ID, e.Mode, cqe.Err())
	}
	return nil
}

// put copies a built SQE into the next ring slot.
func (t *Thread) put(q *kmbuf.URingCmdSQE) error {
	sqe, err := t.ring.NextSQE()
	if err != nil {
		return fmt.Errorf("kmbufring: %w", err)
	}
	if !q.Put(sqe) {
		return errors.New("kmbufring: the ring's SQEs have no command area")
	}
	return nil
}

// Next waits for the next request delivered to any waiting entry of this
// ring and returns that entry, which now holds it. Inside Serve it returns
// ErrStopped once Serve's until channel closed. A waiting SQE that ends
// with an error (-ENOTCONN at teardown) is returned with its entry and an
// error matching the errno.
func (t *Thread) Next() (*Entry, error) {
	cqe, err := t.wait(func(c uring.CQE) bool { return c.UserData&tagMask == entryTag }, true)
	if err != nil {
		return nil, err
	}
	e := t.ents[cqe.UserData&^entryTag]
	if err := cqe.Err(); err != nil {
		e.state = stateGone
		return e, fmt.Errorf("%v: %w", e, err)
	}
	e.state = stateHeld
	e.CQEFlags = cqe.Flags
	e.Bid, e.HasBuf = e.sticky.Observe(cqe.Flags)
	h := e.Hdr()
	if h == nil {
		return e, fmt.Errorf("%v: delivered, but its header slot does not fit the %d-byte headers buffer", e, len(e.Headers))
	}
	e.In, _ = fuseabi.Load[fuseabi.InHeader](h.InOut[:])
	e.EntIO = h.Ent
	return e, nil
}

// Answer computes the reply to e's request with h as the kmbuf transport
// does, without committing: non-page payload is read from the entry's
// kmbuf buffer; a zero-copied READ or WRITE moves its data with
// READ_FIXED/WRITE_FIXED on the entry's page slot; a zero-copied READDIR or
// READLINK is built in server memory and moved into the page slot through
// the scratch memfd; fuse_write_out and other out-arguments go to the
// kmbuf buffer; the out-header and payload_sz go to the header slot.
func (t *Thread) Answer(e *Entry, h *protocol.Handler) (protocol.Reply, error) {
	if e.state != stateHeld {
		return protocol.Reply{}, fmt.Errorf("%v: %w", e, ErrNotHeld)
	}
	hdr := e.Hdr()
	buf := t.PayloadBuf(e)
	zc := e.ZeroCopied()
	op := e.In.Opcode
	var payload []byte
	if !(zc && op == fuseabi.FUSE_WRITE) && e.EntIO.PayloadSz > 0 {
		if int(e.EntIO.PayloadSz) > len(buf) {
			return protocol.Reply{}, fmt.Errorf("%v: payload_sz %d, payload buffer %d bytes (bid %d, has %v)", e, e.EntIO.PayloadSz, len(buf), e.Bid, e.HasBuf)
		}
		payload = buf[:e.EntIO.PayloadSz]
	}
	req, err := protocol.Decode(hdr.InOut[:], hdr.OpIn[:], payload)
	if err != nil {
		return protocol.Reply{}, fmt.Errorf("%v: %w", e, err)
	}
	req.Queue = int(e.Qid)
	var rep protocol.Reply
	switch {
	case zc && (op == fuseabi.FUSE_READ || op == fuseabi.FUSE_WRITE):
		req.ZeroCopy = true
		out := buf
		if out == nil {
			// A zero-copied READ gets no kmbuf buffer (§2.4); its reply
			// bytes go through the page slot.
			if _, out, err = t.Scratch(4096); err != nil {
				return rep, err
			}
		}
		rep = h.Dispatch(&req, out)
		if rep.Pending() {
			d := rep.Data
			n, err := 0, error(nil)
			if d.Len > 0 {
				n, err = t.Fixed(d.Kind == protocol.DataRead, d.Fd, 0, uint32(d.Len), uint64(d.Off), kmbuf.PageSlot(e.ID))
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return rep, err
				}
			}
			rep = h.Finish(rep, n, err, true, out)
		}
	case zc:
		// READDIR, READDIRPLUS, READLINK: the reply is built in server
		// memory, then read into the client's pages from the scratch memfd.
		size := int(h.PayloadSize())
		fd, out, err := t.Scratch(size)
		if err != nil {
			return rep, err
		}
		rep = h.Dispatch(&req, out)
		if rep.Status == protocol.OK && rep.N > 0 {
			if _, err := unix.Pwrite(fd, out[:rep.N], 0); err != nil {
				return rep, fmt.Errorf("kmbufring: stage %s reply in the scratch memfd: %w", op, err)
			}
			n, err := t.Fixed(true, fd, 0, uint32(rep.N), 0, kmbuf.PageSlot(e.ID))
			if err != nil || n != rep.N {
				return rep, fmt.Errorf("%v: moving %d reply bytes into the page slot: n=%d: %w", e, rep.N, n, err)
			}
		}
	default:
		rep = h.Dispatch(&req, buf)
		if rep.Pending() {
			n, err := rep.Data.Copy(buf)
			rep = h.Finish(rep, n, err, false, buf)
		}
	}
	t.SetReply(e, rep.OutHeader(), uint32(rep.N))
	return rep, nil
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
	if e.state != stateHeld {
		return nil, fmt.Errorf("%v: %w", e, ErrNotHeld)
	}
	ud := uint64(entryTag | e.index)
	q := t.Profile.CommitAndFetchSQE(kmbuf.SQEArgs{Fd: e.fd, UserData: ud, Personality: t.personality}, a.Qid, a.CommitID)
	if err := t.put(&q); err != nil {
		return nil, err
	}
	uds := make([]uint64, 0, len(probes))
	for _, p := range probes {
		sqe, err := p(t)
		if err != nil {
			return nil, err
		}
		uds = append(uds, sqe.UserData)
	}
	if _, err := t.ring.Submit(); err != nil {
		return nil, fmt.Errorf("kmbufring: submit COMMIT_AND_FETCH: %w", err)
	}
	e.state = stateWaiting
	refused, out, err := t.th.CommitResults(t.ctx, ud, uds)
	var commitErr error
	if refused != nil {
		e.state = stateHeld
		commitErr = fmt.Errorf("COMMIT_AND_FETCH qid %d commit_id %d: %w", a.Qid, a.CommitID, refused.Err())
	}
	if err != nil {
		return out, errors.Join(commitErr, err)
	}
	return out, commitErr
}

// ServeUntil answers (Answer + Commit) every delivered request until stop
// returns true for one; that entry is returned still holding its request.
// A nil stop serves until the context ends or a waiting SQE fails.
func (t *Thread) ServeUntil(h *protocol.Handler, stop func(*Entry) bool) (*Entry, error) {
	for {
		e, err := t.Next()
		if err != nil {
			return e, err
		}
		if stop != nil && stop(e) {
			return e, nil
		}
		if _, err := t.Answer(e, h); err != nil {
			return e, err
		}
		if _, err := t.Commit(e); err != nil {
			return e, err
		}
	}
}

// Serve answers every request on the ring thread until until is closed
// (then it returns nil, leaving no entry half answered) or ctx ends or
// serving fails.
func (r *Ring) Serve(ctx context.Context, h *protocol.Handler, until <-chan struct{}) error {
	return r.ServeFunc(ctx, h, until, nil)
}

// ServeFunc is Serve calling seen for every request before answering it
// (on the ring thread; seen must not block).
func (r *Ring) ServeFunc(ctx context.Context, h *protocol.Handler, until <-chan struct{}, seen func(*Thread, *Entry)) error {
	// Runs last: a later Next outside Serve must not see the stop.
	defer r.rt.ClearStop()
	defer r.rt.StopOn(until)()
	err := r.Do(ctx, func(t *Thread) error {
		_, err := t.ServeUntil(h, func(e *Entry) bool {
			if seen != nil {
				seen(t, e)
			}
			return false
		})
		return err
	})
	if errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}

// Ended returns, without waiting, the entries whose waiting command the
// kernel ended with an error CQE that Next has not returned yet.
func (t *Thread) Ended() []*Entry {
	t.th.Reap()
	var out []*Entry
	for _, c := range t.th.Stashed() {
		if c.UserData&tagMask == entryTag && c.Res < 0 {
			out = append(out, t.ents[c.UserData&^entryTag])
		}
	}
	return out
}

// Delivered returns, without waiting, the entries to which a request was
// delivered that Next has not returned yet.
func (t *Thread) Delivered() []*Entry {
	t.th.Reap()
	var out []*Entry
	for _, c := range t.th.Stashed() {
		if c.UserData&tagMask == entryTag && c.Res >= 0 {
			out = append(out, t.ents[c.UserData&^entryTag])
		}
	}
	return out
}
