package protocol

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// FaultKind classifies a server fault: something that should never happen
// with a correct kernel and a correct transport. A test that sees one fails.
type FaultKind int

// Fault kinds.
const (
	// FaultShortRequest: a request shorter than its opcode needs, or whose
	// fuse_in_header.len disagrees with the bytes delivered.
	FaultShortRequest FaultKind = iota + 1
	// FaultBadRequest: malformed content (name without NUL, bad counts).
	FaultBadRequest
	// FaultPanic: a handler panicked; the request got EIO.
	FaultPanic
	// FaultReplyBuffer: the reply does not fit the payload buffer.
	FaultReplyBuffer
	// FaultBeforeInit: a request other than INIT before INIT completed.
	FaultBeforeInit
	// FaultProtocol: INIT offered a protocol version we do not speak.
	FaultProtocol
	// FaultTransport: a transport error (reading or replying on /dev/fuse,
	// a ring CQE); reported by transports through Handler.Fault.
	FaultTransport
)

var faultNames = map[FaultKind]string{
	FaultShortRequest: "short-request",
	FaultBadRequest:   "bad-request",
	FaultPanic:        "panic",
	FaultReplyBuffer:  "reply-buffer",
	FaultBeforeInit:   "before-init",
	FaultProtocol:     "protocol",
	FaultTransport:    "transport",
}

func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one server fault event.
type Fault struct {
	Kind   FaultKind
	Opcode fuseabi.Opcode // 0 when no request was decoded
	Unique uint64
	Queue  int // transport queue or reader index; -1 when unknown
	Err    error
	Stack  []byte // for FaultPanic
}

// Error makes a Fault usable as an error.
func (f Fault) Error() string {
	s := fmt.Sprintf("zcserver fault %s", f.Kind)
	if f.Opcode != 0 {
		s += fmt.Sprintf(" op=%s unique=%d", f.Opcode, f.Unique)
	}
	if f.Queue >= 0 {
		s += fmt.Sprintf(" queue=%d", f.Queue)
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (f Fault) Unwrap() error { return f.Err }
