package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/shard"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// Config is one run's settings; build it with options.
type Config struct {
	Kernel       string
	KernelConfig string
	CacheDir     string
	ReportDir    string
	Accel        string
	SMP          int
	MemoryMB     int
	// Timeout bounds all the VMs of the run together, from the first
	// VM's start: each VM gets what is left of it (a destructive VM at
	// most DestructiveTimeout), and QEMU is killed 10 s after its share.
	Timeout     time.Duration
	LabelFilter string
	Focus       string
	// ABI is the guest specs' ABI profile (see WithABI).
	ABI string
	// Destructive runs the destructive specs, each in its own VM.
	Destructive bool
	// Shard, when set, narrows the run to one part of its specs
	// (WithShard).
	Shard shard.Shard
	// Jobs is how many VMs run at once (the non-destructive specs are
	// split into that many shards).
	Jobs int
	// Snapshots saves the state of a booted guest and resumes later VMs
	// of the same kernel and image from it.
	Snapshots bool
	// ServerTests makes a whole run also run zcserver's own Go tests in
	// its first VM (WithServerTests; on by default).
	ServerTests bool
	// Bench runs only the benchmark specs (label bench, with fio in the
	// image) and writes bench.md and bench.png; normal runs exclude them.
	Bench bool
	// Out receives progress lines and the summary.
	Out io.Writer
	// Verbose copies the console to Out.
	Verbose bool
	// Known lists known kernel issues (from fixtures/expectations).
	Known func(k *kernel.Kernel) ([]verdict.Expectation, error)
	// CheckConfig checks the kernel's config; it returns the config's hash.
	CheckConfig func(k *kernel.Kernel) (string, error)
	// Find scans log lines for kernel splats.
	Find verdict.SplatFinder
	// KernelFunc, when set, supplies the kernel instead of Kernel (a kernel
	// built from a tree; see WithKernelFunc in tree.go).
	KernelFunc func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error)
	// FailFast, when set, stops the run at the first bad outcome it
	// counts (see WithFailFast).
	FailFast FailFastFunc
	// FailSpec, when set, makes the guest fail the specs it matches on
	// purpose (see WithFailSpec).
	FailSpec string
	// Coverage, when set, names the kernel source directories whose gcov
	// counters each VM sends (see WithCoverage).
	Coverage []string
}

// Option configures a run.
type Option func(*Config) error

// WithKernel sets the kernel argument (debian:7.3-cloud, or a path).
func WithKernel(spec string) Option { return func(c *Config) error { c.Kernel = spec; return nil } }

// WithKernelConfig names a config file for a kernel given by path.
func WithKernelConfig(p string) Option {
	return func(c *Config) error { c.KernelConfig = p; return nil }
}

// WithCacheDir sets the cache directory.
func WithCacheDir(d string) Option { return func(c *Config) error { c.CacheDir = d; return nil } }

// WithReportDir sets the report directory.
func WithReportDir(d string) Option { return func(c *Config) error { c.ReportDir = d; return nil } }

// WithAccel sets "auto", "kvm" or "tcg".
func WithAccel(a string) Option {
	return func(c *Config) error {
		switch a {
		case "auto", qemu.AccelKVM, qemu.AccelTCG:
			c.Accel = a
			return nil
		}
		return fmt.Errorf("%w: accelerator %q (want auto, kvm or tcg)", ErrUsage, a)
	}
}

// WithSMP sets the VM's vCPUs.
func WithSMP(n int) Option { return func(c *Config) error { c.SMP = n; return nil } }

// DefaultTimeout bounds the VMs of a run when no -timeout is given.
const DefaultTimeout = 8 * time.Minute

// WithTimeout bounds all the VMs of a run (see Config.Timeout).
func WithTimeout(d time.Duration) Option {
	return func(c *Config) error {
		if d < 20*time.Second {
			return fmt.Errorf("%w: timeout %s is below 20s", ErrUsage, d)
		}
		c.Timeout = d
		return nil
	}
}

// WithLabelFilter restricts the guest specs (Ginkgo label filter syntax,
// checked here so that a typo is a usage error before anything starts).
func WithLabelFilter(f string) Option {
	return func(c *Config) error {
		if _, err := types.ParseLabelFilter(f); err != nil {
			return fmt.Errorf("%w: label filter %q: %s", ErrUsage, f, oneLine(err.Error()))
		}
		c.LabelFilter = f
		return nil
	}
}

// WithFocus restricts the guest specs by a regexp on their full text.
func WithFocus(f string) Option {
	return func(c *Config) error {
		if _, err := regexp.Compile(f); err != nil {
			return fmt.Errorf("%w: focus %q: %v", ErrUsage, f, err)
		}
		c.Focus = f
		return nil
	}
}

// WithDestructive enables or disables the destructive specs.
func WithDestructive(on bool) Option { return func(c *Config) error { c.Destructive = on; return nil } }

// WithJobs sets how many VMs run at once (1 to 16).
func WithJobs(n int) Option {
	return func(c *Config) error {
		if n < 1 || n > 16 {
			return fmt.Errorf("%w: -jobs %d is out of range 1..16", ErrUsage, n)
		}
		c.Jobs = n
		return nil
	}
}

// WithSnapshots turns the saved VM state on or off.
func WithSnapshots(on bool) Option { return func(c *Config) error { c.Snapshots = on; return nil } }

