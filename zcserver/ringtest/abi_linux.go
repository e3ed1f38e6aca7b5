package ringtest

import (
	"context"
	"errors"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// abi is the Linux 7.3 half of the ring's entry state machine
// (rawring.ABI): REGISTER with a header and an optional payload iovec,
// ring_ent_in_out in the header, COMMIT_AND_FETCH with the pool's FIXED
// flag, zero-copied data moved on the entry's slot.
type abi struct{ t *Thread }

func (a abi) PutRegister(e *Entry, ud uint64) error {
	iov := e.Iov
	if iov == nil {
		iov = linux73.EntryIovecs(e.Header, e.Payload)
	}
	e.iov = iov // kept alive with the entry until its SQE is submitted
	e.pool = a.t.pools[e.Qid]
	c := Cmd{
		Op: linux73.FUSE_IO_URING_CMD_REGISTER, Req: linux73.Register(e.Qid, e.ZCSlot),
		Fixed: e.Fixed, BufIndex: e.BufIndex, Iov: iov, IovLen: e.IovLen,
	}
	return a.t.prep(&c, ud)
}

func (a abi) Delivered(e *Entry, _ uring.CQE) error {
	h := e.Hdr()
	if h == nil {
		return fmt.Errorf("%v: delivered into a header buffer of %d bytes", e, len(e.Header))
	}
	e.In, _ = fuseabi.Load[fuseabi.InHeader](h.InOut[:])
	e.Ent = h.Ent
	return nil
}

func (a abi) Answer(e *Entry, h *protocol.Handler) (protocol.Reply, error) {
	hdr := e.Hdr()
	buf := e.PayloadBuf()
	zc := e.ZeroCopy()
	var payload []byte
	if !(zc && e.In.Opcode == fuseabi.FUSE_WRITE) {
		if int(e.Ent.PayloadSz) > len(buf) {
			return protocol.Reply{}, fmt.Errorf("%v: payload_sz %d, payload buffer %d bytes", e, e.Ent.PayloadSz, len(buf))
		}
		payload = buf[:e.Ent.PayloadSz]
	}
	req, err := protocol.Decode(hdr.InOut[:], hdr.OpIn[:], payload)
	if err != nil {
		return protocol.Reply{}, fmt.Errorf("%v: %w", e, err)
	}
	req.ZeroCopy, req.Queue = zc, int(e.Qid)
	rep := h.Dispatch(&req, buf)
	if rep.Pending() {
		d := rep.Data
		var n int
		var err error
		switch {
		case !zc:
			n, err = d.Copy(buf)
		case d.Len > 0:
			n, err = a.t.Fixed(d.Kind == protocol.DataRead, d.Fd, 0, uint32(d.Len), uint64(d.Off), e.ZCSlot)
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return rep, err
			}
		}
		rep = h.Finish(rep, n, err, zc, buf)
	}
	a.t.SetReply(e, rep.OutHeader(), uint32(rep.N))
	return rep, nil
}

func (a abi) SetReply(e *Entry, oh fuseabi.OutHeader, payloadSz uint32) {
	h := e.Hdr()
	fuseabi.Store(h.InOut[:], &oh)
	h.Ent.PayloadSz = payloadSz
}

func (a abi) CommitArgs(e *Entry) CommitArgs { return e.CommitArgs() }

func (a abi) PutCommit(_ *Entry, c CommitArgs, ud uint64) error {
	cmd := linux73.CommitCommand(c.Qid, c.CommitID, c.Fixed, c.BufIndex)
	cmd.SQEFlags = c.SQEFlags
	return a.t.prep(&cmd, ud)
}

func (a abi) Describe(c CommitArgs) string {
	return fmt.Sprintf("qid %d commit_id %d", c.Qid, c.CommitID)
}
