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
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/harness/report"
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
	// Timeout bounds each VM's guest suite; QEMU is killed 10 s later.
	Timeout     time.Duration
	LabelFilter string
	Focus       string
	// ABI is the guest specs' ABI profile (see WithABI).
	ABI string
	// Destructive runs the destructive specs, each in its own VM.
	Destructive bool
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

// WithTimeout bounds each VM's suite.
func WithTimeout(d time.Duration) Option {
	return func(c *Config) error {
		if d < 20*time.Second {
			return fmt.Errorf("%w: timeout %s is below 20s", ErrUsage, d)
		}
		c.Timeout = d
		return nil
	}
}

// WithLabelFilter restricts the guest specs (Ginkgo label filter syntax).
func WithLabelFilter(f string) Option { return func(c *Config) error { c.LabelFilter = f; return nil } }

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
		Accel: "auto", ABI: vmevent.ABIAuto, SMP: 2, MemoryMB: 1024, Timeout: 8 * time.Minute, Destructive: true, Out: io.Discard,
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
	r := &runState{c: c, res: &Result{}, vmTimeout: c.Timeout}
	r.res.Facts.Started = time.Now().UTC().Format(time.RFC3339)
	r.res.Facts.ABI = c.ABI
	err = r.run(ctx)
	if err != nil && !errors.Is(err, ErrUsage) {
		r.res.ExitCode = verdict.ExitUntested
		r.res.Facts.ExitCode = verdict.ExitUntested
		if c.ReportDir != "" {
			report.Write(c.ReportDir, r.res.Facts, r.res.Runs)
		}
	}
	return r.res, err
}

type runState struct {
	c   *Config
	res *Result
	// vmTimeout bounds the VM being booted (Config.Timeout, or less for
	// destructive VMs).
	vmTimeout time.Duration
}

// DestructiveTimeout bounds a destructive spec's VM: such a spec runs for
// seconds, and a kernel it wedged on purpose must not hold the run for the
// whole suite deadline.
const DestructiveTimeout = 2 * time.Minute

func (r *runState) logf(format string, v ...any) {
	fmt.Fprintf(r.c.Out, "zcsuite: "+format+"\n", v...)
}

func (r *runState) phase(name string, t0 time.Time, note string) {
	r.res.Facts.Phases = append(r.res.Facts.Phases, report.Phase{Name: name, Duration: time.Since(t0), Note: note})
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

	// 5. Which specs need their own VM.
	var destructive []string
	if c.Destructive && !c.Bench {
		destructive, err = listSpecs(ctx, img.GuestTest, andFilter(c.LabelFilter, labels.Destructive+" && !"+labels.Bench), c.Focus)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUntestable, err)
		}
	}

	// 6. The main VM: every non-destructive spec.
	mainFilter := andFilter(c.LabelFilter, "!"+labels.Destructive+" && !"+labels.Bench)
	if c.Bench {
		mainFilter = andFilter(c.LabelFilter, labels.Bench)
	}
	mainArgs := []string{"--ginkgo.label-filter=" + mainFilter}
	if c.Focus != "" {
		mainArgs = append(mainArgs, "--ginkgo.focus="+c.Focus)
	}
	vr, err := r.boot(ctx, "main", k, img, accel, mainArgs, known)
	if err != nil {
		return err
	}
	r.res.Runs = append(r.res.Runs, *vr)
	if vr.Verdict.Outcome == verdict.Untested && len(vr.Verdict.Specs) == 0 && vr.Verdict.GuestStarted == false {
		r.finish()
		return nil
	}
	// 7. One VM per destructive spec.
	if r.vmTimeout > DestructiveTimeout {
		r.vmTimeout = DestructiveTimeout
	}
	for i, name := range destructive {
		r.logf("destructive spec %d/%d in its own VM: %s", i+1, len(destructive), name)
		// Ginkgo matches focus against the suite description and the
		// spec's full text.
		args := []string{"--ginkgo.focus=^" + regexp.QuoteMeta(labels.SuiteDescription+" "+name) + "$", "--ginkgo.label-filter=" + labels.Destructive}
		vr, err := r.boot(ctx, fmt.Sprintf("destructive-%d", i+1), k, img, accel, args, known)
		if err != nil {
			return err
		}
		r.res.Runs = append(r.res.Runs, *vr)
	}
	r.finish()
	return nil
}

