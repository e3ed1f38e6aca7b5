package linux73ring

import "testing"

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
