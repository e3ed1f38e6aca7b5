package linux73ring

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// ForeignCommand is one ADD_QUEUE a foreign child issues.
type ForeignCommand = rawring.ChildCmd

// ForeignResult is what a foreign child saw.
type ForeignResult struct {
	// UID, GID and CapEff are the child's credentials as it reported them.
	UID, GID int
	CapEff   uint64
	// Errs holds, per command, nil or an error matching the CQE's errno.
	Errs []error
}

// ForeignAddQueue runs cmds as FUSE_IO_URING_CMD_ADD_QUEUE on the
// connection of /dev/fuse descriptor devFD in a child process started
// under uid and gid (no supplementary groups, and hence no capabilities)
// that inherits the descriptor (rawring.AddQueueAs, ABI doc §4.a). The
// child is this executable again; its main (or an init function of the
// test binary) must call rawring.RunChild first thing.
func ForeignAddQueue(ctx context.Context, devFD, uid, gid int, cmds []ForeignCommand) (ForeignResult, error) {
	c, err := rawring.AddQueueAs(ctx, uint32(uid), uint32(gid), devFD, cmds)
	if err != nil {
		return ForeignResult{}, fmt.Errorf("zcserver: foreign %w", err)
	}
	res := ForeignResult{UID: c.UID, GID: c.GID, CapEff: c.CapEff}
	for i, v := range c.Res {
		var e error
		if v < 0 {
			e = &uring.CQEError{UserData: uint64(i), Errno: unix.Errno(-v)}
		}
		res.Errs = append(res.Errs, e)
	}
	return res, nil
}
