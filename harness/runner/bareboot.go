package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/vmimage"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// BareBoot boots the run's kernel once, on the run's machine (accelerator,
// vCPUs, memory, initramfs), with a guest init that says hello and powers
// off at once (its probe mode: no test binary, no kernel log relay, no
// saved state), and returns QEMU's wall time from start to exit: the
// yardstick a full verdict's time is measured against
// (BenchmarkTimeToVerdictRatio in suites/host).
func BareBoot(ctx context.Context, opts ...Option) (time.Duration, error) {
	c, err := NewConfig(opts...)
	if err != nil {
		return 0, err
	}
	logf := func(string, ...any) {}
	k, err := resolveKernel(ctx, c, logf)
	if err != nil {
		return 0, err
	}
	img, err := vmimage.Build(ctx, vmimage.WithCacheDir(filepath.Join(c.CacheDir, "image")), vmimage.WithLogf(logf))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	r := &runState{c: c, res: &Result{}}
	accel, _ := r.chooseAccel(ctx, k, img)
	probe, err := vmevent.GuestConfig{Mode: vmevent.ModeProbe}.Cmdline()
	if err != nil {
		return 0, err
	}
	vm, err := qemu.Start(ctx, qemu.WithKernel(k.Image), qemu.WithInitramfs(img.Path), qemu.WithAccel(accel),
		qemu.WithSMP(c.SMP), qemu.WithMemory(c.MemoryMB),
		qemu.WithAppend(append(append([]string(nil), KernelCmdline...), probe)...), qemu.WithTimeout(2*time.Minute))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	res := vm.Wait()
	if !res.SawDone {
		return 0, errors.Join(ErrUntestable, fmt.Errorf("the bare boot ended without the guest's done event (QEMU exit %d): %s", res.ExitCode, res.Stderr))
	}
	return res.Duration, nil
}