// WithServerTests says whether a whole run (no label filter, no focus)
// also runs zcserver's own Go tests (vmevent.ServerTests) in its first VM,
// each reported like a spec. It is on by default.
func WithServerTests(on bool) Option { return func(c *Config) error { c.ServerTests = on; return nil } }

// DefaultJobs is one VM per host CPU, at most 4: under TCG a VM keeps one
// host thread busy.
func DefaultJobs() int { return max(1, min(runtime.NumCPU(), 4)) }

// WithBench selects the benchmark run.
func WithBench(on bool) Option { return func(c *Config) error { c.Bench = on; return nil } }

// WithOutput sends progress and the summary to w.
func WithOutput(w io.Writer) Option { return func(c *Config) error { c.Out = w; return nil } }

// WithVerbose copies the VM console to the output.
func WithVerbose(on bool) Option { return func(c *Config) error { c.Verbose = on; return nil } }

// WithSplatFinder sets the kernel-log scanner.
func WithSplatFinder(f verdict.SplatFinder) Option {
	return func(c *Config) error { c.Find = f; return nil }
}

// WithConfigCheck sets the kernel config check.
func WithConfigCheck(f func(k *kernel.Kernel) (string, error)) Option {
	return func(c *Config) error { c.CheckConfig = f; return nil }
}

// WithKnownIssues sets the known-issue lookup.
func WithKnownIssues(f func(k *kernel.Kernel) ([]verdict.Expectation, error)) Option {
	return func(c *Config) error { c.Known = f; return nil }
}

// Errors that map to exit codes.
var (
	// ErrUsage is bad input: exit 2.
	ErrUsage = errors.New("usage")
	// ErrUntestable means the kernel could not be tested: exit 125.
	ErrUntestable = errors.New("kernel could not be tested")
)

// Result is a finished run.
type Result struct {
	Kernel   *kernel.Kernel
	Facts    report.Facts
	Runs     []report.VMRun
	ExitCode int
}

// DefaultCacheDir is $ZCSUITE_CACHE, else $XDG_CACHE_HOME/zcsuite, else
// ~/.cache/zcsuite.
func DefaultCacheDir() string {
	if d := os.Getenv("ZCSUITE_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "zcsuite")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "zcsuite")
	}
	return filepath.Join(os.TempDir(), "zcsuite-cache")
}

// NewConfig applies the options over the defaults and validates them.
func NewConfig(opts ...Option) (*Config, error) {
	c := &Config{
		Kernel: "debian:7.3-cloud", CacheDir: DefaultCacheDir(), ReportDir: "results/latest",
		Accel: "auto", ABI: vmevent.ABIAuto, SMP: 2, MemoryMB: 1024, Timeout: DefaultTimeout, Destructive: true, Out: io.Discard,
		Jobs: DefaultJobs(), Snapshots: os.Getenv("ZCSUITE_SNAPSHOT") != "0", ServerTests: true,
		Find: FindSplats, CheckConfig: CheckConfig, Known: KnownIssues,
	}
	if a := os.Getenv("ZCSUITE_ACCEL"); a != "" {
		c.Accel = a
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	switch c.Accel {
	case "auto", qemu.AccelKVM, qemu.AccelTCG:
	default:
		return nil, fmt.Errorf("%w: accelerator %q (want auto, kvm or tcg)", ErrUsage, c.Accel)
	}
	if c.SMP < 1 || c.SMP > 16 {
		return nil, fmt.Errorf("%w: -smp %d is out of range 1..16", ErrUsage, c.SMP)
	}
	return c, nil
}

// Run executes the whole pipeline. The error is nil when verdicts were
// reached (look at Result.ExitCode); otherwise it wraps ErrUsage or
// ErrUntestable.
func Run(ctx context.Context, opts ...Option) (*Result, error) {
	c, err := NewConfig(opts...)
	if err != nil {
		return nil, err
	}
	r := &runState{c: c, res: &Result{}}
	r.res.Facts.Started = time.Now().UTC().Format(time.RFC3339)
	r.res.Facts.ABI = c.ABI
	if c.ReportDir != "" {
		if err := prepareReportDir(c.ReportDir); err != nil {
			return r.res, err
		}
		if err := clearCoverage(c); err != nil {
			return r.res, err
		}
	}
	err = r.run(ctx)
	if err != nil && !errors.Is(err, ErrUsage) && !r.reported {
		r.res.ExitCode = verdict.ExitUntested
		if code, ok := interruptCode(ctx); ok {
			r.res.ExitCode = code
		}
		r.res.Facts.ExitCode = r.res.ExitCode
		if c.ReportDir != "" {
			if werr := report.Write(c.ReportDir, r.res.Facts, r.res.Runs); werr != nil {
				err = fmt.Errorf("%w (and writing the reports failed: %v)", err, werr)
			}
		}
	}
	return r.res, err
}

// interruptCode is the exit code asked for by what cancelled ctx (a
// signal's cause implements ExitCode); ok is false when ctx is live.
func interruptCode(ctx context.Context) (int, bool) {
	if ctx.Err() == nil {
		return 0, false
	}
	var ec interface{ ExitCode() int }
	if errors.As(context.Cause(ctx), &ec) {
		return ec.ExitCode(), true
	}
	return verdict.ExitUntested, true
}

// interruption is why ctx was cancelled, for the reports ("interrupted by
// SIGINT"); "" while ctx is live.
func interruption(ctx context.Context) string {
	if ctx.Err() == nil {
		return ""
	}
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c.Error()
	}
	return "interrupted"
}

