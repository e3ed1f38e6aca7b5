package patch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/series"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), identity...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

const lines = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n"

// baseTree is a small tree outside git, with a Debian-style .gitignore
// that ignores everything at its top.
func baseTree(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "linux-source-9.9")
	write(t, filepath.Join(dir, ".gitignore"), "/*\n")
	write(t, filepath.Join(dir, "fs/fuse/dev_uring.c"), lines)
	write(t, filepath.Join(dir, "Makefile"), "VERSION = 9\nPATCHLEVEL = 9\n")
	return dir
}

// makePatches writes, from a scratch git copy of base, a diff changing
// "three" and an mbox of two mails (format-patch's, as b4 am writes).
func makePatches(t *testing.T, base string) (diff, mbox string) {
	scratch := filepath.Join(t.TempDir(), "scratch")
	run(t, "", "cp", "-a", base, scratch)
	run(t, scratch, "git", "init", "-q")
	run(t, scratch, "git", "add", "-A", "-f")
	run(t, scratch, "git", "commit", "-qm", "base")
	write(t, filepath.Join(scratch, "fs/fuse/dev_uring.c"), strings.Replace(lines, "three", "THREE", 1))
	run(t, scratch, "git", "commit", "-qam", "fuse: shout three")
	write(t, filepath.Join(scratch, "fs/fuse/dev_uring.c"), strings.Replace(strings.Replace(lines, "three", "THREE", 1), "seven", "SEVEN", 1))
	run(t, scratch, "git", "commit", "-qam", "fuse: shout seven")
	dir := t.TempDir()
	diff = filepath.Join(dir, "three.patch")
	write(t, diff, run(t, scratch, "git", "diff", "HEAD~2", "HEAD~1")+"\n")
	mbox = filepath.Join(dir, "series.mbx")
	write(t, mbox, run(t, scratch, "git", "format-patch", "--stdout", "HEAD~2..HEAD")+"\n")
	return diff, mbox
}

func snapshotOf(t *testing.T, dir string) string {
	return run(t, "", "sh", "-c", "cd "+dir+" && find . -type f | sort | xargs sha256sum")
}

func TestApplyDiffAndMbox(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	base := baseTree(t)
	before := snapshotOf(t, base)
	diff, mbox := makePatches(t, base)
	cache := t.TempDir()

	res, unlock, err := Apply(ctx, Options{Base: base, CacheDir: cache, Patches: []string{diff}})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	got, _ := os.ReadFile(filepath.Join(res.Tree, "fs/fuse/dev_uring.c"))
	if !strings.Contains(string(got), "THREE") || res.Commits != 1 || res.Reused {
		t.Errorf("after -patch: %q, %d commit(s), reused %v", got, res.Commits, res.Reused)
	}
	if !strings.HasPrefix(res.Tree, cache) {
		t.Errorf("the tree %s is not in the cache %s", res.Tree, cache)
	}

	// The same input again: the tree is left as it is, its files
	// untouched (their times drive the incremental build).
	st1, _ := os.Stat(filepath.Join(res.Tree, "fs/fuse/dev_uring.c"))
	again, unlock, err := Apply(ctx, Options{Base: base, CacheDir: cache, Patches: []string{diff}})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if !again.Reused || again.Head != res.Head || again.Tree != res.Tree {
		t.Errorf("the same patch again: %+v, want the tree of %+v reused", again, res)
	}
	if st2, _ := os.Stat(filepath.Join(res.Tree, "fs/fuse/dev_uring.c")); !st2.ModTime().Equal(st1.ModTime()) {
		t.Errorf("reusing the tree rewrote a patched file")
	}

	// An mbox instead: two mails, two commits, base..HEAD.
	am, unlock, err := Apply(ctx, Options{Base: base, CacheDir: cache, Mbox: mbox})
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	got, _ = os.ReadFile(filepath.Join(am.Tree, "fs/fuse/dev_uring.c"))
	if !strings.Contains(string(got), "THREE") || !strings.Contains(string(got), "SEVEN") || am.Commits != 2 || am.Reused {
		t.Errorf("after -mbox: %q, %d commit(s), reused %v", got, am.Commits, am.Reused)
	}
	subjects := run(t, am.Tree, "git", "log", "--format=%s", "base..HEAD")
	if subjects != "fuse: shout seven\nfuse: shout three" {
		t.Errorf("base..HEAD = %q", subjects)
	}
	if after := snapshotOf(t, base); after != before {
		t.Errorf("the base tree changed:\n%s\n---\n%s", before, after)
	}
}

