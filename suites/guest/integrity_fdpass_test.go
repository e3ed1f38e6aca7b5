package guest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// fdpassEnv makes this test binary, started again by fdpassStart, an
// unprivileged zcserver of a passed descriptor; its value is
// "<mode>:<mount point>".
const fdpassEnv = "ZCSUITE_FDPASS_SERVER"

// fdpassTimeout bounds each fd-passing spec.
const fdpassTimeout = 90 * time.Second

func init() {
	if spec, ok := os.LookupEnv(fdpassEnv); ok {
		os.Exit(fdpassChild(spec, os.Stdout))
	}
}

// fdpassChild is the server process: it receives the mounted /dev/fuse
// descriptor over the socket it inherited as rawring.ChildFD, runs
// zcserver.Start on it, says so on w, and serves until the spec closes its
// end of the socket. Lines on w:
//
//	ready <pid>                      Start returned
//	start-error <errno> <absent>     Start failed (errno 0: none; absent 1: features.ErrNotSupported)
//	closed <requests> <write bytes> <ring requests> <faults>
//
// Errors go to stderr; the exit status is 0 only after a clean Close
// without faults, or after reporting a start error.
func fdpassChild(spec string, w io.Writer) int {
	name, mnt, ok := strings.Cut(spec, ":")
	mode, err := zcserver.ParseMode(name)
	if !ok || err != nil {
		fmt.Fprintf(os.Stderr, "bad %s %q: %v\n", fdpassEnv, spec, err)
		return 2
	}
	f := os.NewFile(rawring.ChildFD, "socket")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "socket:", err)
		return 1
	}
	conn, ok := c.(*net.UnixConn)
	if !ok {
		fmt.Fprintf(os.Stderr, "descriptor %d is a %T, not a unix socket\n", rawring.ChildFD, c)
		return 1
	}
	fd, err := zcserver.ReceiveFD(conn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := zcserver.Start(ctx, zcserver.Config{MountPoint: mnt, Mode: mode, DevFD: fd})
	if err != nil {
		var errno unix.Errno
		errors.As(err, &errno)
		absent := 0
		if errors.Is(err, features.ErrNotSupported) {
			absent = 1
		}
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintf(w, "start-error %d %d\n", int(errno), absent)
		return 0
	}
	fmt.Fprintf(w, "ready %d\n", os.Getpid())
	io.Copy(io.Discard, conn) // until the spec closes its end
	closeErr := srv.Close()
	faults := integFaults(srv)
	cnt := srv.Counters()
	var ring uint64
	for _, q := range cnt.Queues {
		if q.Transport == zcserver.TransportRing {
			ring += q.Requests
		}
	}
	fmt.Fprintf(w, "closed %d %d %d %d\n", cnt.Total(), cnt.CopiedWriteBytes, ring, cnt.Faults)
	if err := errors.Join(closeErr, faults); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fdpassProc is a running server child.
type fdpassProc struct {
	mnt    string
	pid    int
	conn   *net.UnixConn // the spec's end of the socket
	lines  <-chan []string
	stderr *bytes.Buffer
	wait   func() error
}

// fdpassStart mounts a fresh directory for uid/gid nobody (MountFD, as
// root), starts this binary again as nobody with one end of a socket
// pair, and passes it the mounted descriptor (SendFD). The spec keeps no
// copy of the descriptor. The child is killed and the mount detached at
// cleanup.
func fdpassStart(ctx context.Context, mode zcserver.Mode) *fdpassProc {
	GinkgoHelper()
	p := &fdpassProc{stderr: new(bytes.Buffer)}
	var err error
	p.mnt, err = os.MkdirTemp("", "zc-fdpass-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.Remove, p.mnt)
	fd, err := zcserver.MountFD(p.mnt, nobody, nobody, 0)
	Expect(err).NotTo(HaveOccurred(), "privileged mount for uid %d", nobody)
	DeferCleanup(func() error {
		if err := unix.Unmount(p.mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", p.mnt, err)
		}
		return nil
	})
	defer unix.Close(fd)

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	Expect(unixSockets.need(err)).To(Succeed())
	f := os.NewFile(uintptr(pair[0]), "socket")
	c, err := net.FileConn(f)
	f.Close()
	Expect(err).NotTo(HaveOccurred())
	p.conn = c.(*net.UnixConn)
	DeferCleanup(func() { p.conn.Close() })

	cmd, child, err := rawring.CommandAs(ctx, "/proc/self/exe", nobody, nobody, pair[1])
	unix.Close(pair[1])
	Expect(err).NotTo(HaveOccurred())
	defer child.Close()
	cmd.Env = append(os.Environ(), fdpassEnv+"="+mode.String()+":"+p.mnt)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	p.pid = cmd.Process.Pid
	lines := make(chan []string, 4)
	p.lines = lines
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- strings.Fields(sc.Text())
		}
	}()
	var once sync.Once
	var waitErr error
	p.wait = func() error {
		once.Do(func() {
			for range lines { // Wait only after the last read of the pipe
			}
			waitErr = cmd.Wait()
		})
		return waitErr
	}
	DeferCleanup(func() {
		cmd.Process.Kill() // harmless once the child was waited for
		p.wait()
	})
	Expect(zcserver.SendFD(p.conn, fd)).To(Succeed())
	return p
}

