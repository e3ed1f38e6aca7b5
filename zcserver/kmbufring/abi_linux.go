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
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// abi is the kmbuf series' half of the ring's entry state machine
// (rawring.ABI): commands built by the ring's kmbuf.Profile, headers in
// the registered headers buffer or iov[0], payloads in the kmbuf buffer a
// delivery CQE names, zero-copied pages in the entry's page slot.
type abi struct{ t *Thread }

func (a abi) PutRegister(e *Entry, ud uint64) error {
	t := a.t
	args := kmbuf.RegisterArgs{Qid: e.Qid, Mode: e.Mode, QueueDepth: e.QueueDepth, Ent: e.ID}
	if !e.Mode.BufRing && (e.Header != nil || e.Payload != nil) {
		// Kept with the entry, which the machine holds, past the submit.
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
	return t.put(&q)
}

func (a abi) Delivered(e *Entry, cqe uring.CQE) error {
	e.CQEFlags = cqe.Flags
	e.Bid, e.HasBuf = e.sticky.Observe(cqe.Flags)
	h := e.Hdr()
	if h == nil {
		return fmt.Errorf("%v: delivered, but its header slot does not fit the %d-byte headers buffer", e, len(e.Headers))
	}
	e.In, _ = fuseabi.Load[fuseabi.InHeader](h.InOut[:])
	e.EntIO = h.Ent
	return nil
}

func (a abi) Answer(e *Entry, h *protocol.Handler) (protocol.Reply, error) {
	t := a.t
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

func (a abi) SetReply(e *Entry, oh fuseabi.OutHeader, payloadSz uint32) {
	h := e.Hdr()
	fuseabi.Store(h.InOut[:], &oh)
	h.Ent.PayloadSz = payloadSz
}

func (a abi) CommitArgs(e *Entry) CommitArgs { return e.CommitArgs() }

func (a abi) PutCommit(e *Entry, c CommitArgs, ud uint64) error {
	q := a.t.Profile.CommitAndFetchSQE(kmbuf.SQEArgs{Fd: e.fd, UserData: ud, Personality: a.t.personality}, c.Qid, c.CommitID)
	return a.t.put(&q)
}

func (a abi) Describe(c CommitArgs) string {
	return fmt.Sprintf("qid %d commit_id %d", c.Qid, c.CommitID)
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