func TestApplyFailureNamesFileAndHunk(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	base := baseTree(t)
	diff, mbox := makePatches(t, base)
	// The base moves on: "three" is gone, so the hunk cannot apply.
	write(t, filepath.Join(base, "fs/fuse/dev_uring.c"), strings.Replace(lines, "three", "drei", 1))
	before := snapshotOf(t, base)
	cache := t.TempDir()

	_, _, err := Apply(ctx, Options{Base: base, CacheDir: cache, Patches: []string{diff}})
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply = %v, want an ApplyError", err)
	}
	msg := err.Error()
	for _, want := range []string{diff + " does not apply", "hunk @@ -1,6 +1,6 @@ of fs/fuse/dev_uring.c", "git: patch failed: fs/fuse/dev_uring.c:1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("%q is more than one line", msg)
	}

	_, _, err = Apply(ctx, Options{Base: base, CacheDir: cache, Mbox: mbox})
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), `mail 1 "fuse: shout three"`) || !strings.Contains(err.Error(), "hunk @@ -1,6 +1,6 @@ of fs/fuse/dev_uring.c") {
		t.Errorf("mbox: %v, want the mail and the hunk named", err)
	}
	if after := snapshotOf(t, base); after != before {
		t.Errorf("the base tree changed")
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.patch")
	write(t, empty, "")
	for _, c := range []struct {
		patches []string
		mbox    string
	}{
		{[]string{filepath.Join(dir, "missing.patch")}, ""},
		{[]string{dir}, ""},
		{[]string{empty}, ""},
		{nil, filepath.Join(dir, "missing.mbx")},
	} {
		if err := CheckInputs(c.patches, c.mbox); !errors.Is(err, ErrInput) {
			t.Errorf("CheckInputs(%v, %q) = %v, want ErrInput", c.patches, c.mbox, err)
		}
	}
}

// An mbox tested commit by commit: -series base..HEAD walks the patched
// worktree itself, one mail per row, oldest first.
func TestMboxSeriesInPlace(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	base := baseTree(t)
	_, mbox := makePatches(t, base)
	cache := t.TempDir()
	res, unlock, err := Apply(ctx, Options{Base: base, CacheDir: cache, Mbox: mbox})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var built []string
	build := func(ctx context.Context, tree string, logf func(string, ...any)) (*kernel.Kernel, error) {
		if tree != res.Tree {
			t.Errorf("built %s, want the patched worktree %s", tree, res.Tree)
		}
		b, err := os.ReadFile(filepath.Join(tree, "fs/fuse/dev_uring.c"))
		built = append(built, strings.Join(strings.Fields(string(b)), " "))
		return &kernel.Kernel{Image: "x"}, err
	}
	test := func(ctx context.Context, kf series.KernelFunc, dir string) series.Attempt {
		k, err := kf(ctx, nil)
		return series.Attempt{Kernel: k, Err: err, Runs: []*verdict.Run{{Outcome: verdict.Pass}}}
	}
	tb, err := series.Run(ctx, series.Options{Tree: res.Tree, InPlace: true, Range: "base..HEAD", CacheDir: cache, ReportDir: t.TempDir(), Build: build, Test: test, Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Rows) != 2 || tb.Rows[0].Subject != "fuse: shout three" || tb.Rows[1].Subject != "fuse: shout seven" {
		t.Fatalf("rows %+v", tb.Rows)
	}
	if strings.Join(built, " | ") != "one two THREE four five six seven eight | one two THREE four five six SEVEN eight" {
		t.Errorf("built %q", built)
	}
	if _, err := os.Stat(filepath.Join(cache, "series")); err == nil {
		t.Errorf("a second worktree was made under %s/series", cache)
	}
}
