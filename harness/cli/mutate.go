package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/mutate"
	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// EquivalentsFile is the reviewed list of equivalent mutants, in the
// checkout.
const EquivalentsFile = "fixtures/mutation/equivalent.txt"

// mutateFlags are -mutate's.
type mutateFlags struct {
	files, funcs, ids, diff *string
	sample                  *int
	deadline                *time.Duration
}

func addMutateFlags(fs *flag.FlagSet) *mutateFlags {
	return &mutateFlags{
		files:    fs.String("mutate", "", "with -kernel-tree: mutation testing of these files (FILE[,FILE...], relative to the tree): one-line mutants, each built incrementally in a copy of the tree in the cache and tested; writes mutation.md and mutation.json; resumes from the cache"),
		funcs:    fs.String("mutate-func", "", "with -mutate: only mutants inside these functions (NAME[,NAME...])"),
		ids:      fs.String("mutate-id", "", "with -mutate: only these mutants (ID[,ID...], as mutation.md lists them): to test one mutant again"),
		diff:     fs.String("mutate-diff", "", "with -mutate on a git tree: only mutants on lines A..B adds or changes"),
		sample:   fs.Int("mutate-sample", 0, "with -mutate: test only N of the selected mutants (the same N every time)"),
		deadline: fs.Duration("mutate-deadline", 4*time.Minute, "with -mutate: deadline of each mutant's suite run (a mutant still running then counts as timeout)"),
	}
}

func (m *mutateFlags) active() bool {
	return *m.files != "" || *m.funcs != "" || *m.ids != "" || *m.diff != "" || *m.sample != 0
}

