package runner

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

func TestKernelFromFunc(t *testing.T) {
	errBuild := errors.New("make failed")
	for _, c := range []struct {
		name      string
		k         *kernel.Kernel
		err       error
		cfg       string
		wantUsage bool
		wantUntes bool
		wantChain error
	}{
		{name: "kernel", k: &kernel.Kernel{Source: "tree"}},
		{name: "build failure", err: fmt.Errorf("wrapped: %w", errBuild), wantUntes: true, wantChain: errBuild},
		{name: "bad tree", err: fmt.Errorf("%w: not a tree", ErrUsage), wantUsage: true},
		{name: "nil kernel", wantUntes: true},
		{name: "config flag", k: &kernel.Kernel{}, cfg: "/x/.config", wantUsage: true},
	} {
		cfg := &Config{KernelConfig: c.cfg}
		WithKernelFunc(func(context.Context, func(string, ...any)) (*kernel.Kernel, error) { return c.k, c.err })(cfg)
		k, err := resolveKernel(context.Background(), cfg, func(string, ...any) {})
		switch {
		case c.wantUsage != errors.Is(err, ErrUsage), c.wantUntes != errors.Is(err, ErrUntestable):
			t.Errorf("%s: got %v", c.name, err)
		case c.wantChain != nil && !errors.Is(err, c.wantChain):
			t.Errorf("%s: %v lost the cause", c.name, err)
		case err == nil && k != c.k:
			t.Errorf("%s: got kernel %+v", c.name, k)
		}
	}
}
