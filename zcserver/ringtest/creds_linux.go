package ringtest

import (
	"context"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// SetCapSysAdmin raises (on) or lowers CAP_SYS_ADMIN in the effective set
// of the ring thread only (capabilities are per thread; the permitted set
// is kept, so it can be raised again). The thread is discarded when the
// Ring closes, so no other goroutine ever runs with the change.
func (t *Thread) SetCapSysAdmin(on bool) error { return t.th.SetCapSysAdmin(on) }

// HasCapSysAdmin reports whether the calling thread has CAP_SYS_ADMIN in
// its effective set.
func HasCapSysAdmin() (bool, error) {
	ok, err := rawring.HasCapSysAdmin()
	if err != nil {
		return false, fmt.Errorf("ringtest: %w", err)
	}
	return ok, nil
}

// AddQueueAs runs ADD_QUEUE(qid, flags) in a child process with uid and
// gid (no supplementary groups; a non-zero uid has no capabilities) that
// inherited a duplicate of devFD, on the child's own io_uring instance,
// and returns the child's CQE res (rawring.AddQueueAs). The child is this
// test binary re-executed; the binary must call RunChild from an init
// function.
func AddQueueAs(ctx context.Context, uid, gid uint32, devFD int, qid uint16, flags uint64) (int32, error) {
	res, err := rawring.AddQueueAs(ctx, uid, gid, devFD, []rawring.ChildCmd{{Qid: qid, Flags: flags}})
	if err != nil {
		return 0, fmt.Errorf("ringtest: %w", err)
	}
	return res.Res[0], nil
}

// RunChild does nothing unless this process was started by AddQueueAs
// (or any rawring.AddQueueAs); then it submits the ADD_QUEUEs, prints the
// results and exits. Call it from an init function of the test binary.
func RunChild() { rawring.RunChild() }
