// Command zcsuite boots a kernel in QEMU, runs the zcsuite guest specs
// against it and prints a verdict per spec.
//
// Exit codes (git bisect run compatible):
//
//	0    every spec passed (skips carry reasons; known issues are KNOWN-FAIL)
//	1    a spec failed, panicked or hung, a kernel splat was seen, or a known
//	     issue stopped reproducing (FIXED)
//	2    usage error: bad flag, missing kernel file, not a kernel, unknown
//	     debian: name
//	125  the kernel could not be tested: fetch or build failure, missing
//	     config option, boot failure, panic before the suite, infrastructure
//	128  with -bisect only: a usage error or an interruption, which says
//	     nothing about the commit and stops `git bisect run`
//
// With -bad-if only the bad outcomes matching the signature give 1; with
// -repeat N any bad run gives 1 (see package series for the rules).
//
// Environment variables for the kernel-tree flags (defaults only):
// ZCSUITE_CCACHE=1 turns -ccache on; ZCSUITE_CALLER_DIR is the directory a
// relative -kernel-tree is taken from (a wrapper that changes directory,
// like run.sh, sets it to its caller's working directory).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/series"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zcsuite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kernelArg   = fs.String("kernel", "debian:7.3-cloud", "kernel to test: debian:VERSION-FLAVOUR (debian:7.3-cloud, debian:7.2-cloud) or a path to a bzImage")
		kernelCfg   = fs.String("kernel-config", "", "config file of a kernel given by path (default: its embedded IKCONFIG)")
		reportDir   = fs.String("report-dir", "results/latest", "where to write report.json, junit.xml, console.log, kmsg.log, kernel.json")
		cacheDir    = fs.String("cache-dir", runner.DefaultCacheDir(), "cache for kernels, images and probes")
		accel       = fs.String("accel", envOr("ZCSUITE_ACCEL", "auto"), "accelerator: auto (probe KVM with a real boot, fall back to TCG), kvm or tcg")
		smp         = fs.Int("smp", 2, "vCPUs of the VM (= FUSE queues)")
		timeout     = fs.Duration("timeout", 8*time.Minute, "deadline for each VM's guest suite")
		labelFilter = fs.String("label-filter", "", "Ginkgo label filter for the guest specs")
		focus       = fs.String("focus", "", "regexp on the guest specs' full text")
		noDestruct  = fs.Bool("no-destructive", false, "skip the destructive specs (each would boot its own VM)")
		benchMode   = fs.Bool("bench", false, "run the benchmark instead of the specs: fio against copy, pool and zero-copy zcserver mounts; writes bench.md and bench.png")
		verbose     = fs.Bool("v", false, "copy the VM console to stdout")
		jobs        = fs.Int("jobs", runner.DefaultJobs(), "VMs to run at once (the non-destructive specs are split over them)")
		snapshots   = fs.Bool("snapshot", os.Getenv("ZCSUITE_SNAPSHOT") != "0", "save the state of a booted guest in the cache and resume later VMs of the same kernel and image from it (-snapshot=false or ZCSUITE_SNAPSHOT=0 boots every VM)")
	)
	dev := addDevFlags(fs)
	abi := addABIFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: zcsuite [flags]\n\nBoots a kernel in QEMU and runs the zcsuite guest specs against it.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if bisectRequested(args) {
			return series.ExitAbort
		}
		return verdict.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "zcsuite: unexpected argument %q (see -help)\n", fs.Arg(0))
		if bisectRequested(args) {
			return series.ExitAbort
		}
		return verdict.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := []runner.Option{
		runner.WithKernel(*kernelArg),
		runner.WithKernelConfig(*kernelCfg),
		runner.WithReportDir(*reportDir),
		runner.WithCacheDir(*cacheDir),
		runner.WithAccel(*accel),
		runner.WithSMP(*smp),
		runner.WithTimeout(*timeout),
		runner.WithLabelFilter(*labelFilter),
		runner.WithFocus(*focus),
		runner.WithDestructive(!*noDestruct),
		runner.WithBench(*benchMode),
		runner.WithOutput(stdout),
		runner.WithVerbose(*verbose),
		runner.WithABI(*abi),
		runner.WithJobs(*jobs),
		runner.WithSnapshots(*snapshots),
	}
	if dev.active() {
		return dev.run(ctx, fs, opts, *reportDir, *cacheDir, stdout, stderr)
	}
	res, err := runner.Run(ctx, opts...)
	switch {
	case errors.Is(err, runner.ErrUsage):
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return verdict.ExitUsage
	case err != nil:
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return verdict.ExitUntested
	}
	return res.ExitCode
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
