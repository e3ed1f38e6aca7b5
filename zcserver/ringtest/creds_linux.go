package ringtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/zcsuite/zcsuite/zcserver/ringthread"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// SetCapSysAdmin raises (on) or lowers CAP_SYS_ADMIN in the effective set
// of the ring thread only (capabilities are per thread; the permitted set
// is kept, so it can be raised again). The thread is discarded when the
// Ring closes, so no other goroutine ever runs with the change.
func (t *Thread) SetCapSysAdmin(on bool) error { return t.th.SetCapSysAdmin(on) }

// HasCapSysAdmin reports whether the calling thread has CAP_SYS_ADMIN in
// its effective set.
func HasCapSysAdmin() (bool, error) {
	ok, err := ringthread.HasCapSysAdmin()
	if err != nil {
		return false, fmt.Errorf("ringtest: %w", err)
	}
	return ok, nil
}

// childEnv asks a re-executed test binary to act as AddQueueAs's child.
const childEnv = "ZCSUITE_RINGTEST_ADD_QUEUE"

// AddQueueAs runs ADD_QUEUE(qid, flags) in a child process with uid and
// gid (no supplementary groups; a non-zero uid has no capabilities) that
// inherited a duplicate of devFD as its fd 3, on the child's own io_uring
// instance, and returns the child's CQE res. The child is this test binary
// re-executed; the binary must call RunChild from an init function.
func AddQueueAs(ctx context.Context, uid, gid uint32, devFD int, qid uint16, flags uint64) (int32, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("ringtest: %w", err)
	}
	cmd, f, err := ringthread.CommandAs(ctx, exe, uid, gid, devFD)
	if err != nil {
		return 0, fmt.Errorf("ringtest: /dev/fuse: %w", err)
	}
	defer f.Close()
	cmd.Env = []string{childEnv + "=" + strconv.Itoa(int(qid)) + ":" + strconv.FormatUint(flags, 10)}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ringtest: child uid %d: %w: %s", uid, err, strings.TrimSpace(out.String()))
	}
	s := strings.TrimSpace(out.String())
	v, ok := strings.CutPrefix(s, "res=")
	if !ok {
		return 0, fmt.Errorf("ringtest: child uid %d said %q", uid, s)
	}
	res, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("ringtest: child uid %d said %q", uid, s)
	}
	return int32(res), nil
}

// RunChild does nothing unless this process was started by AddQueueAs;
// then it submits the ADD_QUEUE, prints "res=N" and exits. Call it from an
// init function of the test binary.
func RunChild() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	res, err := childAddQueue(v)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Printf("res=%d\n", res)
	os.Exit(0)
}

func childAddQueue(arg string) (int32, error) {
	q, f, _ := strings.Cut(arg, ":")
	qid, err1 := strconv.ParseUint(q, 10, 16)
	flags, err2 := strconv.ParseUint(f, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad %s=%q", childEnv, arg)
	}
	runtime.LockOSThread()
	ring, err := uring.New(4, uring.WithSQE128())
	if err != nil {
		return 0, err
	}
	defer ring.Close()
	return ringthread.AddQueueOnce(ring, ringthread.ChildFD, uint16(qid), flags, 0)
}
