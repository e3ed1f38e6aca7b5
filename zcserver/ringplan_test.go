package zcserver

import (
	"errors"
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

const testBuf = 128 << 10

func TestPlanPerMode(t *testing.T) {
	cases := []struct {
		mode       Mode
		abi746     bool
		table      uint32
		addQueue   bool
		aqFlags    uint64
		pool       bool
		poolFixed  bool
		payloadLen int
	}{
		{ModeRingPerEntry, false, 0, false, 0, false, false, testBuf},
		{ModeRingPerEntry, true, 0, true, 0, false, false, testBuf},
		{ModeRingPool, true, 0, true, 0, true, false, 0},
		{ModeRingPoolRegistered, true, 5, true, 0, true, true, 0},
		{ModeRingZeroCopy, true, 5, true, linux73.FUSE_URING_ZERO_COPY, true, false, 0},
	}
	for _, c := range cases {
		p, err := planQueue(planInput{Mode: c.mode, Qid: 1, Depth: 4, BufSize: testBuf, ABI746: c.abi746})
		if err != nil {
			t.Fatalf("%s: %v", c.mode, err)
		}
		if p.Qid != 1 || p.TableSlots != c.table || p.AddQueue != c.addQueue || p.AddQueueFlags != c.aqFlags ||
			p.Pool != c.pool || p.PoolFixed != c.poolFixed || p.SecondAddQueue {
			t.Errorf("%s (abi746=%v): plan %+v", c.mode, c.abi746, p)
		}
		if len(p.Entries) != 4 {
			t.Fatalf("%s: %d entries", c.mode, len(p.Entries))
		}
		slots := map[uint16]bool{}
		for i, e := range p.Entries {
			if e.PayloadLen != c.payloadLen {
				t.Errorf("%s entry %d: payload %d", c.mode, i, e.PayloadLen)
			}
			if e.Fixed != c.poolFixed || (c.poolFixed && e.BufIndex != p.PoolIndex) {
				t.Errorf("%s entry %d: fixed %v index %d, pool index %d", c.mode, i, e.Fixed, e.BufIndex, p.PoolIndex)
			}
			if c.mode != ModeRingZeroCopy {
				// A non-zero index on a non-zero-copy queue is EINVAL (§4.b).
				if e.ZeroCopyIndex != 0 {
					t.Errorf("%s entry %d: zero-copy index %d on a copy queue", c.mode, i, e.ZeroCopyIndex)
				}
				continue
			}
			if slots[e.ZeroCopyIndex] || uint32(e.ZeroCopyIndex) >= p.TableSlots || (p.PoolFixed && e.ZeroCopyIndex == p.PoolSlot) {
				t.Errorf("entry %d: slot %d reused or outside the table", i, e.ZeroCopyIndex)
			}
			slots[e.ZeroCopyIndex] = true
		}
		if p.Pool && p.PoolBufs != 4 {
			t.Errorf("%s: pool of %d buffers, want depth", c.mode, p.PoolBufs)
		}
		if p.PoolFixed && (p.PoolSlot != 4 || p.PoolIndex != 4) {
			t.Errorf("%s: pool slot %d index %d", c.mode, p.PoolSlot, p.PoolIndex)
		}
	}
}

func TestPlanKnobs(t *testing.T) {
	k := &FaultKnobs{
		SecondAddQueue: true,
		ZeroCopyIndex:  func(qid, ent int, own uint16) uint16 { return 60000 + uint16(ent) },
	}
	p, err := planQueue(planInput{Mode: ModeRingZeroCopy, Qid: 0, Depth: 2, BufSize: testBuf, ABI746: true, Knobs: k})
	if err != nil {
		t.Fatal(err)
	}
	if !p.SecondAddQueue || p.SecondAddQueueFlags != 0 {
		t.Errorf("second ADD_QUEUE %v flags %#x: want the opposite of ZERO_COPY", p.SecondAddQueue, p.SecondAddQueueFlags)
	}
	if p.Entries[0].ZeroCopyIndex != 60000 || p.Entries[1].ZeroCopyIndex != 60001 {
		t.Errorf("zero-copy index knob not applied: %+v", p.Entries)
	}
	k = &FaultKnobs{PoolIndex: func(qid int, own uint16) uint16 { return own + 7 }}
	p, err = planQueue(planInput{Mode: ModeRingPoolRegistered, Qid: 0, Depth: 2, PoolBufs: 1, BufSize: testBuf, ABI746: true, Knobs: k})
	if err != nil {
		t.Fatal(err)
	}
	if p.PoolSlot != 2 || p.PoolIndex != 9 || p.Entries[0].BufIndex != 9 || p.PoolBufs != 1 {
		t.Errorf("pool index knob: %+v", p)
	}
	p, _ = planQueue(planInput{Mode: ModeRingPool, Qid: 0, Depth: 2, BufSize: testBuf, ABI746: true, Knobs: &FaultKnobs{SecondAddQueue: true}})
	if p.SecondAddQueueFlags != linux73.FUSE_URING_ZERO_COPY {
		t.Errorf("second ADD_QUEUE on a copy queue: flags %#x", p.SecondAddQueueFlags)
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, in := range []planInput{
		{Mode: ModeDevFuse, Depth: 1, BufSize: testBuf},
		{Mode: ModeRingPool, Depth: 1, BufSize: testBuf, ABI746: false},
		{Mode: ModeRingZeroCopy, Depth: 1, BufSize: testBuf, ABI746: false},
		{Mode: ModeRingPerEntry, Depth: 0, BufSize: testBuf},
		{Mode: ModeRingPerEntry, Depth: 1, BufSize: 4096},
		{Mode: ModeRingPerEntry, Qid: 70000, Depth: 1, BufSize: testBuf},
	} {
		if _, err := planQueue(in); err == nil {
			t.Errorf("%+v accepted", in)
		}
	}
}

func TestEntLog(t *testing.T) {
	l := newEntLog(3)
	for i := range 5 {
		l.add(EntRecord{Unique: uint64(i)})
	}
	got := l.snapshot(0)
	if len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 5 || got[2].Unique != 4 {
		t.Fatalf("snapshot %+v", got)
	}
	l.committed(4, -5, 7)
	l.committed(1, -1, 1) // gone: ignored
	got = l.snapshot(3)
	if len(got) != 2 || !got[0].Committed || got[0].ReplyError != -5 || got[0].ReplyPayloadSz != 7 || got[1].Committed {
		t.Fatalf("since 3: %+v", got)
	}
}

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
		if err := c.k.validate(c.m); err != nil {
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
		if err := c.k.validate(c.m); err == nil {
			t.Errorf("%s %+v accepted", c.m, c.k)
		}
	}
	_, err := Config{MountPoint: "/m", ManualRing: true}.withDefaults()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ManualRing with devfuse: %v", err)
	}
}
