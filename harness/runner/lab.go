package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// LabBoot is one VM of a run as a lab without a zcsuite host boots it: the
// kernel, the image, the whole kernel command line (the guest config on
// it asks the guest to decide its own verdicts), the QEMU machine and the
// known issues the guest must apply.
type LabBoot struct {
	Kernel *kernel.Kernel
	Image  *vmimage.Image
	// Cmdline is the guest's kernel command line.
	Cmdline  []string
	SMP      int
	MemoryMB int
	Known    []verdict.Expectation
	// Timeout is the guest suite's own deadline.
	Timeout time.Duration
}

// PrepareLab resolves (or builds) the kernel, checks its config and builds
// the image as a run would, and returns the boot that runs the run's
// non-destructive specs in one VM whose guest prints its own verdicts.
// Destructive specs crash the kernel on purpose and need a host to judge
// them: they are not part of it.
func PrepareLab(ctx context.Context, opts ...Option) (*LabBoot, error) {
	c, err := NewConfig(opts...)
	if err != nil {
		return nil, err
	}
	logf := func(f string, v ...any) { fmt.Fprintf(c.Out, "zcsuite: "+f+"\n", v...) }
	k, err := resolveKernel(ctx, c, logf)
	if err != nil {
		return nil, err
	}
	if c.CheckConfig != nil {
		if _, err := c.CheckConfig(k); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrUntestable, oneLine(err.Error()))
		}
	}
	img, err := vmimage.Build(ctx, vmimage.WithCacheDir(filepath.Join(c.CacheDir, "image")), vmimage.WithLogf(logf))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	var known []verdict.Expectation
	if c.Known != nil {
		if known, err = c.Known(k); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	args := []string{"--ginkgo.label-filter=" + andFilter(c.LabelFilter, "!"+labels.Destructive+" && !"+labels.Bench)}
	if c.Focus != "" {
		args = append(args, "--ginkgo.focus="+c.Focus)
	}
	args = append(args, "--zcsuite.expect-release="+k.Release(), "--zcsuite.kernel="+k.Spec, abiArg(c))
	gc := vmevent.GuestConfig{Mode: vmevent.ModeSuite, Binary: vmimage.GuestTest, Args: args, TimeoutSec: int(c.Timeout / time.Second), HungTaskSec: 20, Verdict: true}
	if runsServerTests(c) {
		gc.GoTests = []string{vmevent.ServerTests}
	}
	word, err := gc.Cmdline()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	cmdline := append(append([]string(nil), KernelCmdline...), word)
	return &LabBoot{Kernel: k, Image: img, Cmdline: cmdline, SMP: c.SMP, MemoryMB: c.MemoryMB, Known: known, Timeout: c.Timeout}, nil
}
