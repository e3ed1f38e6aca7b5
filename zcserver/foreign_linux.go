package zcserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/ringthread"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// foreignEnv carries the commands to a foreign child; its presence makes
// RunForeignChild take over the process.
const foreignEnv = "ZCSERVER_FOREIGN_ADD_QUEUE"

// foreignFD is the child's descriptor of the inherited /dev/fuse.
const foreignFD = ringthread.ChildFD

// ForeignCommand is one ADD_QUEUE a foreign child issues.
type ForeignCommand struct {
	Qid   uint16
	Flags uint64
}

// ForeignResult is what a foreign child saw.
type ForeignResult struct {
	// UID, GID and CapEff are the child's credentials as it reported them.
	UID, GID int
	CapEff   uint64
	// Errs holds, per command, nil or an error matching the CQE's errno.
	Errs []error
}

// ForeignAddQueue runs cmds as FUSE_IO_URING_CMD_ADD_QUEUE in a child
// process started under uid and gid (no supplementary groups, and hence no
// capabilities) that inherits the connection's /dev/fuse descriptor: the
// path of an unprivileged server handed its fd by a privileged mounter
// (ABI doc §4.a). The child is this executable again; its main (or an
// init function of the test binary) must call RunForeignChild first
// thing. Only ADD_QUEUE is offered: it is the one privileged command, and
// a child's REGISTER would leave entries on a ring that dies with it.
func (s *Server) ForeignAddQueue(ctx context.Context, uid, gid int, cmds []ForeignCommand) (ForeignResult, error) {
	var res ForeignResult
	var spec []string
	for _, c := range cmds {
		spec = append(spec, fmt.Sprintf("%d:%d", c.Qid, c.Flags))
	}
	cmd, f, err := ringthread.CommandAs(ctx, "/proc/self/exe", uint32(uid), uint32(gid), s.fd)
	if err != nil {
		return res, fmt.Errorf("zcserver: /dev/fuse: %w", err)
	}
	defer f.Close()
	cmd.Env = append(os.Environ(), foreignEnv+"="+strings.Join(spec, ","))
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("zcserver: foreign child (uid %d): %w: %s%s", uid, err, out, stderr.Bytes())
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
			v, err := strconv.Atoi(f[2])
			if err != nil {
				return res, fmt.Errorf("zcserver: foreign child: bad line %q", sc.Text())
			}
			var e error
			if v < 0 {
				e = &uring.CQEError{UserData: uint64(len(res.Errs)), Errno: unix.Errno(-v)}
			}
			res.Errs = append(res.Errs, e)
		default:
			return res, fmt.Errorf("zcserver: foreign child: bad line %q", sc.Text())
		}
	}
	if len(res.Errs) != len(cmds) {
		return res, fmt.Errorf("zcserver: foreign child answered %d of %d commands: %s", len(res.Errs), len(cmds), out)
	}
	return res, nil
}

// RunForeignChild turns the process into a foreign child when
// ForeignAddQueue started it (an environment variable says so): it issues
// the commands, prints the results and exits. Otherwise it returns at
// once. Call it at the very start of main, or from an init function of a
// test binary.
func RunForeignChild() {
	spec, ok := os.LookupEnv(foreignEnv)
	if !ok {
		return
	}
	os.Exit(foreignChild(spec, os.Stdout))
}

func foreignChild(spec string, w io.Writer) int {
	// uring_cmd completions are task work of the submitting thread.
	runtime.LockOSThread()
	var cmds []ForeignCommand
	for _, s := range strings.Split(spec, ",") {
		q, fl, ok := strings.Cut(s, ":")
		qid, err1 := strconv.ParseUint(q, 10, 16)
		flags, err2 := strconv.ParseUint(fl, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			fmt.Fprintf(os.Stderr, "bad command %q\n", s)
			return 2
		}
		cmds = append(cmds, ForeignCommand{Qid: uint16(qid), Flags: flags})
	}
	capEff, err := threadCapEff()
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
		res, err := ringthread.AddQueueOnce(ring, foreignFD, c.Qid, c.Flags, uint64(i))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(w, "res %d %d\n", i, res)
	}
	return 0
}
