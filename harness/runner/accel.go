package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/vmimage"
)

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
