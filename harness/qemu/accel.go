package qemu

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// ProbeKVM answers whether a real guest boots under KVM on this host: a
// usable /dev/kvm is not enough (on some hosts guests fail on missing CPU
// features), so it boots kernel with the image in probe mode and waits for
// the guest's done event. It returns AccelKVM or AccelTCG and why.
func ProbeKVM(ctx context.Context, kernel, initramfs string, append []string) (accel, why string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return AccelTCG, "no usable /dev/kvm: " + err.Error()
	}
	f.Close()
	probe, _ := vmevent.GuestConfig{Mode: vmevent.ModeProbe}.Cmdline()
	// A KVM failure usually leaves QEMU paused rather than exited: stop it
	// as soon as QEMU reports the error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	onStderr := func(line string) {
		if strings.Contains(line, "KVM internal error") || strings.Contains(line, "kvm run failed") || strings.Contains(line, "failed to initialize kvm") {
			cancel()
		}
	}
	vm, err := Start(ctx, WithStderrLine(onStderr),
		WithKernel(kernel), WithInitramfs(initramfs), WithAccel(AccelKVM), WithSMP(1), WithMemory(512),
		WithAppend(append...), WithAppend(probe), WithTimeout(20*time.Second))
	if err != nil {
		return AccelTCG, "KVM probe could not start: " + err.Error()
	}
	res := vm.Wait()
	if res.SawDone {
		return AccelKVM, fmt.Sprintf("KVM probe boot succeeded in %.1fs", res.Duration.Seconds())
	}
	reason := res.Stderr
	if reason == "" && len(res.ConsoleTail) > 0 {
		reason = res.ConsoleTail[len(res.ConsoleTail)-1]
	}
	if res.TimedOut && ctx.Err() == nil {
		reason = "timed out; " + reason
	}
	reason, _, _ = strings.Cut(reason, "\n")
	return AccelTCG, "/dev/kvm is present but a KVM guest failed (" + strings.TrimSpace(reason) + "); using TCG"
}
