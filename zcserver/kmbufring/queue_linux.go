package kmbufring

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
)

// Layout describes one complete, valid buf-ring queue for SetupQueue
// (ABI doc §4 step 4).
type Layout struct {
	Qid uint16
	// ZeroCopy makes it a zero-copy queue (needs CAP_SYS_ADMIN).
	ZeroCopy bool
	// Depth is the number of entries (ids 0..Depth-1) and, with zero
	// copy, the queue_depth REGISTER sends; 0 means 1.
	Depth uint16
	// QueueDepth, when non-zero, is the zero-copy queue_depth instead of
	// Depth (room for entries a spec REGISTERs itself later).
	QueueDepth uint16
	// BufSize and Buffers size the kmbuf ring; 0 means DefaultBufSize of
	// PayloadSz, and the smallest power of two >= Depth.
	BufSize   uint32
	Buffers   uint32
	PayloadSz uint32 // max_payload_sz from INIT
	// ExtraSlots are table slots after the ones the queue needs (canaries).
	ExtraSlots uint32
	// HeadersAt, when set, installs the headers buffer at this table index
	// instead of the one the kernel reads (kmbuf.HeadersIndex). With a
	// wrong index the first request routed to the queue hangs (ABI doc
	// §5 d): destructive specs only.
	HeadersAt *uint16
	// Edit, when set, may change each entry before its REGISTER.
	Edit func(*Entry)
}

// Queue is what SetupQueue built.
type Queue struct {
	Qid          uint16
	Mode         kmbuf.Mode
	Depth        uint16
	QueueDepth   uint16
	Headers      []byte // installed at HeadersIndex (or Layout.HeadersAt)
	HeadersIndex uint16
	TableSlots   uint32
	Ents         []*Entry
}

// DefaultBufSize is the kmbuf buffer size for a connection with
// max_payload_sz maxPayload: at least 64 KiB (the largest non-page payload
// such as an xattr value) and at least maxPayload, in whole pages. A
// buffer smaller than a payload could make the kernel's copy loop spin
// (ABI doc §2.4), so never go below it.
func DefaultBufSize(maxPayload uint32) uint32 {
	page := uint32(unix.Getpagesize())
	n := max(maxPayload, 64<<10)
	return (n + page - 1) / page * page
}

// pow2 returns the smallest power of two >= n (n >= 1).
func pow2(n uint32) uint32 {
	p := uint32(1)
	for p < n {
		p <<= 1
	}
	return p
}

// SetupQueue builds l on this ring: the kmbuf ring at bgid 0 (once per
// ring), a sparse fixed-buffer table with the headers buffer at the index
// the kernel reads (QD with zero copy, 0 otherwise) and the page slots
// 0..QD-1 left empty, then Depth REGISTERs with ids 0..Depth-1. The
// headers buffer has a slot for every id below max(Depth, QD). It stops at
// the first refused call. A ring serves one queue: the kernel pins its
// kmbuf ring for the first queue REGISTERed through it (§2.4).
func (t *Thread) SetupQueue(l Layout) (*Queue, error) {
	if l.Depth == 0 {
		l.Depth = 1
	}
	if l.BufSize == 0 {
		l.BufSize = DefaultBufSize(l.PayloadSz)
	}
	if l.Buffers == 0 {
		l.Buffers = pow2(uint32(l.Depth))
	}
	if l.QueueDepth == 0 {
		l.QueueDepth = l.Depth
	}
	q := &Queue{Qid: l.Qid, Mode: kmbuf.Mode{BufRing: true, ZeroCopy: l.ZeroCopy}, Depth: l.Depth, QueueDepth: l.QueueDepth}
	q.HeadersIndex, _ = kmbuf.HeadersIndex(q.Mode, l.QueueDepth)
	at := q.HeadersIndex
	if l.HeadersAt != nil {
		at = *l.HeadersAt
	}
	q.TableSlots = max(uint32(q.HeadersIndex), uint32(at)) + 1 + l.ExtraSlots
	if t.bufs == nil {
		if err := t.RegisterKmbuf(l.BufSize, l.Buffers); err != nil {
			return q, err
		}
	}
	hdrs, err := t.r.Alloc(kmbuf.HeadersLen(max(l.Depth, l.QueueDepth) - 1))
	if err != nil {
		return q, err
	}
	q.Headers = hdrs
	if err := t.Table(q.TableSlots); err != nil {
		return q, fmt.Errorf("kmbufring: fixed-buffer table of %d slots: %w", q.TableSlots, err)
	}
	if err := t.PutBuffer(at, hdrs); err != nil {
		return q, fmt.Errorf("kmbufring: headers buffer into slot %d: %w", at, err)
	}
	for id := range l.Depth {
		e := &Entry{Qid: l.Qid, ID: id, Mode: q.Mode, Headers: hdrs}
		if l.ZeroCopy {
			e.QueueDepth = l.QueueDepth
		}
		if l.Edit != nil {
			l.Edit(e)
		}
		if err := t.Register(e); err != nil {
			return q, err
		}
		q.Ents = append(q.Ents, e)
	}
	return q, nil
}

// NewEntry returns an unregistered entry with id for q: its mode, headers
// buffer and (with zero copy) queue_depth. The headers buffer has a slot
// for ids below max(Depth, QueueDepth).
func (q *Queue) NewEntry(id uint16) *Entry {
	e := &Entry{Qid: q.Qid, ID: id, Mode: q.Mode, Headers: q.Headers}
	if q.Mode.ZeroCopy {
		e.QueueDepth = q.QueueDepth
	}
	return e
}
