package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// Result is a finished run.
type Result struct {
	Kernel   *kernel.Kernel
	Facts    report.Facts
	Runs     []report.VMRun
	ExitCode int
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

// runState is one run under way: its config, the result it fills in, and
// what its concurrent VMs share (the output, the phases, fail-fast).
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
