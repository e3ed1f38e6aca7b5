package linux73ring

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/memfs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// hostDriver returns a driver whose "FUSE" descriptor is a memfd: every
// uring_cmd on it fails with EOPNOTSUPP (shmem has no .uring_cmd; /dev/null
// has one on recent kernels), which exercises the stepping machinery on any
// io_uring host without FUSE.
func hostDriver(t *testing.T, depth int) *Driver {
	t.Helper()
	fs, err := memfs.New(memfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	h, err := protocol.New(fs, protocol.Config{})
	if err != nil {
		t.Fatal(err)
	}
	null, err := unix.MemfdCreate("not-fuse", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(null) })
	tr := New(Config{DevFD: null, Handler: h, Knobs: knobs.New(knobs.Faults{}, h.Fault), Queues: 1, Depth: depth, EntLogSize: 16})
	d, err := tr.Ring(0)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("io_uring unavailable on this host: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.shutdown(true) })
	return d
}

func TestDriverStepsReportCQEErrno(t *testing.T) {
	d := hostDriver(t, 2)
	var seen []linux73.Cmd
	var sqes [][uring.SQE128Size]byte
	d.call(func() error {
		d.sqeHook = func(op linux73.Cmd, sqe *uring.SQE) {
			seen = append(seen, op)
			sqes = append(sqes, *(*[uring.SQE128Size]byte)(unsafe.Pointer(sqe)))
		}
		return nil
	})
	if err := d.AddQueue(3, linux73.FUSE_URING_ZERO_COPY); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("AddQueue on a memfd: %v, want EOPNOTSUPP", err)
	}
	pool, err := d.NewPool(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddBufpool(BufpoolArgs{Qid: 3, Pool: pool, Fixed: true, BufIndex: 9}); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("AddBufpool: %v", err)
	}
	if err := d.AddBufpool(BufpoolArgs{Qid: 3}); !errors.Is(err, ErrWouldCrash) {
		t.Fatalf("AddBufpool with a NULL address: %v, want ErrWouldCrash", err)
	}
	e, err := d.Register(RegisterArgs{Qid: 3, ZeroCopyIndex: 0x1234, Fixed: true, BufIndex: 9})
	if !errors.Is(err, unix.EOPNOTSUPP) || e == nil || e.State() != EntryEnded || !errors.Is(e.Err(), unix.EOPNOTSUPP) {
		t.Fatalf("Register: %v (entry %+v)", err, e)
	}
	if len(seen) != 3 {
		t.Fatalf("hook saw %v", seen)
	}
	le := binary.LittleEndian
	for i, want := range []linux73.Cmd{linux73.FUSE_IO_URING_CMD_ADD_QUEUE, linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL, linux73.FUSE_IO_URING_CMD_REGISTER} {
		b := sqes[i]
		if seen[i] != want || b[0] != uring.IORING_OP_URING_CMD || le.Uint32(b[8:]) != uint32(want) || le.Uint32(b[12:]) != 0 {
			t.Errorf("SQE %d: op %d cmd_op %d pad %d", i, b[0], le.Uint32(b[8:]), le.Uint32(b[12:]))
		}
		if le.Uint16(b[64:]) != 3 {
			t.Errorf("SQE %d: qid %d", i, le.Uint16(b[64:]))
		}
		if len(b[88:]) != 40 || string(b[88:]) != string(make([]byte, 40)) {
			t.Errorf("SQE %d: bytes past the 40-byte cmd_req are not zero", i)
		}
	}
	aq, bp, reg := sqes[0], sqes[1], sqes[2]
	if le.Uint64(aq[48:]) != linux73.FUSE_URING_ZERO_COPY || le.Uint32(aq[28:]) != 0 {
		t.Errorf("ADD_QUEUE flags %#x uring_cmd_flags %#x", le.Uint64(aq[48:]), le.Uint32(aq[28:]))
	}
	if le.Uint64(bp[72:]) != pool.Addr() || le.Uint32(bp[80:]) != uint32(len(pool.Buf)) || le.Uint32(bp[84:]) != 0 ||
		le.Uint32(bp[28:]) != uring.IORING_URING_CMD_FIXED || le.Uint16(bp[40:]) != 9 {
		t.Errorf("ADD_BUFPOOL fields: uaddr %#x len %d reserved %d flags %#x buf_index %d",
			le.Uint64(bp[72:]), le.Uint32(bp[80:]), le.Uint32(bp[84:]), le.Uint32(bp[28:]), le.Uint16(bp[40:]))
	}
	if le.Uint32(reg[24:]) != 2 || le.Uint64(reg[16:]) == 0 || le.Uint16(reg[72:]) != 0x1234 ||
		le.Uint32(reg[28:]) != uring.IORING_URING_CMD_FIXED || le.Uint16(reg[40:]) != 9 {
		t.Errorf("REGISTER fields: len %d addr %#x zc index %#x flags %#x buf_index %d",
			le.Uint32(reg[24:]), le.Uint64(reg[16:]), le.Uint16(reg[72:]), le.Uint32(reg[28:]), le.Uint16(reg[40:]))
	}
	if steps := d.t.SetupLog(); len(steps) != 3 || !errors.Is(steps[2].Err, unix.EOPNOTSUPP) || steps[2].Entry != 0 {
		t.Errorf("setup log %v", steps)
	}
}