// prepareReportDir creates dir, checks that a file can be written there,
// and removes the report files of an earlier run, so that every report
// file in dir after this run belongs to it. A directory that cannot be
// used is a usage error: nothing has started yet.
func prepareReportDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: report directory %s: %v", ErrUsage, dir, err)
	}
	probe, err := os.CreateTemp(dir, ".zcsuite-write-check-")
	if err == nil {
		_, err = probe.WriteString("zcsuite\n")
		if cerr := probe.Close(); err == nil {
			err = cerr
		}
		os.Remove(probe.Name())
	}
	if err != nil {
		return fmt.Errorf("%w: report directory %s is not writable: %v", ErrUsage, dir, err)
	}
	for _, f := range report.Files {
		if err := os.Remove(filepath.Join(dir, f.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: report directory %s: removing the earlier run's %s: %v", ErrUsage, dir, f.Name, err)
		}
	}
	return nil
}

type runState struct {
	c   *Config
	res *Result
	// snap is the saved VM state of this run's kernel and image (nil when
	// snapshots are off).
	snap *snapshotStore
	mu   sync.Mutex // Facts.Phases and the output, written by concurrent VMs
	// reported is set once finish has tried to write the reports.
	reported bool
	// catalog lists every spec of the guest binary, for the repro
	// commands' spec sets (made once, when a repro first needs it).
	catalog     []string
	catalogErr  error
	catalogOnce sync.Once
	// stopVMs cancels the context every VM of the run runs under, with
	// the cause (fail-fast); stopOnce lets only the first cause in.
	stopVMs  context.CancelCauseFunc
	stopOnce sync.Once
	// find is the splat finder for this run's kernel (splatFinder).
	find verdict.SplatFinder
}

// DestructiveTimeout bounds a destructive spec's VM: such a spec runs for
// seconds, and a kernel it wedged on purpose must not hold the run for the
// whole suite deadline.
const DestructiveTimeout = 2 * time.Minute

func (r *runState) logf(format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.c.Out, "zcsuite: "+format+"\n", v...)
}

func (r *runState) phase(name string, t0 time.Time, note string) {
	r.addPhase(report.Phase{Name: name, Duration: time.Since(t0), Note: note})
}

func (r *runState) addPhase(p report.Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Facts.Phases = append(r.res.Facts.Phases, p)
}

func (r *runState) run(ctx context.Context) error {
	c := r.c
	// 1. The kernel.
	t0 := time.Now()
	k, err := resolveKernel(ctx, c, r.logf)
	if err != nil {
		return err
	}
	r.res.Kernel = k
	r.res.Facts.Kernel = k
	r.phase("kernel", t0, k.Source)
	r.logf("kernel %s: %s %s sha256 %s", k.Spec, firstNonEmpty(k.Package, k.Image), k.Version, k.SHA256[:16])

	// 2. Its config.
	if c.CheckConfig != nil {
		t0 = time.Now()
		hash, err := c.CheckConfig(k)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrUntestable, oneLine(err.Error()))
		}
		r.res.Facts.ConfigHash = hash
		r.phase("config", t0, k.ConfigSource)
	}
	r.find = r.splatFinder(k)

	// 3. The initramfs.
	t0 = time.Now()
	imgOpts := []vmimage.Option{vmimage.WithCacheDir(filepath.Join(c.CacheDir, "image")), vmimage.WithLogf(r.logf)}
	if c.Bench {
		imgOpts = append(imgOpts, vmimage.WithHostTools(FioPath))
	}
	img, err := vmimage.Build(ctx, imgOpts...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	r.res.Facts.Initramfs = img.Hash
	note := "built"
	if img.Cached {
		note = "cached"
	}
	r.phase("initramfs", t0, fmt.Sprintf("%s, %.1f MiB, compile %.2fs, pack %.2fs", note, float64(img.Size)/(1<<20), img.CompileTime.Seconds(), img.PackTime.Seconds()))

	// 4. The accelerator.
	t0 = time.Now()
	accel, why := r.chooseAccel(ctx, k, img)
	r.res.Facts.Accel, r.res.Facts.AccelNote = accel, why
	r.phase("accel", t0, why)
	r.logf("accelerator %s (%s)", accel, why)

	var known []verdict.Expectation
	if c.Known != nil {
		if known, err = c.Known(k); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}

	// 5. Which specs run, and in which VMs.
	timings := loadTimings(c.CacheDir, accel, r.logf)
	sp, err := planSpecs(ctx, c, img.GuestTest, img.ServerTest, timings, &r.res.Facts)
	if err != nil {
		return err
	}
	plan, specLabels, dLabels := sp.plan, sp.labels, sp.dLabels
	mainSpecs, destructive := sp.main, sp.destructive
	r.res.Facts.ParallelVMs = plan.lanes
	r.logf("%d specs in %d VMs, %d at a time (%d destructive, each in its own VM)", len(mainSpecs)+len(destructive), len(plan.shards)+len(plan.destructive), plan.lanes, len(destructive))

	// 6. The VMs, lane by lane, the lanes concurrently.
	// A kernel built from a tree changes with every commit: its state is
	// worth saving only for the VMs of this run that start after the
	// first ones.
	if c.Snapshots && (k.Source != "tree" || len(plan.shards)+len(plan.destructive) > plan.lanes) {
		qv, err := qemu.Version()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUntestable, err)
		}
		machine, err := qemu.MachineArgs(r.machineOpts(k, img, accel)...)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUntestable, err)
		}
		r.snap = newSnapshotStore(c.CacheDir, r.logf, qv, "kernel "+k.SHA256, "initramfs "+img.Hash, "machine "+strings.Join(machine, " "))
	}
	// The VMs run under their own context: -fail-fast cancels it, with
	// the bad outcome as its cause, and a signal cancels ctx and so it.
	parent := ctx
	ctx, r.stopVMs = context.WithCancelCause(parent)
	defer r.stopVMs(nil)
	l := &lanes{
		plan: plan, timeout: c.Timeout,
		// The run's deadline: every VM gets what is left of it.
		deadline: time.Now().Add(c.Timeout),
		planned:  func(j vmJob) []verdict.Planned { return j.planned(specLabels) },
		gateSkip: func(j vmJob, done map[int]report.VMRun) (*report.VMRun, bool) {
			return abiGateSkip(j, dLabels[j.spec], done)
		},
		logf: r.logf,
		ended: func(j vmJob, vr *report.VMRun) {
			r.sayEnd(j, vr)
			r.failFastRun(j.name, vr.Verdict)
		},
	}
	l.boot = func(ctx context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
		return r.boot(ctx, j, machine{kernel: k, image: img, accel: accel, known: known}, planned, l.deadline)
	}
	done := l.run(ctx)
	r.res.Runs = done.runs
	if done.err != nil {
		return done.err
	}
	if done.noGuest == "" && ctx.Err() == nil {
		timings.update(r.res.Runs)
		timings.save(c.CacheDir, accel)
	}
	return r.finish(parent)
}

