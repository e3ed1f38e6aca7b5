package protocol

import (
	"sync/atomic"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// Counters is a snapshot of the protocol counters.
type Counters struct {
	// Requests counts dispatched requests by opcode.
	Requests [fuseabi.OpcodeSlots]uint64
	// OtherOpcodes counts requests whose opcode is outside Requests.
	OtherOpcodes uint64
	// Unimplemented counts ENOSYS replies.
	Unimplemented uint64
	// Errors counts replies with a non-zero status (ENOSYS included).
	Errors uint64
	// Faults counts fault events (see FaultKind).
	Faults uint64
	// Bytes moved by READ and WRITE, split by path.
	CopiedReadBytes    uint64
	CopiedWriteBytes   uint64
	ZeroCopyReadBytes  uint64
	ZeroCopyWriteBytes uint64
}

// Op returns the request count of op.
func (c *Counters) Op(op fuseabi.Opcode) uint64 {
	if int(op) < len(c.Requests) {
		return c.Requests[op]
	}
	return c.OtherOpcodes
}

// Total returns the number of requests of all opcodes.
func (c *Counters) Total() uint64 {
	t := c.OtherOpcodes
	for _, v := range c.Requests {
		t += v
	}
	return t
}

type counters struct {
	requests           [fuseabi.OpcodeSlots]atomic.Uint64
	other              atomic.Uint64
	unimplemented      atomic.Uint64
	errors             atomic.Uint64
	faults             atomic.Uint64
	copiedReadBytes    atomic.Uint64
	copiedWriteBytes   atomic.Uint64
	zeroCopyReadBytes  atomic.Uint64
	zeroCopyWriteBytes atomic.Uint64
}

func (c *counters) request(op fuseabi.Opcode) {
	if int(op) < len(c.requests) {
		c.requests[op].Add(1)
	} else {
		c.other.Add(1)
	}
}

func (c *counters) snapshot() Counters {
	var s Counters
	for i := range c.requests {
		s.Requests[i] = c.requests[i].Load()
	}
	s.OtherOpcodes = c.other.Load()
	s.Unimplemented = c.unimplemented.Load()
	s.Errors = c.errors.Load()
	s.Faults = c.faults.Load()
	s.CopiedReadBytes = c.copiedReadBytes.Load()
	s.CopiedWriteBytes = c.copiedWriteBytes.Load()
	s.ZeroCopyReadBytes = c.zeroCopyReadBytes.Load()
	s.ZeroCopyWriteBytes = c.zeroCopyWriteBytes.Load()
	return s
}
