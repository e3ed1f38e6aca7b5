package series

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/cachelock"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

// ErrRange is a bad --series argument or a tree that is not a git work
// tree; callers map it to a usage error.
var ErrRange = errors.New("series: bad commit range")

// KernelFunc supplies the kernel an attempt tests.
type KernelFunc func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error)

// Tester runs the suite once against the kernel kf supplies and writes the
// attempt's reports into dir.
type Tester func(ctx context.Context, kf KernelFunc, dir string) Attempt

// Builder builds the kernel tree at dir.
type Builder func(ctx context.Context, tree string, logf func(string, ...any)) (*kernel.Kernel, error)

// Kernel tests one kernel repeat times (stopping at the first bad attempt,
// or after a build failure, which a retry would repeat) and judges it.
// build, when not nil, is called at most once and its kernel is reused by
// every attempt; when nil, the tester resolves the kernel itself. With
// repeat > 1 each attempt reports into dir/run-N.
func Kernel(ctx context.Context, index int, build KernelFunc, test Tester, repeat int, judge Judge, dir string) Row {
	var (
		info  BuildInfo
		built *kernel.Kernel
		kf    KernelFunc
	)
	if build != nil {
		kf = func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error) {
			if !info.Done {
				t0 := time.Now()
				built, info.Err = build(ctx, logf)
				info.Time, info.Done = time.Since(t0), true
			}
			return built, info.Err
		}
	}
	var attempts []Attempt
	var judgements []Judgement
	for i := 1; i <= max(1, repeat); i++ {
		d := dir
		if repeat > 1 {
			d = filepath.Join(dir, fmt.Sprintf("run-%d", i))
		}
		a := test(ctx, kf, d)
		a.ReportDir = d
		if a.Kernel == nil {
			a.Kernel = built
		}
		attempts = append(attempts, a)
		jd := judge.Attempt(a)
		judgements = append(judgements, jd)
		if jd.Verdict == Bad || info.Err != nil || ctx.Err() != nil {
			break
		}
	}
	return NewRow(index, attempts, judge.Combine(judgements), info)
}

// Commit is one commit of a range.
type Commit struct {
	SHA, Subject string
}

// Commits lists the commits of rng ("A..B") in tree, oldest first.
func Commits(ctx context.Context, tree, rng string) ([]Commit, error) {
	a, b, ok := strings.Cut(rng, "..")
	if !ok || a == "" || b == "" || strings.HasPrefix(b, ".") {
		return nil, fmt.Errorf("%w: %q (want A..B: the commits after A up to B)", ErrRange, rng)
	}
	for _, ref := range []string{a, b} {
		if _, err := git(ctx, tree, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
			return nil, fmt.Errorf("%w: %q is not a commit in %s", ErrRange, ref, tree)
		}
	}
	out, err := git(ctx, tree, "log", "--reverse", "--topo-order", "--format=%H%x00%s", a+".."+b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRange, err)
	}
	var cs []Commit
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		sha, subj, _ := strings.Cut(l, "\x00")
		cs = append(cs, Commit{SHA: sha, Subject: subj})
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no commits", ErrRange, rng)
	}
	return cs, nil
}

// Worktree returns a detached git worktree of tree's repository under
// cacheDir/series, creating it on first use; it belongs to zcsuite (the
// user's checkout is never touched) and is kept, so builds of its commits
// are incremental. The returned unlock releases the worktree.
func Worktree(ctx context.Context, tree, cacheDir string) (string, func(), error) {
	top, err := git(ctx, tree, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s is not a git work tree", ErrRange, tree)
	}
	common, err := git(ctx, tree, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrRange, err)
	}
	h := sha256.Sum256([]byte(common))
	base := filepath.Join(cacheDir, "series", hex.EncodeToString(h[:8]))
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", nil, err
	}
	unlock, err := cachelock.Lock(ctx, filepath.Join(base, "lock"), nil)
	if err != nil {
		return "", nil, err
	}
	wt := filepath.Join(base, filepath.Base(top))
	if c, err := git(ctx, wt, "rev-parse", "--path-format=absolute", "--git-common-dir"); err == nil && c == common {
		if t, err := git(ctx, wt, "rev-parse", "--show-toplevel"); err == nil && t == wt {
			return wt, unlock, nil
		}
	}
	os.RemoveAll(wt)
	git(ctx, tree, "worktree", "prune")
	if _, err := git(ctx, tree, "worktree", "add", "--detach", "--force", wt, "HEAD"); err != nil {
		unlock()
		return "", nil, fmt.Errorf("series: creating the worktree %s: %v", wt, err)
	}
	return wt, unlock, nil
}

