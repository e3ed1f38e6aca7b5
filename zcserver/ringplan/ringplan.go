package ringplan

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// Mode is how a queue's entries get their payload buffers (ABI doc §3.2,
// §3.3).
type Mode int

// Payload modes.
const (
	// PerEntry: each entry registers its own payload buffer (iov[1]).
	PerEntry Mode = iota
	// PoolMode: ADD_BUFPOOL gives the queue a pool; entries register
	// {NULL, 0}.
	PoolMode
	// RegisteredPool: as PoolMode, with the pool installed in a slot of
	// the buffer table and IORING_URING_CMD_FIXED on ADD_BUFPOOL, REGISTER
	// and COMMIT.
	RegisteredPool
)

var modeNames = [...]string{"per-entry", "pool", "registered-pool"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("ringplan.Mode(%d)", int(m))
}

// MaxDepth bounds the entries of one queue: each zero-copy entry needs its
// own slot, and a buffer table has at most 16384 slots (ABI doc §4.1).
const MaxDepth = 4096

// MinPayloadSz is the smallest max_payload_sz the kernel negotiates.
const MinPayloadSz = 8192

// Input is one queue's shape.
type Input struct {
	Qid      int
	Depth    int  // entries; at least 1
	Mode     Mode // payload buffers
	ZeroCopy bool // ADD_QUEUE with FUSE_URING_ZERO_COPY
	// AddQueue creates the queue with ADD_QUEUE first (the 7.46 ABI);
	// pools and zero copy need it.
	AddQueue bool
	PoolBufs int    // buffers per pool; 0 means Depth
	BufSize  uint32 // max_payload_sz: per-entry payload and pool buffer size
	// ZCBase is the zero-copy slot of the queue's first entry; entry n
	// gets ZCBase+n.
	ZCBase uint16
	// PoolSlot is the table slot of a registered pool.
	PoolSlot uint16

	// Knobs that break the plan on purpose (zcserver.FaultKnobs).
	// SecondAddQueue adds a second ADD_QUEUE with the zero-copy flag
	// flipped; ZeroCopyIndex and PoolIndex, when set, replace an entry's
	// zero-copy slot and the pool's buf_index.
	SecondAddQueue bool
	ZeroCopyIndex  func(qid, ent int, own uint16) uint16
	PoolIndex      func(qid int, own uint16) uint16
}

// Queue is what the setup of one queue issues, in order: ADD_QUEUE,
// optionally a second ADD_QUEUE (knob), the pool (memory, slot update,
// ADD_BUFPOOL), then one REGISTER per entry.
type Queue struct {
	Qid uint16
	// TableSlots is the size of fixed-buffer table the plan needs (0:
	// none): room for every zero-copy slot and the pool's slot.
	TableSlots uint32

	AddQueue      bool
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
	Entries []Entry
}

// Entry is one REGISTER.
type Entry struct {
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

// Plan computes one queue's setup.
func Plan(in Input) (Queue, error) {
	if in.Mode < PerEntry || in.Mode > RegisteredPool {
		return Queue{}, fmt.Errorf("unknown payload mode %d", int(in.Mode))
	}
	if in.Qid < 0 || in.Qid > 0xffff {
		return Queue{}, fmt.Errorf("qid %d outside u16", in.Qid)
	}
	if in.Depth < 1 || in.Depth > MaxDepth {
		return Queue{}, fmt.Errorf("depth %d outside [1, %d]", in.Depth, MaxDepth)
	}
	if in.BufSize < MinPayloadSz {
		return Queue{}, fmt.Errorf("max_payload_sz %d below the kernel's minimum %d", in.BufSize, MinPayloadSz)
	}
	pool := in.Mode != PerEntry
	if (pool || in.ZeroCopy) && !in.AddQueue {
		return Queue{}, fmt.Errorf("%s queue (zero copy %v) needs ADD_QUEUE, the 7.46 buffer-pool ABI", in.Mode, in.ZeroCopy)
	}
	if in.ZeroCopy && int(in.ZCBase)+in.Depth > 0x10000 {
		return Queue{}, fmt.Errorf("zero-copy slots %d..%d outside u16", in.ZCBase, int(in.ZCBase)+in.Depth-1)
	}
	p := Queue{Qid: uint16(in.Qid), BufSize: int(in.BufSize), AddQueue: in.AddQueue}
	registered := in.Mode == RegisteredPool
	if in.ZeroCopy || registered {
		p.TableSlots = max(uint32(in.ZCBase)+uint32(in.Depth), uint32(in.PoolSlot)+1)
	}
	if in.ZeroCopy {
		p.AddQueueFlags = linux73.FUSE_URING_ZERO_COPY
	}
	if in.AddQueue && in.SecondAddQueue {
		p.SecondAddQueue = true
		p.SecondAddQueueFlags = p.AddQueueFlags ^ linux73.FUSE_URING_ZERO_COPY
	}
	if pool {
		p.Pool = true
		p.PoolBufs = in.PoolBufs
		if p.PoolBufs == 0 {
			p.PoolBufs = in.Depth
		}
		if p.PoolBufs < 1 {
			return Queue{}, fmt.Errorf("pool of %d buffers", p.PoolBufs)
		}
		if uint64(p.PoolBufs)*uint64(in.BufSize) > 1<<31 {
			return Queue{}, fmt.Errorf("pool of %d x %d bytes exceeds ADD_BUFPOOL's u32 length", p.PoolBufs, in.BufSize)
		}
		if registered {
			p.PoolFixed = true
			p.PoolSlot = in.PoolSlot
			p.PoolIndex = p.PoolSlot
			if in.PoolIndex != nil {
				p.PoolIndex = in.PoolIndex(in.Qid, p.PoolSlot)
			}
		}
	}
	for i := range in.Depth {
		e := Entry{}
		if !pool {
			e.PayloadLen = int(in.BufSize)
		}
		if in.ZeroCopy {
			e.ZeroCopyIndex = in.ZCBase + uint16(i)
			if in.ZeroCopyIndex != nil {
				e.ZeroCopyIndex = in.ZeroCopyIndex(in.Qid, i, e.ZeroCopyIndex)
			}
		}
		if p.PoolFixed {
			e.Fixed, e.BufIndex = true, p.PoolIndex
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}