func (r *runState) finish() {
	r.res.Facts.ABI = abiFact(r.c.ABI, r.res.Runs)
	var runs []*verdict.Run
	for i := range r.res.Runs {
		runs = append(runs, r.res.Runs[i].Verdict)
	}
	r.res.ExitCode = verdict.ExitCode(runs...)
	r.res.Facts.ExitCode = r.res.ExitCode
	t0 := time.Now()
	if r.c.ReportDir != "" {
		if err := report.Write(r.c.ReportDir, r.res.Facts, r.res.Runs); err != nil {
			r.logf("writing the report: %v", err)
		}
	}
	if r.c.Bench && r.c.ReportDir != "" {
		if md, err := writeBench(r.c.ReportDir, r.res.Runs, r.res.Facts.Accel); err != nil {
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
	if r.c.ReportDir != "" {
		r.logf("reports in %s", r.c.ReportDir)
	}
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

// boot runs one VM; a VM that dies before its guest says hello is booted
// once more (the first failure is kept in the report), because under TCG
// a busy host can crash an early boot by itself.
func (r *runState) boot(ctx context.Context, name string, k *kernel.Kernel, img *vmimage.Image, accel string, args []string, known []verdict.Expectation) (*report.VMRun, error) {
	vr, err := r.bootOnce(ctx, name, k, img, accel, args, known)
	if err != nil || vr.Verdict.GuestStarted || ctx.Err() != nil {
		return vr, err
	}
	first := vr.Verdict.Reason
	r.logf("VM %q died before the guest started (%s); booting it once more", name, first)
	vr, err = r.bootOnce(ctx, name, k, img, accel, args, known)
	if vr != nil {
		vr.BootRetries = append(vr.BootRetries, first)
	}
	return vr, err
}

func (r *runState) bootOnce(ctx context.Context, name string, k *kernel.Kernel, img *vmimage.Image, accel string, args []string, known []verdict.Expectation) (*report.VMRun, error) {
	c := r.c
	args = append(args, "--zcsuite.expect-release="+k.Release(), "--zcsuite.kernel="+k.Spec, abiArg(c))
	gc := vmevent.GuestConfig{Mode: vmevent.ModeSuite, Binary: vmimage.GuestTest, Args: args, TimeoutSec: int(r.vmTimeout / time.Second), HungTaskSec: 20}
	word, err := gc.Cmdline()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	var (
		mu      sync.Mutex
		events  []vmevent.Event
		kmsg    []string
		console []string
		ginkgo  json.RawMessage
		hello   time.Time
		exited  time.Time
	)
	start := time.Now()
	onEvent := func(e vmevent.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Type {
		case vmevent.Report:
			ginkgo = e.Data
			return
		case vmevent.Kmsg:
			kmsg = append(kmsg, fmt.Sprintf("[%6d.%06d] %s", e.KmsgUsec/1e6, e.KmsgUsec%1e6, e.Text))
		case vmevent.Hello:
			hello = time.Now()
		case vmevent.Exit:
			exited = time.Now()
		case vmevent.SpecEnd:
			r.logf("  %-8s %s", strings.ToUpper(e.State), e.Spec)
		case vmevent.Log:
			r.logf("  guest: %s", e.Text)
		}
		events = append(events, e)
	}
	onConsole := func(l string) {
		mu.Lock()
		console = append(console, l)
		mu.Unlock()
		if c.Verbose {
			fmt.Fprintln(c.Out, "  | "+l)
		}
	}
	r.logf("booting VM %q (%s, %d vCPUs)", name, accel, c.SMP)
	vm, err := qemu.Start(ctx,
		qemu.WithKernel(k.Image), qemu.WithInitramfs(img.Path), qemu.WithAccel(accel),
		qemu.WithSMP(c.SMP), qemu.WithMemory(c.MemoryMB),
		qemu.WithAppend(KernelCmdline...), qemu.WithAppend(word),
		qemu.WithTimeout(r.vmTimeout+10*time.Second),
		qemu.WithEvents(onEvent), qemu.WithConsoleLine(onConsole))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	res := vm.Wait()
	stopped := time.Now()
	mu.Lock()
	if !hello.IsZero() {
		r.res.Facts.Phases = append(r.res.Facts.Phases, report.Phase{Name: "boot:" + name, Duration: hello.Sub(start), Note: "QEMU start to the guest init's hello"})
		if !exited.IsZero() {
			r.res.Facts.Phases = append(r.res.Facts.Phases,
				report.Phase{Name: "suite:" + name, Duration: exited.Sub(hello), Note: "hello to the guest suite's exit"},
				report.Phase{Name: "shutdown:" + name, Duration: stopped.Sub(exited), Note: "suite exit to QEMU exit"})
		}
	}
	mu.Unlock()
	r.phase("vm:"+name, start, fmt.Sprintf("qemu exit %d, done=%v", res.ExitCode, res.SawDone))
	end := verdict.VMEnd{SawDone: res.SawDone, GuestCode: res.GuestCode, TimedOut: res.TimedOut, QEMUExit: res.ExitCode}
	if res.EventErr != nil {
		end.EventErr = res.EventErr.Error()
	}
	mu.Lock()
	defer mu.Unlock()
	v := verdict.Decide(verdict.Input{Events: events, Console: console, End: end, Find: c.Find, Known: known})
	vr := &report.VMRun{Name: name, Repro: res.Repro, Verdict: v, Ginkgo: ginkgo, Console: console, Kmsg: kmsg, Duration: res.Duration, Stderr: res.Stderr}
	if !hello.IsZero() {
		vr.BootToHello = hello.Sub(start)
	}
	if res.Stderr != "" && !res.SawDone {
		r.logf("qemu said: %s", res.Stderr)
	}
	return vr, nil
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
	if b, err := os.ReadFile(cacheFile); err == nil {
		accel, why, _ := strings.Cut(string(b), "\n")
		return accel, "cached probe: " + why
	}
	accel, why := qemu.ProbeKVM(ctx, k.Image, img.Path, KernelCmdline)
	os.MkdirAll(filepath.Dir(cacheFile), 0o755)
	os.WriteFile(cacheFile, []byte(accel+"\n"+why), 0o644)
	return accel, why
}

func hostKey() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	h, _ := os.Hostname()
	return strings.NewReplacer("/", "_", " ", "_").Replace(strings.TrimSpace(string(b)) + "-" + h)
}

// listSpecs dry-runs the guest binary on the host to list the specs a
// filter selects.
func listSpecs(ctx context.Context, guestTest, filter, focus string) ([]string, error) {
	dir, err := os.MkdirTemp("", "zcsuite-dry-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "dry.json")
	args := []string{"--ginkgo.dry-run", "--ginkgo.label-filter=" + filter, "--ginkgo.json-report=" + out, "--ginkgo.no-color"}
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
	var names []string
	for _, rep := range reps {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt && s.State != types.SpecStateSkipped && s.State != types.SpecStatePending {
				names = append(names, s.FullText())
			}
		}
	}
	return names, nil
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