// minVMTime is the least time left of the run's deadline worth starting a
// VM for: less than that and its specs are reported NOT-RUN instead.
const minVMTime = 5 * time.Second

// planned lists the specs the VM is to run, with their labels.
func (j vmJob) planned(labelsOf func(string) []string) []verdict.Planned {
	out := make([]verdict.Planned, len(j.specs))
	for i, s := range j.specs {
		out[i] = verdict.Planned{Name: s, Labels: labelsOf(s)}
	}
	for _, s := range j.goTestSpecs {
		out = append(out, verdict.Planned{Name: s})
	}
	return out
}

// sayEnd puts on the screen how a VM ended when it did not end well: a
// deadline (with the spec that was running and how many never ran), or a
// lost done event.
func (r *runState) sayEnd(j vmJob, vr *report.VMRun) {
	v := vr.Verdict
	if v == nil {
		return
	}
	notRun, running := 0, ""
	for _, s := range v.Specs {
		switch s.Outcome {
		case verdict.NotRun:
			notRun++
		case verdict.Hang, verdict.Crash, verdict.Panic:
			running = s.Name
		}
	}
	switch {
	case vr.End.Interrupted != "":
		r.logf("VM %s stopped: %s; %d of its specs did not run", j.name, vr.End.Interrupted, notRun)
	case vr.End.HitDeadline():
		r.logf("VM %s hit its deadline (%s of the run's -timeout %s)%s; %d of its specs never ran (NOT-RUN in every report)", j.name, vr.End.Deadline.Round(time.Second), r.c.Timeout, runningNote(running), notRun)
	case v.GuestStarted && !vr.End.SawDone && vmFailed(v):
		r.logf("VM %s ended without the guest's done event (QEMU exit %d%s)%s; %d of its specs never ran", j.name, vr.End.QEMUExit, eventErrNote(vr.End.EventErr), runningNote(running), notRun)
	}
}

// vmFailed reports whether the VM failed by itself, beyond what its specs'
// verdicts say (a kernel panic a spec declared or a known issue explains
// is not such a failure).
func vmFailed(v *verdict.Run) bool {
	_, _, failed := v.VMFailure()
	return failed
}

func eventErrNote(e string) string {
	if e == "" {
		return ""
	}
	return ", event stream: " + e
}

func runningNote(spec string) string {
	if spec == "" {
		return " between specs"
	}
	return fmt.Sprintf(" while %q was running", spec)
}

// abiGateSkip returns a SKIP verdict for a destructive spec, without
// booting its VM, when a finished VM of this run skipped a spec of the same
// ABI profile label at the ABI gate (vmevent.ABIGatePrefix): the gate
// depends only on the kernel and -abi, so the destructive spec would skip
// the same way, and a VM costs seconds.
func abiGateSkip(j vmJob, specLabels []string, done map[int]report.VMRun) (*report.VMRun, bool) {
	var abi string
	for _, l := range specLabels {
		if l == labels.ABIKmbuf || l == labels.ABIUpstream {
			abi = l
		}
	}
	if abi == "" {
		return nil, false
	}
	orders := make([]int, 0, len(done))
	for o := range done {
		orders = append(orders, o)
	}
	sort.Ints(orders)
	for _, o := range orders {
		run := done[o]
		if run.Verdict == nil {
			continue
		}
		for _, s := range run.Verdict.Specs {
			if s.Outcome != verdict.Skip || !slices.Contains(s.Labels, abi) ||
				!strings.HasPrefix(s.Message, vmevent.ABIGatePrefix) {
				continue
			}
			why := s.Message + " (the ABI gate as VM " + run.Name + " met it; this destructive spec's VM was not booted)"
			v := &verdict.Run{
				Specs:        []verdict.Spec{{Seq: 1, Name: j.spec, Labels: specLabels, GuestState: "skipped", Message: s.Message, Outcome: verdict.Skip, Reason: why}},
				Outcome:      verdict.Skip,
				Reason:       "every spec was skipped",
				GuestStarted: true,
			}
			return &report.VMRun{Name: j.name, Verdict: v}, true
		}
	}
	return nil, false
}