// Checkout moves the worktree to commit, discarding anything changed in it.
func Checkout(ctx context.Context, wt, commit string) error {
	if _, err := git(ctx, wt, "checkout", "--quiet", "--detach", "--force", commit); err != nil {
		return fmt.Errorf("series: checkout %s: %v", commit, err)
	}
	if _, err := git(ctx, wt, "clean", "--quiet", "-fd"); err != nil {
		return fmt.Errorf("series: clean: %v", err)
	}
	return nil
}

// Options are a series' settings.
type Options struct {
	// Tree is the user's git work tree; Range is "A..B".
	Tree, Range string
	// CacheDir holds the worktree; ReportDir receives series.md,
	// series.json and one subdirectory per commit.
	CacheDir, ReportDir string
	Build               Builder
	Test                Tester
	Repeat              int
	Judge               Judge
	// StopOnBad ends the series at the first bad commit.
	StopOnBad bool
	// Commit, when not 0, tests only the Commit-th commit of the range
	// (1 = the oldest), as a CI matrix job does; its row and report
	// directory keep their number in the series.
	Commit int
	Debug  bool
	// Out receives the per-commit progress and the table.
	Out io.Writer
}

// Run builds and tests every commit of o.Range and returns the table,
// written to o.ReportDir as it grows (a series cut short still leaves one).
func Run(ctx context.Context, o Options) (*Table, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	commits, err := Commits(ctx, o.Tree, o.Range)
	if err != nil {
		return nil, err
	}
	if o.Commit < 0 || o.Commit > len(commits) {
		return nil, fmt.Errorf("%w: -commit %d: %s has %d commit(s)", ErrRange, o.Commit, o.Range, len(commits))
	}
	wt, unlock, err := Worktree(ctx, o.Tree, o.CacheDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t := &Table{Tree: o.Tree, Range: o.Range, Repeat: max(1, o.Repeat), Debug: o.Debug, Families: Families(), Verdict: Good}
	if o.Judge.BadIf != nil {
		t.BadIf = o.Judge.BadIf.String()
	}
	fmt.Fprintf(o.Out, "zcsuite: series %s: %d commit(s), tested in the worktree %s\n", o.Range, len(commits), wt)
	if o.Commit != 0 {
		fmt.Fprintf(o.Out, "zcsuite: -commit %d: testing only %s\n", o.Commit, short(commits[o.Commit-1].SHA))
	}
	for i, c := range commits {
		if o.Commit != 0 && i+1 != o.Commit {
			continue
		}
		if ctx.Err() != nil {
			t.Stopped = "interrupted"
			break
		}
		fmt.Fprintf(o.Out, "zcsuite: [%d/%d] %s %s\n", i+1, len(commits), short(c.SHA), c.Subject)
		dir := filepath.Join(o.ReportDir, fmt.Sprintf("%02d-%s", i+1, short(c.SHA)))
		var row Row
		if err := Checkout(ctx, wt, c.SHA); err != nil {
			row = NewRow(i+1, []Attempt{{Err: err}}, Judgement{Verdict: Skip, Reason: err.Error()}, BuildInfo{})
		} else {
			build := func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error) {
				return o.Build(ctx, wt, logf)
			}
			row = Kernel(ctx, i+1, build, o.Test, o.Repeat, o.Judge, dir)
		}
		row.Commit, row.Subject = c.SHA, c.Subject
		t.Add(row)
		fmt.Fprintf(o.Out, "zcsuite: [%d/%d] %s: %s (%s)\n", i+1, len(commits), short(c.SHA), strings.ToUpper(string(row.Verdict)), row.Reason)
		if err := t.Write(o.ReportDir); err != nil {
			fmt.Fprintf(o.Out, "zcsuite: %v\n", err)
		}
		if o.StopOnBad && row.Verdict == Bad {
			if i+1 < len(commits) {
				t.Stopped = fmt.Sprintf("--stop-on-bad after %s", short(c.SHA))
			}
			break
		}
	}
	if err := t.Write(o.ReportDir); err != nil {
		return t, err
	}
	return t, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimRight(string(out), "\n"), nil
}
