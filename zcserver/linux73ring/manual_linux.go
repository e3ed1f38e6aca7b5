package linux73ring

import (
	"context"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Thread is the ring seen from its own thread, inside Do.
type Thread struct{ d *Driver }

// Do runs fn on the ring's thread, for operations the driver has no method
// for. fn must not block on anything the ring thread itself provides.
func (d *Driver) Do(fn func(t *Thread) error) error {
	return d.call(func() error { return fn(&Thread{d}) })
}

// Ring is the io_uring ring: use it for registrations and SQE preparation,
// never to wait for CQEs (use Wait).
func (t *Thread) Ring() *uring.Ring { return t.d.ring }

// DevFD is the /dev/fuse descriptor.
func (t *Thread) DevFD() int { return t.d.t.fd }

// Personality is the personality FUSE command SQEs carry (0: none).
func (t *Thread) Personality() uint16 { return t.d.personality }

// SQE returns a zeroed SQE. Its UserData must stay below 1<<56.
func (t *Thread) SQE() (*uring.SQE, error) { return t.d.nextSQE() }

// Submit submits the prepared SQEs.
func (t *Thread) Submit() error {
	_, err := t.d.ring.Submit()
	return err
}

// Wait returns the CQE with user_data ud (below 1<<56), routing every
// other CQE to its owner meanwhile. It blocks until that CQE is posted.
func (t *Thread) Wait(ud uint64) (uring.CQE, error) {
	d := t.d
	if ud&udKindMask != 0 {
		return uring.CQE{}, fmt.Errorf("zcserver: user_data %#x uses the driver's top byte", ud)
	}
	return submitAwait(d, d.userCQEs, ud)
}

// Delivery is a request delivered to an entry that is not being served
// (before Serve, or with zcserver.Config.ManualRing): a copy of what the kernel
// wrote. Answer it with Driver.Answer or Driver.ServeDelivery.
type Delivery struct {
	Entry    *Entry
	Seq      uint64 // EntRecord.Seq
	InHeader fuseabi.InHeader
	Ent      linux73.EntInOut
	OpIn     [linux73.FUSE_URING_OP_IN_OUT_SZ]byte
	// Payload is a copy of the in-payload (nil when zero-copied).
	Payload []byte
}

// ZeroCopy reports FUSE_URING_ENT_ZERO_COPY.
func (dl *Delivery) ZeroCopy() bool { return dl.Ent.Flags&linux73.FUSE_URING_ENT_ZERO_COPY != 0 }

// Await returns the next request delivered to an entry that is not being
// served.
func (d *Driver) Await(ctx context.Context) (*Delivery, error) {
	select {
	case dl := <-d.deliveries:
		return dl, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.exited:
		return nil, ErrClosed
	}
}

// ServeDelivery answers dl as Serve would (dispatch, data movement, fault
// knobs, COMMIT_AND_FETCH), without making the entry served.
func (d *Driver) ServeDelivery(dl *Delivery) error {
	return d.call(func() error {
		e := dl.Entry
		if e.State() != EntryDelivered {
			return fmt.Errorf("zcserver: entry %d is %s, not delivered", e.index, e.State())
		}
		d.handle(e)
		return nil
	})
}

// AnswerArgs is a hand-made reply for Driver.Answer. Zero fields take
// the delivery's values; pointers override SQE fields.
type AnswerArgs struct {
	// Error is fuse_out_header.error (0 or a negative errno).
	Error int32
	// Unique, when non-zero, replaces fuse_out_header.unique.
	Unique uint64
	// Payload is copied into the entry's payload buffer (per-entry buffer,
	// or pool + offset).
	Payload []byte
	// PayloadSz, when non-nil, is ring_ent_in_out.payload_sz; otherwise
	// len(Payload).
	PayloadSz *uint32
	// CommitID, Qid, Fixed and BufIndex override the COMMIT SQE's fields
	// (defaults: the delivery's commit_id, the entry's qid, FIXED and
	// buf_index).
	CommitID *uint64
	Qid      *uint16
	Fixed    *bool
	BufIndex *uint16
}

// Answer commits a hand-made reply to dl and reports the kernel's
// immediate answer like Register does: an error CQE posted during the
// submission is returned (the request is then still with the server and
// can be answered again, ABI doc §3.4); nil means the COMMIT was accepted
// and the entry waits for its next request.
func (d *Driver) Answer(dl *Delivery, a AnswerArgs) error {
	return d.call(func() error {
		e := dl.Entry
		if e.State() != EntryDelivered {
			return fmt.Errorf("zcserver: entry %d is %s, not delivered", e.index, e.State())
		}
		if len(a.Payload) > 0 {
			buf, err := d.entryBuf(e)
			if err != nil {
				return err
			}
			if len(a.Payload) > len(buf) {
				return fmt.Errorf("zcserver: answer payload of %d bytes, buffer %d", len(a.Payload), len(buf))
			}
			copy(buf, a.Payload)
		}
		oh := fuseabi.OutHeader{Len: uint32(fuseabi.SizeofOutHeader + len(a.Payload)), Error: a.Error, Unique: e.cur.in.Unique}
		if a.Unique != 0 {
			oh.Unique = a.Unique
		}
		fuseabi.Store(e.hdr.OutHeaderBytes(), &oh)
		psz := uint32(len(a.Payload))
		if a.PayloadSz != nil {
			psz = *a.PayloadSz
		}
		e.hdr.Ent.PayloadSz = psz
		qid, commitID, fixed, bufIndex := e.Qid, e.cur.ent.CommitID, e.Fixed, e.BufIndex
		if a.Qid != nil {
			qid = *a.Qid
		}
		if a.CommitID != nil {
			commitID = *a.CommitID
		}
		if a.Fixed != nil {
			fixed = *a.Fixed
		}
		if a.BufIndex != nil {
			bufIndex = *a.BufIndex
		}
		if _, err := d.prepCmd(linux73.CommitCommand(qid, commitID, fixed, bufIndex), udEntry|uint64(e.index)); err != nil {
			return err
		}
		e.answering = true
		e.answerErr = nil
		e.setState(EntryWaiting)
		_, err := d.ring.Submit()
		if err == nil {
			d.drain()
		}
		e.answering = false
		if err != nil {
			return err
		}
		if e.answerErr != nil {
			return fmt.Errorf("commit entry %d (qid %d commit_id %d): %w", e.index, qid, commitID, e.answerErr)
		}
		d.t.entLog.committed(e.cur.seq, oh.Error, psz)
		d.q.Replies.Add(1)
		d.t.counters.commits.Add(1)
		return nil
	})
}