// finish decides the exit code, writes the reports and prints the
// summary. A report file that cannot be written makes the run untestable
// (exit 125): the verdict it would have carried is lost.
func (r *runState) finish(ctx context.Context) error {
	r.res.Facts.ABI = abiFact(r.c.ABI, r.res.Runs)
	var runs []*verdict.Run
	for i := range r.res.Runs {
		runs = append(runs, r.res.Runs[i].Verdict)
	}
	r.res.ExitCode = verdict.ExitCode(runs...)
	if code, ok := interruptCode(ctx); ok {
		r.res.ExitCode = code
	}
	r.res.Facts.ExitCode = r.res.ExitCode
	r.res.Facts.FeatureAbsent = verdict.FeatureAbsent(runs...)
	t0 := time.Now()
	var werr error
	r.reported = true
	if r.c.ReportDir != "" {
		werr = report.Write(r.c.ReportDir, r.res.Facts, r.res.Runs)
	}
	if werr == nil && r.c.Bench && r.c.ReportDir != "" {
		if md, err := writeBench(r.c.ReportDir, r.res.Runs, r.res.Facts.Accel, benchKernel(r.res.Facts.Kernel)); err != nil {
			r.logf("bench: %v", err)
			if r.res.ExitCode == verdict.ExitGood {
				r.res.ExitCode, r.res.Facts.ExitCode = verdict.ExitUntested, verdict.ExitUntested
			}
		} else {
			b, _ := os.ReadFile(md)
			fmt.Fprintf(r.c.Out, "\n%s\n", b)
		}
	}
	r.phase("report", t0, r.c.ReportDir)
	report.Summary(r.c.Out, r.res.Facts, r.res.Runs)
	if werr != nil {
		r.res.ExitCode, r.res.Facts.ExitCode = verdict.ExitUntested, verdict.ExitUntested
		return fmt.Errorf("%w: the verdict above could not be saved: %v", ErrUntestable, werr)
	}
	if r.c.ReportDir != "" {
		r.logf("reports in %s", r.c.ReportDir)
	}
	return nil
}

func andFilter(a, b string) string {
	if strings.TrimSpace(a) == "" {
		return b
	}
	return "(" + a + ") && (" + b + ")"
}

// KernelCmdline is the fixed part of the guest's command line.
// no_timer_check skips the IO-APIC timer test, which an emulated timer on
// a busy host can fail ("IO-APIC + timer doesn't work!").
var KernelCmdline = []string{"console=ttyS0", "panic=-1", "fuse.enable_uring=1", "printk.devkmsg=on", "random.trust_cpu=on", "no_timer_check", "quiet"}

// machine is what every VM of a run shares: the kernel, the initramfs,
// the accelerator and the kernel's known issues (the saved VM state is
// the run's snapshotStore).
type machine struct {
	kernel *kernel.Kernel
	image  *vmimage.Image
	accel  string
	known  []verdict.Expectation
}

// boot runs one VM; a VM that dies before its guest says hello is booted
// once more (the first failure is kept in the report), because under TCG
// a busy host can crash an early boot by itself. A VM that fails to resume
// from the saved state drops that state and boots.
func (r *runState) boot(ctx context.Context, j vmJob, m machine, planned []verdict.Planned, deadline time.Time) (*report.VMRun, error) {
	name := j.name
	vr, err := r.bootOnce(ctx, j, m, planned, deadline)
	if err != nil || vr.Verdict.GuestStarted || ctx.Err() != nil || time.Until(deadline) < minVMTime {
		return vr, err
	}
	first := vr.Verdict.Reason
	if vr.Restored != "" && r.snap != nil {
		if r.snap.drop(name) {
			r.logf("VM %q did not start from the saved VM state (%s); dropped it, booting", name, first)
		} else {
			r.logf("VM %q did not start from the saved VM state (%s); it was dropped already, booting", name, first)
		}
	} else {
		r.logf("VM %q died before the guest started (%s); booting it once more", name, first)
	}
	vr, err = r.bootOnce(ctx, j, m, planned, deadline)
	if vr != nil {
		vr.BootRetries = append(vr.BootRetries, first)
	}
	return vr, err
}

// traceEvents ($ZCSUITE_TRACE=1) logs every guest event but kernel log
// lines with its time since the VM's QEMU started: where a VM's seconds go.
var traceEvents = os.Getenv("ZCSUITE_TRACE") == "1"

// machineOpts is the VM every run of k boots.
func (r *runState) machineOpts(k *kernel.Kernel, img *vmimage.Image, accel string) []qemu.Option {
	return []qemu.Option{
		qemu.WithKernel(k.Image), qemu.WithInitramfs(img.Path), qemu.WithAccel(accel),
		qemu.WithSMP(r.c.SMP), qemu.WithMemory(r.c.MemoryMB),
		qemu.WithAppend(r.cmdline()...),
	}
}

// cmdline is the guest's whole command line: the same for every VM of a
// kernel, so that one saved state serves them all (each VM's own config
// goes over the event port).
func (r *runState) cmdline() []string {
	word, _ := vmevent.GuestConfig{Mode: vmevent.ModePort, Binary: vmimage.GuestTest}.Cmdline()
	return append(append([]string(nil), KernelCmdline...), word)
}

