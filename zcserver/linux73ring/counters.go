package linux73ring

import (
	"sync/atomic"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// Counters counts ring events (zcserver.RingCounters).
type Counters struct {
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
	// Held counts requests held by a knobs.Faults.Hold rule (both
	// transports; filled in by zcserver from the knobs).
	Held uint64
	// SlotProbes counts knobs.Faults.ProbeSlotAfterCommit probes; SlotProbesEFAULT
	// those that failed with EFAULT (slot empty: unregistered), and
	// SlotProbesOther every other result (success, or another errno).
	SlotProbes, SlotProbesEFAULT, SlotProbesOther uint64
}

// ZeroCopyTotal returns the number of zero-copied requests of all opcodes.
func (r Counters) ZeroCopyTotal() uint64 {
	var t uint64
	for _, v := range r.ZeroCopyRequests {
		t += v
	}
	return t
}

type counters struct {
	zeroCopy         [fuseabi.OpcodeSlots]atomic.Uint64
	dataOps          atomic.Uint64
	dataOpErrors     atomic.Uint64
	commits          atomic.Uint64
	entriesEnded     atomic.Uint64
	commandErrors    atomic.Uint64
	slotProbes       atomic.Uint64
	slotProbesEFAULT atomic.Uint64
	slotProbesOther  atomic.Uint64
}

func (r *counters) zeroCopyRequest(op fuseabi.Opcode) {
	if int(op) < len(r.zeroCopy) {
		r.zeroCopy[op].Add(1)
	}
}

func (r *counters) snapshot() Counters {
	var s Counters
	for i := range r.zeroCopy {
		s.ZeroCopyRequests[i] = r.zeroCopy[i].Load()
	}
	s.DataOps = r.dataOps.Load()
	s.DataOpErrors = r.dataOpErrors.Load()
	s.Commits = r.commits.Load()
	s.EntriesEnded = r.entriesEnded.Load()
	s.CommandErrors = r.commandErrors.Load()
	s.SlotProbes = r.slotProbes.Load()
	s.SlotProbesEFAULT = r.slotProbesEFAULT.Load()
	s.SlotProbesOther = r.slotProbesOther.Load()
	return s
}
