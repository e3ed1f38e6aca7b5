package series

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// gitRepo makes a repository with one commit per content of file "guard",
// and returns it with the commits, oldest first.
func gitRepo(t *testing.T, contents ...string) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	g := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@invalid", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	g("init", "-q")
	var shas []string
	for i, c := range contents {
		os.WriteFile(filepath.Join(dir, "guard"), []byte(c), 0o644)
		g("add", "guard")
		g("commit", "-q", "--allow-empty", "-m", "commit "+string(rune('1'+i))+": "+c)
		shas = append(shas, g("rev-parse", "HEAD"))
	}
	return dir, shas
}

func TestCommits(t *testing.T) {
	dir, shas := gitRepo(t, "ok", "ok", "broken", "ok")
	cs, err := Commits(context.Background(), dir, shas[0]+"..HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].SHA != shas[1] || cs[2].SHA != shas[3] || cs[1].Subject != "commit 3: broken" {
		t.Fatalf("%+v", cs)
	}
	for _, bad := range []string{"HEAD", "..HEAD", "HEAD..", "nope..HEAD", "HEAD..HEAD", shas[0] + "...HEAD"} {
		if _, err := Commits(context.Background(), dir, bad); !errors.Is(err, ErrRange) {
			t.Errorf("%q: got %v, want ErrRange", bad, err)
		}
	}
	if _, err := Commits(context.Background(), t.TempDir(), "a..b"); !errors.Is(err, ErrRange) {
		t.Errorf("not a repository: %v", err)
	}
}

// TestRun walks a four-commit history with a fake build and suite: the
// checkout must be the worktree's, the user's tree must stay untouched,
// and the table must say which commit broke.
func TestRun(t *testing.T) {
	dir, shas := gitRepo(t, "ok", "ok", "broken", "ok", "syntax error")
	cache, reports := t.TempDir(), t.TempDir()
	var built []string
	build := func(ctx context.Context, tree string, logf func(string, ...any)) (*kernel.Kernel, error) {
		if tree == dir {
			t.Fatal("the build ran in the user's tree")
		}
		b, err := os.ReadFile(filepath.Join(tree, "guard"))
		if err != nil {
			return nil, err
		}
		built = append(built, string(b))
		if string(b) == "syntax error" {
			return nil, errors.New("make bzImage failed: error: syntax")
		}
		return &kernel.Kernel{Image: string(b)}, nil
	}
	test := func(ctx context.Context, kf KernelFunc, d string) Attempt {
		k, err := kf(ctx, nil)
		if err != nil {
			return Attempt{Err: err}
		}
		o := verdict.Pass
		if k.Image == "broken" {
			o = verdict.Fail
		}
		s := spec(uringSpec, o)
		return Attempt{Kernel: k, Runs: []*verdict.Run{run(o, s)}}
	}
	opts := Options{Tree: dir, Range: shas[0] + "..HEAD", CacheDir: cache, ReportDir: reports, Build: build, Test: test, Repeat: 1}
	tb, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []string
	for _, r := range tb.Rows {
		verdicts = append(verdicts, string(r.Verdict)+":"+r.Build)
	}
	if got := strings.Join(verdicts, " "); got != "good:ok bad:ok good:ok skip:FAIL" || tb.Verdict != Bad || tb.Verdict.ExitCode() != 1 {
		t.Fatalf("verdicts %s, series %s", got, tb.Verdict)
	}
	if tb.Rows[1].Commit != shas[2] || tb.Rows[1].Subject != "commit 3: broken" {
		t.Fatalf("row 2: %+v", tb.Rows[1])
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "guard")); string(b) != "syntax error" {
		t.Fatalf("the user's checkout changed: %q", b)
	}
	for _, f := range []string{"series.md", "series.json"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Error(err)
		}
	}

	// Again, stopping at the first bad commit, in the same (reused) worktree.
	built = nil
	opts.StopOnBad = true
	tb, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Rows) != 2 || tb.Stopped == "" || strings.Join(built, ",") != "ok,broken" {
		t.Fatalf("rows %d stopped %q built %v", len(tb.Rows), tb.Stopped, built)
	}
	wts, _ := filepath.Glob(filepath.Join(cache, "series", "*", "*"))
	n := 0
	for _, w := range wts {
		if fi, err := os.Stat(w); err == nil && fi.IsDir() {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("worktrees in the cache: %v", wts)
	}

	// One commit of the series, as a CI matrix job tests it: its row and
	// report directory keep their number in the series.
	built = nil
	opts.StopOnBad, opts.Commit = false, 2
	tb, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Rows) != 1 || tb.Rows[0].Commit != shas[2] || tb.Rows[0].Index != 2 || strings.Join(built, ",") != "broken" || tb.Verdict != Bad {
		t.Fatalf("-commit 2: rows %+v built %v verdict %s", tb.Rows, built, tb.Verdict)
	}
	opts.Commit = 5
	if _, err := Run(context.Background(), opts); !errors.Is(err, ErrRange) {
		t.Errorf("-commit 5 of 4: %v", err)
	}
}
