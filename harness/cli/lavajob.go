package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/lava"
	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// lavaJobMain is `zcsuite lava-job [-kernel K | -kernel-tree T] -out DIR`:
// a LAVA job definition and its artefacts for the kernel and the current
// image (package lava).
func lavaJobMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zcsuite lava-job", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kern := fs.String("kernel", "debian:7.3-cloud", "kernel: debian:VERSION-FLAVOUR or a path to a bzImage")
	kcfg := fs.String("kernel-config", "", "config file of a kernel given by path")
	tree := fs.String("kernel-tree", "", "build this kernel source tree (as a run's -kernel-tree) and use it")
	out := fs.String("out", "", "directory for job.yaml, bzImage and initramfs.cpio (required)")
	url := fs.String("url", "", "where the lab downloads the artefacts: the URL the -out directory is published at (default file:// paths in -out, for a dispatcher on this machine)")
	cacheDir := fs.String("cache-dir", runner.DefaultCacheDir(), "cache for kernels, images and builds")
	smp := fs.Int("smp", 2, "vCPUs of the VM (= FUSE queues)")
	timeout := fs.Duration("timeout", runner.DefaultTimeout, "the guest suite's deadline")
	filter := fs.String("label-filter", "", "Ginkgo label filter for the guest specs")
	focus := fs.String("focus", "", "regexp on the guest specs' full text")
	abi := addABIFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: zcsuite lava-job [-kernel K | -kernel-tree T] -out DIR [-url URL]\n\nWrites a LAVA job definition (qemu device type, x86_64) and the kernel and\ninitramfs it deploys. The guest decides each non-destructive spec's verdict\nitself and prints it; submit with: lavacli jobs submit DIR/job.yaml\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return verdict.ExitGood
		}
		return verdict.ExitUsage
	}
	fail := func(code int, format string, v ...any) int {
		fmt.Fprintf(stderr, "zcsuite lava-job: "+format+"\n", v...)
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return fail(verdict.ExitUsage, "unexpected argument %q (see -help)", fs.Arg(0))
	case *out == "":
		return fail(verdict.ExitUsage, "-out DIR is required")
	case *tree != "" && (set["kernel"] || set["kernel-config"]):
		return fail(verdict.ExitUsage, "-kernel-tree builds its own kernel; drop -kernel/-kernel-config")
	}
	cache := CallerPath(*cacheDir)
	kernelArg := *kern
	if kernelArg != "" && !isDebianSpec(kernelArg) {
		kernelArg = CallerPath(kernelArg)
	}
	opts := []runner.Option{
		runner.WithKernel(kernelArg), runner.WithKernelConfig(CallerPath(*kcfg)), runner.WithCacheDir(cache),
		runner.WithSMP(*smp), runner.WithTimeout(*timeout), runner.WithLabelFilter(*filter), runner.WithFocus(*focus),
		runner.WithABI(*abi), runner.WithOutput(stdout),
	}
	if *tree != "" {
		modDir, err := vmimage.ModuleDir()
		if err != nil {
			return fail(verdict.ExitUntested, "%v", err)
		}
		d := &devFlags{tree: tree}
		logf := func(f string, v ...any) { fmt.Fprintf(stdout, "zcsuite: "+f+"\n", v...) }
		t, err := d.resolveTree(ctx, cache, logf)
		if err != nil {
			if errors.Is(err, runner.ErrUsage) {
				return fail(verdict.ExitUsage, "%v", err)
			}
			return fail(verdict.ExitUntested, "%v", err)
		}
		kopts := []kbuild.Option{kbuild.WithCacheDir(cache), kbuild.WithFragmentDir(filepath.Join(modDir, "kernelconfig"))}
		opts = append(opts, runner.WithKernelFunc(func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error) {
			return kbuild.Build(ctx, t, append(kopts, kbuild.WithLogf(logf))...)
		}))
	}
	b, err := runner.PrepareLab(ctx, opts...)
	switch {
	case errors.Is(err, runner.ErrUsage):
		return fail(verdict.ExitUsage, "%v", err)
	case err != nil:
		return fail(verdict.ExitUntested, "%v", err)
	}
	name := "zcsuite " + b.Kernel.Spec
	if b.Kernel.Version != "" {
		name += " " + b.Kernel.Version
	}
	path, err := lava.Write(b, lava.Options{Dir: CallerPath(*out), URL: *url, Name: name})
	if err != nil {
		return fail(verdict.ExitUntested, "%v", err)
	}
	fmt.Fprintf(stdout, "zcsuite: LAVA job %s (%d known issue(s) for this kernel); submit with: lavacli jobs submit %s\n", path, len(b.Known), path)
	return verdict.ExitGood
}

func isDebianSpec(s string) bool { return len(s) > 7 && s[:7] == "debian:" }
