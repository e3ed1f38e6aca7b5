package linux73ring

import (
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// EntryState is where a ring entry is in its life.
type EntryState int32

// Entry states.
const (
	// EntryWaiting: its REGISTER or COMMIT_AND_FETCH waits in the kernel
	// for the next request.
	EntryWaiting EntryState = iota
	// EntryDelivered: a request was delivered and nobody handles it yet
	// (Await, or before Serve).
	EntryDelivered
	// EntryBusy: the server is handling the request (dispatch, data
	// movement).
	EntryBusy
	// EntryHeld: a knobs.Faults.Hold rule keeps the request.
	EntryHeld
	// EntryEnded: the kernel ended the entry's command (an error CQE:
	// a refused REGISTER, teardown, ring exit).
	EntryEnded
)

func (s EntryState) String() string {
	switch s {
	case EntryWaiting:
		return "waiting"
	case EntryDelivered:
		return "delivered"
	case EntryBusy:
		return "busy"
	case EntryHeld:
		return "held"
	case EntryEnded:
		return "ended"
	}
	return fmt.Sprintf("EntryState(%d)", int(s))
}

// Entry is one registered ring entry: a header buffer, a payload source
// (its own buffer or its queue's pool) and, on a zero-copy queue, a slot of
// the ring's buffer table. Its exported fields are what REGISTER sent.
type Entry struct {
	d     *Driver
	index int

	Qid          uint16
	ZeroCopySlot uint16 // ent_zero_copy_buf_index as sent
	Fixed        bool   // IORING_URING_CMD_FIXED on REGISTER and COMMITs
	BufIndex     uint16

	state atomic.Int32
	err   atomic.Pointer[error]

	// Ring thread only.
	hdr       *linux73.ReqHeader
	payload   []byte
	pool      *Pool
	served    bool
	answering bool
	answerErr error
	cur       current
	// The request of the last slot probe.
	probeOp     fuseabi.Opcode
	probeUnique uint64
}

// current is the request an entry holds.
type current struct {
	seq uint64
	in  fuseabi.InHeader
	ent linux73.EntInOut
	zc  bool
	rep protocol.Reply // pending reply while data moves
	out []byte
}

// Index is the entry's index on its ring (REGISTER order).
func (e *Entry) Index() int { return e.index }

// State returns the entry's state.
func (e *Entry) State() EntryState { return EntryState(e.state.Load()) }

func (e *Entry) setState(s EntryState) { e.state.Store(int32(s)) }

// Err returns the error CQE that ended the entry, or nil.
func (e *Entry) Err() error {
	if p := e.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (e *Entry) end(err error) {
	e.err.Store(&err)
	e.setState(EntryEnded)
}

// teardownErrno reports the errnos the kernel ends entry commands with when
// the connection or the ring goes away (ABI doc §5.1 "Deferred CQEs").
func teardownErrno(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECANCELED) || errors.Is(err, unix.ECONNABORTED)
}

func (d *Driver) onEntryCQE(e *Entry, c uring.CQE) {
	if err := c.Err(); err != nil {
		if e.answering {
			e.answerErr = err
			e.setState(EntryDelivered)
			return
		}
		e.end(err)
		switch {
		case teardownErrno(err):
			d.t.counters.entriesEnded.Add(1)
		case e.served:
			d.t.counters.commandErrors.Add(1)
			d.q.ReplyErrors.Add(1)
			d.t.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Opcode: e.cur.in.Opcode, Unique: e.cur.in.Unique, Queue: int(e.Qid),
				Err: fmt.Errorf("entry %d command: %w", e.index, err)})
		}
		return
	}
	if e.hdr == nil {
		// Registered with raw iovecs: the request cannot be read or
		// answered here; it stays with the entry (see Entry.State).
		e.setState(EntryDelivered)
		return
	}
	d.onDelivery(e)
}

