package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/coverage"
	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/patch"
	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/series"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// debianSourcePrefix names Debian's linux-source package as a tree:
// --kernel-tree debian-source:7.3 (or 7.2, any version Debian ships).
const debianSourcePrefix = "debian-source:"

// devFlags are the kernel developers' loop: build a tree, test a series,
// bisect.
type devFlags struct {
	tree, series, badIf, fetchSource *string
	debug, stopOnBad, bisect, ccache *bool
	coverage                         *bool
	coverageDiff, coverageErrors     *string
	commitsOnly                      *bool
	repeat, commit                   *int
	// patches (-patch, repeatable) and mbox (-mbox) go onto the tree.
	patches fileList
	mbox    *string
	mut     *mutateFlags
}

// fileList is a repeatable file flag.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, " ") }
func (l *fileList) Set(v string) error { *l = append(*l, v); return nil }

func addDevFlags(fs *flag.FlagSet) *devFlags {
	d := &devFlags{
		tree:           fs.String("kernel-tree", "", "build this kernel source tree (configured with kernelconfig/min.config, out of tree in the cache, incrementally) and test it; debian-source:VERSION builds Debian's linux-source-VERSION (7.3, 7.2). A relative path is taken from the caller's directory"),
		debug:          fs.Bool("debug-kernel", false, "with -kernel-tree: add kernelconfig/debug.config (KASAN, KFENCE, lockdep, UBSAN, hung-task detection)"),
		coverage:       fs.Bool("coverage", false, "with -kernel-tree: build the tree with gcov (kernelconfig/gcov.config, its own build directory), collect the counters of fs/fuse and io_uring from every VM whose kernel survives, and write coverage.md, coverage.json and an lcov HTML report (coverage/) into the report directory"),
		coverageDiff:   fs.String("coverage-diff", "", "with -coverage on a git tree: list every line A..B adds or changes with its hit count, uncovered first (-series A..B implies it)"),
		coverageErrors: fs.String("coverage-errors", "", "with -coverage: the files (FILE[,FILE...], relative to the tree) whose error returns (return -E…, = -E…, ERR_PTR(-E…) with no hit coverage.md lists (default fs/fuse/dev_uring.c)"),
		ccache:         fs.Bool("ccache", os.Getenv("ZCSUITE_CCACHE") == "1", "with -kernel-tree: compile through ccache (default $ZCSUITE_CCACHE=1)"),
		series:         fs.String("series", "", "with -kernel-tree on a git tree: build and test every commit of A..B in a worktree in the cache; writes series.md and series.json"),
		stopOnBad:      fs.Bool("stop-on-bad", false, "with -series: stop at the first bad commit"),
		commitsOnly:    fs.Bool("commits-only", false, "with -series: print the series' commits, one a line (number, sha, subject, tab-separated, oldest first), and exit: what a CI matrix fans out over"),
		commit:         fs.Int("commit", 0, "with -series: build and test only the N-th commit of the series (1 = the oldest; see -commits-only), reporting into NN-<commit>/ as the whole series would"),
		bisect:         fs.Bool("bisect", false, "git bisect run mode: exit 0 good, 1 bad, 125 skip (build, boot or infrastructure failure); usage errors and interruptions exit 128, which stops the bisection"),
		repeat:         fs.Int("repeat", 1, "run the suite N times against each kernel; bad if any run is bad"),
		badIf:          fs.String("bad-if", "", "regexp on spec names and splat titles: only bad outcomes it matches count as bad; the others are reported and ignored (the kernel counts as good)"),
		fetchSource:    fs.String("fetch-source", "", "download and unpack Debian's linux-source-VERSION (e.g. 7.3) into the cache, print the tree's path and exit"),
		mbox:           fs.String("mbox", "", "with -kernel-tree: apply this mailed series (git am; the mbox `b4 am` writes) onto a copy of the tree in the cache, one commit per mail, after any -patch; with -series base..HEAD each mail is tested on its own"),
		mut:            addMutateFlags(fs),
	}
	fs.Var(&d.patches, "patch", "with -kernel-tree: apply this diff (git apply) onto a copy of the tree in the cache, one commit per file; repeat for several, applied in order. The tree itself is never modified; a patch that does not apply exits 125 naming the file and the hunk")
	return d
}

// active reports whether a developer-loop flag was given.
func (d *devFlags) active() bool {
	return *d.tree != "" || *d.coverage || *d.coverageDiff != "" || *d.coverageErrors != "" || *d.series != "" || *d.bisect || *d.repeat != 1 || *d.badIf != "" || *d.fetchSource != "" || *d.debug || *d.stopOnBad || *d.commitsOnly || *d.commit != 0 || len(d.patches) > 0 || *d.mbox != "" || d.mut.active()
}

