package ringtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// SetCapSysAdmin raises (on) or lowers CAP_SYS_ADMIN in the effective set
// of the ring thread only (capabilities are per thread; the permitted set
// is kept, so it can be raised again). The thread is discarded when the
// Ring closes, so no other goroutine ever runs with the change.
func (t *Thread) SetCapSysAdmin(on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("ringtest: capget: %w", err)
	}
	idx, bit := unix.CAP_SYS_ADMIN/32, uint32(1)<<(unix.CAP_SYS_ADMIN%32)
	if on {
		data[idx].Effective |= bit
	} else {
		data[idx].Effective &^= bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("ringtest: capset CAP_SYS_ADMIN=%v: %w", on, err)
	}
	return nil
}

// HasCapSysAdmin reports whether the calling thread has CAP_SYS_ADMIN in
// its effective set.
func HasCapSysAdmin() (bool, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, fmt.Errorf("ringtest: capget: %w", err)
	}
	return data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0, nil
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
	dup, err := unix.FcntlInt(uintptr(devFD), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return 0, fmt.Errorf("ringtest: dup /dev/fuse: %w", err)
	}
	f := os.NewFile(uintptr(dup), "/dev/fuse")
	defer f.Close()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = []string{childEnv + "=" + strconv.Itoa(int(qid)) + ":" + strconv.FormatUint(flags, 10)}
	cmd.ExtraFiles = []*os.File{f}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
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
	sqe, err := ring.NextSQE()
	if err != nil {
		return 0, err
	}
	sqe.PrepURingCmd(3, uint32(linux73.FUSE_IO_URING_CMD_ADD_QUEUE))
	c := linux73.AddQueue(uint16(qid), flags)
	if err := linux73.EncodeCmd(sqe.Cmd(), &c); err != nil {
		return 0, err
	}
	if _, err := ring.SubmitAndWait(1); err != nil {
		return 0, err
	}
	cqe, err := ring.WaitCQE()
	if err != nil {
		return 0, err
	}
	return cqe.Res, nil
}
