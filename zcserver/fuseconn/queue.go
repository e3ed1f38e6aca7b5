package fuseconn

import "sync/atomic"

// Transport names used in QueueCounters.
const (
	TransportDevFuse = "devfuse"
	TransportRing    = "ring"
)

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

// Queue is the live counters of one transport queue: a /dev/fuse reader
// here, a ring queue in a ring transport.
type Queue struct {
	Transport string
	Index     int

	Requests, Replies, StaleReplies, ReplyErrors, ZeroCopy atomic.Uint64
}

// Snapshot returns the counters' current values.
func (q *Queue) Snapshot() QueueCounters {
	return QueueCounters{
		Transport:        q.Transport,
		Queue:            q.Index,
		Requests:         q.Requests.Load(),
		Replies:          q.Replies.Load(),
		StaleReplies:     q.StaleReplies.Load(),
		ReplyErrors:      q.ReplyErrors.Load(),
		ZeroCopyRequests: q.ZeroCopy.Load(),
	}
}
