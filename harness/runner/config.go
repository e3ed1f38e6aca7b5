package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/harness/shard"
	"github.com/zcsuite/zcsuite/harness/verdict"
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

// DestructiveTimeout bounds a destructive spec's VM: such a spec runs for
// seconds, and a kernel it wedged on purpose must not hold the run for the
// whole suite deadline.
const DestructiveTimeout = 2 * time.Minute