func TestDriverProbeAndDo(t *testing.T) {
	d := hostDriver(t, 8)
	if err := d.BufferTable(4); err != nil {
		t.Fatal(err)
	}
	// Nothing in slot 1: fixed I/O finds no buffer.
	if _, err := d.ProbeSlot(1, true, 1); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("probe of an empty slot: %v, want EFAULT", err)
	}
	pool, err := d.NewPool(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutBuffer(1, pool.Buf); err != nil {
		t.Fatal(err)
	}
	// A user buffer is addressed by user address: offset 0 is outside it.
	if _, err := d.ProbeSlot(1, true, 512); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("probe of a user buffer at address 0: %v, want EFAULT", err)
	}
	err = d.Do(func(rt *Thread) error {
		sqe, err := rt.SQE()
		if err != nil {
			return err
		}
		sqe.PrepWriteFixed(int32(rt.d.scratch), pool.Addr(), 512, 0, 1)
		sqe.UserData = 5
		c, err := rt.Wait(5)
		if err == nil && c.Res != 512 {
			t.Errorf("WRITE_FIXED from the registered pool: res %d", c.Res)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Do(func(rt *Thread) error {
		sqe, err := rt.SQE()
		if err != nil {
			return err
		}
		sqe.PrepNop()
		sqe.UserData = 77
		c, err := rt.Wait(77)
		if err != nil {
			return err
		}
		if c.Res != 0 {
			t.Errorf("nop res %d", c.Res)
		}
		_, err = rt.Wait(1 << 60)
		return err
	})
	if err == nil {
		t.Fatal("Wait accepted a user_data in the driver's range")
	}
	if _, err := d.ThreadCapEff(); err != nil {
		t.Fatal(err)
	}
}

func TestDriverClosed(t *testing.T) {
	d := hostDriver(t, 8)
	d.shutdown(true)
	if err := d.AddQueue(0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after shutdown: %v", err)
	}
}

// The driver's calls run on the executor's one thread, never the
// caller's, and each wakes the loop from its io_uring_enter wait (the
// executor's Wake; an idle ring has nothing else to end the wait).
func TestDriverRunsOnOneThread(t *testing.T) {
	d := hostDriver(t, 1)
	var tids [3]int
	for i := range tids {
		if err := d.Do(func(*Thread) error { tids[i] = unix.Gettid(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if tids[0] != tids[1] || tids[1] != tids[2] || tids[0] == unix.Gettid() {
		t.Fatalf("ring thread ids %v, caller %d", tids, unix.Gettid())
	}
}