// vmLimits returns a VM's share of the run (its own bound, within what is
// left of the run's deadline), counted from the guest taking its config,
// and how long it may live from QEMU's start: the share and as much again
// for the boot, within what is left.
func vmLimits(own, left time.Duration) (share, life time.Duration) {
	share = min(own, left)
	return share, min(2*share, left)
}

func (r *runState) bootOnce(ctx context.Context, j vmJob, m machine, planned []verdict.Planned, deadline time.Time) (*report.VMRun, error) {
	c := r.c
	k, img, accel, known := m.kernel, m.image, m.accel, m.known
	name := j.name
	// The VM's share of the run's deadline: the guest's timer stops the
	// suite then (with a task dump), the host kills QEMU 10 s later. The
	// share counts from the moment the guest takes its config, so that a
	// slow boot does not eat it (a fresh boot on a host loaded tenfold
	// took 90 s of a destructive VM's 2 minutes, and its spec never ran):
	// the boot may use up to one share more, never past the run's deadline.
	timeout, limit := vmLimits(j.timeout, time.Until(deadline).Truncate(time.Second))
	args := append(append([]string(nil), j.args...), "--zcsuite.expect-release="+k.Release(), "--zcsuite.kernel="+k.Spec, abiArg(c))
	if c.FailSpec != "" {
		args = append(args, "--"+vmevent.FailSpecFlag+"="+c.FailSpec)
	}
	gc := vmevent.GuestConfig{Mode: vmevent.ModeSuite, Binary: vmimage.GuestTest, Args: args, TimeoutSec: int(timeout / time.Second), HungTaskSec: 20, GoTests: j.goTests, Coverage: c.Coverage}
	start := time.Now()
	col := newCollector(name, start)
	col.find, col.known, col.logf, col.verbose, col.trace = r.find, known, r.logf, c.Verbose, traceEvents
	col.onBad = func(s verdict.Spec) { r.failFast(name, s) }
	// A VM whose spec declared a wedge, once the wedge shows, has
	// nothing more to say: it is stopped then, not at its deadline.
	vmCtx, stopVM := context.WithCancelCause(ctx)
	defer stopVM(nil)
	var wedged atomic.Value
	col.onWedge = func(why string) {
		wedged.Store(why)
		stopVM(errWedged)
	}
	col.onTimeout = func(spec string) { r.stuckRing(name, spec) }
	opts := append(r.machineOpts(k, img, accel),
		qemu.WithTimeout(limit+10*time.Second),
		qemu.WithEvents(col.Event), qemu.WithConsoleLine(col.Console))
	var restored *snapshotMeta
	if r.snap != nil {
		if m, state, ok := r.snap.load(name); ok {
			restored = m
			defer state.Close()
			opts = append(opts, qemu.WithIncoming(state))
		} else {
			opts = append(opts, qemu.WithQMP())
		}
	}
	how := "booting"
	if restored != nil {
		how = "resuming from the saved VM state"
	}
	r.logf("%s VM %q (%s, %d vCPUs)", how, name, accel, c.SMP)
	vm, err := qemu.Start(vmCtx, opts...)
	if err != nil && ctx.Err() != nil {
		return &report.VMRun{Name: name, Verdict: verdict.NotStarted(planned, interruption(ctx)+" while VM "+name+" started")}, nil
	}
	if err != nil && restored != nil {
		// The state did not load (a QEMU upgrade the key missed, a
		// truncated file): the retry in boot boots afresh.
		v := &verdict.Run{Outcome: verdict.Untested, Reason: "resuming the saved VM state failed: " + oneLine(err.Error())}
		return &report.VMRun{Name: name, Verdict: v, Restored: r.snap.key}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	var bootPhase report.Phase
	sendConfig := func() {
		gc.HostUnixNano = time.Now().UnixNano()
		// The guest's timer gets the VM's share from now, or what is left
		// before the host kills QEMU if that is less, so that it fires
		// (and dumps the tasks) first.
		gc.TimeoutSec = max(1, int(min(timeout, time.Until(start.Add(limit))).Seconds()))
		line, err := gc.Line()
		if err == nil {
			err = vm.Send(line)
		}
		if err != nil && vmCtx.Err() == nil {
			r.logf("VM %q: %v", name, err)
		}
	}
	if restored != nil {
		bootPhase = report.Phase{Name: "resume:" + name, Duration: time.Since(start),
			Note: fmt.Sprintf("QEMU start to a running guest from the saved state %s (%.0f MiB; its boot took %.2fs)", r.snap.key, float64(restored.Size)/(1<<20), restored.Boot.Seconds())}
		sendConfig()
	} else {
		select {
		case <-col.Ready():
			bootPhase = report.Phase{Name: "boot:" + name, Duration: time.Since(start), Note: "QEMU start to the guest init waiting for its config"}
			if r.snap != nil && r.snap.claim() {
				col.mu.Lock()
				con := append([]string(nil), col.console...)
				col.mu.Unlock()
				m, err := r.snap.save(ctx, vm, bootPhase.Duration, con)
				switch {
				case err != nil && vmCtx.Err() != nil:
					// The VM was stopped meanwhile: nothing to say.
				case err != nil:
					r.logf("VM %q: saving the VM state failed, later VMs boot: %v", name, err)
				default:
					r.addPhase(report.Phase{Name: "save:" + name, Duration: m.Save, Note: fmt.Sprintf("VM state %s, %.0f MiB", m.Key, float64(m.Size)/(1<<20))})
				}
			}
			sendConfig()
		case <-vm.Exited():
		}
	}
	res := vm.Wait()
	stopped := time.Now()
	col.mu.Lock()
	hello, exited, firstSpec, lastSpec, guestUptime := col.hello, col.exited, col.firstSpec, col.lastSpec, col.guestUptime
	ginkgo, kmsg, coverage := col.ginkgo, col.kmsg, col.coverage
	col.mu.Unlock()
	r.saveCoverage(name, coverage)
	if bootPhase.Name != "" {
		r.addPhase(bootPhase)
		if strings.HasPrefix(bootPhase.Name, "boot:") && guestUptime > 0 && guestUptime < bootPhase.Duration {
			r.addPhase(report.Phase{Name: "qemu-start:" + name, Duration: bootPhase.Duration - guestUptime, Note: "QEMU start, firmware and kernel load (boot: minus the kernel's uptime at Ready)"})
			r.addPhase(report.Phase{Name: "kernel-boot:" + name, Duration: guestUptime, Note: "kernel start to the guest init waiting for its config (the guest's CLOCK_BOOTTIME)"})
		}
		if !hello.IsZero() && !exited.IsZero() {
			r.addPhase(report.Phase{Name: "suite:" + name, Duration: exited.Sub(hello), Note: "hello to the guest suite's exit"})
			if !firstSpec.IsZero() && !lastSpec.IsZero() {
				r.addPhase(report.Phase{Name: "specs:" + name, Duration: lastSpec.Sub(firstSpec), Note: "first spec start to last spec end (the rest of suite: is the guest binary's start and exit)"})
			}
			r.addPhase(report.Phase{Name: "shutdown:" + name, Duration: stopped.Sub(exited), Note: "suite exit to QEMU exit (report, kernel log, power-off)"})
		}
	}
	r.phase("vm:"+name, start, fmt.Sprintf("qemu exit %d, done=%v", res.ExitCode, res.SawDone))
	end := verdict.VMEnd{SawDone: res.SawDone, GuestCode: res.GuestCode, TimedOut: res.TimedOut, QEMUExit: res.ExitCode, Deadline: timeout, Interrupted: interruption(ctx)}
	if stoppedEarly(ctx) && !res.TimedOut {
		// The VM ended by itself before the run stopped the others.
		end.Interrupted = ""
	}
	if why, ok := wedged.Load().(string); ok && res.TimedOut && ctx.Err() == nil {
		end.Wedged = why
		r.logf("VM %q stopped: %s", name, why)
	}
	if res.EventErr != nil {
		end.EventErr = res.EventErr.Error()
	}
	v := verdict.Decide(col.input(end, planned))
	console := col.input(end, nil).Console
	if restored != nil {
		// The boot's console lines were printed before the save: keep
		// them in the report, marked.
		head := append([]string{fmt.Sprintf("==== console of the boot saved as VM state %s (%s); this VM resumed from it", restored.Key, restored.Created)}, restored.Console...)
		console = append(append(head, "==== resumed"), console...)
	}
	repro, err := r.repro(ctx, img.GuestTest, opts, gc)
	if err != nil {
		r.logf("VM %q: no repro command: %v", name, err)
	}
	vr := &report.VMRun{Name: name, Repro: repro, Verdict: v, Ginkgo: ginkgo, GoTestSeconds: col.goTestSeconds(), Console: console, Kmsg: kmsg, Duration: res.Duration, Stderr: res.Stderr, End: end}
	if restored != nil {
		vr.Restored = restored.Key
	}
	if !hello.IsZero() {
		vr.BootToHello = hello.Sub(start)
	}
	if res.Stderr != "" && !res.SawDone && end.Interrupted == "" {
		r.logf("qemu said: %s", res.Stderr)
	}
	return vr, nil
}

// reproMaxCmdline is what x86 kernels accept on their command line, less
// a margin.
const reproMaxCmdline = 2000

// repro is a command that boots this VM's guest with its config on the
// command line (no snapshot, no event port protocol), for a user to rerun
// it by hand; it runs exactly this VM's specs. A shard's focus regexp does
// not fit on the command line: the repro then names the same specs by a
// spec set (reproArgs). It returns "" with the reason when it cannot make
// one.
func (r *runState) repro(ctx context.Context, guestTest string, opts []qemu.Option, gc vmevent.GuestConfig) (string, error) {
	gc.HostUnixNano = 0
	word, err := gc.Cmdline()
	if err == nil && len(word)+len(strings.Join(KernelCmdline, " ")) > reproMaxCmdline {
		r.catalogOnce.Do(func() {
			// A run being interrupted still gets its repro commands.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			r.catalog, r.catalogErr = specCatalog(lctx, guestTest)
		})
		if err = r.catalogErr; err == nil {
			gc.Args, err = reproArgs(gc.Args, r.catalog)
		}
		if err == nil {
			word, err = gc.Cmdline()
		}
		if err == nil && len(word)+len(strings.Join(KernelCmdline, " ")) > reproMaxCmdline {
			err = fmt.Errorf("its config is %d bytes even with a spec set", len(word))
		}
	}
	if err != nil {
		return "", err
	}
	return qemu.ReproCommand(append(opts, qemu.WithCmdline(append(append([]string(nil), KernelCmdline...), word)...))...)
}

// reproArgs replaces the focus regexp in a guest binary's arguments by the
// spec set of the specs it selects among all (Ginkgo matches a focus
// against the suite description, a space and the spec's full text); the
// other arguments, the label filter among them, stay.
func reproArgs(args, all []string) ([]string, error) {
	var out []string
	var focus *regexp.Regexp
	for _, a := range args {
		f, ok := strings.CutPrefix(a, "--ginkgo.focus=")
		if !ok {
			out = append(out, a)
			continue
		}
		re, err := regexp.Compile(f)
		if err != nil {
			return nil, fmt.Errorf("the focus %q: %w", f, err)
		}
		focus = re
	}
	if focus == nil {
		return args, nil
	}
	var chosen []string
	for _, s := range all {
		if focus.MatchString(labels.SuiteDescription + " " + s) {
			chosen = append(chosen, s)
		}
	}
	set, err := vmevent.EncodeSpecSet(all, chosen)
	if err != nil {
		return nil, err
	}
	return append(out, "--"+vmevent.SpecSetFlag+"="+set), nil
}

func (r *runState) chooseAccel(ctx context.Context, k *kernel.Kernel, img *vmimage.Image) (string, string) {
	switch r.c.Accel {
	case qemu.AccelKVM:
		return qemu.AccelKVM, "requested"
	case qemu.AccelTCG:
		return qemu.AccelTCG, "requested"
	}
	// The probe boots a real guest; its answer is cached per host and
	// kernel so warm runs skip it.
	key := k.SHA256[:16] + "-" + hostKey()
	if k.Source == "tree" {
		// Every rebuilt commit has a new image; a series or a bisection
		// must not boot a probe VM per step.
		key = "tree-" + hostKey()
	}
	cacheFile := filepath.Join(r.c.CacheDir, "accel", key)
	if accel, why, ok := readAccelCache(cacheFile, r.logf); ok {
		return accel, "cached probe: " + why
	}
	accel, why := qemu.ProbeKVM(ctx, k.Image, img.Path, KernelCmdline)
	writeCacheFile(cacheFile, []byte(accel+"\n"+why))
	return accel, why
}

func hostKey() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	h, _ := os.Hostname()
	return strings.NewReplacer("/", "_", " ", "_").Replace(strings.TrimSpace(string(b)) + "-" + h)
}

