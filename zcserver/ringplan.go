package zcserver

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// maxDepth bounds entries per queue (ringplan.MaxDepth).
const maxDepth = ringplan.MaxDepth

// payload returns the ring payload mode of m and whether its queues are
// zero-copy queues.
func (m Mode) payload() (ringplan.Mode, bool) {
	switch m {
	case ModeRingPool:
		return ringplan.PoolMode, false
	case ModeRingPoolRegistered:
		return ringplan.RegisteredPool, false
	case ModeRingZeroCopy:
		return ringplan.PoolMode, true
	}
	return ringplan.PerEntry, false
}

// planQueue computes the automatic setup of queue qid on its own ring
// (ABI doc §4.1): ADD_QUEUE when the kernel has the 7.46 ABI, entry i's
// zero-copy slot is slot i, and a registered pool takes the slot after
// the entries'. The fault knobs that change the plan apply here.
func planQueue(cfg *Config, qid int, bufSize uint32, abi746 bool) (ringplan.Queue, error) {
	if !cfg.Mode.Ring() {
		return ringplan.Queue{}, fmt.Errorf("mode %s has no ring", cfg.Mode)
	}
	pm, zc := cfg.Mode.payload()
	k := &cfg.Faults
	return ringplan.Plan(ringplan.Input{
		Qid: qid, Depth: cfg.QueueDepth, Mode: pm, ZeroCopy: zc, AddQueue: abi746,
		PoolBufs: cfg.PoolBuffers, BufSize: bufSize, ZCBase: 0, PoolSlot: uint16(cfg.QueueDepth),
		SecondAddQueue: k.SecondAddQueue, ZeroCopyIndex: k.ZeroCopyIndex, PoolIndex: k.PoolIndex,
	})
}
