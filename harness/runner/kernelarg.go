package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

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
