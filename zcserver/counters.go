package zcserver

import (
	"sync/atomic"

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
	// faults, and READ/WRITE bytes split into copied and zero-copied.
	protocol.Counters
	// Queues has one row per transport queue: each /dev/fuse reader now,
	// each ring queue later.
	Queues []QueueCounters
	// FaultsDropped counts fault events that did not fit the Faults
	// channel (they are still in Counters.Faults).
	FaultsDropped uint64
}

// QueueCounters counts one transport queue's traffic.
type QueueCounters struct {
	Transport string // TransportDevFuse or TransportRing
	Queue     int    // reader index or ring qid
	Requests  uint64 // requests received
	Replies   uint64 // replies accepted by the kernel
	// StaleReplies counts replies the kernel refused with ENOENT: the
	// request was interrupted or aborted meanwhile. Not a fault.
	StaleReplies uint64
	// ReplyErrors counts other reply failures (each is also a fault).
	ReplyErrors uint64
}

type queueCounters struct {
	transport    string
	queue        int
	requests     atomic.Uint64
	replies      atomic.Uint64
	staleReplies atomic.Uint64
	replyErrors  atomic.Uint64
}

func (q *queueCounters) snapshot() QueueCounters {
	return QueueCounters{
		Transport:    q.transport,
		Queue:        q.queue,
		Requests:     q.requests.Load(),
		Replies:      q.replies.Load(),
		StaleReplies: q.staleReplies.Load(),
		ReplyErrors:  q.replyErrors.Load(),
	}
}
