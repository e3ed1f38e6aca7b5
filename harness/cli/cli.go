// Package cli is zcsuite's command line: its flags, their validation, the
// signals that stop a run, and the mapping of a run's end to an exit code.
// The zcsuite command and the `go test ./suites/host` entry both use it,
// so the two routes take the same flags and give the same verdict.
//
// Exit codes (git bisect run compatible):
//
//	0    every spec passed (skips carry reasons; known issues are KNOWN-FAIL)
//	1    a spec failed, panicked or hung, a kernel splat was seen, or a known
//	     issue stopped reproducing (FIXED)
//	2    usage error: bad flag, filter or focus, missing kernel file, not a
//	     kernel (or one cut short), unknown debian: name, report directory
//	     not writable
//	125  the kernel could not be tested: fetch or build failure, missing
//	     config option, boot failure, panic before the suite, a report file
//	     that could not be written, infrastructure
//	128  with -bisect only: a usage error or an interruption, which says
//	     nothing about the commit and stops `git bisect run`
//	129, 130, 143  interrupted by SIGHUP, SIGINT or SIGTERM (128 + the
//	     signal): every VM is stopped, the reports hold the specs that ran
//	     and mark the others NOT-RUN
//
// With -bad-if only the bad outcomes matching the signature give 1; with
// -repeat N any bad run gives 1 (see package series for the rules).
//
// Environment variables (defaults only): ZCSUITE_CACHE (the cache),
// ZCSUITE_ACCEL (-accel), ZCSUITE_SNAPSHOT=0 (-snapshot=false),
// ZCSUITE_CCACHE=1 (-ccache), ZCSUITE_CALLER_DIR (the directory relative
// paths in flags are taken from; run.sh sets it to its caller's working
// directory; default the working directory). One is a test knob, not a
// default: ZCSUITE_TEST_FAIL_SPEC=REGEXP makes the guest fail the specs
// whose full text matches, on purpose (.ci/faults.sh proves -fail-fast
// with it on a healthy kernel; the failure says so).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/series"
	"github.com/zcsuite/zcsuite/harness/shard"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// Flags are zcsuite's flags, declared on a FlagSet by Register.
type Flags struct {
	fs *flag.FlagSet

	Kernel, KernelConfig, ReportDir, CacheDir, Accel *string
	SMP                                              *int
	Timeout                                          *time.Duration
	LabelFilter, Focus                               *string
	NoDestructive, Bench, Verbose, Snapshots         *bool
	ServerTests                                      *bool
	FailFast                                         *bool
	Jobs                                             *int
	ABI                                              *string
	Shard                                            *string
	dev                                              *devFlags
}

// DefaultReportDir is where reports go when -report-dir is not given:
// results/latest in the zcsuite checkout, whatever directory the run was
// started from (a bisection runs from the kernel tree, which must stay
// clean).
func DefaultReportDir() string {
	if dir, err := vmimage.ModuleDir(); err == nil {
		return filepath.Join(dir, "results", "latest")
	}
	return filepath.Join("results", "latest")
}

// Register declares zcsuite's flags on fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	f.Kernel = fs.String("kernel", "debian:7.3-cloud", "kernel to test: debian:VERSION-FLAVOUR (debian:7.3-cloud, debian:7.2-cloud, debian:6.12-cloud) or a path to a bzImage")
	f.KernelConfig = fs.String("kernel-config", "", "config file of a kernel given by path (default: its embedded IKCONFIG)")
	f.ReportDir = fs.String("report-dir", "", "where to write the reports (default results/latest in the zcsuite checkout); created if missing, checked writable before anything boots, earlier runs' report files in it are removed")
	f.CacheDir = fs.String("cache-dir", runner.DefaultCacheDir(), "cache for kernels, images and probes")
	f.Accel = fs.String("accel", envOr("ZCSUITE_ACCEL", "auto"), "accelerator: auto (probe KVM with a real boot, fall back to TCG), kvm or tcg")
	f.SMP = fs.Int("smp", 2, "vCPUs of the VM (= FUSE queues)")
	f.Timeout = fs.Duration("timeout", runner.DefaultTimeout, "deadline for all the VMs of a run (the kernel's fetch or build is not counted); the run ends within it + 10 s")
	f.LabelFilter = fs.String("label-filter", "", "Ginkgo label filter for the guest specs")
	f.Focus = fs.String("focus", "", "regexp on the guest specs' full text")
	f.NoDestructive = fs.Bool("no-destructive", false, "skip the destructive specs (each would boot its own VM)")
	f.Bench = fs.Bool("bench", false, "run the benchmark instead of the specs: fio against copy, pool and zero-copy zcserver mounts; writes bench.md and bench.png")
	f.Verbose = fs.Bool("v", false, "copy the VM console to stdout")
	f.Jobs = fs.Int("jobs", runner.DefaultJobs(), "VMs to run at once (the non-destructive specs are split over them)")
	f.ServerTests = fs.Bool("server-tests", true, "run zcserver's own Go tests (zcserver.test) in the first VM of a whole run (no -label-filter, no -focus), each reported like a spec; -server-tests=false leaves them out")
	f.Snapshots = fs.Bool("snapshot", os.Getenv("ZCSUITE_SNAPSHOT") != "0", "save the state of a booted guest in the cache and resume later VMs of the same kernel and image from it (-snapshot=false or ZCSUITE_SNAPSHOT=0 boots every VM)")
	f.FailFast = fs.Bool("fail-fast", false, "stop the run at the first bad spec (FAIL, FIXED, PANIC, HANG, CRASH, a kernel splat; not KNOWN-FAIL) or VM failure: every VM is stopped, the specs not yet run are NOT-RUN naming it, the exit code stays 1 (on by default with -bisect, where only outcomes -bad-if matches count, and with -mutate, where the first bad spec kills the mutant; -fail-fast=false turns it off)")
	f.Shard = fs.String("shard", "", "K/N: run only the K-th of N deterministic parts of the specs (balanced by the spec times in fixtures/timings, the same on every machine), for CI matrices; `zcsuite merge` puts the N report directories back together")
	f.dev = addDevFlags(fs)
	f.ABI = addABIFlag(fs)
	return f
}

