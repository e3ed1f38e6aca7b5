package zcserver

import (
	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/linux73ring"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// Transport names used in QueueCounters.
const (
	TransportDevFuse = fuseconn.TransportDevFuse
	TransportRing    = fuseconn.TransportRing
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

// QueueCounters counts one transport queue's traffic
// (fuseconn.QueueCounters).
type QueueCounters = fuseconn.QueueCounters

// RingCounters counts ring events (linux73ring.Counters); its Held counts
// the requests FaultKnobs.Hold kept on both transports.
type RingCounters = linux73ring.Counters
