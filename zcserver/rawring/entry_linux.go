package rawring

import (
	"errors"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// ErrNotHeld: the entry holds no delivered request.
var ErrNotHeld = errors.New("rawring: entry holds no request")

type entState int

const (
	stateNew     entState = iota
	stateWaiting          // the kernel holds its REGISTER or COMMIT SQE
	stateHeld             // a delivered request waits for our COMMIT
	stateGone             // its SQE completed with an error
)

// Slot is the part of a ring entry the state machine keeps: the entry's
// position among the REGISTERs of its ring (its user_data) and whether the
// kernel or the server holds it. ABI packages embed it in their entry.
type Slot struct {
	index int
	state entState
}

// Held reports whether the entry holds a delivered request.
func (s *Slot) Held() bool { return s.state == stateHeld }

// Index is the entry's position among the REGISTERs of its ring.
func (s *Slot) Index() int { return s.index }

// Entry is what the state machine needs of an ABI's ring entry.
type Entry interface {
	fmt.Stringer
	// RawSlot returns the entry's embedded Slot.
	RawSlot() *Slot
}

// RawSlot returns s itself; an entry type gets it by embedding Slot.
func (s *Slot) RawSlot() *Slot { return s }

// ABI is one FUSE-over-io_uring ABI's part of the entry state machine:
// how its entries' commands are built and how a delivery is read. Its
// methods run on the ring thread. A is the ABI's COMMIT_AND_FETCH fields.
type ABI[E Entry, A any] interface {
	// PutRegister puts e's REGISTER SQE, with user_data ud, into the
	// submission queue (not submitted yet).
	PutRegister(e E, ud uint64) error
	// Delivered reads the request the kernel delivered into e (cqe is the
	// delivery's CQE, res >= 0).
	Delivered(e E, cqe uring.CQE) error
	// Answer computes e's reply with h and writes it where the ABI wants
	// it, without committing.
	Answer(e E, h *protocol.Handler) (protocol.Reply, error)
	// SetReply writes a reply's out-header and payload_sz into e's
	// header (the payload itself belongs in e's payload buffer or slot).
	SetReply(e E, oh fuseabi.OutHeader, payloadSz uint32)
	// CommitArgs returns the correct COMMIT_AND_FETCH fields for e's
	// delivered request.
	CommitArgs(e E) A
	// PutCommit puts e's COMMIT_AND_FETCH SQE with a and user_data ud into
	// the submission queue.
	PutCommit(e E, a A, ud uint64) error
	// Describe names a's fields for an error ("qid 0 commit_id 3").
	Describe(a A) string
}

// Machine is the entry state machine of one ring: REGISTER, wait for a
// delivery (Next), answer, COMMIT_AND_FETCH (optionally with further SQEs
// in the same io_uring_enter) and serving loops, the same for every ABI.
// Only the ring thread may use it.
type Machine[E Entry, A any] struct {
	t    *Thread
	abi  ABI[E, A]
	ents []E
}

// NewMachine returns the state machine of t's ring speaking abi.
func NewMachine[E Entry, A any](t *Thread, abi ABI[E, A]) *Machine[E, A] {
	return &Machine[E, A]{t: t, abi: abi}
}

// entryUD is the user_data of an entry's REGISTER and COMMIT SQEs.
func entryUD(index int) uint64 { return UserDataEntry | uint64(index) }

// isEntry reports whether a CQE belongs to an entry's command.
func isEntry(c uring.CQE) bool { return c.UserData&UserDataKind == UserDataEntry }

// entry returns the entry whose command completed with c.
func (m *Machine[E, A]) entry(c uring.CQE) E { return m.ents[c.UserData&^UserDataEntry] }

// Entries returns the entries registered so far, in order. The slice is
// the machine's own: read it only.
func (m *Machine[E, A]) Entries() []E { return m.ents }

// Register submits e's REGISTER. It returns the kernel's error when the
// command is refused at once, and nil when the kernel keeps it (the entry
// then waits for a request: a successful REGISTER has no CQE until one
// arrives).
func (m *Machine[E, A]) Register(e E) error {
	s := e.RawSlot()
	s.index = len(m.ents)
	m.ents = append(m.ents, e)
	ud := entryUD(s.index)
	if err := m.abi.PutRegister(e, ud); err != nil {
		return err
	}
	if _, err := m.t.ring.Submit(); err != nil {
		return fmt.Errorf("%s: submit REGISTER: %w", m.t.Name(), err)
	}
	s.state = stateWaiting
	m.t.Reap()
	if cqe, ok := m.t.Take(func(c uring.CQE) bool { return c.UserData == ud && c.Res < 0 }); ok {
		s.state = stateGone
		return fmt.Errorf("REGISTER %v: %w", e, cqe.Err())
	}
	return nil
}

// Pending returns, without waiting, the entries whose command completed
// and that Next has not returned yet: those a request was delivered to
// (failed false), or those whose command the kernel ended with an error
// (failed true).
func (m *Machine[E, A]) Pending(failed bool) []E {
	m.t.Reap()
	var out []E
	for _, c := range m.t.Stashed() {
		if isEntry(c) && (c.Res < 0) == failed {
			out = append(out, m.entry(c))
		}
	}
	return out
}

// Next waits for the next request delivered to any waiting entry and
// returns that entry, which now holds it. Inside Ring.Serve it returns
// ErrStopped once Serve's until channel closed. A waiting SQE that ends
// with an error (-ENOTCONN at teardown) is returned with its entry and an
// error matching the errno.
func (m *Machine[E, A]) Next() (E, error) {
	var zero E
	cqe, err := m.t.Wait(m.t.ctx, isEntry, true)
	if err != nil {
		return zero, err
	}
	e := m.entry(cqe)
	s := e.RawSlot()
	if err := cqe.Err(); err != nil {
		s.state = stateGone
		return e, fmt.Errorf("%v: %w", e, err)
	}
	s.state = stateHeld
	return e, m.abi.Delivered(e, cqe)
}

// Answer computes the reply to e's request with h as the ABI's transport
// does, without committing.
func (m *Machine[E, A]) Answer(e E, h *protocol.Handler) (protocol.Reply, error) {
	if !e.RawSlot().Held() {
		return protocol.Reply{}, fmt.Errorf("%v: %w", e, ErrNotHeld)
	}
	return m.abi.Answer(e, h)
}

// SetReply writes a reply's out-header and payload_sz into e's header
// (the payload itself belongs in e's payload buffer or zero-copy slot).
func (m *Machine[E, A]) SetReply(e E, oh fuseabi.OutHeader, payloadSz uint32) {
	m.abi.SetReply(e, oh, payloadSz)
}

// Probe prepares, on the ring thread, one SQE that CommitWith places
// right after the COMMIT, in the same io_uring_enter.
type Probe func(*Thread) (*uring.SQE, error)

// FixedProbe is a Probe doing READ_FIXED (read) or WRITE_FIXED of n bytes
// at offset 0 of slot against fd at file offset 0.
func FixedProbe(read bool, fd int, n uint32, slot uint16) Probe {
	return func(t *Thread) (*uring.SQE, error) { return t.FixedSQE(read, fd, 0, n, 0, slot) }
}

// Commit commits e's reply with the correct fields; see CommitWith.
func (m *Machine[E, A]) Commit(e E, probes ...Probe) ([]uring.CQE, error) {
	return m.CommitWith(e, m.abi.CommitArgs(e), probes...)
}

// CommitWith submits COMMIT_AND_FETCH for e with a, followed by the
// probes' SQEs in the same io_uring_enter, and returns the probes' CQEs in
// order. When the kernel refuses the COMMIT at once the error matches its
// errno and e still holds its request; otherwise e waits for its next one.
func (m *Machine[E, A]) CommitWith(e E, a A, probes ...Probe) ([]uring.CQE, error) {
	s := e.RawSlot()
	if !s.Held() {
		return nil, fmt.Errorf("%v: %w", e, ErrNotHeld)
	}
	ud := entryUD(s.index)
	if err := m.abi.PutCommit(e, a, ud); err != nil {
		return nil, err
	}
	uds := make([]uint64, 0, len(probes))
	for _, p := range probes {
		sqe, err := p(m.t)
		if err != nil {
			return nil, err
		}
		uds = append(uds, sqe.UserData)
	}
	if _, err := m.t.ring.Submit(); err != nil {
		return nil, fmt.Errorf("%s: submit COMMIT_AND_FETCH: %w", m.t.Name(), err)
	}
	s.state = stateWaiting
	refused, out, err := m.t.CommitResults(m.t.ctx, ud, uds)
	var commitErr error
	if refused != nil {
		s.state = stateHeld
		commitErr = fmt.Errorf("COMMIT_AND_FETCH %s: %w", m.abi.Describe(a), refused.Err())
	}
	if err != nil {
		return out, errors.Join(commitErr, err)
	}
	return out, commitErr
}

// ServeUntil answers (Answer + Commit) every delivered request until stop
// returns true for one; that entry is returned still holding its request.
// A nil stop serves until the context ends, Ring.Serve's until channel
// closes (ErrStopped) or a waiting SQE fails.
func (m *Machine[E, A]) ServeUntil(h *protocol.Handler, stop func(E) bool) (E, error) {
	for {
		e, err := m.Next()
		if err != nil {
			return e, err
		}
		if stop != nil && stop(e) {
			return e, nil
		}
		if _, err := m.Answer(e, h); err != nil {
			return e, err
		}
		if _, err := m.Commit(e); err != nil {
			return e, err
		}
	}
}

// Serve answers every delivered request, calling seen (when set) for each
// before answering it, until the context ends, Ring.Serve's until channel
// closes (ErrStopped) or a waiting SQE fails. seen must not block.
func (m *Machine[E, A]) Serve(h *protocol.Handler, seen func(E)) error {
	_, err := m.ServeUntil(h, func(e E) bool {
		if seen != nil {
			seen(e)
		}
		return false
	})
	return err
}
