package zcserver

import "github.com/zcsuite/zcsuite/zcserver/linux73ring"

// The Linux 7.3 ring transport's types, under the names the specs use;
// package linux73ring documents them.
type (
	RingDriver   = linux73ring.Driver
	RingThread   = linux73ring.Thread
	Entry        = linux73ring.Entry
	EntryState   = linux73ring.EntryState
	Delivery     = linux73ring.Delivery
	Pool         = linux73ring.Pool
	BufpoolArgs  = linux73ring.BufpoolArgs
	RegisterArgs = linux73ring.RegisterArgs
	AnswerArgs   = linux73ring.AnswerArgs
	SetupStep    = linux73ring.SetupStep
	SlotProbe    = linux73ring.SlotProbe
	EntRecord    = linux73ring.EntRecord
)

// Entry states (linux73ring.EntryWaiting, ...).
const (
	EntryWaiting   = linux73ring.EntryWaiting
	EntryDelivered = linux73ring.EntryDelivered
	EntryBusy      = linux73ring.EntryBusy
	EntryHeld      = linux73ring.EntryHeld
	EntryEnded     = linux73ring.EntryEnded
)

// Errors of the ring transport.
var (
	// ErrRingClosed: the ring driver stopped (Close, or a fatal ring
	// error); its methods can no longer run.
	ErrRingClosed = linux73ring.ErrClosed
	// ErrRingSetup wraps every failure of the automatic ring setup in
	// Start, together with the command's errno.
	ErrRingSetup = linux73ring.ErrSetup
	// ErrWouldCrash: the step would hand the kernel a NULL payload
	// address, which crashes Linux 7.3 (ABI doc §7 H1).
	ErrWouldCrash = linux73ring.ErrWouldCrash
)