// next returns the child's next line, whose first field must be one of
// kinds.
func (p *fdpassProc) next(ctx context.Context, kinds ...string) []string {
	GinkgoHelper()
	select {
	case l, ok := <-p.lines:
		Expect(ok).To(BeTrue(), "the server child ended without a line; stderr: %s", p.stderr)
		Expect(l).NotTo(BeEmpty())
		Expect(kinds).To(ContainElement(l[0]), "line %q; stderr: %s", l, p.stderr)
		return l
	case <-ctx.Done():
		Fail(fmt.Sprintf("no line from the server child: %v; stderr: %s", ctx.Err(), p.stderr))
	}
	return nil
}

// stop closes the spec's end of the socket, which makes the child close
// its server, and returns its final counters: requests, copied write
// bytes, ring requests, faults.
func (p *fdpassProc) stop(ctx context.Context) [4]uint64 {
	GinkgoHelper()
	Expect(p.conn.Close()).To(Succeed())
	l := p.next(ctx, "closed")
	Expect(l).To(HaveLen(5))
	var c [4]uint64
	for i := range c {
		v, err := strconv.ParseUint(l[i+1], 10, 64)
		Expect(err).NotTo(HaveOccurred())
		c[i] = v
	}
	Expect(p.wait()).To(Succeed(), "server child exit; stderr: %s", p.stderr)
	return c
}

// procStatus returns the value fields of line key in /proc/pid/status.
func procStatus(pid int, key string) []string {
	GinkgoHelper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.Fields(v)
		}
	}
	Fail(fmt.Sprintf("/proc/%d/status has no %s line", pid, key))
	return nil
}

