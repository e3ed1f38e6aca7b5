package uring_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/uring"
)

func TestNopRoundTrip(t *testing.T) {
	r := newRing(t, 8)
	if r.Features()&uring.IORING_FEAT_SINGLE_MMAP == 0 {
		t.Logf("kernel lacks SINGLE_MMAP; two ring mappings in use")
	}
	t.Logf("features: %s", uring.FeatureFlags(r.Features()))
	const ud = 0x0123_4567_89ab_cdef
	c := run(t, r, func(s *uring.SQE) { s.PrepNop(); s.UserData = ud })
	wantRes(t, "NOP", c, 0)
	if c.Err() != nil || c.Flags != 0 || c.Big != [2]uint64{} {
		t.Fatalf("NOP CQE = %+v", c)
	}
	if _, ok := r.PeekCQE(); ok {
		t.Fatalf("a second CQE appeared for one NOP")
	}
}

func TestSubmitAndWait(t *testing.T) {
	r := newRing(t, 8)
	for i := range 3 {
		s, err := r.NextSQE()
		if err != nil {
			t.Fatal(err)
		}
		s.PrepNop()
		s.UserData = uint64(100 + i)
	}
	n, err := r.SubmitAndWait(3)
	if err != nil || n != 3 {
		t.Fatalf("SubmitAndWait(3) = %d, %v", n, err)
	}
	for i := range 3 {
		c, ok := r.PeekCQE()
		if !ok {
			t.Fatalf("CQE %d not ready after SubmitAndWait(3)", i)
		}
		if c.UserData != uint64(100+i) || c.Res != 0 {
			t.Fatalf("CQE %d = %+v", i, c)
		}
	}
	if n, err := r.Submit(); n != 0 || err != nil {
		t.Fatalf("empty Submit = %d, %v", n, err)
	}
}

func TestWaitCQEs(t *testing.T) {
	r := newRing(t, 4)
	for i := range 4 {
		s, _ := r.NextSQE()
		s.UserData = uint64(i + 1) // a zeroed SQE is a NOP
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	cs, err := r.WaitCQEs(4)
	if err != nil || len(cs) != 4 {
		t.Fatalf("WaitCQEs(4) = %d, %v", len(cs), err)
	}
	for i, c := range cs {
		if c.UserData != uint64(i+1) || c.Res != 0 {
			t.Fatalf("CQE %d = %+v", i, c)
		}
	}
}

// TestSQEZeroing dirties every byte of a used slot (buf_index, personality
// and, on SQE128, the command area included), wraps the ring and checks
// that NextSQE hands the same slot back all zeros, touches no neighbouring
// slot, and that the kernel runs it as a clean NOP (a stale personality
// would fail it with EINVAL).
func TestSQEZeroing(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		opts []uring.Option
	}{
		{"64", uring.SQESize, nil},
		{"SQE128", uring.SQE128Size, []uring.Option{uring.WithSQE128()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, 4, tc.opts...)
			if r.SQEntries() != 4 {
				t.Fatalf("SQEntries = %d, want 4", r.SQEntries())
			}
			slots := make([]*uring.SQE, 4)
			for i := range slots {
				s, err := r.NextSQE()
				if err != nil {
					t.Fatal(err)
				}
				slots[i] = s
				s.UserData = uint64(i)
			}
			for i := 1; i < 4; i++ {
				if d := uintptr(unsafe.Pointer(slots[i])) - uintptr(unsafe.Pointer(slots[i-1])); d != uintptr(tc.size) {
					t.Fatalf("slot stride = %d, want %d", d, tc.size)
				}
			}
			if _, err := r.SubmitAndWait(4); err != nil {
				t.Fatal(err)
			}
			if _, err := r.WaitCQEs(4); err != nil {
				t.Fatal(err)
			}
			// The kernel has consumed all four; dirty slots 0 and 1.
			for _, s := range slots[:2] {
				s.BufIndex = 0xffff
				s.Personality = 0xffff
				if c := s.Cmd(); tc.size == uring.SQE128Size && len(c) != uring.CmdSize {
					t.Fatalf("Cmd() = %d bytes on SQE128 ring", len(c))
				}
				for i := range sqeBytes(s, tc.size) {
					sqeBytes(s, tc.size)[i] = 0xa5
				}
			}
			s, err := r.NextSQE()
			if err != nil {
				t.Fatal(err)
			}
			if s != slots[0] {
				t.Fatalf("after wrap NextSQE returned %p, want slot 0 %p", s, slots[0])
			}
			if !bytes.Equal(sqeBytes(s, tc.size), make([]byte, tc.size)) {
				t.Fatalf("reused slot not zeroed: % x", sqeBytes(s, tc.size))
			}
			if !bytes.Equal(sqeBytes(slots[1], tc.size), bytes.Repeat([]byte{0xa5}, tc.size)) {
				t.Fatalf("NextSQE wrote into the neighbouring slot: % x", sqeBytes(slots[1], tc.size))
			}
			if s.BufIndex != 0 || s.Personality != 0 || s.Flags != 0 {
				t.Fatalf("stale fields: %+v", *s)
			}
			s.UserData = 42
			wantRes(t, "NOP in reused slot", submitWait(t, r, 42), 0)
			// Slot 1 comes back zeroed too.
			s, _ = r.NextSQE()
			if s != slots[1] || !bytes.Equal(sqeBytes(s, tc.size), make([]byte, tc.size)) {
				t.Fatalf("slot 1 not reused zeroed")
			}
			s.UserData = 43
			wantRes(t, "NOP in reused slot 1", submitWait(t, r, 43), 0)
		})
	}
}

