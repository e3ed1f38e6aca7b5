package ringtest

import (
	"fmt"
	"runtime"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Thread is the ring thread's view of the Ring. Its methods may only be
// called inside a Do callback.
type Thread struct {
	r                                    *Ring
	th                                   *rawring.Thread // CQE stash, fixed I/O, credentials
	ring                                 *uring.Ring
	fd                                   int32
	slots                                uint32
	*rawring.Machine[*Entry, CommitArgs] // the entry state machine
	pools                                map[uint16]*Pool
}

// Uring returns the io_uring instance, for SQEs this package has no helper
// for (fixed I/O on a slot, buffer updates, personalities).
func (t *Thread) Uring() *uring.Ring { return t.ring }

// Ring returns the handle (for Alloc).
func (t *Thread) Ring() *Ring { return t.r }

// BufSlots is the size of the fixed-buffer table installed by Start.
func (t *Thread) BufSlots() uint32 { return t.slots }

// Cmd is one FUSE uring_cmd SQE (linux73.Command). The zero value of
// each field is what a well-formed command has; specs change single
// fields to break it.
type Cmd = linux73.Command

// prep fills a fresh SQE with c.
func (t *Thread) prep(c *Cmd, userData uint64) error {
	if _, err := c.Put(t.ring, t.fd, userData); err != nil {
		return fmt.Errorf("ringtest: %w", err)
	}
	return nil
}

// Exec submits one command that completes at once (ADD_QUEUE, ADD_BUFPOOL,
// or any command the kernel refuses) and returns its CQE's error: nil for
// res 0, otherwise an error matching the errno. Do not use it for a
// REGISTER or COMMIT the kernel may accept (their CQE comes with the next
// request; use Register and Commit).
func (t *Thread) Exec(c Cmd) error {
	ud := t.th.OpUserData()
	if err := t.prep(&c, ud); err != nil {
		return err
	}
	if _, err := t.ring.Submit(); err != nil {
		return fmt.Errorf("ringtest: submit %s: %w", c.Op, err)
	}
	runtime.KeepAlive(c.Iov)
	cqe, err := t.th.Wait(t.th.Ctx(), func(q uring.CQE) bool { return q.UserData == ud }, false)
	if err != nil {
		return fmt.Errorf("ringtest: waiting for %s: %w", c.Op, err)
	}
	if err := cqe.Err(); err != nil {
		return fmt.Errorf("%s qid %d: %w", c.Op, c.Req.Qid, err)
	}
	return nil
}

// AddQueue is ADD_QUEUE(qid, flags) (ABI doc §3.1).
func (t *Thread) AddQueue(qid uint16, flags uint64) error {
	return t.Exec(Cmd{Op: linux73.FUSE_IO_URING_CMD_ADD_QUEUE, Req: linux73.AddQueue(qid, flags)})
}

// Fixed runs one READ_FIXED (read true) or WRITE_FIXED of n bytes between
// fd at fileOff and offset bufOff of fixed-buffer slot, and returns the
// CQE's byte count or errno. For a zero-copy slot bufOff is an offset from
// 0 (ABI doc §4.4).
func (t *Thread) Fixed(read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (int, error) {
	return t.th.Fixed(t.th.Ctx(), read, fd, bufOff, n, fileOff, slot)
}

// FixedSQE prepares (without submitting) the SQE Fixed would submit, so a
// spec can put it into the same io_uring_enter as a COMMIT (see Commit's
// extra argument). Its CQE is returned by Commit.
func (t *Thread) FixedSQE(read bool, fd int, bufOff uint64, n uint32, fileOff uint64, slot uint16) (*uring.SQE, error) {
	return t.th.FixedSQE(read, fd, bufOff, n, fileOff, slot)
}
