package ringtest

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// Mode is how a Layout gives entries their payload buffers.
type Mode int

// Payload modes (ABI doc §3.2, §3.3).
const (
	// PerEntry: each entry registers its own payload buffer (iov[1]); no
	// ADD_QUEUE unless ZeroCopy, so it also works on Linux 7.2.
	PerEntry Mode = iota
	// PoolMode: ADD_QUEUE + ADD_BUFPOOL; entries register {NULL, 0}.
	PoolMode
	// RegisteredPool: as PoolMode, with the pool installed in slot
	// PoolSlot(qid) and IORING_URING_CMD_FIXED on ADD_BUFPOOL, REGISTER and
	// COMMIT.
	RegisteredPool
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

// Setup builds l: per qid ADD_QUEUE (pool modes or zero copy), the pool,
// and Depth REGISTERed entries. It stops at the first refused command.
func (t *Thread) Setup(l Layout) ([]*Entry, error) {
	if l.Depth == 0 {
		l.Depth = 1
	}
	if l.PoolBufs == 0 {
		l.PoolBufs = l.Depth
	}
	if l.PayloadSz == 0 {
		return nil, fmt.Errorf("ringtest: layout without PayloadSz")
	}
	var ents []*Entry
	for q := range l.Queues {
		qid := uint16(q)
		if l.Mode != PerEntry || l.ZeroCopy {
			var flags uint64
			if l.ZeroCopy {
				flags = linux73.FUSE_URING_ZERO_COPY
			}
			if err := t.AddQueue(qid, flags); err != nil {
				return ents, err
			}
		}
		if l.Mode != PerEntry {
			mem, err := t.r.Alloc(l.PoolBufs * int(l.PayloadSz))
			if err != nil {
				return ents, err
			}
			p := &Pool{Qid: qid, Mem: mem, BufSize: l.PayloadSz}
			if l.Mode == RegisteredPool {
				p.Fixed, p.Slot = true, PoolSlot(q)
				if _, err := t.ring.UpdateBuffers(uint32(p.Slot), [][]byte{mem}); err != nil {
					return ents, err
				}
			}
			if err := t.AddBufpool(p); err != nil {
				return ents, err
			}
		}
		for range l.Depth {
			e, err := t.NewEntry(qid, l)
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
	hdr, err := t.r.Alloc(linux73.SizeofReqHeader)
	if err != nil {
		return nil, err
	}
	e := &Entry{Qid: qid, Header: hdr}
	if l.Mode == PerEntry {
		if e.Payload, err = t.r.Alloc(int(l.PayloadSz)); err != nil {
			return nil, err
		}
	}
	if l.ZeroCopy {
		e.ZCSlot = uint16(ZCSlotBase + len(t.Entries()))
	}
	if l.Mode == RegisteredPool {
		e.Fixed, e.BufIndex = true, PoolSlot(int(qid))
	}
	return e, nil
}

// PossibleCPUs returns the number of possible CPUs
// (/sys/devices/system/cpu/possible), which is the FUSE ring's nr_queues
// (ABI doc §1.2).
func PossibleCPUs() (int, error) { return rawring.PossibleCPUs() }
