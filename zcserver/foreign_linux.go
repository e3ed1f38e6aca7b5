package zcserver

import (
	"context"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/linux73ring"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// ForeignCommand is one ADD_QUEUE a foreign child issues.
type ForeignCommand = linux73ring.ForeignCommand

// ForeignResult is what a foreign child saw.
type ForeignResult = linux73ring.ForeignResult

// ForeignAddQueue runs cmds as FUSE_IO_URING_CMD_ADD_QUEUE in a child
// process started under uid and gid (no supplementary groups, and hence no
// capabilities) that inherits the connection's /dev/fuse descriptor
// (linux73ring.ForeignAddQueue, ABI doc §4.a). The child is this
// executable again; its main (or an init function of the test binary)
// must call RunForeignChild first thing.
func (s *Server) ForeignAddQueue(ctx context.Context, uid, gid int, cmds []ForeignCommand) (ForeignResult, error) {
	return linux73ring.ForeignAddQueue(ctx, s.conn.DevFD(), uid, gid, cmds)
}

// RunForeignChild turns the process into a foreign child when
// ForeignAddQueue started it (rawring.RunChild). Otherwise it returns at
// once. Call it at the very start of main, or from an init function of a
// test binary.
func RunForeignChild() { rawring.RunChild() }

// PossibleCPUs returns the number of possible CPUs, which is the number of
// FUSE io_uring queues (qids 0..n-1) of every connection
// (rawring.PossibleCPUs).
func PossibleCPUs() (int, error) {
	n, err := rawring.PossibleCPUs()
	if err != nil {
		return 0, fmt.Errorf("zcserver: %w", err)
	}
	return n, nil
}
