package zcserver

import (
	"errors"
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

func TestKnobValidation(t *testing.T) {
	ok := []struct {
		m Mode
		k FaultKnobs
	}{
		{ModeDevFuse, FaultKnobs{}},
		{ModeDevFuse, FaultKnobs{ReplyError: map[fuseabi.Opcode]int32{fuseabi.FUSE_OPEN: -5}}},
		{ModeRingZeroCopy, FaultKnobs{ProbeSlotAfterCommit: true, DropCapSysAdminBefore: linux73.FUSE_IO_URING_CMD_ADD_QUEUE}},
		{ModeRingPoolRegistered, FaultKnobs{PoolIndex: func(int, uint16) uint16 { return 0 }}},
	}
	for _, c := range ok {
		if err := validateKnobs(&c.k, c.m); err != nil {
			t.Errorf("%s: %v", c.m, err)
		}
	}
	bad := []struct {
		m Mode
		k FaultKnobs
	}{
		{ModeRingPool, FaultKnobs{ProbeSlotAfterCommit: true}},
		{ModeRingPool, FaultKnobs{ZeroCopyIndex: func(int, int, uint16) uint16 { return 0 }}},
		{ModeRingZeroCopy, FaultKnobs{PoolIndex: func(int, uint16) uint16 { return 0 }}},
		{ModeRingZeroCopy, FaultKnobs{DropCapSysAdminBefore: 9}},
		{ModeRingZeroCopy, FaultKnobs{Personality: 7}},
		{ModeRingZeroCopy, FaultKnobs{Hold: []HoldRule{{Opcode: fuseabi.FUSE_READ, N: -1}}}},
	}
	for _, c := range bad {
		if err := validateKnobs(&c.k, c.m); err == nil {
			t.Errorf("%s %+v accepted", c.m, c.k)
		}
	}
	_, err := Config{MountPoint: "/m", ManualRing: true}.withDefaults()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ManualRing with devfuse: %v", err)
	}
}
