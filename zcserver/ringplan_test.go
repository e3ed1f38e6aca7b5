package zcserver

import (
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/linux73ring"
	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// The server's layout on each queue's own ring: entry i in zero-copy slot
// i, a registered pool in the slot after the entries'.

const testBuf = 128 << 10

// planQueue is the plan Start's ring transport executes on queue qid of
// a server configured with cfg.
func planQueue(cfg *Config, qid int, bufSize uint32, abi746 bool) (ringplan.Queue, error) {
	return linux73ring.New(cfg.ringConfig(-1, nil, knobs.New(cfg.Faults, nil), 0)).Plan(qid, bufSize, abi746)
}

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
		p, err := planQueue(&Config{Mode: c.mode, QueueDepth: 4}, 1, testBuf, c.abi746)
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
	k := FaultKnobs{
		SecondAddQueue: true,
		ZeroCopyIndex:  func(qid, ent int, own uint16) uint16 { return 60000 + uint16(ent) },
	}
	p, err := planQueue(&Config{Mode: ModeRingZeroCopy, QueueDepth: 2, Faults: k}, 0, testBuf, true)
	if err != nil {
		t.Fatal(err)
	}
	if !p.SecondAddQueue || p.SecondAddQueueFlags != 0 {
		t.Errorf("second ADD_QUEUE %v flags %#x: want the opposite of ZERO_COPY", p.SecondAddQueue, p.SecondAddQueueFlags)
	}
	if p.Entries[0].ZeroCopyIndex != 60000 || p.Entries[1].ZeroCopyIndex != 60001 {
		t.Errorf("zero-copy index knob not applied: %+v", p.Entries)
	}
	k = FaultKnobs{PoolIndex: func(qid int, own uint16) uint16 { return own + 7 }}
	p, err = planQueue(&Config{Mode: ModeRingPoolRegistered, QueueDepth: 2, PoolBuffers: 1, Faults: k}, 0, testBuf, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.PoolSlot != 2 || p.PoolIndex != 9 || p.Entries[0].BufIndex != 9 || p.PoolBufs != 1 {
		t.Errorf("pool index knob: %+v", p)
	}
	p, _ = planQueue(&Config{Mode: ModeRingPool, QueueDepth: 2, Faults: FaultKnobs{SecondAddQueue: true}}, 0, testBuf, true)
	if p.SecondAddQueueFlags != linux73.FUSE_URING_ZERO_COPY {
		t.Errorf("second ADD_QUEUE on a copy queue: flags %#x", p.SecondAddQueueFlags)
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, c := range []struct {
		cfg    Config
		qid    int
		buf    uint32
		abi746 bool
	}{
		{Config{Mode: ModeDevFuse, QueueDepth: 1}, 0, testBuf, true},
		{Config{Mode: ModeRingPool, QueueDepth: 1}, 0, testBuf, false},
		{Config{Mode: ModeRingZeroCopy, QueueDepth: 1}, 0, testBuf, false},
		{Config{Mode: ModeRingPerEntry, QueueDepth: 0}, 0, testBuf, true},
		{Config{Mode: ModeRingPerEntry, QueueDepth: 1}, 0, 4096, true},
		{Config{Mode: ModeRingPerEntry, QueueDepth: 1}, 70000, testBuf, true},
	} {
		if _, err := planQueue(&c.cfg, c.qid, c.buf, c.abi746); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