// counts is the outcomes -fail-fast stops at: those -bad-if matches (by
// spec name or splat title, as series.Judge counts them), or every one.
// A -bad-if that does not compile counts every one: the developer loop
// refuses it before anything runs.
func (d *devFlags) counts() runner.FailFastFunc {
	re, err := regexp.Compile(*d.badIf)
	if *d.badIf == "" || err != nil {
		return runner.AnyBad
	}
	j := series.Judge{BadIf: re}
	return j.Counts
}

// bisectRequested tells, before flags are parsed, whether --bisect is
// among args: a bad flag must then stop the bisection, not mark a commit.
func bisectRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-bisect", "--bisect", "-bisect=true", "--bisect=true":
			return true
		}
	}
	return false
}

// devRun runs the developer loop. opts are the run's options from main;
// options appended later override them.
func (d *devFlags) run(ctx context.Context, fs *flag.FlagSet, opts []runner.Option, reportDir, cacheDir string, stdout, stderr io.Writer) int {
	usage := verdict.ExitUsage
	if *d.bisect {
		usage = series.ExitAbort
	}
	fail := func(code int, format string, v ...any) int {
		fmt.Fprintf(stderr, "zcsuite: "+format+"\n", v...)
		return code
	}
	logf := func(format string, v ...any) { fmt.Fprintf(stdout, "zcsuite: "+format+"\n", v...) }
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *d.fetchSource != "" {
		src, err := kernel.FetchSource(ctx, *d.fetchSource, cacheDir, func(f string, v ...any) { fmt.Fprintf(stderr, "zcsuite: "+f+"\n", v...) })
		switch {
		case errors.Is(err, kernel.ErrBadSpec), errors.Is(err, kernel.ErrUnknownDebian):
			return fail(usage, "%v", err)
		case err != nil:
			return fail(verdict.ExitUntested, "%v", err)
		}
		fmt.Fprintln(stdout, src.Tree)
		return verdict.ExitGood
	}

	// Validate the combination before anything starts.
	switch {
	case *d.repeat < 1:
		return fail(usage, "usage: -repeat %d (want 1 or more)", *d.repeat)
	case *d.tree != "" && (set["kernel"] || set["kernel-config"]):
		return fail(usage, "usage: -kernel-tree builds its own kernel; drop -kernel/-kernel-config")
	case (*d.debug || set["ccache"] || *d.coverage) && *d.tree == "":
		return fail(usage, "usage: -debug-kernel, -ccache and -coverage go with -kernel-tree")
	case (*d.coverageDiff != "" || *d.coverageErrors != "") && !*d.coverage:
		return fail(usage, "usage: -coverage-diff and -coverage-errors go with -coverage")
	case *d.coverage && (*d.bisect || d.mut.active()):
		return fail(usage, "usage: -coverage excludes -bisect and -mutate")
	case *d.series != "" && *d.tree == "":
		return fail(usage, "usage: -series needs -kernel-tree (the git tree holding the commits)")
	case *d.series != "" && *d.bisect:
		return fail(usage, "usage: -series and -bisect exclude each other (git bisect run tests one commit at a time)")
	case *d.stopOnBad && *d.series == "":
		return fail(usage, "usage: -stop-on-bad goes with -series")
	case (*d.commitsOnly || set["commit"]) && *d.series == "":
		return fail(usage, "usage: -commits-only and -commit go with -series")
	case *d.commitsOnly && set["commit"]:
		return fail(usage, "usage: -commits-only and -commit exclude each other")
	case set["commit"] && *d.commit < 1:
		return fail(usage, "usage: -commit %d (want 1 for the oldest commit of the series, or more)", *d.commit)
	case (len(d.patches) > 0 || *d.mbox != "") && *d.tree == "":
		return fail(usage, "usage: -patch and -mbox go with -kernel-tree (the base they apply onto)")
	}
	for i := range d.patches {
		d.patches[i] = CallerPath(d.patches[i])
	}
	*d.mbox = CallerPath(*d.mbox)
	if err := patch.CheckInputs(d.patches, *d.mbox); err != nil {
		return fail(usage, "usage: %v", err)
	}
	if d.mut.active() {
		if err := d.mut.check(d); err != nil {
			return fail(usage, "%v", err)
		}
	}
	var judge series.Judge
	if *d.badIf != "" {
		re, err := regexp.Compile(*d.badIf)
		if err != nil {
			return fail(usage, "usage: -bad-if %q: %v", *d.badIf, err)
		}
		judge.BadIf = re
	}

	// The tester: one runner.Run per attempt.
	var usageErr error
	// covFailed: -coverage was asked for and a run's reports could not be
	// made; a run that is otherwise good then exits 125.
	covFailed := false
	test := func(ctx context.Context, kf series.KernelFunc, dir string) series.Attempt {
		t0 := time.Now()
		o := append(append([]runner.Option{}, opts...), runner.WithReportDir(dir))
		if kf != nil {
			o = append(o, runner.WithKernelFunc(kf))
		}
		if *d.coverage {
			o = append(o, runner.WithCoverage(coverage.Dirs...))
		}
		res, err := runner.Run(ctx, o...)
		if *d.coverage && ctx.Err() == nil && res != nil && res.Kernel != nil {
			t1 := time.Now()
			sum, cerr := d.coverageReport(ctx, res, dir)
			if cerr != nil {
				covFailed = true
				fmt.Fprintf(stderr, "zcsuite: %v\n", cerr)
			} else {
				logf("%s (reports made in %.1fs)", coverageLine(sum, dir), time.Since(t1).Seconds())
			}
		}
		a := series.Attempt{Err: err, Duration: time.Since(t0)}
		if errors.Is(err, runner.ErrUsage) && usageErr == nil {
			usageErr = err
		}
		if err != nil {
			fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		}
		if res != nil {
			a.Kernel = res.Kernel
			for _, r := range res.Runs {
				a.Runs = append(a.Runs, r.Verdict)
			}
			if len(res.Runs) > 0 {
				a.BootToHello = res.Runs[0].BootToHello
			}
		}
		return a
	}

	// The kernel: built from a tree, or resolved by the runner.
	var build series.Builder
	tree := ""
	// ownTree: tree is zcsuite's own copy (patches applied), which a
	// series walks in place.
	ownTree := false
	var kopts []kbuild.Option
	if *d.tree != "" {
		modDir, err := vmimage.ModuleDir()
		if err != nil {
			return fail(usage, "%v", err)
		}
		kopts = []kbuild.Option{kbuild.WithCacheDir(cacheDir), kbuild.WithFragmentDir(filepath.Join(modDir, "kernelconfig")), kbuild.WithDebug(*d.debug), kbuild.WithGcov(*d.coverage), kbuild.WithCCache(*d.ccache)}
		build = func(ctx context.Context, tree string, logf func(string, ...any)) (*kernel.Kernel, error) {
			k, err := kbuild.Build(ctx, tree, append(kopts, kbuild.WithLogf(logf))...)
			if errors.Is(err, kbuild.ErrTree) {
				return nil, fmt.Errorf("%w: %w", runner.ErrUsage, err)
			}
			return k, err
		}
		if tree, err = d.resolveTree(ctx, cacheDir, logf); err != nil {
			if errors.Is(err, runner.ErrUsage) {
				return fail(usage, "%v", err)
			}
			return fail(verdict.ExitUntested, "%v", err)
		}
		if *d.coverage {
			if err := coverage.CheckTools(); err != nil {
				return fail(verdict.ExitUntested, "%v", err)
			}
			if *d.coverageDiff != "" {
				if err := coverage.CheckDiff(ctx, tree, *d.coverageDiff); err != nil {
					return fail(usage, "usage: %v", err)
				}
			}
		}
		if len(d.patches) > 0 || *d.mbox != "" {
			base := tree
			res, unlock, err := patch.Apply(ctx, patch.Options{Base: base, CacheDir: cacheDir, Patches: d.patches, Mbox: *d.mbox, Logf: logf})
			switch {
			case errors.Is(err, patch.ErrInput):
				return fail(usage, "usage: %v", err)
			case err != nil:
				if code, ok := interruptCode(ctx, stderr); ok {
					return code
				}
				return fail(verdict.ExitUntested, "%v", err)
			}
			defer unlock()
			if tree, err = kbuild.CheckTree(res.Tree); err != nil {
				return fail(verdict.ExitUntested, "%v", err)
			}
			logf("%s: %s with %d patch commit(s) (base..HEAD = %s..%s)", tree, base, res.Commits, res.Base[:12], res.Head[:12])
			inputs := append([]string{}, d.patches...)
			if *d.mbox != "" {
				inputs = append(inputs, *d.mbox)
			}
			treeBuild := build
			build = func(ctx context.Context, tree string, logf func(string, ...any)) (*kernel.Kernel, error) {
				k, err := treeBuild(ctx, tree, logf)
				if k != nil {
					k.BaseTree, k.Patches = base, inputs
				}
				return k, err
			}
			ownTree = true
		}
	}

	if d.mut.active() {
		return d.mut.run(ctx, tree, kopts, opts, map[bool]string{false: "min", true: "debug"}[*d.debug], reportDir, cacheDir, stdout, stderr, usage)
	}

	if *d.commitsOnly {
		cs, err := series.Commits(ctx, tree, *d.series)
		if err != nil {
			return fail(usage, "usage: %v", err)
		}
		for i, c := range cs {
			fmt.Fprintf(stdout, "%d\t%s\t%s\n", i+1, c.SHA, c.Subject)
		}
		return verdict.ExitGood
	}
	if *d.series != "" {
		t, err := series.Run(ctx, series.Options{
			Tree: tree, InPlace: ownTree, Range: *d.series, CacheDir: cacheDir, ReportDir: reportDir,
			Build: build, Test: test, Repeat: *d.repeat, Judge: judge, StopOnBad: *d.stopOnBad, Debug: *d.debug, Out: stdout,
			Commit: *d.commit,
		})
		switch {
		case errors.Is(err, series.ErrRange):
			return fail(usage, "usage: %v", err)
		case usageErr != nil:
			return fail(usage, "%v", usageErr)
		case t == nil:
			return fail(verdict.ExitUntested, "%v", err)
		}
		fmt.Fprintln(stdout)
		t.Text(stdout)
		fmt.Fprintf(stdout, "zcsuite: series table in %s\n", filepath.Join(reportDir, "series.md"))
		if err != nil {
			fmt.Fprintf(stderr, "zcsuite: %v\n", err)
		}
		if code, ok := interruptCode(ctx, stderr); ok {
			return code
		}
		return coverageExit(t.Verdict.ExitCode(), covFailed, stderr)
	}

	var kf series.KernelFunc
	if build != nil {
		kf = func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error) {
			return build(ctx, tree, logf)
		}
	}
	row := series.Kernel(ctx, 1, kf, test, *d.repeat, judge, reportDir)
	switch {
	case usageErr != nil:
		return fail(usage, "%v", usageErr)
	}
	if code, ok := interruptCode(ctx, stderr); ok {
		return code
	}
	report(stdout, row, *d.bisect, *d.repeat)
	writeJudgement(reportDir, row)
	return coverageExit(row.ExitCode(), covFailed, stderr)
}

