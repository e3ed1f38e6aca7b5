package knobs

import (
	"slices"
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// The zero Faults change nothing at any point of the seam.
func TestZeroKnobsAreOff(t *testing.T) {
	in := New(Faults{}, func(protocol.Fault) { t.Error("fault from the zero knobs") })
	if _, ok := in.ReplyError(1, fuseabi.FUSE_READ); ok {
		t.Error("ReplyError fired")
	}
	if got := in.PayloadSz(fuseabi.FUSE_READ, 4096); got != 4096 {
		t.Errorf("PayloadSz %d", got)
	}
	if in.ProbeAfterCommit(true) || in.DropCapBefore(linux73.FUSE_IO_URING_CMD_ADD_QUEUE) || in.Personality() != PersonalityOff {
		t.Error("a ring knob fired")
	}
	if in.Hold(fuseabi.FUSE_READ) {
		t.Error("Hold fired")
	}
	var p ringplan.Input
	in.Plan(&p)
	if p.SecondAddQueue || p.ZeroCopyIndex != nil || p.PoolIndex != nil {
		t.Errorf("plan knobs %+v", p)
	}
}

func TestKnobsFire(t *testing.T) {
	in := New(Faults{
		ReplyError:            map[fuseabi.Opcode]int32{fuseabi.FUSE_OPEN: -5},
		ReplyPayloadSzDelta:   map[fuseabi.Opcode]int32{fuseabi.FUSE_READ: -1, fuseabi.FUSE_WRITE: 1},
		ProbeSlotAfterCommit:  true,
		DropCapSysAdminBefore: linux73.FUSE_IO_URING_CMD_REGISTER,
		SecondAddQueue:        true,
		Hold:                  []HoldRule{{Opcode: fuseabi.FUSE_READ, N: 2}, {Opcode: fuseabi.FUSE_WRITE}},
	}, nil)
	rep, ok := in.ReplyError(7, fuseabi.FUSE_OPEN)
	if !ok || rep.Unique != 7 || rep.Opcode != fuseabi.FUSE_OPEN || rep.Status.Wire() != -5 {
		t.Errorf("ReplyError %+v %v", rep, ok)
	}
	if got := in.PayloadSz(fuseabi.FUSE_READ, 0); got != 0 {
		t.Errorf("PayloadSz below 0: %d", got)
	}
	if got := in.PayloadSz(fuseabi.FUSE_WRITE, 16); got != 17 {
		t.Errorf("PayloadSz +1: %d", got)
	}
	if in.ProbeAfterCommit(false) || !in.ProbeAfterCommit(true) {
		t.Error("ProbeAfterCommit ignores zero copy")
	}
	if in.DropCapBefore(linux73.FUSE_IO_URING_CMD_ADD_QUEUE) || !in.DropCapBefore(linux73.FUSE_IO_URING_CMD_REGISTER) {
		t.Error("DropCapBefore")
	}
	var p ringplan.Input
	in.Plan(&p)
	if !p.SecondAddQueue {
		t.Error("Plan lost SecondAddQueue")
	}
	// The second READ and the first WRITE are held, nothing else.
	got := []bool{in.Hold(fuseabi.FUSE_READ), in.Hold(fuseabi.FUSE_READ), in.Hold(fuseabi.FUSE_READ), in.Hold(fuseabi.FUSE_WRITE), in.Hold(fuseabi.FUSE_WRITE)}
	if want := []bool{false, true, false, true, false}; !slices.Equal(got, want) {
		t.Errorf("holds %v, want %v", got, want)
	}
}

// A held request is announced once, counted, and released by ReleaseAll;
// one announced after ReleaseAll is released at once.
func TestHeldRequests(t *testing.T) {
	in := New(Faults{}, nil)
	released := 0
	h := &HeldRequest{Opcode: fuseabi.FUSE_READ, Unique: 3}
	in.Announce(h, func() { released++ })
	if got := <-in.Held(); got != h {
		t.Fatalf("announced %+v", got)
	}
	h.Release()
	h.Release()
	in.ReleaseAll()
	if released != 1 || in.HeldCount() != 1 {
		t.Fatalf("released %d times, count %d", released, in.HeldCount())
	}
	late := &HeldRequest{}
	in.Block(late) // returns only because ReleaseAll ran
	if in.HeldCount() != 2 || len(in.Held()) != 0 {
		t.Fatalf("late hold: count %d, announced %d", in.HeldCount(), len(in.Held()))
	}
}
