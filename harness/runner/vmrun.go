package runner

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// vmRunner boots the VMs of one run. They all share the kernel, the
// initramfs, the accelerator, the kernel's known issues, its splat finder,
// the saved VM state and the run's deadline; each boot is a vmAttempt.
// What a VM's end means for the run (fail-fast, the screen, the reports'
// phases) goes to the run.
type vmRunner struct {
	run    *runState
	kernel *kernel.Kernel
	image  *vmimage.Image
	accel  string
	known  []verdict.Expectation
	find   verdict.SplatFinder
	// snap is the saved VM state of this kernel and image (nil when
	// snapshots are off).
	snap *snapshotStore
	// deadline is the run's: every VM gets what is left of it.
	deadline time.Time
}

// traceEvents ($ZCSUITE_TRACE=1) logs every guest event but kernel log
// lines with its time since the VM's QEMU started: where a VM's seconds go.
var traceEvents = os.Getenv("ZCSUITE_TRACE") == "1"

// minVMTime is the least time left of the run's deadline worth starting a
// VM for: less than that and its specs are reported NOT-RUN instead.
const minVMTime = 5 * time.Second

// machineOpts is the VM every run of k boots.
func machineOpts(c *Config, k *kernel.Kernel, img *vmimage.Image, accel string) []qemu.Option {
	return []qemu.Option{
		qemu.WithKernel(k.Image), qemu.WithInitramfs(img.Path), qemu.WithAccel(accel),
		qemu.WithSMP(c.SMP), qemu.WithMemory(c.MemoryMB),
		qemu.WithAppend(portCmdline()...),
	}
}