func TestSQFull(t *testing.T) {
	r := newRing(t, 4)
	for range 4 {
		if _, err := r.NextSQE(); err != nil {
			t.Fatal(err)
		}
	}
	if r.SQSpace() != 0 || r.Pending() != 4 {
		t.Fatalf("SQSpace=%d Pending=%d, want 0 and 4", r.SQSpace(), r.Pending())
	}
	if _, err := r.NextSQE(); !errors.Is(err, uring.ErrSQFull) {
		t.Fatalf("5th NextSQE: %v, want ErrSQFull", err)
	}
	if n, err := r.Submit(); n != 4 || err != nil {
		t.Fatalf("Submit = %d, %v", n, err)
	}
	if _, err := r.NextSQE(); err != nil {
		t.Fatalf("NextSQE after Submit: %v", err)
	}
	if _, err := r.SubmitAndWait(5); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WaitCQEs(5); err != nil {
		t.Fatal(err)
	}
}

func TestCQEErr(t *testing.T) {
	c := uring.CQE{UserData: 77, Res: -int32(unix.EFAULT)}
	err := c.Err()
	wantErrno(t, "CQE.Err", err, unix.EFAULT, "user_data=77")
	var ce *uring.CQEError
	if !errors.As(err, &ce) || ce.UserData != 77 {
		t.Fatalf("errors.As CQEError: %v", err)
	}
	if (uring.CQE{Res: 5}).Err() != nil {
		t.Fatal("Err() of a positive res is not nil")
	}

	// The same through the kernel: a NOP told to post -EIO.
	r := newRing(t, 4)
	got := run(t, r, func(s *uring.SQE) {
		s.PrepNop()
		s.OpFlags = uring.IORING_NOP_INJECT_RESULT
		eio := -int32(unix.EIO)
		s.Len = uint32(eio)
		s.UserData = 78
	})
	wantRes(t, "NOP INJECT_RESULT", got, -int32(unix.EIO))
	wantErrno(t, "CQE.Err", got.Err(), unix.EIO, "user_data=78")
}