// listSpecs dry-runs the guest binary on the host to list the specs a
// filter selects, with each spec's labels.
func listSpecs(ctx context.Context, guestTest, filter, focus string) ([]string, map[string][]string, error) {
	reps, err := dryRun(ctx, guestTest, filter, focus)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	lbl := map[string][]string{}
	for _, rep := range reps {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt && s.State != types.SpecStateSkipped && s.State != types.SpecStatePending {
				names = append(names, s.FullText())
				lbl[s.FullText()] = s.Labels()
			}
		}
	}
	return names, lbl, nil
}

// dryRun runs the guest binary's Ginkgo dry run on the host and returns
// its report: every spec of the binary, those the filter or focus leaves
// out as skipped.
func dryRun(ctx context.Context, guestTest, filter, focus string) ([]types.Report, error) {
	dir, err := os.MkdirTemp("", "zcsuite-dry-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "dry.json")
	args := []string{"--ginkgo.dry-run", "--ginkgo.json-report=" + out, "--ginkgo.no-color"}
	if filter != "" {
		args = append(args, "--ginkgo.label-filter="+filter)
	}
	if focus != "" {
		args = append(args, "--ginkgo.focus="+focus)
	}
	cmd := exec.CommandContext(ctx, guestTest, args...)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		return nil, fmt.Errorf("listing guest specs: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	var reps []types.Report
	if err := json.Unmarshal(b, &reps); err != nil {
		return nil, fmt.Errorf("listing guest specs: %w", err)
	}
	return reps, nil
}

// specCatalog lists the full text of every spec of the guest binary,
// whatever its labels: what a spec set (vmevent.EncodeSpecSet) is encoded
// against, as the guest binary decodes it against its own list.
func specCatalog(ctx context.Context, guestTest string) ([]string, error) {
	reps, err := dryRun(ctx, guestTest, "", "")
	if err != nil {
		return nil, err
	}
	var all []string
	for _, rep := range reps {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt {
				all = append(all, s.FullText())
			}
		}
	}
	return all, nil
}

func resolveKernel(ctx context.Context, c *Config, logf func(string, ...any)) (*kernel.Kernel, error) {
	if c.KernelFunc != nil {
		return kernelFromFunc(ctx, c, logf)
	}
	if strings.HasPrefix(c.Kernel, "debian:") {
		if c.KernelConfig != "" {
			return nil, fmt.Errorf("%w: --kernel-config goes with a kernel path, not %s", ErrUsage, c.Kernel)
		}
		k, err := kernel.FetchDebian(ctx, c.Kernel, c.CacheDir, logf)
		switch {
		case errors.Is(err, kernel.ErrBadSpec), errors.Is(err, kernel.ErrUnknownDebian):
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
		}
		return k, nil
	}
	if strings.Contains(c.Kernel, ":") && !strings.Contains(c.Kernel, "/") {
		return nil, fmt.Errorf("%w: %v", ErrUsage, fmt.Errorf("%w: %q (want debian:VERSION-FLAVOUR or a path to a bzImage)", kernel.ErrBadSpec, c.Kernel))
	}
	k, err := kernel.FromPath(c.Kernel)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if c.KernelConfig != "" {
		if _, err := os.Stat(c.KernelConfig); err != nil {
			return nil, fmt.Errorf("%w: --kernel-config: %v", ErrUsage, err)
		}
		k.ConfigPath, k.ConfigSource = c.KernelConfig, "flag"
	}
	return k, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
