package zcserver

import (
	"sync/atomic"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// Transport names used in QueueCounters.
const (
	TransportDevFuse = "devfuse"
	TransportRing    = "ring"
)

// Counters is a snapshot of a server's counters.
type Counters struct {
	// Protocol holds requests per opcode, ENOSYS and error replies,
	// faults, and READ/WRITE bytes split into copied and zero-copied
	// (ZeroCopyReadBytes/ZeroCopyWriteBytes count bytes moved through a
	// zero-copy slot with READ_FIXED/WRITE_FIXED).
	protocol.Counters
	// Queues has one row per transport queue: each /dev/fuse reader, then
	// each ring queue.
	Queues []QueueCounters
	// Ring counts ring-transport events over all queues.
	Ring RingCounters
	// FaultsDropped counts fault events that did not fit the Faults
	// channel (they are still in Counters.Faults).
	FaultsDropped uint64
}

// QueueCounters counts one transport queue's traffic.
type QueueCounters struct {
	Transport string // TransportDevFuse or TransportRing
	Queue     int    // reader index or ring qid
	Requests  uint64 // requests received
	Replies   uint64 // replies sent (ring: COMMIT_AND_FETCH submitted)
	// StaleReplies counts replies the kernel refused with ENOENT: the
	// request was interrupted or aborted meanwhile. Not a fault.
	StaleReplies uint64
	// ReplyErrors counts other reply failures (each is also a fault,
	// unless a fault knob caused it).
	ReplyErrors uint64
	// ZeroCopyRequests counts requests delivered with
	// FUSE_URING_ENT_ZERO_COPY (ring queues only).
	ZeroCopyRequests uint64
}

// RingCounters counts ring events.
type RingCounters struct {
	// ZeroCopyRequests counts, by opcode, requests delivered with
	// FUSE_URING_ENT_ZERO_COPY in ring_ent_in_out.flags.
	ZeroCopyRequests [fuseabi.OpcodeSlots]uint64
	// DataOps counts READ_FIXED/WRITE_FIXED issued on zero-copy slots to
	// move request data; DataOpErrors those whose CQE was negative.
	DataOps, DataOpErrors uint64
	// Commits counts COMMIT_AND_FETCH SQEs submitted.
	Commits uint64
	// EntriesEnded counts entry commands ended by the kernel with
	// ENOTCONN or ECANCELED (connection teardown, ring exit).
	EntriesEnded uint64
	// CommandErrors counts other negative CQEs of REGISTER/COMMIT
	// commands while serving (each is also a fault).
	CommandErrors uint64
	// Held counts requests held by a FaultKnobs.Hold rule (both
	// transports).
	Held uint64
	// SlotProbes counts ProbeSlotAfterCommit probes; SlotProbesEFAULT
	// those that failed with EFAULT (slot empty: unregistered), and
	// SlotProbesOther every other result (success, or another errno).
	SlotProbes, SlotProbesEFAULT, SlotProbesOther uint64
}

// ZeroCopyTotal returns the number of zero-copied requests of all opcodes.
func (r RingCounters) ZeroCopyTotal() uint64 {
	var t uint64
	for _, v := range r.ZeroCopyRequests {
		t += v
	}
	return t
}

type queueCounters struct {
	transport    string
	queue        int
	requests     atomic.Uint64
	replies      atomic.Uint64
	staleReplies atomic.Uint64
	replyErrors  atomic.Uint64
	zeroCopy     atomic.Uint64
}

func (q *queueCounters) snapshot() QueueCounters {
	return QueueCounters{
		Transport:        q.transport,
		Queue:            q.queue,
		Requests:         q.requests.Load(),
		Replies:          q.replies.Load(),
		StaleReplies:     q.staleReplies.Load(),
		ReplyErrors:      q.replyErrors.Load(),
		ZeroCopyRequests: q.zeroCopy.Load(),
	}
}

type ringCounters struct {
	zeroCopy         [fuseabi.OpcodeSlots]atomic.Uint64
	dataOps          atomic.Uint64
	dataOpErrors     atomic.Uint64
	commits          atomic.Uint64
	entriesEnded     atomic.Uint64
	commandErrors    atomic.Uint64
	held             atomic.Uint64
	slotProbes       atomic.Uint64
	slotProbesEFAULT atomic.Uint64
	slotProbesOther  atomic.Uint64
}

func (r *ringCounters) zeroCopyRequest(op fuseabi.Opcode) {
	if int(op) < len(r.zeroCopy) {
		r.zeroCopy[op].Add(1)
	}
}

func (r *ringCounters) snapshot() RingCounters {
	var s RingCounters
	for i := range r.zeroCopy {
		s.ZeroCopyRequests[i] = r.zeroCopy[i].Load()
	}
	s.DataOps = r.dataOps.Load()
	s.DataOpErrors = r.dataOpErrors.Load()
	s.Commits = r.commits.Load()
	s.EntriesEnded = r.entriesEnded.Load()
	s.CommandErrors = r.commandErrors.Load()
	s.Held = r.held.Load()
	s.SlotProbes = r.slotProbes.Load()
	s.SlotProbesEFAULT = r.slotProbesEFAULT.Load()
	s.SlotProbesOther = r.slotProbesOther.Load()
	return s
}
