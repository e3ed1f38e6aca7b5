package ringplan

import (
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// A queue whose zero-copy slots start at a base and whose registered pool
// sits elsewhere (ringtest's shape: several queues on one ring).
func TestPlanSlotsFromABase(t *testing.T) {
	p, err := Plan(Input{Qid: 1, Depth: 3, Mode: RegisteredPool, ZeroCopy: true, AddQueue: true,
		BufSize: MinPayloadSz, ZCBase: 19, PoolSlot: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.AddQueueFlags != linux73.FUSE_URING_ZERO_COPY || !p.PoolFixed || p.PoolSlot != 1 || p.PoolIndex != 1 {
		t.Fatalf("plan %+v", p)
	}
	if p.TableSlots != 22 {
		t.Errorf("table of %d slots, want 22 (slots up to 21)", p.TableSlots)
	}
	for i, e := range p.Entries {
		if e.ZeroCopyIndex != uint16(19+i) || !e.Fixed || e.BufIndex != 1 || e.PayloadLen != 0 {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
}

// Per-entry queues without ADD_QUEUE work on Linux 7.2; zero copy on a
// per-entry queue is planned as asked (specs provoke its errno).
func TestPlanPerEntry(t *testing.T) {
	p, err := Plan(Input{Depth: 2, BufSize: MinPayloadSz})
	if err != nil {
		t.Fatal(err)
	}
	if p.AddQueue || p.Pool || p.TableSlots != 0 || p.Entries[1].PayloadLen != MinPayloadSz || p.Entries[1].ZeroCopyIndex != 0 {
		t.Errorf("plan %+v", p)
	}
	p, err = Plan(Input{Depth: 2, BufSize: MinPayloadSz, ZeroCopy: true, AddQueue: true, ZCBase: 16})
	if err != nil {
		t.Fatal(err)
	}
	if p.Pool || p.Entries[1].ZeroCopyIndex != 17 || p.Entries[1].PayloadLen != MinPayloadSz {
		t.Errorf("zero-copy per-entry plan %+v", p)
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, in := range []Input{
		{Depth: 1, BufSize: MinPayloadSz, Mode: 3, AddQueue: true},
		{Depth: 1, BufSize: MinPayloadSz, Mode: PoolMode},
		{Depth: 1, BufSize: MinPayloadSz, ZeroCopy: true},
		{Depth: MaxDepth + 1, BufSize: MinPayloadSz},
		{Depth: 1, BufSize: MinPayloadSz - 1},
		{Qid: -1, Depth: 1, BufSize: MinPayloadSz},
		{Depth: 2, BufSize: MinPayloadSz, ZeroCopy: true, AddQueue: true, ZCBase: 0xffff},
		{Depth: 1, BufSize: 1 << 30, Mode: PoolMode, AddQueue: true, PoolBufs: 4},
	} {
		if _, err := Plan(in); err == nil {
			t.Errorf("%+v accepted", in)
		}
	}
}
