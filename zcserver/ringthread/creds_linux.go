package ringthread

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// SetCapSysAdmin raises (on) or lowers CAP_SYS_ADMIN in the effective set
// of the ring thread only (capabilities are per thread; the permitted set
// is kept, so it can be raised again). The thread is never unlocked and
// ends with the Ring, so no other goroutine ever runs with the change.
func (t *Thread) SetCapSysAdmin(on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("%s: capget: %w", t.r.cfg.Name, err)
	}
	idx, bit := unix.CAP_SYS_ADMIN/32, uint32(1)<<(unix.CAP_SYS_ADMIN%32)
	if on {
		data[idx].Effective |= bit
	} else {
		data[idx].Effective &^= bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("%s: capset CAP_SYS_ADMIN=%v: %w", t.r.cfg.Name, on, err)
	}
	return nil
}

// HasCapSysAdmin reports whether the calling thread has CAP_SYS_ADMIN in
// its effective set.
func HasCapSysAdmin() (bool, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, fmt.Errorf("capget: %w", err)
	}
	return data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0, nil
}

// ChildFD is the descriptor number under which a CommandAs child finds
// the inherited descriptor.
const ChildFD = 3

// CommandAs returns a command that runs exe under uid and gid with no
// supplementary groups (a non-zero uid then has no capabilities) and
// hands it a duplicate of fd as its descriptor ChildFD. The caller sets
// the environment, output and any further attributes, runs the command,
// then closes the returned file.
func CommandAs(ctx context.Context, exe string, uid, gid uint32, fd int) (*exec.Cmd, *os.File, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, ChildFD)
	if err != nil {
		return nil, nil, fmt.Errorf("dup descriptor %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(dup), "/dev/fuse")
	cmd := exec.CommandContext(ctx, exe)
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
	return cmd, f, nil
}

// AddQueueOnce submits FUSE_IO_URING_CMD_ADD_QUEUE(qid, flags) for the
// /dev/fuse descriptor fd on ring, with userData, waits for its CQE and
// returns the CQE's res (zcserver/fuseabi/linux73/ABI.md §3.1). The caller
// is locked to its OS thread (runtime.LockOSThread): the command completes
// on the submitting thread. It is the child half of CommandAs.
func AddQueueOnce(ring *uring.Ring, fd int32, qid uint16, flags uint64, userData uint64) (int32, error) {
	sqe, err := ring.NextSQE()
	if err != nil {
		return 0, err
	}
	sqe.PrepURingCmd(fd, uint32(linux73.FUSE_IO_URING_CMD_ADD_QUEUE))
	sqe.UserData = userData
	req := linux73.AddQueue(qid, flags)
	if err := linux73.EncodeCmd(sqe.Cmd(), &req); err != nil {
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