func TestReadWrite(t *testing.T) {
	r := newRing(t, 4)
	data := pattern(4096, 1)
	fd := memfd(t, data)
	buf := make([]byte, 4096)
	wantRes(t, "READ", run(t, r, func(s *uring.SQE) { s.PrepRead(fd, buf, 0); s.UserData = 1 }), 4096)
	if !bytes.Equal(buf, data) {
		t.Fatal("READ returned wrong bytes")
	}
	out := pattern(100, 9)
	wantRes(t, "WRITE", run(t, r, func(s *uring.SQE) { s.PrepWrite(fd, out, 5000); s.UserData = 2 }), 100)
	runtime.KeepAlive(buf)
	runtime.KeepAlive(out)
	back := make([]byte, 100)
	if _, err := unix.Pread(int(fd), back, 5000); err != nil || !bytes.Equal(back, out) {
		t.Fatalf("WRITE: file holds % x, %v", back[:8], err)
	}
}

func TestCQE32(t *testing.T) {
	r := newRing(t, 4, uring.WithCQE32())
	if !r.CQE32() {
		t.Fatal("CQE32() false")
	}
	wantRes(t, "NOP", run(t, r, func(s *uring.SQE) { s.UserData = 1 }), 0)
	c := run(t, r, func(s *uring.SQE) {
		s.OpFlags = uring.IORING_NOP_CQE32
		s.Off, s.Addr = 0x1111, 0x2222
		s.UserData = 2
	})
	if c.Res == -int32(unix.EINVAL) {
		t.Skipf("kernel has no IORING_NOP_CQE32 (EINVAL); big CQE contents untested")
	}
	wantRes(t, "NOP CQE32", c, 0)
	if c.Big != [2]uint64{0x1111, 0x2222} {
		t.Fatalf("Big = %#x, want [0x1111 0x2222]", c.Big)
	}
}

// TestCQEMixed posts 16- and 32-byte CQEs on a CQE_MIXED ring. Each round
// takes five CQ slots (small, big, small, small) on an 8-slot ring, so the
// big CQE starts at slot 1, 6, 3, 0, 5, 2 and then 7, where it cannot fit
// and the kernel inserts a filler; every completion must come out once, in
// order, with the right size.
func TestCQEMixed(t *testing.T) {
	r := newRingSince(t, 6, 18, "IORING_SETUP_CQE_MIXED", 4,
		uring.WithSetupFlags(uring.IORING_SETUP_CQE_MIXED), uring.WithCQSize(8))
	if r.CQEntries() != 8 {
		t.Fatalf("CQEntries = %d", r.CQEntries())
	}
	ud := uint64(0)
	for round := range 10 {
		first := ud + 1
		for i := range 4 {
			ud++
			s, err := r.NextSQE()
			if err != nil {
				t.Fatal(err)
			}
			s.UserData = ud
			if i == 1 {
				s.OpFlags = uring.IORING_NOP_CQE32
				s.Off, s.Addr = ud, ^ud
			}
		}
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			c, err := r.WaitCQE()
			if err != nil {
				t.Fatal(err)
			}
			want := first + uint64(i)
			if c.UserData != want || c.Res != 0 {
				t.Fatalf("round %d: CQE %+v, want user_data %d res 0", round, c, want)
			}
			if i == 1 {
				if c.Flags&uring.IORING_CQE_F_32 == 0 || c.Big != [2]uint64{want, ^want} {
					t.Fatalf("round %d: big CQE %+v", round, c)
				}
			} else if c.Flags&uring.IORING_CQE_F_32 != 0 || c.Big != [2]uint64{} {
				t.Fatalf("round %d: small CQE %+v", round, c)
			}
		}
		if c, ok := r.PeekCQE(); ok {
			t.Fatalf("round %d: extra CQE %+v", round, c)
		}
	}
}

func TestNoSQArray(t *testing.T) {
	r := newRingSince(t, 6, 6, "IORING_SETUP_NO_SQARRAY", 4,
		uring.WithSetupFlags(uring.IORING_SETUP_NO_SQARRAY))
	for i := range 6 { // wraps the 4-entry ring
		wantRes(t, "NOP", run(t, r, func(s *uring.SQE) { s.UserData = uint64(i + 1) }), 0)
	}
}

