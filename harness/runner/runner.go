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
	mu  sync.Mutex // Facts.Phases and the output, written by concurrent VMs
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

// run is the pipeline, one step after the other: the kernel, its config,
// the initramfs, the accelerator, the kernel's known issues, which specs
// run in which VMs, the VMs, and the verdict with its reports.
func (r *runState) run(ctx context.Context) error {
	vms := &vmRunner{run: r}
	var err error
	if vms.kernel, err = r.fetchKernel(ctx); err != nil {
		return err
	}
	if err = r.checkConfig(vms.kernel); err != nil {
		return err
	}
	vms.find = r.splatFinder(vms.kernel)
	if vms.image, err = r.buildImage(ctx); err != nil {
		return err
	}
	vms.accel = r.accelerator(ctx, vms.kernel, vms.image)
	if vms.known, err = r.knownIssues(vms.kernel); err != nil {
		return err
	}
	timings := loadTimings(r.c.CacheDir, vms.accel, r.logf)
	sp, err := planSpecs(ctx, r.c, vms.image.GuestTest, vms.image.ServerTest, timings, &r.res.Facts)
	if err != nil {
		return err
	}
	r.res.Facts.ParallelVMs = sp.plan.lanes
	r.logf("%d specs in %d VMs, %d at a time (%d destructive, each in its own VM)", len(sp.main)+len(sp.destructive), len(sp.plan.shards)+len(sp.plan.destructive), sp.plan.lanes, len(sp.destructive))
	if vms.snap, err = r.snapshotStore(vms, sp.plan); err != nil {
		return err
	}
	complete, err := r.runVMs(ctx, vms, sp)
	if err != nil {
		return err
	}
	if complete {
		timings.update(r.res.Runs)
		timings.save(r.c.CacheDir, vms.accel)
	}
	return r.finish(ctx)
}

// fetchKernel resolves the kernel argument to a kernel (fetching or
// building it).
func (r *runState) fetchKernel(ctx context.Context) (*kernel.Kernel, error) {
	t0 := time.Now()
	k, err := resolveKernel(ctx, r.c, r.logf)
	if err != nil {
		return nil, err
	}
	r.res.Kernel = k
	r.res.Facts.Kernel = k
	r.phase("kernel", t0, k.Source)
	r.logf("kernel %s: %s %s sha256 %s", k.Spec, firstNonEmpty(k.Package, k.Image), k.Version, k.SHA256[:16])
	return k, nil
}

// checkConfig checks k's config (when the run has a check): a kernel
// that lacks what the specs need is untestable.
func (r *runState) checkConfig(k *kernel.Kernel) error {
	if r.c.CheckConfig == nil {
		return nil
	}
	t0 := time.Now()
	hash, err := r.c.CheckConfig(k)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrUntestable, oneLine(err.Error()))
	}
	r.res.Facts.ConfigHash = hash
	r.phase("config", t0, k.ConfigSource)
	return nil
}

// buildImage builds the initramfs (or takes it from the cache).
func (r *runState) buildImage(ctx context.Context) (*vmimage.Image, error) {
	t0 := time.Now()
	imgOpts := []vmimage.Option{vmimage.WithCacheDir(filepath.Join(r.c.CacheDir, "image")), vmimage.WithLogf(r.logf)}
	if r.c.Bench {
		imgOpts = append(imgOpts, vmimage.WithHostTools(FioPath))
	}
	img, err := vmimage.Build(ctx, imgOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	r.res.Facts.Initramfs = img.Hash
	note := "built"
	if img.Cached {
		note = "cached"
	}
	r.phase("initramfs", t0, fmt.Sprintf("%s, %.1f MiB, compile %.2fs, pack %.2fs", note, float64(img.Size)/(1<<20), img.CompileTime.Seconds(), img.PackTime.Seconds()))
	return img, nil
}

// accelerator chooses the accelerator and says why.
func (r *runState) accelerator(ctx context.Context, k *kernel.Kernel, img *vmimage.Image) string {
	t0 := time.Now()
	accel, why := r.chooseAccel(ctx, k, img)
	r.res.Facts.Accel, r.res.Facts.AccelNote = accel, why
	r.phase("accel", t0, why)
	r.logf("accelerator %s (%s)", accel, why)
	return accel
}

// knownIssues are k's known issues; a list that cannot be read is a
// usage error.
func (r *runState) knownIssues(k *kernel.Kernel) ([]verdict.Expectation, error) {
	if r.c.Known == nil {
		return nil, nil
	}
	known, err := r.c.Known(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return known, nil
}

// snapshotStore is where the run's VMs save and resume their booted
// state; nil when snapshots are off or not worth it: a kernel built from a
// tree changes with every commit, so its state is worth saving only for
// the VMs of this run that start after the first ones.
func (r *runState) snapshotStore(vms *vmRunner, plan vmPlan) (*snapshotStore, error) {
	if !r.c.Snapshots || (vms.kernel.Source == "tree" && len(plan.shards)+len(plan.destructive) <= plan.lanes) {
		return nil, nil
	}
	qv, err := qemu.Version()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	machine, err := qemu.MachineArgs(machineOpts(r.c, vms.kernel, vms.image, vms.accel)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	return newSnapshotStore(r.c.CacheDir, r.logf, qv, "kernel "+vms.kernel.SHA256, "initramfs "+vms.image.Hash, "machine "+strings.Join(machine, " ")), nil
}

// runVMs runs the plan's VMs, lane by lane, the lanes concurrently, and
// keeps their runs in the result. The VMs run under their own context:
// -fail-fast cancels it, with the bad outcome as its cause, and a signal
// cancels ctx and so it. complete is true when no VM was stopped and every
// VM's guest could start: then their spec timings are worth keeping.
func (r *runState) runVMs(ctx context.Context, vms *vmRunner, sp *specPlan) (complete bool, err error) {
	ctx, r.stopVMs = context.WithCancelCause(ctx)
	defer r.stopVMs(nil)
	vms.deadline = time.Now().Add(r.c.Timeout)
	l := &lanes{
		plan: sp.plan, timeout: r.c.Timeout, deadline: vms.deadline,
		planned: func(j vmJob) []verdict.Planned { return j.planned(sp.labels) },
		gateSkip: func(j vmJob, done map[int]report.VMRun) (*report.VMRun, bool) {
			return abiGateSkip(j, sp.dLabels[j.spec], done)
		},
		boot: vms.boot,
		ended: func(j vmJob, vr *report.VMRun) {
			r.sayEnd(j, vr)
			r.failFastRun(j.name, vr.Verdict)
		},
		logf: r.logf,
	}
	done := l.run(ctx)
	r.res.Runs = done.runs
	if done.err != nil {
		return false, done.err
	}
	return done.noGuest == "" && ctx.Err() == nil, nil
}

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
