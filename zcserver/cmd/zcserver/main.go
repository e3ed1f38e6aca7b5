// Command zcserver mounts zcsuite's FUSE server for a developer poking a
// kernel by hand, and serves until SIGINT or SIGTERM.
//
//	zcserver -mount /tmp/mnt [-mode devfuse] [-depth 8] [-pool-bufs 0]
//	         [-backing DIR] [-max-write 131072] [-zc-prefix zc] [-readers 4]
//	         [-dev-fd N]
//
// -mode picks the transport:
//
//	devfuse               read(2)/write(2) on /dev/fuse only
//	ring-per-entry        FUSE io_uring, one payload buffer per entry (also
//	                      on kernels before 7.3)
//	ring-pool             FUSE io_uring with a buffer pool per queue
//	ring-pool-registered  the pool registered as an io_uring fixed buffer
//	ring-zero-copy        zero-copy queues with a pool; files whose path
//	                      starts with -zc-prefix are opted in, and their
//	                      READ/WRITE data moves with READ_FIXED/WRITE_FIXED
//
// Ring modes need fuse.enable_uring=1 (set before the mount); every mode
// but ring-per-entry needs the Linux 7.3 (FUSE 7.46) buffer-pool ABI, and
// ring-zero-copy needs CAP_SYS_ADMIN. -depth is the number of entries per
// queue (one queue per possible CPU), -pool-bufs the buffers per queue pool
// (0: -depth).
//
// -dev-fd N serves an already-mounted /dev/fuse descriptor inherited as
// descriptor N (mounted on -mount by a privileged process, e.g. with
// zcserver.MountFD): the command then needs no privilege to mount, never
// mounts, and on exit aborts the connection instead of unmounting; the
// mounter removes the mount.
//
// It prints the INIT exchange and the ring setup when mounted, and the
// counters when stopped. Exit codes: 0 stopped cleanly by a signal (or -h);
// 1 runtime failure (mount, ring setup, serving, unmount); 2 bad command
// line; 3 the kernel lacks what the mode needs (the message names it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitUsage     = 2
	exitNoFeature = 3
)

// usageError marks a bad command line; printed says the flag package
// already reported it.
type usageError struct {
	error
	printed bool
}

func main() {
	zcserver.RunForeignChild()
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var ue usageError
	code := exitFailure
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(exitOK)
	case errors.As(err, &ue):
		code = exitUsage
		if ue.printed {
			os.Exit(code)
		}
	case errors.Is(err, features.ErrNotSupported):
		code = exitNoFeature
	}
	fmt.Fprintln(os.Stderr, "zcserver:", strings.TrimPrefix(err.Error(), "zcserver: "))
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("zcserver", flag.ContinueOnError)
	fl.SetOutput(stderr)
	mnt := fl.String("mount", "/tmp/mnt", "mount point (created if missing)")
	mode := fl.String("mode", "devfuse", "transport: devfuse, ring-per-entry, ring-pool, ring-pool-registered, ring-zero-copy")
	depth := fl.Int("depth", zcserver.DefaultQueueDepth, "ring entries per queue (ring modes)")
	poolBufs := fl.Int("pool-bufs", 0, "buffers per queue pool (pool and zero-copy modes; 0: -depth)")
	readers := fl.Int("readers", zcserver.DefaultReaders, "/dev/fuse reader goroutines")
	backing := fl.String("backing", "", "directory for file data (default: one memfd per file)")
	maxWrite := fl.Uint("max-write", zcserver.DefaultMaxWrite, "init_out.max_write in bytes")
	zcPrefix := fl.String("zc-prefix", "", "opt files whose path starts with this into FOPEN_IO_URING_ZERO_COPY")
	devFD := fl.Int("dev-fd", 0, "serve this inherited, already-mounted /dev/fuse descriptor instead of mounting (0: mount)")
	startTimeout := fl.Duration("start-timeout", 30*time.Second, "how long to wait for FUSE_INIT")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err, true}
	}
	if fl.NArg() != 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fl.Args()), false}
	}
	m, err := zcserver.ParseMode(*mode)
	if err != nil {
		return usageError{err, false}
	}
	if *maxWrite > 1<<31 {
		return usageError{fmt.Errorf("-max-write %d too large", *maxWrite), false}
	}
	cfg := zcserver.Config{
		MountPoint:  *mnt,
		Mode:        m,
		QueueDepth:  *depth,
		PoolBuffers: *poolBufs,
		Readers:     *readers,
		MaxWrite:    uint32(*maxWrite),
		BackingDir:  *backing,
		DevFD:       *devFD,
	}
	if *zcPrefix != "" {
		cfg.ZeroCopyFiles = zcserver.NamePrefix(*zcPrefix)
	}
	if *devFD == 0 {
		if err := os.MkdirAll(*mnt, 0o755); err != nil {
			return err
		}
	}

	sigs, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigs, *startTimeout)
	defer cancel()
	srv, err := zcserver.Start(ctx, cfg)
	if err != nil {
		if errors.Is(err, zcserver.ErrInvalidConfig) {
			return usageError{err, false}
		}
		return err
	}
	info := srv.Init()
	fmt.Fprintf(stdout, "zcserver: mounted %s mode=%s conn=%d\n", srv.MountPoint(), srv.Mode(), srv.ConnID())
	fmt.Fprintf(stdout, "zcserver: INIT %s\n", info.String())
	for _, st := range srv.SetupLog() {
		fmt.Fprintf(stdout, "zcserver: setup %s\n", st)
	}

	var served error
	select {
	case <-sigs.Done():
	case <-srv.Done():
		served = fmt.Errorf("connection ended: %v", srv.Err())
	}
	closeErr := srv.Close()
	for drained := false; !drained; {
		select {
		case f := <-srv.Faults():
			fmt.Fprintln(stderr, "zcserver:", f)
		default:
			drained = true
		}
	}
	c := srv.Counters()
	fmt.Fprintf(stdout, "zcserver: %d requests, %d errors, %d faults, copied read/write %d/%d bytes, zero-copy read/write %d/%d bytes\n",
		c.Total(), c.Errors, c.Faults, c.CopiedReadBytes, c.CopiedWriteBytes, c.ZeroCopyReadBytes, c.ZeroCopyWriteBytes)
	for op := range fuseabi.OpcodeSlots {
		if n := c.Requests[op]; n > 0 {
			fmt.Fprintf(stdout, "zcserver:   %-24s %d (zero-copied %d)\n", fuseabi.Opcode(op), n, c.Ring.ZeroCopyRequests[op])
		}
	}
	for _, q := range c.Queues {
		fmt.Fprintf(stdout, "zcserver:   %s queue %d: %d requests, %d replies, %d zero-copied\n", q.Transport, q.Queue, q.Requests, q.Replies, q.ZeroCopyRequests)
	}
	return errors.Join(served, closeErr)
}