// TestDeferTaskrun runs on a locked thread (SINGLE_ISSUER binds the ring
// to its creator) and checks that PeekCQE flushes completions a
// DEFER_TASKRUN ring holds back until io_uring_enter(GETEVENTS).
func TestDeferTaskrun(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := newRing(t, 4, uring.WithSetupFlags(uring.IORING_SETUP_SINGLE_ISSUER|uring.IORING_SETUP_DEFER_TASKRUN))
	s, _ := r.NextSQE()
	s.UserData = 5
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	c, ok := r.PeekCQE()
	if !ok || c.UserData != 5 || c.Res != 0 {
		t.Fatalf("PeekCQE = %+v, %v", c, ok)
	}
}

func TestSetupErrors(t *testing.T) {
	for _, f := range []uint32{uring.IORING_SETUP_SQPOLL, uring.IORING_SETUP_NO_MMAP,
		uring.IORING_SETUP_REGISTERED_FD_ONLY, uring.IORING_SETUP_SQ_REWIND} {
		if _, err := uring.New(4, uring.WithSetupFlags(f)); !errors.Is(err, uring.ErrUnsupportedSetup) {
			t.Errorf("New with %s: %v, want ErrUnsupportedSetup", uring.SetupFlags(f), err)
		}
	}
	if _, err := uring.New(4, uring.WithSQE128(), uring.WithSetupFlags(uring.IORING_SETUP_SQE_MIXED)); !errors.Is(err, uring.ErrUnsupportedSetup) {
		t.Errorf("SQE128+SQE_MIXED: %v", err)
	}
	newRing(t, 1) // skips here if the host refuses io_uring
	_, err := uring.New(0)
	wantErrno(t, "New(0)", err, unix.EINVAL, "io_uring_setup")
}

func TestClose(t *testing.T) {
	r, err := uring.New(4)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r.Fd() != -1 {
		t.Fatalf("Fd after Close = %d", r.Fd())
	}
	if _, err := r.NextSQE(); !errors.Is(err, uring.ErrClosed) {
		t.Fatalf("NextSQE after Close: %v", err)
	}
	if _, err := r.Submit(); !errors.Is(err, uring.ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if _, err := r.WaitCQE(); !errors.Is(err, uring.ErrClosed) {
		t.Fatalf("WaitCQE after Close: %v", err)
	}
	if _, ok := r.PeekCQE(); ok {
		t.Fatal("PeekCQE after Close returned a CQE")
	}
	err = r.UnregisterBuffers()
	if !errors.Is(err, uring.ErrClosed) || !strings.Contains(err.Error(), "UNREGISTER_BUFFERS") {
		t.Fatalf("register after Close: %v", err)
	}
}

// TestSubmitPathAllocs proves the per-request path allocates nothing.
func TestSubmitPathAllocs(t *testing.T) {
	r := newRing(t, 8, uring.WithSQE128())
	fd := memfd(t, pattern(4096, 3))
	buf := pages(t, 4096)
	if err := r.RegisterBuffers([][]byte{buf}); err != nil {
		t.Fatal(err)
	}
	heapBuf := make([]byte, 512)
	var bad uring.CQE
	allocs := testing.AllocsPerRun(200, func() {
		s, err := r.NextSQE()
		if err != nil {
			panic(err)
		}
		s.PrepNop()
		s.UserData = 1
		copy(s.Cmd(), "cmd")
		s, _ = r.NextSQE()
		s.PrepReadFixed(fd, addr(buf), 4096, 0, 0)
		s.UserData = 2
		s, _ = r.NextSQE()
		s.PrepRead(fd, heapBuf, 0)
		s.UserData = 3
		if _, err := r.Submit(); err != nil {
			panic(err)
		}
		for range 3 {
			c, err := r.WaitCQE()
			if err != nil {
				panic(err)
			}
			if c.Res < 0 {
				bad = c
			}
		}
		_, _ = r.PeekCQE()
	})
	if bad.Res < 0 {
		t.Fatalf("a request failed: %+v", bad)
	}
	if allocs != 0 {
		t.Fatalf("submit/complete path: %v allocations per run, want 0", allocs)
	}
}