// failFast reports whether the run stops at its first bad outcome:
// -fail-fast as given, else on under -bisect and -mutate (a mutant is
// killed by its first bad spec; the specs after it cannot change that).
func (f *Flags) failFast() bool {
	given := false
	f.fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == "fail-fast" })
	if given {
		return *f.FailFast
	}
	return f.Bisect() || f.dev.mut.active()
}

// Bisect reports whether -bisect was given.
func (f *Flags) Bisect() bool { return *f.dev.bisect }

// Main parses args, runs zcsuite and returns its exit code. SIGINT,
// SIGTERM and SIGHUP stop the run (see the package doc).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return mergeMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "test-tally" {
		return testTallyMain(args[1:], os.Stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "lava-job" {
		ctx, stop := WithSignals(context.Background(), false, stderr)
		defer stop()
		return lavaJobMain(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("zcsuite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := Register(fs)
	fs.Usage = func() { printHelp(stderr, fs) }
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
	ctx, stop := WithSignals(context.Background(), f.Bisect(), stderr)
	defer stop()
	return f.Run(ctx, stdout, stderr)
}

// Run runs zcsuite with the parsed flags and returns its exit code.
func (f *Flags) Run(ctx context.Context, stdout, stderr io.Writer) int {
	usage := verdict.ExitUsage
	if f.Bisect() {
		usage = series.ExitAbort
	}
	reportDir := *f.ReportDir
	if reportDir == "" {
		reportDir = DefaultReportDir()
	}
	reportDir = CallerPath(reportDir)
	cacheDir := CallerPath(*f.CacheDir)
	kernelArg := *f.Kernel
	if !strings.HasPrefix(kernelArg, "debian:") && (!strings.Contains(kernelArg, ":") || strings.Contains(kernelArg, "/")) {
		kernelArg = CallerPath(kernelArg)
	}
	kernelCfg := *f.KernelConfig
	if kernelCfg != "" {
		kernelCfg = CallerPath(kernelCfg)
	}
	var sh shard.Shard
	if *f.Shard != "" {
		var err error
		if sh, err = shard.Parse(*f.Shard); err != nil {
			fmt.Fprintf(stderr, "zcsuite: usage: -shard: %v\n", err)
			return usage
		}
	}
	opts := []runner.Option{
		runner.WithKernel(kernelArg),
		runner.WithKernelConfig(kernelCfg),
		runner.WithReportDir(reportDir),
		runner.WithCacheDir(cacheDir),
		runner.WithAccel(*f.Accel),
		runner.WithSMP(*f.SMP),
		runner.WithTimeout(*f.Timeout),
		runner.WithLabelFilter(*f.LabelFilter),
		runner.WithFocus(*f.Focus),
		runner.WithDestructive(!*f.NoDestructive),
		runner.WithBench(*f.Bench),
		runner.WithOutput(stdout),
		runner.WithVerbose(*f.Verbose),
		runner.WithABI(*f.ABI),
		runner.WithJobs(*f.Jobs),
		runner.WithSnapshots(*f.Snapshots),
		runner.WithServerTests(*f.ServerTests),
		runner.WithShard(sh),
	}
	if f.failFast() {
		opts = append(opts, runner.WithFailFast(f.dev.counts()))
	}
	if re := os.Getenv("ZCSUITE_TEST_FAIL_SPEC"); re != "" {
		opts = append(opts, runner.WithFailSpec(re))
	}
	// Every option is checked before anything starts, the developer
	// loop's included.
	if _, err := runner.NewConfig(opts...); err != nil {
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return usage
	}
	if f.dev.active() {
		return f.dev.run(ctx, f.fs, opts, reportDir, cacheDir, stdout, stderr)
	}
	res, err := runner.Run(ctx, opts...)
	return exitCode(ctx, res, err, usage, stderr)
}

// exitCode maps a run's end to the process exit code, printing the error.
func exitCode(ctx context.Context, res *runner.Result, err error, usage int, stderr io.Writer) int {
	if code, ok := interruptCode(ctx, stderr); ok {
		return code
	}
	switch {
	case errors.Is(err, runner.ErrUsage):
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return usage
	case err != nil:
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return verdict.ExitUntested
	}
	return res.ExitCode
}

// interruptCode is the exit code of a run a signal stopped, with its one
// line; ok is false when no signal did.
func interruptCode(ctx context.Context, stderr io.Writer) (code int, ok bool) {
	var intr *Interrupted
	if !errors.As(context.Cause(ctx), &intr) {
		return 0, false
	}
	fmt.Fprintf(stderr, "zcsuite: %v (exit %d)\n", intr, intr.Code)
	return intr.Code, true
}

// CallerPath makes a relative path absolute against the caller's
// directory ($ZCSUITE_CALLER_DIR, else the working directory).
func CallerPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	base := os.Getenv("ZCSUITE_CALLER_DIR")
	if base == "" {
		base, _ = os.Getwd()
	}
	return filepath.Join(base, p)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