// portCmdline is the guest's whole command line: the same for every VM of
// a kernel, so that one saved state serves them all (each VM's own config
// goes over the event port).
func portCmdline() []string {
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

// boot runs one VM; a VM that dies before its guest says hello is booted
// once more (the first failure is kept in the report), because under TCG
// a busy host can crash an early boot by itself. A VM that fails to resume
// from the saved state drops that state and boots.
func (v *vmRunner) boot(ctx context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
	vr, err := v.bootOnce(ctx, j, planned)
	if err != nil || vr.Verdict.GuestStarted || ctx.Err() != nil || time.Until(v.deadline) < minVMTime {
		return vr, err
	}
	first := vr.Verdict.Reason
	switch {
	case vr.Restored != "" && v.snap != nil && v.snap.drop(j.name):
		v.run.logf("VM %q did not start from the saved VM state (%s); dropped it, booting", j.name, first)
	case vr.Restored != "" && v.snap != nil:
		v.run.logf("VM %q did not start from the saved VM state (%s); it was dropped already, booting", j.name, first)
	default:
		v.run.logf("VM %q died before the guest started (%s); booting it once more", j.name, first)
	}
	vr, err = v.bootOnce(ctx, j, planned)
	if vr != nil {
		vr.BootRetries = append(vr.BootRetries, first)
	}
	return vr, err
}

// bootOnce runs one QEMU for VM j: start it (or resume it from the saved
// state), hand the guest its config, wait for QEMU's end, then decide the
// VM's verdict from what the collector gathered.
func (v *vmRunner) bootOnce(ctx context.Context, j vmJob, planned []verdict.Planned) (*report.VMRun, error) {
	// A VM whose spec declared a wedge, once the wedge shows, has
	// nothing more to say: it is stopped then, not at its deadline.
	vmCtx, stopVM := context.WithCancelCause(ctx)
	defer stopVM(nil)
	a := v.newAttempt(j, planned, stopVM)
	if a.state != nil {
		defer a.state.Close()
	}
	how := "booting"
	if a.restored != nil {
		how = "resuming from the saved VM state"
	}
	v.run.logf("%s VM %q (%s, %d vCPUs)", how, j.name, v.accel, v.run.c.SMP)
	vm, err := qemu.Start(vmCtx, a.opts...)
	switch {
	case err != nil && ctx.Err() != nil:
		return &report.VMRun{Name: j.name, Verdict: verdict.NotStarted(planned, interruption(ctx)+" while VM "+j.name+" started")}, nil
	case err != nil && a.restored != nil:
		// The state did not load (a QEMU upgrade the key missed, a
		// truncated file): the retry in boot boots afresh.
		vr := &verdict.Run{Outcome: verdict.Untested, Reason: "resuming the saved VM state failed: " + oneLine(err.Error())}
		return &report.VMRun{Name: j.name, Verdict: vr, Restored: v.snap.key}, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	a.vm = vm
	a.handOver(ctx, vmCtx)
	res := vm.Wait()
	return a.report(ctx, res), nil
}

// vmAttempt is one QEMU of a VM, from its start to its report.
type vmAttempt struct {
	v       *vmRunner
	name    string
	planned []verdict.Planned
	// share is the VM's share of the run, counted from the guest taking
	// its config; life bounds it from QEMU's start (vmLimits).
	share, life time.Duration
	// gc is the guest's config; handOver sends it.
	gc    vmevent.GuestConfig
	start time.Time
	col   *collector
	opts  []qemu.Option
	// restored is the saved state the VM resumes from, and state its file
	// (both nil for a fresh boot).
	restored *snapshotMeta
	state    *os.File
	vm       *qemu.VM
	// up is how the VM came to a guest waiting for its config (a boot: or
	// resume: phase; zero when it never did).
	up report.Phase
	// wedged says why the VM was stopped once the wedge its spec declared
	// showed (a string; unset otherwise).
	wedged atomic.Value
}

// newAttempt prepares VM j's QEMU: its guest config, its collector, and
// its options (resuming from the saved state when there is one). stopVM
// stops the VM once a declared wedge shows.
func (v *vmRunner) newAttempt(j vmJob, planned []verdict.Planned, stopVM context.CancelCauseFunc) *vmAttempt {
	c := v.run.c
	a := &vmAttempt{v: v, name: j.name, planned: planned, start: time.Now()}
	// The VM's share of the run's deadline: the guest's timer stops the
	// suite then (with a task dump), the host kills QEMU 10 s later. The
	// share counts from the moment the guest takes its config, so that a
	// slow boot does not eat it (a fresh boot on a host loaded tenfold
	// took 90 s of a destructive VM's 2 minutes, and its spec never ran):
	// the boot may use up to one share more, never past the run's deadline.
	a.share, a.life = vmLimits(j.timeout, time.Until(v.deadline).Truncate(time.Second))
	args := append(append([]string(nil), j.args...), "--zcsuite.expect-release="+v.kernel.Release(), "--zcsuite.kernel="+v.kernel.Spec, abiArg(c))
	if c.FailSpec != "" {
		args = append(args, "--"+vmevent.FailSpecFlag+"="+c.FailSpec)
	}
	a.gc = vmevent.GuestConfig{Mode: vmevent.ModeSuite, Binary: vmimage.GuestTest, Args: args, TimeoutSec: int(a.share / time.Second), HungTaskSec: 20, GoTests: j.goTests, Coverage: c.Coverage}

	col := newCollector(j.name, a.start)
	col.find, col.known, col.logf, col.verbose, col.trace = v.find, v.known, v.run.logf, c.Verbose, traceEvents
	col.onBad = func(s verdict.Spec) { v.run.failFast(j.name, s) }
	col.onWedge = func(why string) {
		a.wedged.Store(why)
		stopVM(errWedged)
	}
	col.onTimeout = func(spec string) { v.run.stuckRing(j.name, spec) }
	a.col = col

	a.opts = append(machineOpts(c, v.kernel, v.image, v.accel),
		qemu.WithTimeout(a.life+10*time.Second),
		qemu.WithEvents(col.Event), qemu.WithConsoleLine(col.Console))
	if v.snap == nil {
		return a
	}
	if m, state, ok := v.snap.load(j.name); ok {
		a.restored, a.state = m, state
		a.opts = append(a.opts, qemu.WithIncoming(state))
	} else {
		a.opts = append(a.opts, qemu.WithQMP())
	}
	return a
}

// handOver gives the started guest its config: at once when it resumed
// from the saved state, else once it says it is ready (saving its state
// first when this VM is the one to), unless QEMU exits before.
func (a *vmAttempt) handOver(ctx, vmCtx context.Context) {
	if a.restored != nil {
		a.up = report.Phase{Name: "resume:" + a.name, Duration: time.Since(a.start),
			Note: fmt.Sprintf("QEMU start to a running guest from the saved state %s (%.0f MiB; its boot took %.2fs)", a.v.snap.key, float64(a.restored.Size)/(1<<20), a.restored.Boot.Seconds())}
		a.sendConfig(vmCtx)
		return
	}
	select {
	case <-a.col.Ready():
		a.up = report.Phase{Name: "boot:" + a.name, Duration: time.Since(a.start), Note: "QEMU start to the guest init waiting for its config"}
		a.saveState(ctx, vmCtx)
		a.sendConfig(vmCtx)
	case <-a.vm.Exited():
	}
}

// saveState saves the booted guest's state for later VMs, when the run
// saves one and no other VM claimed it.
func (a *vmAttempt) saveState(ctx, vmCtx context.Context) {
	snap := a.v.snap
	if snap == nil || !snap.claim() {
		return
	}
	m, err := snap.save(ctx, a.vm, a.up.Duration, a.col.consoleSoFar())
	switch {
	case err != nil && vmCtx.Err() != nil:
		// The VM was stopped meanwhile: nothing to say.
	case err != nil:
		a.v.run.logf("VM %q: saving the VM state failed, later VMs boot: %v", a.name, err)
	default:
		a.v.run.addPhase(report.Phase{Name: "save:" + a.name, Duration: m.Save, Note: fmt.Sprintf("VM state %s, %.0f MiB", m.Key, float64(m.Size)/(1<<20))})
	}
}

// sendConfig sends the guest its config. The guest's timer gets the VM's
// share from now, or what is left before the host kills QEMU if that is
// less, so that it fires (and dumps the tasks) first.
func (a *vmAttempt) sendConfig(vmCtx context.Context) {
	a.gc.HostUnixNano = time.Now().UnixNano()
	a.gc.TimeoutSec = max(1, int(min(a.share, time.Until(a.start.Add(a.life))).Seconds()))
	line, err := a.gc.Line()
	if err == nil {
		err = a.vm.Send(line)
	}
	if err != nil && vmCtx.Err() == nil {
		a.v.run.logf("VM %q: %v", a.name, err)
	}
}

// end is how the VM ended, as its verdict reads it.
func (a *vmAttempt) end(ctx context.Context, res *qemu.Result) verdict.VMEnd {
	end := verdict.VMEnd{SawDone: res.SawDone, GuestCode: res.GuestCode, TimedOut: res.TimedOut, QEMUExit: res.ExitCode, Deadline: a.share, Interrupted: interruption(ctx)}
	if stoppedEarly(ctx) && !res.TimedOut {
		// The VM ended by itself before the run stopped the others.
		end.Interrupted = ""
	}
	if why, ok := a.wedged.Load().(string); ok && res.TimedOut && ctx.Err() == nil {
		end.Wedged = why
		a.v.run.logf("VM %q stopped: %s", a.name, why)
	}
	if res.EventErr != nil {
		end.EventErr = res.EventErr.Error()
	}
	return end
}

// console is the VM's console for the report: a VM that resumed from the
// saved state has the saved boot's lines first (printed before the save),
// marked.
func (a *vmAttempt) console(lines []string) []string {
	if a.restored == nil {
		return lines
	}
	head := append([]string{fmt.Sprintf("==== console of the boot saved as VM state %s (%s); this VM resumed from it", a.restored.Key, a.restored.Created)}, a.restored.Console...)
	return append(append(head, "==== resumed"), lines...)
}

// report decides the ended VM's verdict and makes its report, and hands
// the run its phases and coverage.
func (a *vmAttempt) report(ctx context.Context, res *qemu.Result) *report.VMRun {
	run := a.v.run
	stopped := time.Now()
	times := a.col.timesSoFar()
	ginkgo, kmsg, coverage := a.col.guestData()
	run.saveCoverage(a.name, coverage)
	for _, p := range vmPhases(a.name, a.up, times, stopped) {
		run.addPhase(p)
	}
	run.phase("vm:"+a.name, a.start, fmt.Sprintf("qemu exit %d, done=%v", res.ExitCode, res.SawDone))
	end := a.end(ctx, res)
	v := verdict.Decide(a.col.input(end, a.planned))
	repro, err := run.repro(ctx, a.v.image.GuestTest, a.opts, a.gc)
	if err != nil {
		run.logf("VM %q: no repro command: %v", a.name, err)
	}
	vr := &report.VMRun{Name: a.name, Repro: repro, Verdict: v, Ginkgo: ginkgo, GoTestSeconds: a.col.goTestSeconds(),
		Console: a.console(a.col.input(end, nil).Console), Kmsg: kmsg, Duration: res.Duration, Stderr: res.Stderr, End: end}
	if a.restored != nil {
		vr.Restored = a.restored.Key
	}
	if !times.hello.IsZero() {
		vr.BootToHello = times.hello.Sub(a.start)
	}
	if res.Stderr != "" && !res.SawDone && end.Interrupted == "" {
		run.logf("qemu said: %s", res.Stderr)
	}
	return vr
}

// KernelCmdline is the fixed part of the guest's command line.
// no_timer_check skips the IO-APIC timer test, which an emulated timer on
// a busy host can fail ("IO-APIC + timer doesn't work!").
var KernelCmdline = []string{"console=ttyS0", "panic=-1", "fuse.enable_uring=1", "printk.devkmsg=on", "random.trust_cpu=on", "no_timer_check", "quiet"}
