package knobs

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// heldBuffer is the capacity of the Held channel.
const heldBuffer = 64

// Injector applies one server's Faults. Transports ask it at the point a
// knob acts; nothing else reads Faults. Methods are safe for concurrent
// use.
type Injector struct {
	k       Faults
	onFault func(protocol.Fault)

	holdCounts []atomic.Int64
	heldCount  atomic.Uint64
	held       chan *HeldRequest
	mu         sync.Mutex
	heldList   []*HeldRequest
	closing    bool // under mu: ReleaseAll ran, holds release at once
}

// New returns the injector of k. onFault reports a fault of the seam
// itself (a held request nobody can be told about).
func New(k Faults, onFault func(protocol.Fault)) *Injector {
	return &Injector{
		k:          k,
		onFault:    onFault,
		holdCounts: make([]atomic.Int64, len(k.Hold)),
		held:       make(chan *HeldRequest, heldBuffer),
	}
}

// ReplyError returns the raw-error reply Faults.ReplyError asks for in
// answer to this request, and whether it asks for one; the request is
// then not dispatched.
func (in *Injector) ReplyError(unique uint64, op fuseabi.Opcode) (protocol.Reply, bool) {
	raw, ok := in.k.ReplyError[op]
	if !ok {
		return protocol.Reply{}, false
	}
	return protocol.Reply{Unique: unique, Opcode: op, Status: protocol.Status(-raw)}, true
}

// PayloadSz returns the ring_ent_in_out.payload_sz to commit for a reply
// of n bytes to op (Faults.ReplyPayloadSzDelta), never below 0.
func (in *Injector) PayloadSz(op fuseabi.Opcode, n int) uint32 {
	return uint32(max(int64(n)+int64(in.k.ReplyPayloadSzDelta[op]), 0))
}

// ProbeAfterCommit reports whether a COMMIT of a zero-copied request gets
// a slot probe behind it (Faults.ProbeSlotAfterCommit).
func (in *Injector) ProbeAfterCommit(zeroCopy bool) bool {
	return in.k.ProbeSlotAfterCommit && zeroCopy
}

// DropCapBefore reports whether a ring thread that has not dropped yet
// drops CAP_SYS_ADMIN before issuing op (Faults.DropCapSysAdminBefore).
func (in *Injector) DropCapBefore(op linux73.Cmd) bool {
	return in.k.DropCapSysAdminBefore == op
}

// Personality is the personality every ring thread registers
// (Faults.Personality).
func (in *Injector) Personality() Personality { return in.k.Personality }

// Plan puts the knobs that change a queue's setup plan into p
// (Faults.SecondAddQueue, ZeroCopyIndex, PoolIndex).
func (in *Injector) Plan(p *ringplan.Input) {
	p.SecondAddQueue, p.ZeroCopyIndex, p.PoolIndex = in.k.SecondAddQueue, in.k.ZeroCopyIndex, in.k.PoolIndex
}

// Hold counts op against the hold rules and reports whether this request
// is one to hold (Faults.Hold); the caller then announces it with
// Announce or Block.
func (in *Injector) Hold(op fuseabi.Opcode) bool {
	hold := false
	for i, r := range in.k.Hold {
		if r.Opcode != op {
			continue
		}
		if in.holdCounts[i].Add(1) == int64(max(r.N, 1)) {
			hold = true
		}
	}
	return hold
}

// Announce registers h, whose Release runs release once, for ReleaseAll
// and publishes it on Held; after ReleaseAll it releases h at once.
func (in *Injector) Announce(h *HeldRequest, release func()) {
	h.release = release
	in.heldCount.Add(1)
	in.mu.Lock()
	if in.closing {
		in.mu.Unlock()
		h.Release()
		return
	}
	in.heldList = append(in.heldList, h)
	in.mu.Unlock()
	select {
	case in.held <- h:
	default:
		in.onFault(protocol.Fault{Kind: protocol.FaultTransport, Opcode: h.Opcode, Unique: h.Unique, Queue: h.Queue,
			Err: errors.New("Held channel full: a held request is announced to nobody")})
	}
}

// Block announces h and blocks the calling goroutine until h is
// released (a /dev/fuse reader holding its request).
func (in *Injector) Block(h *HeldRequest) {
	released := make(chan struct{})
	in.Announce(h, func() { close(released) })
	<-released
}

// Held returns the channel on which held requests are announced. It is
// never closed.
func (in *Injector) Held() <-chan *HeldRequest { return in.held }

// HeldCount is the number of requests held so far.
func (in *Injector) HeldCount() uint64 { return in.heldCount.Load() }

// ReleaseAll releases every held request; requests held later are
// released at once.
func (in *Injector) ReleaseAll() {
	in.mu.Lock()
	in.closing = true
	list := in.heldList
	in.heldList = nil
	in.mu.Unlock()
	for _, h := range list {
		h.Release()
	}
}

// HeldRequest is a request kept by a Faults.Hold rule. The kernel still
// waits for its reply; on a ring its entry stays in userspace, and a
// zero-copied request keeps its pages registered in Slot.
type HeldRequest struct {
	Transport string // "ring" or "devfuse" (fuseconn.TransportRing, TransportDevFuse)
	Queue     int    // ring qid, or /dev/fuse reader index
	Entry     int    // entry index on its ring; -1 on /dev/fuse
	Slot      uint16 // the entry's zero-copy slot (ring, zero-copy queues)
	ZeroCopy  bool   // delivered with FUSE_URING_ENT_ZERO_COPY
	Opcode    fuseabi.Opcode
	Unique    uint64
	NodeID    uint64
	Ent       linux73.EntInOut // as delivered (ring only)

	release func()
	once    sync.Once
}

// Release lets the server answer the request as usual. It is idempotent
// and does not wait for the answer.
func (h *HeldRequest) Release() { h.once.Do(h.release) }
