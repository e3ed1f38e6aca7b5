package protocol

import (
	"errors"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// ErrShortHeader is returned when fewer than 40 bytes of fuse_in_header
// arrive; no reply is possible because the unique is unknown.
var ErrShortHeader = errors.New("request shorter than fuse_in_header")

// Request is one decoded FUSE request. The slices alias transport buffers
// and are valid until the transport reuses them.
type Request struct {
	Header fuseabi.InHeader
	// OpIn holds the opcode's first in-argument. It may be longer than the
	// struct (the ring's op_in area is 128 bytes); extra bytes are ignored.
	OpIn []byte
	// Payload holds the remaining in-arguments. For a zero-copied WRITE it
	// is empty: the data sits in the transport's zero-copy slot.
	Payload []byte
	// ZeroCopy is set by a ring transport when the kernel delivered the
	// request's data pages in a registered slot (FUSE_URING_ENT_ZERO_COPY).
	ZeroCopy bool
	// Queue identifies the transport queue (ring qid, /dev/fuse reader);
	// it labels faults and counters only.
	Queue int

	bad error // framing problem found by SplitDev
}

// Decode builds a Request from the three pieces a transport received:
// inHeader (at least 40 bytes), opIn and payload. Only the header is
// parsed here; Dispatch checks opIn and payload against the opcode table.
func Decode(inHeader, opIn, payload []byte) (Request, error) {
	h, ok := fuseabi.Load[fuseabi.InHeader](inHeader)
	if !ok {
		return Request{}, fmt.Errorf("decode: %d header bytes: %w", len(inHeader), ErrShortHeader)
	}
	return Request{Header: h, OpIn: opIn, Payload: payload, Queue: -1}, nil
}

// SplitDev cuts one request read from /dev/fuse into header, op-in and
// payload using the opcode table. It fails only when buf is shorter than a
// fuse_in_header; other framing problems are left for Dispatch to answer
// with EIO.
func SplitDev(buf []byte) (Request, error) {
	req, err := Decode(buf, nil, nil)
	if err != nil {
		return req, err
	}
	if int(req.Header.Len) != len(buf) {
		req.bad = fmt.Errorf("fuse_in_header.len %d, read returned %d bytes", req.Header.Len, len(buf))
		if int(req.Header.Len) < len(buf) && req.Header.Len >= fuseabi.SizeofInHeader {
			buf = buf[:req.Header.Len]
		}
	}
	rest := buf[fuseabi.SizeofInHeader:]
	n := len(rest) // unknown opcode: everything is "op-in"
	if info := lookupOp(req.Header.Opcode); info != nil {
		if info.opInRest {
			n = len(rest)
		} else {
			n = min(info.opInSize, len(rest))
		}
	}
	req.OpIn, req.Payload = rest[:n], rest[n:]
	return req, nil
}

// DataKind says which way a pending DataOp moves bytes.
type DataKind uint8

// Data movement kinds.
const (
	DataNone  DataKind = iota
	DataRead           // backing file → client (FUSE_READ)
	DataWrite          // client → backing file (FUSE_WRITE)
)

func (k DataKind) String() string {
	switch k {
	case DataRead:
		return "read"
	case DataWrite:
		return "write"
	}
	return "none"
}

// DataOp is the data movement a READ or WRITE needs. Fd stays valid until
// the file handle is released, which the kernel does not do while the
// request is outstanding.
type DataOp struct {
	Kind DataKind
	Fd   int   // backing descriptor
	Off  int64 // offset in the backing file (= file offset)
	// Len is the byte count to move: for READ the request size clamped to
	// the file size and the payload size; for WRITE fuse_write_in.size.
	Len int
	// Src is the WRITE data found in the payload, or nil when the data was
	// zero-copied and must be taken from the transport's slot.
	Src []byte

	node uint64
}

// Reply is the outcome of Dispatch or Finish.
type Reply struct {
	Unique uint64
	Opcode fuseabi.Opcode
	Status Status
	// N is the number of out-argument bytes: in the payload buffer, or for
	// a zero-copied READ, in the zero-copy slot.
	N int
	// NoReply is set for FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY:
	// the transport sends nothing.
	NoReply bool
	// Data is pending data movement (Kind != DataNone): the transport must
	// move the bytes and call Handler.Finish before replying.
	Data DataOp
}

// Pending reports whether r still needs data movement and Finish.
func (r *Reply) Pending() bool { return r.Data.Kind != DataNone }

// OutHeader returns the fuse_out_header for r.
func (r *Reply) OutHeader() fuseabi.OutHeader {
	return fuseabi.OutHeader{
		Len:    uint32(fuseabi.SizeofOutHeader + r.N),
		Error:  r.Status.Wire(),
		Unique: r.Unique,
	}
}

// PutOutHeader writes the 16-byte fuse_out_header into b and returns 16, or
// 0 if b is too short.
func (r *Reply) PutOutHeader(b []byte) int {
	oh := r.OutHeader()
	return fuseabi.Store(b, &oh)
}
