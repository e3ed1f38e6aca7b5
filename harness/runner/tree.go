package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

// WithKernelFunc makes the run test the kernel f returns (for example one
// built from a source tree) instead of resolving the kernel argument; f
// runs as the run's "kernel" phase. An error from f makes the run
// untestable (exit 125) unless it wraps ErrUsage; either way the error
// chain is kept, so callers can tell a build failure with errors.Is.
func WithKernelFunc(f func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error)) Option {
	return func(c *Config) error { c.KernelFunc = f; return nil }
}

func kernelFromFunc(ctx context.Context, c *Config, logf func(string, ...any)) (*kernel.Kernel, error) {
	if c.KernelConfig != "" {
		return nil, fmt.Errorf("%w: --kernel-config goes with a kernel path, not a built kernel", ErrUsage)
	}
	k, err := c.KernelFunc(ctx, logf)
	switch {
	case errors.Is(err, ErrUsage):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUntestable, err)
	case k == nil:
		return nil, fmt.Errorf("%w: no kernel was built", ErrUntestable)
	}
	return k, nil
}
