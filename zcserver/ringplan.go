package zcserver

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// queuePlan is what the automatic setup of one queue issues on the queue's
// ring, in order (ABI doc §4.1): a sparse buffer table, ADD_QUEUE,
// optionally a second ADD_QUEUE (knob), the pool (mmap, slot update,
// ADD_BUFPOOL), then one REGISTER per entry. It is computed without any
// syscall so the sequence can be checked on any host.
type queuePlan struct {
	Qid uint16
	// TableSlots is the size of the sparse fixed-buffer table (0: none):
	// one zero-copy slot per entry, then the pool's slot.
	TableSlots uint32

	AddQueue      bool // issue ADD_QUEUE (needs the 7.46 ABI)
	AddQueueFlags uint64
	// SecondAddQueue (knob): a second ADD_QUEUE with these flags.
	SecondAddQueue      bool
	SecondAddQueueFlags uint64

	Pool      bool   // ADD_BUFPOOL
	PoolBufs  int    // buffers of BufSize bytes
	PoolFixed bool   // registered pool: IORING_URING_CMD_FIXED
	PoolSlot  uint16 // table slot the pool occupies
	PoolIndex uint16 // buf_index sent (PoolSlot unless the PoolIndex knob says otherwise)

	BufSize int // max_payload_sz
	Entries []entryPlan
}

// entryPlan is one REGISTER.
type entryPlan struct {
	// PayloadLen is iov[1].len for a per-entry payload; 0 sends {NULL, 0}
	// (pool modes).
	PayloadLen int
	// ZeroCopyIndex is ent_zero_copy_buf_index: the entry's own slot on a
	// zero-copy queue, 0 otherwise (a non-zero index on another queue is
	// EINVAL and disables io_uring, §4.b).
	ZeroCopyIndex uint16
	Fixed         bool // registered pool: FIXED + BufIndex
	BufIndex      uint16
}

// planInput is everything planQueue needs.
type planInput struct {
	Mode     Mode
	Qid      int
	Depth    int
	PoolBufs int    // 0: Depth
	BufSize  uint32 // max_payload_sz
	ABI746   bool   // the kernel offers the 7.46 bufpool ABI
	Knobs    *FaultKnobs
}

// planQueue computes one queue's setup.
func planQueue(in planInput) (queuePlan, error) {
	if !in.Mode.Ring() {
		return queuePlan{}, fmt.Errorf("mode %s has no ring", in.Mode)
	}
	if in.Qid < 0 || in.Qid > 0xffff {
		return queuePlan{}, fmt.Errorf("qid %d outside u16", in.Qid)
	}
	if in.Depth < 1 || in.Depth > maxDepth {
		return queuePlan{}, fmt.Errorf("depth %d outside [1, %d]", in.Depth, maxDepth)
	}
	if in.BufSize < 8192 {
		return queuePlan{}, fmt.Errorf("max_payload_sz %d below the kernel's minimum 8192", in.BufSize)
	}
	k := in.Knobs
	if k == nil {
		k = &FaultKnobs{}
	}
	p := queuePlan{Qid: uint16(in.Qid), BufSize: int(in.BufSize)}
	pool := in.Mode != ModeRingPerEntry
	if pool && !in.ABI746 {
		return queuePlan{}, fmt.Errorf("mode %s needs the 7.46 buffer-pool ABI", in.Mode)
	}
	zc := in.Mode == ModeRingZeroCopy
	registered := in.Mode == ModeRingPoolRegistered
	if zc || registered {
		p.TableSlots = uint32(in.Depth) + 1
	}
	if in.ABI746 {
		p.AddQueue = true
		if zc {
			p.AddQueueFlags = linux73.FUSE_URING_ZERO_COPY
		}
		if k.SecondAddQueue {
			p.SecondAddQueue = true
			p.SecondAddQueueFlags = p.AddQueueFlags ^ linux73.FUSE_URING_ZERO_COPY
		}
	}
	if pool {
		p.Pool = true
		p.PoolBufs = in.PoolBufs
		if p.PoolBufs == 0 {
			p.PoolBufs = in.Depth
		}
		if p.PoolBufs < 1 {
			return queuePlan{}, fmt.Errorf("pool of %d buffers", p.PoolBufs)
		}
		if uint64(p.PoolBufs)*uint64(in.BufSize) > 1<<31 {
			return queuePlan{}, fmt.Errorf("pool of %d x %d bytes exceeds ADD_BUFPOOL's u32 length", p.PoolBufs, in.BufSize)
		}
		if registered {
			p.PoolFixed = true
			p.PoolSlot = uint16(in.Depth)
			p.PoolIndex = p.PoolSlot
			if k.PoolIndex != nil {
				p.PoolIndex = k.PoolIndex(in.Qid, p.PoolSlot)
			}
		}
	}
	for i := range in.Depth {
		e := entryPlan{}
		if !pool {
			e.PayloadLen = int(in.BufSize)
		}
		if zc {
			e.ZeroCopyIndex = uint16(i)
			if k.ZeroCopyIndex != nil {
				e.ZeroCopyIndex = k.ZeroCopyIndex(in.Qid, i, uint16(i))
			}
		}
		if p.PoolFixed {
			e.Fixed, e.BufIndex = true, p.PoolIndex
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// maxDepth bounds entries per queue: each zero-copy entry needs its own
// slot, and a buffer table has at most 16384 slots (ABI doc §4.1).
const maxDepth = 4096
