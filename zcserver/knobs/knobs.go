package knobs

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// Faults are fault injections that make the server break the FUSE
// io_uring protocol on purpose, so specs can watch the kernel's answer.
// Every field is off at its zero value and each one is proven to fire by a
// spec in suites/guest (knobs_*_test.go). Unless a field says otherwise it
// acts on ring transports only; section numbers refer to
// zcserver/fuseabi/linux73/ABI.md.
//
// The other-uid credential path (a child process under another uid issuing
// commands on an inherited /dev/fuse descriptor) is a method, not a field,
// because it runs in another process: see zcserver.Server.ForeignAddQueue.
type Faults struct {
	// DropCapSysAdminBefore clears CAP_SYS_ADMIN from the effective set of
	// every ring thread right before that thread issues its first command
	// of this kind (e.g. linux73.FUSE_IO_URING_CMD_ADD_QUEUE; 0 is off).
	// Only the ring's locked OS thread changes (capset(2) on the thread);
	// the capability stays permitted, and the thread is never returned to
	// the Go scheduler. With zcserver.ModeRingZeroCopy and ADD_QUEUE, Start
	// fails with an error matching unix.EPERM (§4.a), unless Personality
	// is PersonalityCapable.
	DropCapSysAdminBefore linux73.Cmd

	// Personality attaches an io_uring personality to every FUSE command
	// SQE of every ring (sqe.personality): the credentials the kernel then
	// checks instead of the submitting thread's (§4.a).
	Personality Personality

	// ZeroCopyIndex replaces the ent_zero_copy_buf_index sent at REGISTER
	// for entry ent of queue qid; own is the slot the server would use.
	// Return own to leave an entry alone. The kernel accepts any index at
	// REGISTER and fails each zero-copy request on that entry for the
	// client instead: EINVAL out of range, EBUSY for an occupied slot
	// (§4.b, §7 H4). zcserver.ModeRingZeroCopy only.
	ZeroCopyIndex func(qid, ent int, own uint16) uint16

	// PoolIndex replaces the registered pool's buf_index
	// (zcserver.ModeRingPoolRegistered). The pool still sits in its own
	// slot; the replaced index is sent consistently with ADD_BUFPOOL,
	// REGISTER and COMMIT, so every command is accepted and each request
	// needing a pool buffer fails for the client with EFAULT (§3.2, §5.2).
	PoolIndex func(qid int, own uint16) uint16

	// SecondAddQueue issues, right after each queue's ADD_QUEUE, a second
	// ADD_QUEUE for the same qid whose FUSE_URING_ZERO_COPY bit is the
	// opposite of the first. Its result (EEXIST on 7.3, §4.c) is recorded
	// in the setup log and does not stop the setup. Needs the 7.46 ABI.
	SecondAddQueue bool

	// ReplyPayloadSzDelta is added to ring_ent_in_out.payload_sz on the
	// COMMIT of every reply to these opcodes: +1 for "too large" (client
	// EINVAL), -1 for "too small" (a short READ, or EINVAL for a
	// fixed-size reply such as WRITE's) (§4.e). The reply bytes are
	// unchanged.
	ReplyPayloadSzDelta map[fuseabi.Opcode]int32

	// ReplyError answers every request of these opcodes without
	// dispatching it, with this raw fuse_out_header.error value (e.g.
	// -int32(unix.EIO); +5 or -600 are refused by the kernel, §4.e).
	// Both transports; on /dev/fuse a value the kernel refuses makes the
	// reply's write(2) fail and leaves the request pending.
	ReplyError map[fuseabi.Opcode]int32

	// Hold keeps chosen requests in the server, unanswered, until the spec
	// releases them: each rule holds the Nth request of an opcode. Held
	// requests are announced on the server's Held channel. Both transports
	// (a held /dev/fuse request blocks its reader goroutine). Close
	// releases every held request first.
	Hold []HoldRule

	// ProbeSlotAfterCommit makes the ring submit, in the same
	// io_uring_enter as each COMMIT_AND_FETCH of a zero-copied request, a
	// 1-byte READ_FIXED (READ) or WRITE_FIXED (WRITE) on the entry's
	// zero-copy slot, queued after the COMMIT. Its CQE res is reported on
	// the server's SlotProbes channel and counted in the ring counters:
	// -EFAULT proves the commit unregistered the slot (§4.f, §8).
	// zcserver.ModeRingZeroCopy only.
	ProbeSlotAfterCommit bool
}

// Personality selects Faults.Personality.
type Personality int

// Personality knob values.
const (
	// PersonalityOff: FUSE command SQEs carry no personality.
	PersonalityOff Personality = iota
	// PersonalityCapable: each ring thread registers a personality while
	// it still has CAP_SYS_ADMIN (before any DropCapSysAdminBefore drop).
	PersonalityCapable
	// PersonalityDropped: each ring thread clears CAP_SYS_ADMIN, registers
	// the personality, and raises the capability again; the thread is
	// capable, the personality is not.
	PersonalityDropped
)

func (p Personality) String() string {
	switch p {
	case PersonalityOff:
		return "off"
	case PersonalityCapable:
		return "capable"
	case PersonalityDropped:
		return "dropped"
	}
	return fmt.Sprintf("PersonalityKnob(%d)", int(p))
}

// HoldRule holds the Nth request (counted from 1, per rule, from Start) of
// Opcode; N 0 means the first.
type HoldRule struct {
	Opcode fuseabi.Opcode
	N      int
}

// Validate checks the knobs that do not depend on the transport mode; the
// mode-bound ones are checked by zcserver's Config.
func (k *Faults) Validate() error {
	switch k.DropCapSysAdminBefore {
	case 0, linux73.FUSE_IO_URING_CMD_REGISTER, linux73.FUSE_IO_URING_CMD_COMMIT_AND_FETCH,
		linux73.FUSE_IO_URING_CMD_ADD_QUEUE, linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL:
	default:
		return fmt.Errorf("DropCapSysAdminBefore: unknown command %s", k.DropCapSysAdminBefore)
	}
	if k.Personality < PersonalityOff || k.Personality > PersonalityDropped {
		return fmt.Errorf("unknown personality knob %d", int(k.Personality))
	}
	for _, r := range k.Hold {
		if r.N < 0 {
			return fmt.Errorf("hold rule %s: N %d < 0", r.Opcode, r.N)
		}
	}
	return nil
}
