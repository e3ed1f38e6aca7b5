package ringtest

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// Mode is how a Layout gives entries their payload buffers (ABI doc
// §3.2, §3.3); ringplan defines it.
type Mode = ringplan.Mode

// Payload modes.
const (
	// PerEntry: each entry registers its own payload buffer (iov[1]); no
	// ADD_QUEUE unless ZeroCopy, so it also works on Linux 7.2.
	PerEntry = ringplan.PerEntry
	// PoolMode: ADD_QUEUE + ADD_BUFPOOL; entries register {NULL, 0}.
	PoolMode = ringplan.PoolMode
	// RegisteredPool: as PoolMode, with the pool installed in slot
	// PoolSlot(qid) and IORING_URING_CMD_FIXED on ADD_BUFPOOL, REGISTER and
	// COMMIT.
	RegisteredPool = ringplan.RegisteredPool
)

// Slot conventions of Layout in the fixed-buffer table.
const (
	// ZCSlotBase is the zero-copy slot of the first entry Setup creates;
	// the n-th entry gets ZCSlotBase+n.
	ZCSlotBase = 16
)

// PoolSlot is the table slot of qid's registered pool.
func PoolSlot(qid int) uint16 { return uint16(qid) }

// Layout describes a complete, valid ring for Setup.
type Layout struct {
	Queues    int    // qids 0..Queues-1; every possible CPU needs one (ABI doc §8)
	Depth     int    // entries per queue; 0 means 1
	Mode      Mode   // payload buffers
	ZeroCopy  bool   // ADD_QUEUE with FUSE_URING_ZERO_COPY (needs a pool mode and CAP_SYS_ADMIN)
	PoolBufs  int    // buffers per pool; 0 means Depth
	PayloadSz uint32 // max_payload_sz from INIT (protocol.InitInfo.MaxPayloadSz)
	// Edit, when set, may change each entry before its REGISTER (e.g. a
	// zero-copy slot outside the table).
	Edit func(*Entry)
}

// plan is queue qid's part of l (ringplan.Plan): its zero-copy slots
// follow those of the entries the ring already has, from ZCSlotBase, and a
// registered pool sits in PoolSlot(qid).
func (t *Thread) plan(qid uint16, l Layout) (ringplan.Queue, error) {
	p, err := ringplan.Plan(ringplan.Input{
		Qid: int(qid), Depth: max(l.Depth, 1), Mode: l.Mode, ZeroCopy: l.ZeroCopy,
		AddQueue: l.Mode != PerEntry || l.ZeroCopy, PoolBufs: l.PoolBufs, BufSize: l.PayloadSz,
		ZCBase: uint16(ZCSlotBase + len(t.Entries())), PoolSlot: PoolSlot(int(qid)),
	})
	if err != nil {
		return p, fmt.Errorf("ringtest: layout of qid %d: %w", qid, err)
	}
	return p, nil
}

// Setup builds l: per qid ADD_QUEUE (pool modes or zero copy), the pool,
// and Depth REGISTERed entries. It stops at the first refused command.
func (t *Thread) Setup(l Layout) ([]*Entry, error) {
	var ents []*Entry
	for q := range l.Queues {
		p, err := t.plan(uint16(q), l)
		if err != nil {
			return ents, err
		}
		if p.AddQueue {
			if err := t.AddQueue(p.Qid, p.AddQueueFlags); err != nil {
				return ents, err
			}
		}
		if p.Pool {
			mem, err := t.r.Alloc(p.PoolBufs * p.BufSize)
			if err != nil {
				return ents, err
			}
			pool := &Pool{Qid: p.Qid, Mem: mem, BufSize: uint32(p.BufSize), Fixed: p.PoolFixed, Slot: p.PoolIndex}
			if p.PoolFixed {
				if _, err := t.ring.UpdateBuffers(uint32(p.PoolSlot), [][]byte{mem}); err != nil {
					return ents, err
				}
			}
			if err := t.AddBufpool(pool); err != nil {
				return ents, err
			}
		}
		for _, ep := range p.Entries {
			e, err := t.newEntry(p.Qid, ep)
			if err != nil {
				return ents, err
			}
			if l.Edit != nil {
				l.Edit(e)
			}
			if err := t.Register(e); err != nil {
				return ents, err
			}
			ents = append(ents, e)
		}
	}
	return ents, nil
}

// NewEntry allocates (without registering) an entry for qid shaped by l:
// a one-page header buffer registered as 288 bytes, a payload buffer in
// per-entry mode, the next zero-copy slot, FIXED for a registered pool.
func (t *Thread) NewEntry(qid uint16, l Layout) (*Entry, error) {
	l.Depth = 1
	p, err := t.plan(qid, l)
	if err != nil {
		return nil, err
	}
	return t.newEntry(qid, p.Entries[0])
}

// newEntry allocates the entry ep plans.
func (t *Thread) newEntry(qid uint16, ep ringplan.Entry) (*Entry, error) {
	hdr, err := t.r.Alloc(linux73.SizeofReqHeader)
	if err != nil {
		return nil, err
	}
	e := &Entry{Qid: qid, Header: hdr, ZCSlot: ep.ZeroCopyIndex, Fixed: ep.Fixed, BufIndex: ep.BufIndex}
	if ep.PayloadLen > 0 {
		if e.Payload, err = t.r.Alloc(ep.PayloadLen); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// PossibleCPUs returns the number of possible CPUs
// (/sys/devices/system/cpu/possible), which is the FUSE ring's nr_queues
// (ABI doc §1.2).
func PossibleCPUs() (int, error) { return rawring.PossibleCPUs() }
