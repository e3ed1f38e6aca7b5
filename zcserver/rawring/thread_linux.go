package rawring

import (
	"context"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Thread is the ring thread's own state: the io_uring instance and the
// completions that arrived but nobody claimed yet. Only the ring thread
// may use it (Config.Setup receives it; keep it for Do's closures).
type Thread struct {
	r     *Ring
	ring  *uring.Ring
	ctx   context.Context // the running Do's context
	seq   uint64
	stash []uring.CQE
}

// Ctx is the context of the Do call that is running on the thread
// (context.Background outside one).
func (t *Thread) Ctx() context.Context { return t.ctx }

// Name is the Config.Name errors of this ring start with.
func (t *Thread) Name() string { return t.r.cfg.Name }

// Uring returns the io_uring instance.
func (t *Thread) Uring() *uring.Ring { return t.ring }

// Ring returns the handle that owns the thread.
func (t *Thread) Ring() *Ring { return t.r }

// OpUserData returns a fresh user_data for an SQE that is not a FUSE
// entry's: UserDataOp with the next sequence number.
func (t *Thread) OpUserData() uint64 {
	t.seq++
	return UserDataOp | t.seq
}

// Reap moves every completed CQE into the stash (wake-up CQEs are
// dropped).
func (t *Thread) Reap() {
	for {
		c, ok := t.ring.PeekCQE()
		if !ok {
			return
		}
		if c.UserData != UserDataWake {
			t.stash = append(t.stash, c)
		}
	}
}

// Stashed returns the CQEs that arrived and were not taken yet, without
// waiting (call Reap first). The slice is the stash itself: read it only.
func (t *Thread) Stashed() []uring.CQE { return t.stash }

// Take removes and returns the first stashed CQE that match accepts.
func (t *Thread) Take(match func(uring.CQE) bool) (uring.CQE, bool) {
	for i, c := range t.stash {
		if match(c) {
			t.stash = append(t.stash[:i], t.stash[i+1:]...)
			return c, true
		}
	}
	return uring.CQE{}, false
}

// Wait returns the first CQE, stashed or arriving, that match accepts. It
// returns ctx's error once ctx ended (Do wakes the thread for that) and,
// when stoppable is set, ErrStopped once StopOn's channel closed.
func (t *Thread) Wait(ctx context.Context, match func(uring.CQE) bool, stoppable bool) (uring.CQE, error) {
	for {
		t.Reap()
		if c, ok := t.Take(match); ok {
			return c, nil
		}
		if err := ctx.Err(); err != nil {
			return uring.CQE{}, err
		}
		if stoppable && t.r.stopNext.Load() {
			return uring.CQE{}, ErrStopped
		}
		c, err := t.ring.WaitCQE()
		if err != nil {
			return uring.CQE{}, fmt.Errorf("%s: %w", t.r.cfg.Name, err)
		}
		if c.UserData != UserDataWake {
			t.stash = append(t.stash, c)
		}
	}
}

// CommitResults collects, after a submit, what a FUSE COMMIT_AND_FETCH
// with user_data commit and the SQEs queued behind it in the same
// io_uring_enter (user_data after) completed with. A COMMIT the kernel
// refuses completes at once with its errno: refused is that CQE. A COMMIT
// it accepts completes only when the entry's next request arrives, so it
// is not waited for. The CQEs of after are returned in order (each is
// waited for with ctx).
func (t *Thread) CommitResults(ctx context.Context, commit uint64, after []uint64) (refused *uring.CQE, cqes []uring.CQE, err error) {
	t.Reap()
	if c, ok := t.Take(func(q uring.CQE) bool { return q.UserData == commit && q.Res < 0 }); ok {
		refused = &c
	}
	cqes = make([]uring.CQE, len(after))
	for i, u := range after {
		c, err := t.Wait(ctx, func(q uring.CQE) bool { return q.UserData == u }, false)
		if err != nil {
			return refused, cqes, err
		}
		cqes[i] = c
	}
	return refused, cqes, nil
}

// FixedSQE prepares (without submitting) a READ_FIXED (read) or
// WRITE_FIXED of n bytes between fd at fileOff and offset bufOff of
// fixed-buffer slot, with a fresh OpUserData; for a slot holding a
// client's pages bufOff counts from 0. A caller can put it into the same
// io_uring_enter as a FUSE COMMIT.
func (t *Thread) FixedSQE(read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (*uring.SQE, error) {
	sqe, err := t.ring.NextSQE()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", t.r.cfg.Name, fixedName(read), err)
	}
	if read {
		sqe.PrepReadFixed(int32(fd), bufOff, n, fileOff, slot)
	} else {
		sqe.PrepWriteFixed(int32(fd), bufOff, n, fileOff, slot)
	}
	sqe.UserData = t.OpUserData()
	return sqe, nil
}

// Fixed runs one FixedSQE and returns the CQE's byte count or an error
// matching its errno (EFAULT: nothing, or a buffer of the wrong
// direction, in the slot). It waits with ctx.
func (t *Thread) Fixed(ctx context.Context, read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (int, error) {
	sqe, err := t.FixedSQE(read, fd, bufOff, n, fileOff, slot)
	if err != nil {
		return 0, err
	}
	ud := sqe.UserData
	if _, err := t.ring.Submit(); err != nil {
		return 0, fmt.Errorf("%s: submit %s: %w", t.r.cfg.Name, fixedName(read), err)
	}
	cqe, err := t.Wait(ctx, func(q uring.CQE) bool { return q.UserData == ud }, false)
	if err != nil {
		return 0, err
	}
	if err := cqe.Err(); err != nil {
		return 0, fmt.Errorf("%s of %d bytes on slot %d: %w", fixedName(read), n, slot, err)
	}
	return int(cqe.Res), nil
}

func fixedName(read bool) string {
	if read {
		return "READ_FIXED"
	}
	return "WRITE_FIXED"
}