// onDelivery records a request the kernel just delivered to e and hands it
// to the serving path or to Await.
func (d *Driver) onDelivery(e *Entry) {
	s := d.t
	e.setState(EntryDelivered)
	ent := e.hdr.Ent
	in, _ := fuseabi.Load[fuseabi.InHeader](e.hdr.InHeaderBytes())
	zc := ent.Flags&linux73.FUSE_URING_ENT_ZERO_COPY != 0
	d.q.Requests.Add(1)
	if zc {
		d.q.ZeroCopy.Add(1)
		s.counters.zeroCopyRequest(in.Opcode)
	}
	seq := s.entLog.add(EntRecord{
		Qid: int(e.Qid), Entry: e.index,
		Opcode: in.Opcode, Unique: in.Unique, NodeID: in.NodeID, InLen: in.Len,
		Flags: ent.Flags, CommitID: ent.CommitID, PayloadSz: ent.PayloadSz, Offset: ent.Offset,
	})
	e.cur = current{seq: seq, in: in, ent: ent, zc: zc}
	if e.served {
		d.handle(e)
		return
	}
	dl := &Delivery{Entry: e, Seq: seq, InHeader: in, Ent: ent, OpIn: e.hdr.OpIn}
	if !zc {
		if buf, err := d.entryBuf(e); err == nil && int(ent.PayloadSz) <= len(buf) {
			dl.Payload = append([]byte(nil), buf[:ent.PayloadSz]...)
		}
	}
	select {
	case d.deliveries <- dl:
	default:
		s.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Opcode: in.Opcode, Unique: in.Unique, Queue: int(e.Qid),
			Err: errors.New("delivery queue of an unserved ring is full; request left unanswered")})
	}
}

// entryBuf returns the payload buffer of e's current request: its own
// buffer, or its pool buffer at the delivered offset.
func (d *Driver) entryBuf(e *Entry) ([]byte, error) {
	if e.payload != nil {
		return e.payload, nil
	}
	if e.pool == nil {
		return nil, fmt.Errorf("entry %d has neither a payload buffer nor a pool", e.index)
	}
	off := int(e.cur.ent.Offset)
	end := off + e.pool.BufSize
	if end > len(e.pool.Buf) {
		return nil, fmt.Errorf("pool offset %d + %d past the %d-byte pool", off, e.pool.BufSize, len(e.pool.Buf))
	}
	return e.pool.Buf[off:end:end], nil
}

// handle serves e's delivered request, unless a hold rule keeps it.
func (d *Driver) handle(e *Entry) {
	s := d.t
	if s.knobs.Hold(e.cur.in.Opcode) {
		e.setState(EntryHeld)
		hr := &knobs.HeldRequest{
			Transport: fuseconn.TransportRing, Queue: int(e.Qid), Entry: e.index,
			Slot: e.ZeroCopySlot, ZeroCopy: e.cur.zc,
			Opcode: e.cur.in.Opcode, Unique: e.cur.in.Unique, NodeID: e.cur.in.NodeID, Ent: e.cur.ent,
		}
		s.knobs.Announce(hr, func() {
			d.post(func() {
				if e.State() == EntryHeld {
					d.process(e)
				}
			})
		})
		return
	}
	d.process(e)
}

// process dispatches e's request and either commits the reply or starts
// the zero-copy data movement.
func (d *Driver) process(e *Entry) {
	s := d.t
	e.setState(EntryBusy)
	fail := func(err error) {
		s.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Opcode: e.cur.in.Opcode, Unique: e.cur.in.Unique, Queue: int(e.Qid), Err: err})
		d.commit(e, protocol.Reply{Unique: e.cur.in.Unique, Opcode: e.cur.in.Opcode, Status: protocol.EIO})
	}
	op := e.cur.in.Opcode
	if rep, ok := s.knobs.ReplyError(e.cur.in.Unique, op); ok {
		d.commit(e, rep)
		return
	}
	buf, err := d.entryBuf(e)
	if err != nil {
		fail(err)
		return
	}
	var payload []byte
	if !e.cur.zc {
		if int(e.cur.ent.PayloadSz) > len(buf) {
			fail(fmt.Errorf("payload_sz %d exceeds the %d-byte buffer", e.cur.ent.PayloadSz, len(buf)))
			return
		}
		payload = buf[:e.cur.ent.PayloadSz]
	}
	out := buf
	if e.cur.zc && op == fuseabi.FUSE_READ {
		// A zero-copied READ gets no pool buffer (offset 0 may be another
		// entry's, ABI doc §4.d); its reply bytes go through the slot.
		out = d.scratchOut
	}
	req, err := protocol.Decode(e.hdr.InHeaderBytes(), e.hdr.OpIn[:], payload)
	if err != nil {
		fail(err)
		return
	}
	req.ZeroCopy = e.cur.zc
	req.Queue = int(e.Qid)
	rep := s.h.Dispatch(&req, out)
	if !rep.Pending() {
		d.commit(e, rep)
		return
	}
	if !e.cur.zc {
		n, err := rep.Data.Copy(out)
		d.commit(e, s.h.Finish(rep, n, err, false, out))
		return
	}
	sqe, err := d.nextSQE()
	if err != nil {
		d.commit(e, s.h.Finish(rep, 0, err, true, out))
		return
	}
	dt := rep.Data
	switch dt.Kind {
	case protocol.DataRead:
		sqe.PrepReadFixed(int32(dt.Fd), 0, uint32(dt.Len), uint64(dt.Off), e.ZeroCopySlot)
	default:
		sqe.PrepWriteFixed(int32(dt.Fd), 0, uint32(dt.Len), uint64(dt.Off), e.ZeroCopySlot)
	}
	sqe.UserData = udData | uint64(e.index)
	e.cur.rep, e.cur.out = rep, out
	s.counters.dataOps.Add(1)
}