// check validates the -mutate flags against the developer-loop flags.
func (m *mutateFlags) check(d *devFlags) error {
	switch {
	case *m.files == "":
		return errors.New("usage: -mutate-func, -mutate-id, -mutate-diff and -mutate-sample go with -mutate")
	case *d.tree == "":
		return errors.New("usage: -mutate needs -kernel-tree (the tree whose files are mutated)")
	case *d.series != "" || *d.bisect || *d.repeat != 1 || *d.badIf != "":
		return errors.New("usage: -mutate excludes -series, -bisect, -repeat and -bad-if")
	case *m.sample < 0:
		return fmt.Errorf("usage: -mutate-sample %d (want 1 or more)", *m.sample)
	case *m.deadline <= 0:
		return fmt.Errorf("usage: -mutate-deadline %v (want a positive duration)", *m.deadline)
	}
	for _, f := range splitList(*m.files) {
		if filepath.IsAbs(f) || strings.HasPrefix(filepath.Clean(f), "..") || !strings.HasSuffix(f, ".c") {
			return fmt.Errorf("usage: -mutate %s: want a .c file relative to the tree (fs/fuse/dev_uring.c)", f)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run is -mutate: every mutant of the files is built with kopts and tested
// with the run's options.
func (m *mutateFlags) run(ctx context.Context, tree string, kopts []kbuild.Option, opts []runner.Option, variant, reportDir, cacheDir string, stdout, stderr io.Writer, usage int) int {
	modDir, err := vmimage.ModuleDir()
	if err != nil {
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return usage
	}
	eq, err := mutate.LoadEquivalents(filepath.Join(modDir, EquivalentsFile))
	if err != nil {
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return verdict.ExitUntested
	}
	logf := func(format string, v ...any) { fmt.Fprintf(stdout, "zcsuite: "+format+"\n", v...) }
	rev, _, _ := kbuild.GitHead(ctx, tree)
	suite, err := suiteKey(ctx, opts, cacheDir, logf)
	if err != nil {
		fmt.Fprintf(stderr, "zcsuite: -mutate: %v\n", err)
		return verdict.ExitUntested
	}
	sum, err := mutate.Run(ctx, mutate.Options{
		Tree: tree, TreeRev: rev, SuiteKey: suite, Files: splitList(*m.files), Funcs: splitList(*m.funcs), IDs: splitList(*m.ids), DiffRange: *m.diff, Sample: *m.sample,
		Deadline: *m.deadline, CacheDir: cacheDir, ReportDir: reportDir, Equivalents: eq, Out: stdout,
		Seed: func(ctx context.Context, from, to string) error {
			return kbuild.Seed(ctx, cacheDir, from, to, variant, logf)
		},
		Build: func(ctx context.Context, t string) (*kernel.Kernel, error) {
			return kbuild.Build(ctx, t, append(kopts, kbuild.WithLogf(func(string, ...any) {}))...)
		},
		Test: func(ctx context.Context, k *kernel.Kernel, dir string, deadline time.Duration) ([]*verdict.Run, int, error) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, verdict.ExitUntested, err
			}
			log, err := os.Create(filepath.Join(dir, "run.log"))
			if err != nil {
				return nil, verdict.ExitUntested, err
			}
			defer log.Close()
			// opts carry the runner's fail-fast (on under -mutate unless
			// -fail-fast=false): a mutant's verdict is decided by its
			// first bad spec, so the run stops every VM there and the
			// specs not run yet are NOT-RUN (judge still names the
			// killer); a mutant with no bad spec runs the whole suite
			// under its deadline.
			o := append(append([]runner.Option{}, opts...), runner.WithReportDir(dir), runner.WithOutput(log), runner.WithTimeout(deadline),
				runner.WithKernelFunc(func(context.Context, func(string, ...any)) (*kernel.Kernel, error) { return k, nil }))
			res, err := runner.Run(ctx, o...)
			if res == nil {
				return nil, verdict.ExitUntested, err
			}
			var runs []*verdict.Run
			for _, r := range res.Runs {
				runs = append(runs, r.Verdict)
			}
			return runs, res.ExitCode, err
		},
	})
	if code, ok := interruptCode(ctx, stderr); ok {
		if sum != nil {
			fmt.Fprintf(stderr, "zcsuite: mutate: %d mutant(s) recorded; the same command resumes from the cache\n", len(sum.Mutants))
		}
		return code
	}
	switch {
	case errors.Is(err, mutate.ErrSelect):
		fmt.Fprintf(stderr, "zcsuite: usage: %v\n", err)
		return usage
	case err != nil:
		fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		return verdict.ExitUntested
	}
	det := sum.Counts[mutate.Killed] + sum.Counts[mutate.Timeout]
	fmt.Fprintf(stdout, "zcsuite: mutation score %d/%d = %.1f%% (%d survived, %d build-failed, %d equivalent, %d untested); %s\n",
		det, det+sum.Counts[mutate.Survived], 100*sum.Score, sum.Counts[mutate.Survived], sum.Counts[mutate.BuildFailed], sum.Counts[mutate.Equivalent], sum.Counts[mutate.Untested], filepath.Join(reportDir, "mutation.md"))
	if sum.Counts[mutate.Survived] > 0 {
		return verdict.ExitBad
	}
	return verdict.ExitGood
}

// suiteKey identifies the suite every mutant is tested with: the guest
// image's content hash (the runner builds the same image from the same
// cache, so this build is reused) and the options that choose which specs
// run and how they are judged.
func suiteKey(ctx context.Context, opts []runner.Option, cacheDir string, logf func(string, ...any)) (string, error) {
	c, err := runner.NewConfig(opts...)
	if err != nil {
		return "", err
	}
	img, err := vmimage.Build(ctx, vmimage.WithCacheDir(filepath.Join(cacheDir, "image")), vmimage.WithLogf(logf))
	if err != nil {
		return "", fmt.Errorf("the guest image: %w", err)
	}
	return fmt.Sprintf("image=%s labels=%q focus=%q abi=%q destructive=%t server-tests=%t smp=%d",
		img.Hash, c.LabelFilter, c.Focus, c.ABI, c.Destructive, c.ServerTests, c.SMP), nil
}
