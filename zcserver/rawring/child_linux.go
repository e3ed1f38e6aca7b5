package rawring

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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

// ChildFD is the descriptor number under which a CommandAs child finds
// the inherited descriptor.
const ChildFD = 3

// childEnv carries the commands to a child AddQueueAs started; its
// presence makes RunChild take over the process.
const childEnv = "ZCSUITE_RAWRING_CHILD"

// CommandAs returns a command that runs exe under uid and gid with no
// supplementary groups (a non-zero uid then has no capabilities) and hands it a duplicate of fd as its
// descriptor ChildFD. The caller sets the environment and output, runs
// the command, then closes the returned file.
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

// ChildCmd is one FUSE_IO_URING_CMD_ADD_QUEUE a child issues.
type ChildCmd struct {
	Qid   uint16
	Flags uint64
}

// ChildResult is what a child saw: its credentials as it reported them,
// and per command the CQE's res.
type ChildResult struct {
	UID, GID int
	CapEff   uint64
	Res      []int32
}

// AddQueueAs runs cmds as ADD_QUEUE in a child process started under uid
// and gid (no supplementary groups, and hence no capabilities) that
// inherits a duplicate of the /dev/fuse descriptor devFD, on the child's
// own io_uring instance: the path of an unprivileged server handed its fd
// by a privileged mounter (linux73 ABI doc §4.a). The child is this
// executable again; its main, or an init function of the test binary,
// must call RunChild first thing. Only ADD_QUEUE is offered: it is the one
// privileged command, and a child's REGISTER would leave entries on a
// ring that dies with it.
func AddQueueAs(ctx context.Context, uid, gid uint32, devFD int, cmds []ChildCmd) (ChildResult, error) {
	var res ChildResult
	var spec []string
	for _, c := range cmds {
		spec = append(spec, fmt.Sprintf("%d:%d", c.Qid, c.Flags))
	}
	cmd, f, err := CommandAs(ctx, "/proc/self/exe", uid, gid, devFD)
	if err != nil {
		return res, fmt.Errorf("/dev/fuse: %w", err)
	}
	defer f.Close()
	cmd.Env = []string{childEnv + "=" + strings.Join(spec, ",")}
	cmd.Dir = "/"
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("child (uid %d): %w: %s%s", uid, err, out, bytes.TrimSpace(stderr.Bytes()))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "id":
			res.UID, _ = strconv.Atoi(f[1])
			res.GID, _ = strconv.Atoi(f[2])
			res.CapEff, _ = strconv.ParseUint(f[3], 16, 64)
		case len(f) == 3 && f[0] == "res":
			v, err := strconv.ParseInt(f[2], 10, 32)
			if err != nil {
				return res, fmt.Errorf("child (uid %d): bad line %q", uid, sc.Text())
			}
			res.Res = append(res.Res, int32(v))
		default:
			return res, fmt.Errorf("child (uid %d): bad line %q", uid, sc.Text())
		}
	}
	if len(res.Res) != len(cmds) {
		return res, fmt.Errorf("child (uid %d) answered %d of %d commands: %s", uid, len(res.Res), len(cmds), out)
	}
	return res, nil
}

// RunChild turns the process into AddQueueAs's child when AddQueueAs
// started it (an environment variable says so): it issues the commands,
// prints its credentials and the results, and exits. Otherwise it returns
// at once. Call it at the very start of main, or from an init function of
// a test binary.
func RunChild() {
	spec, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Exit(child(spec, os.Stdout))
}

func child(spec string, w io.Writer) int {
	// uring_cmd completions are task work of the submitting thread.
	runtime.LockOSThread()
	var cmds []ChildCmd
	for _, s := range strings.Split(spec, ",") {
		q, fl, ok := strings.Cut(s, ":")
		qid, err1 := strconv.ParseUint(q, 10, 16)
		flags, err2 := strconv.ParseUint(fl, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "bad command %q\n", s)
			return 2
		}
		cmds = append(cmds, ChildCmd{Qid: uint16(qid), Flags: flags})
	}
	capEff, err := ThreadCapEff()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(w, "id %d %d %x\n", os.Getuid(), os.Getgid(), capEff)
	ring, err := uring.New(8, uring.WithSQE128())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ring.Close()
	for i, c := range cmds {
		res, err := addQueueOnce(ring, ChildFD, c, uint64(i))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(w, "res %d %d\n", i, res)
	}
	return 0
}

// addQueueOnce submits ADD_QUEUE c for the /dev/fuse descriptor fd on
// ring with userData, waits for its CQE and returns its res (linux73 ABI
// doc §3.1). The caller is locked to its OS thread.
func addQueueOnce(ring *uring.Ring, fd int32, c ChildCmd, userData uint64) (int32, error) {
	cmd := linux73.Command{Op: linux73.FUSE_IO_URING_CMD_ADD_QUEUE, Req: linux73.AddQueue(c.Qid, c.Flags)}
	if _, err := cmd.Put(ring, fd, userData); err != nil {
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