// onDataCQE finishes a zero-copy data movement and commits.
func (d *Driver) onDataCQE(e *Entry, c uring.CQE) {
	n, err := int(c.Res), c.Err()
	if err != nil {
		n = 0
		d.t.counters.dataOpErrors.Add(1)
	}
	d.commit(e, d.t.h.Finish(e.cur.rep, n, err, true, e.cur.out))
	e.cur.rep, e.cur.out = protocol.Reply{}, nil
}

// commit writes fin into e's header and queues COMMIT_AND_FETCH (and, with
// ProbeSlotAfterCommit, the slot probe right behind it; both go to the
// kernel in the loop's next io_uring_enter).
func (d *Driver) commit(e *Entry, fin protocol.Reply) {
	s := d.t
	if fin.NoReply {
		s.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Opcode: fin.Opcode, Unique: fin.Unique, Queue: int(e.Qid),
			Err: errors.New("a no-reply opcode arrived on a ring entry")})
		fin = protocol.Reply{Unique: fin.Unique, Opcode: fin.Opcode, Status: protocol.EIO}
	}
	fin.PutOutHeader(e.hdr.OutHeaderBytes())
	psz := s.knobs.PayloadSz(fin.Opcode, fin.N)
	e.hdr.Ent.PayloadSz = psz
	probe := s.knobs.ProbeAfterCommit(e.cur.zc)
	need := uint32(1)
	if probe {
		need = 2
	}
	if d.ring.SQSpace() < need {
		if _, err := d.ring.Submit(); err != nil {
			s.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Queue: int(e.Qid), Err: err})
		}
	}
	if _, err := d.prepCmd(linux73.CommitCommand(e.Qid, e.cur.ent.CommitID, e.Fixed, e.BufIndex), udEntry|uint64(e.index)); err != nil {
		e.end(err)
		s.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Opcode: fin.Opcode, Unique: fin.Unique, Queue: int(e.Qid), Err: fmt.Errorf("commit: %w", err)})
		return
	}
	e.setState(EntryWaiting)
	s.entLog.committed(e.cur.seq, fin.Status.Wire(), psz)
	d.q.Replies.Add(1)
	s.counters.commits.Add(1)
	if !probe {
		return
	}
	p, err := d.nextSQE()
	if err != nil {
		return
	}
	if fin.Opcode == fuseabi.FUSE_READ {
		// A READ slot is a destination: read one byte of the file at the
		// request's offset, the byte the client already got, so that even
		// a slot left registered is not corrupted.
		fd, off := d.scratch, uint64(0)
		if rd := e.cur.rep.Data; rd.Kind == protocol.DataRead {
			fd, off = rd.Fd, uint64(rd.Off)
		}
		p.PrepReadFixed(int32(fd), 0, 1, off, e.ZeroCopySlot)
	} else {
		p.PrepWriteFixed(int32(d.scratch), 0, 1, 0, e.ZeroCopySlot)
	}
	p.UserData = udProbe | uint64(e.index)
	e.probeOp, e.probeUnique = fin.Opcode, fin.Unique
}

func (d *Driver) onProbeCQE(e *Entry, c uring.CQE) {
	s := d.t
	s.counters.slotProbes.Add(1)
	if c.Res == -int32(unix.EFAULT) {
		s.counters.slotProbesEFAULT.Add(1)
	} else {
		s.counters.slotProbesOther.Add(1)
	}
	p := SlotProbe{Qid: int(e.Qid), Entry: e.index, Slot: e.ZeroCopySlot, Opcode: e.probeOp, Unique: e.probeUnique, Res: c.Res}
	select {
	case s.slotProbes <- p:
	default:
	}
}

// SlotProbe is the result of one ProbeSlotAfterCommit probe.
type SlotProbe struct {
	Qid    int
	Entry  int
	Slot   uint16
	Opcode fuseabi.Opcode // the committed request's
	Unique uint64
	Res    int32 // the probe's CQE res
}

// Err returns nil for Res >= 0 and the errno otherwise.
func (p SlotProbe) Err() error {
	if p.Res >= 0 {
		return nil
	}
	return unix.Errno(-p.Res)
}