// resolveTree turns the -kernel-tree argument into an absolute tree path.
func (d *devFlags) resolveTree(ctx context.Context, cacheDir string, logf func(string, ...any)) (string, error) {
	arg := *d.tree
	if v, ok := strings.CutPrefix(arg, debianSourcePrefix); ok {
		src, err := kernel.FetchSource(ctx, v, cacheDir, logf)
		switch {
		case errors.Is(err, kernel.ErrBadSpec), errors.Is(err, kernel.ErrUnknownDebian):
			return "", fmt.Errorf("%w: %w", runner.ErrUsage, err)
		case err != nil:
			return "", err
		}
		logf("Debian %s %s unpacked in %s", src.Package, src.Version, src.Tree)
		arg = src.Tree
	} else {
		arg = CallerPath(arg)
	}
	tree, err := kbuild.CheckTree(arg)
	if err != nil {
		return "", fmt.Errorf("%w: %w", runner.ErrUsage, err)
	}
	return tree, nil
}

// report prints the kernel's judgement (a build error with its compiler
// lines was printed when the attempt failed).
func report(w io.Writer, row series.Row, bisect bool, repeat int) {
	what := "verdict"
	if bisect {
		what = "bisect verdict"
	}
	commit := ""
	if row.Commit != "" {
		commit = " " + row.Commit[:min(12, len(row.Commit))]
	}
	fmt.Fprintf(w, "zcsuite: %s%s: %s (exit %d): %s\n", what, commit, strings.ToUpper(string(row.Verdict)), row.ExitCode(), row.Reason)
	for _, m := range row.Ignored {
		fmt.Fprintf(w, "zcsuite:   ignored (no --bad-if match): %s\n", m)
	}
	if repeat > 1 {
		var a []string
		for _, v := range row.Attempts {
			a = append(a, string(v))
		}
		fmt.Fprintf(w, "zcsuite: %d run(s) of %d: %s\n", len(row.Attempts), repeat, strings.Join(a, " "))
	}
}

// writeJudgement records the verdict beside the reports (judgement.json).
func writeJudgement(dir string, row series.Row) {
	b, err := json.MarshalIndent(row, "", "  ")
	if err != nil || os.MkdirAll(dir, 0o755) != nil {
		return
	}
	os.WriteFile(filepath.Join(dir, "judgement.json"), append(b, '\n'), 0o644)
}
