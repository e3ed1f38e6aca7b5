package linux73ring

import (
	"sync"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// DefaultEntLogSize is the number of EntRecords kept when
// zcserver.Config.EntLogSize is 0.
const DefaultEntLogSize = 4096

// EntRecord is what the kernel wrote into one ring entry's header for one
// delivered request (fuse_in_header and ring_ent_in_out, ABI doc §2.4),
// plus what the server committed back.
type EntRecord struct {
	Seq   uint64 // 1, 2, ... in delivery order (server-wide)
	Qid   int
	Entry int // entry index on its ring

	// From fuse_in_header.
	Opcode fuseabi.Opcode
	Unique uint64
	NodeID uint64
	InLen  uint32 // fuse_in_header.len

	// From ring_ent_in_out at delivery.
	Flags     uint64 // FUSE_URING_ENT_ZERO_COPY
	CommitID  uint64
	PayloadSz uint32
	Offset    uint32

	// At commit (Committed false while the request is in the server).
	Committed      bool
	ReplyError     int32  // fuse_out_header.error sent
	ReplyPayloadSz uint32 // ring_ent_in_out.payload_sz sent
}

// ZeroCopy reports FUSE_URING_ENT_ZERO_COPY.
func (r *EntRecord) ZeroCopy() bool { return r.Flags&1 != 0 }

// entLog keeps the last n records.
type entLog struct {
	mu   sync.Mutex
	recs []EntRecord
	seq  uint64
}

func newEntLog(n int) *entLog { return &entLog{recs: make([]EntRecord, n)} }

// add stores r and returns its sequence number.
func (l *entLog) add(r EntRecord) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	r.Seq = l.seq
	l.recs[l.seq%uint64(len(l.recs))] = r
	return l.seq
}

// committed fills the commit fields of record seq if it is still kept.
func (l *entLog) committed(seq uint64, errno int32, payloadSz uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &l.recs[seq%uint64(len(l.recs))]
	if r.Seq != seq {
		return
	}
	r.Committed, r.ReplyError, r.ReplyPayloadSz = true, errno, payloadSz
}

// snapshot returns the kept records with Seq > since, oldest first.
func (l *entLog) snapshot(since uint64) []EntRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := uint64(len(l.recs))
	first := uint64(1)
	if l.seq > n {
		first = l.seq - n + 1
	}
	first = max(first, since+1)
	var out []EntRecord
	for s := first; s <= l.seq; s++ {
		out = append(out, l.recs[s%n])
	}
	return out
}