// fdpassIO writes a pattern into a new file with O_DIRECT (so every byte
// goes through the server), reads it back and compares.
func fdpassIO(ctx context.Context, mnt string) int {
	GinkgoHelper()
	const size = 256<<10 + 4096
	p := filepath.Join(mnt, "fdpass-data")
	err := integAwait(ctx, integOnThread(-1, func() error {
		fd, err := integOpen(p, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		want := integBuf(size, 0)
		integFill(want, 0xfd, 0)
		if err := integPwrite(fd, want, 0); err != nil {
			return err
		}
		got := integBuf(size, 0)
		n, err := integPread(fd, got, 0)
		if err != nil {
			return err
		}
		return integCompare("fdpass-data", got[:n], want)
	}))
	Expect(err).NotTo(HaveOccurred())
	return size
}

// Issue 3: a privileged mounter opens /dev/fuse, mounts it for an
// unprivileged server and passes the descriptor with SCM_RIGHTS; the
// server serves it without ever mounting (package zcserver: MountFD,
// SendFD, ReceiveFD, Config.DevFD).
var _ = Describe("fd-passing mount: an unprivileged server of a passed /dev/fuse fd", Label(labels.Integrity, labels.ABIUpstream, zcserver.ModeDevFuse.String()), func() {
	// catches: a mount whose user_id/group_id or allow_other handling
	// keeps the mounter (or other users) out, a connection that needs
	// the mounter's credentials to be served, or a server that still
	// needs CAP_SYS_ADMIN once the fd is passed.
	It("serves raw I/O on the mount from a uid-65534 process without capabilities, and its Close aborts without unmounting", func(ctx SpecContext) {
		p := fdpassStart(ctx, zcserver.ModeDevFuse)
		l := p.next(ctx, "ready")
		Expect(l[1]).To(Equal(strconv.Itoa(p.pid)))
		Expect(procStatus(p.pid, "Uid")).To(HaveExactElements("65534", "65534", "65534", "65534"), "the server runs as nobody")
		Expect(procStatus(p.pid, "Gid")).To(HaveExactElements("65534", "65534", "65534", "65534"))
		Expect(procStatus(p.pid, "CapEff")).To(HaveExactElements("0000000000000000"), "the server has no effective capability")
		size := fdpassIO(ctx, p.mnt)
		c := p.stop(ctx)
		Expect(c[1]).To(BeEquivalentTo(size), "every written byte reached the unprivileged server once")
		Expect(c[3]).To(BeZero(), "server faults")
		Expect(unix.Access(filepath.Join(p.mnt, "after-close"), unix.F_OK)).To(MatchError(unix.ENOTCONN),
			"Close aborted the connection; the mount stays for the mounter to remove")
	}, SpecTimeout(fdpassTimeout))

	// catches: a capability check on ADD_QUEUE without zero copy, on
	// REGISTER or on COMMIT_AND_FETCH (ABI doc §4.a), which would keep
	// unprivileged servers off FUSE io_uring.
	It("runs ring per-entry mode over the passed fd without CAP_SYS_ADMIN", Label(zcserver.ModeRingPerEntry.String()), func(ctx SpecContext) {
		p := fdpassStart(ctx, zcserver.ModeRingPerEntry)
		l := p.next(ctx, "ready", "start-error")
		Expect(l[0]).To(Equal("ready"), "ring setup of the unprivileged server; stderr: %s", p.stderr)
		Expect(procStatus(p.pid, "CapEff")).To(HaveExactElements("0000000000000000"))
		size := fdpassIO(ctx, p.mnt)
		c := p.stop(ctx)
		Expect(c[1]).To(BeEquivalentTo(size))
		Expect(c[2]).To(BeNumerically(">", 0), "requests went through the unprivileged server's rings")
		Expect(c[3]).To(BeZero(), "server faults")
	}, SpecTimeout(fdpassTimeout))

	// catches: dropping the capable(CAP_SYS_ADMIN) check of
	// FUSE_URING_ZERO_COPY, or checking the /dev/fuse opener's (the
	// privileged mounter's) credentials instead of the submitter's.
	It("refuses zero-copy mode at ADD_QUEUE with EPERM for the unprivileged server, while a root server of a passed fd gets it", Label(zcserver.ModeRingZeroCopy.String()), func(ctx SpecContext) {
		p := fdpassStart(ctx, zcserver.ModeRingZeroCopy)
		l := p.next(ctx, "ready", "start-error")
		Expect(l).To(HaveLen(3), "the unprivileged zero-copy server must not start; line %q", l)
		if l[2] == "1" {
			if features.AtLeast(kernelRelease(), features.BufPool.Since) {
				Fail(fmt.Sprintf("kernel %s should offer the 7.46 ABI; stderr: %s", kernelRelease(), p.stderr))
			}
			Skip("no zero copy on kernel " + kernelRelease() + ": " + p.stderr.String())
		}
		Expect(l[1]).To(Equal(strconv.Itoa(int(unix.EPERM))), "§4.a: ADD_QUEUE with FUSE_URING_ZERO_COPY without CAP_SYS_ADMIN; stderr: %s", p.stderr)
		Expect(p.wait()).To(Succeed())
		Expect(p.stderr.String()).To(ContainSubstring("add queue"), "the refused command is ADD_QUEUE")
		Expect(unix.Access(filepath.Join(p.mnt, "after-refusal"), unix.F_OK)).To(MatchError(unix.ENOTCONN),
			"the failed Start aborted the connection")

		// Positive control: same mount options (user_id nobody), root server.
		mnt, err := os.MkdirTemp("", "zc-fdpass-root-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.Remove, mnt)
		fd, err := zcserver.MountFD(mnt, nobody, nobody, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(unix.Unmount, mnt, unix.MNT_DETACH)
		srv, err := zcserver.Start(ctx, zcserver.Config{MountPoint: mnt, Mode: zcserver.ModeRingZeroCopy, DevFD: fd})
		Expect(err).NotTo(HaveOccurred(), "a privileged server of a passed fd sets zero-copy queues up")
		DeferCleanup(srv.Close)
		DeferCleanup(func() error { return integFaults(srv) })
		var zc int
		for _, st := range srv.SetupLog() {
			if st.Cmd == linux73.FUSE_IO_URING_CMD_ADD_QUEUE && st.Flags&ZC != 0 && st.Err == nil {
				zc++
			}
		}
		Expect(zc).To(Equal(srv.Queues()), "one accepted zero-copy ADD_QUEUE per queue: %v", srv.SetupLog())
		Expect(srv.Counters().Requests[fuseabi.FUSE_INIT]).To(BeEquivalentTo(1))
	}, SpecTimeout(fdpassTimeout))
})
