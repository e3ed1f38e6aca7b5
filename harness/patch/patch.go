package patch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/zcsuite/zcsuite/harness/cachelock"
)

// ErrInput is a patch or mbox file that cannot be read (a usage error).
var ErrInput = errors.New("patch: bad input")

// ApplyError is a patch that does not apply onto the base: the file, the
// hunk (or the mail of an mbox) and git's first complaint.
type ApplyError struct {
	// File is the patch or mbox file as the user named it.
	File string
	// Where names the hunk ("hunk @@ -1412,6 +1520,7 @@ of fs/fuse/dev_uring.c")
	// or, for an mbox, the mail and its hunk.
	Where string
	// Detail is git's first error line.
	Detail string
}

func (e *ApplyError) Error() string {
	s := e.File + " does not apply"
	if e.Where != "" {
		s += ": " + e.Where
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Options say what to apply onto what.
type Options struct {
	// Base is the tree the patches apply onto; it is never written.
	Base string
	// CacheDir holds the snapshot and the worktree (under patch/).
	CacheDir string
	// Patches are diffs, applied in order with git apply, one commit each.
	Patches []string
	// Mbox is a mailed series, applied after Patches with git am.
	Mbox string
	Logf func(string, ...any)
}

// Result is the prepared tree.
type Result struct {
	// Tree is the worktree: the base with every patch committed on top.
	Tree string
	// Base is the base snapshot's commit (also the branch "base" in Tree's
	// repository) and Head the last patch's commit: Base..Head are the
	// patches, oldest first, one commit each.
	Base, Head string
	// Commits is how many commits the patches made.
	Commits int
	// Reused is true when the worktree already held exactly these patches
	// on this base, and was left as it was.
	Reused bool
}

// identity makes the snapshot's and the patches' commits depend only on
// their content: the same base and patches give the same commits.
var identity = []string{
	"GIT_AUTHOR_NAME=zcsuite", "GIT_AUTHOR_EMAIL=zcsuite@localhost", "GIT_AUTHOR_DATE=@0 +0000",
	"GIT_COMMITTER_NAME=zcsuite", "GIT_COMMITTER_EMAIL=zcsuite@localhost", "GIT_COMMITTER_DATE=@0 +0000",
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C",
}

// CheckInputs returns ErrInput for a patch or mbox that is not a readable,
// non-empty regular file.
func CheckInputs(patches []string, mbox string) error {
	files := append([]string{}, patches...)
	if mbox != "" {
		files = append(files, mbox)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		switch {
		case err != nil:
			return fmt.Errorf("%w: %v", ErrInput, err)
		case !st.Mode().IsRegular():
			return fmt.Errorf("%w: %s is not a regular file", ErrInput, f)
		case st.Size() == 0:
			return fmt.Errorf("%w: %s is empty", ErrInput, f)
		}
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInput, err)
		}
		fh.Close()
	}
	return nil
}

// Apply prepares the base with the patches in the cache and returns the
// tree, holding its lock: call unlock when the tree's build and tests are
// done.
func Apply(ctx context.Context, o Options) (res *Result, unlock func(), err error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := CheckInputs(o.Patches, o.Mbox); err != nil {
		return nil, nil, err
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, nil, errors.New("patch: git is not installed")
	}
	base, err := filepath.Abs(o.Base)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256([]byte(base))
	dir := filepath.Join(o.CacheDir, "patch", hex.EncodeToString(h[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	release, err := cachelock.Lock(ctx, filepath.Join(dir, "lock"), o.Logf)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	r := &repo{gitDir: filepath.Join(dir, "base.git")}
	baseCommit, err := r.snapshot(ctx, base, o.Logf)
	if err != nil {
		return nil, nil, err
	}
	key, err := inputKey(baseCommit, o.Patches, o.Mbox)
	if err != nil {
		return nil, nil, err
	}
	wt := filepath.Join(dir, filepath.Base(base))
	if err := r.worktree(ctx, wt, baseCommit, o.Logf); err != nil {
		return nil, nil, err
	}
	res = &Result{Tree: wt, Base: baseCommit}
	// The diffs' commits are made in a scratch index, without touching
	// the worktree: when it already holds them nothing is written (its
	// files keep their times, so the build stays incremental), and
	// otherwise checking them out rewrites only the files that differ.
	head, err := diffCommits(ctx, wt, filepath.Join(dir, "index"), baseCommit, o.Patches)
	if err != nil {
		return nil, nil, err
	}
	record := filepath.Join(dir, "applied")
	if cur, err := gitOut(ctx, wt, nil, "rev-parse", "HEAD"); err == nil && clean(ctx, wt) {
		done := cur == head && o.Mbox == ""
		if old, err := os.ReadFile(record); err == nil && o.Mbox != "" {
			k, h, _ := strings.Cut(strings.TrimSpace(string(old)), " ")
			done = k == key && h == cur
		}
		if done {
			res.Head, res.Reused = cur, true
			res.Commits = countCommits(ctx, wt, baseCommit, cur)
			o.Logf("%s already holds these patches on its base (%s): reused as it is", wt, short(cur))
			return res, release, nil
		}
	}
	os.Remove(record)
	if _, err := gitOut(ctx, wt, nil, "checkout", "--quiet", "--force", "--detach", head); err != nil {
		return nil, nil, fmt.Errorf("patch: %v", err)
	}
	if _, err := gitOut(ctx, wt, nil, "clean", "--quiet", "-ffdx"); err != nil {
		return nil, nil, fmt.Errorf("patch: %v", err)
	}
	if o.Mbox != "" {
		if err := applyMbox(ctx, wt, o.Mbox); err != nil {
			return nil, nil, err
		}
	}
	if res.Head, err = gitOut(ctx, wt, nil, "rev-parse", "HEAD"); err != nil {
		return nil, nil, fmt.Errorf("patch: %v", err)
	}
	res.Commits = countCommits(ctx, wt, baseCommit, res.Head)
	if o.Mbox != "" {
		if err := os.WriteFile(record, []byte(key+" "+res.Head+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
	}
	o.Logf("applied %d commit(s) onto %s in %s", res.Commits, base, wt)
	return res, release, nil
}

// repo is the private repository holding the base's snapshot.
type repo struct{ gitDir string }

// snapshot records the base tree's content as a commit (branch "base") and
// returns it. Only the repository is written; the base is read.
func (r *repo) snapshot(ctx context.Context, base string, logf func(string, ...any)) (string, error) {
	g := func(args ...string) (string, error) {
		return gitOut(ctx, "", nil, append([]string{"--git-dir=" + r.gitDir, "--work-tree=" + base}, args...)...)
	}
	if _, err := os.Stat(filepath.Join(r.gitDir, "HEAD")); err != nil {
		os.RemoveAll(r.gitDir)
		if _, err := g("init", "--quiet"); err != nil {
			return "", fmt.Errorf("patch: %v", err)
		}
		for _, kv := range [][2]string{{"core.autocrlf", "false"}, {"gc.auto", "0"}, {"core.bare", "false"}} {
			if _, err := g("config", kv[0], kv[1]); err != nil {
				return "", fmt.Errorf("patch: %v", err)
			}
		}
		logf("recording %s as the base of the patches (once per base tree; a minute or two for a kernel)", base)
	}
	add := []string{"add", "--all"}
	if !isGitTree(ctx, base) {
		// A tree outside git (Debian's linux-source) may carry a
		// .gitignore that ignores everything at its top.
		add = append(add, "--force")
	}
	if _, err := g(add...); err != nil {
		return "", fmt.Errorf("patch: recording %s: %v", base, err)
	}
	tree, err := g("write-tree")
	if err != nil {
		return "", fmt.Errorf("patch: %v", err)
	}
	commit, err := gitOut(ctx, "", identity, "--git-dir="+r.gitDir, "commit-tree", "-m", "zcsuite: snapshot of "+base, tree)
	if err != nil {
		return "", fmt.Errorf("patch: %v", err)
	}
	if _, err := g("update-ref", "refs/heads/base", commit); err != nil {
		return "", fmt.Errorf("patch: %v", err)
	}
	return commit, nil
}

// worktree makes sure wt is a worktree of the repository, creating it at
// commit when it is not.
func (r *repo) worktree(ctx context.Context, wt, commit string, logf func(string, ...any)) error {
	if c, err := gitOut(ctx, wt, nil, "rev-parse", "--path-format=absolute", "--git-common-dir"); err == nil && samePath(c, r.gitDir) {
		if t, err := gitOut(ctx, wt, nil, "rev-parse", "--show-toplevel"); err == nil && samePath(t, wt) {
			return nil
		}
	}
	os.RemoveAll(wt)
	gitOut(ctx, "", nil, "--git-dir="+r.gitDir, "worktree", "prune")
	logf("checking out the base into %s", wt)
	if _, err := gitOut(ctx, "", nil, "--git-dir="+r.gitDir, "worktree", "add", "--quiet", "--detach", "--force", wt, commit); err != nil {
		return fmt.Errorf("patch: creating the worktree %s: %v", wt, err)
	}
	return nil
}

// diffCommits commits each diff onto base, in order, in the scratch index
// idx, and returns the last commit (base when there is none).
func diffCommits(ctx context.Context, wt, idx, base string, patches []string) (string, error) {
	os.Remove(idx)
	defer os.Remove(idx)
	env := append(append([]string{}, identity...), "GIT_INDEX_FILE="+idx)
	if _, err := gitOut(ctx, wt, env, "read-tree", base); err != nil {
		return "", fmt.Errorf("patch: %v", err)
	}
	head := base
	for _, file := range patches {
		abs, _ := filepath.Abs(file)
		if _, err := gitOut(ctx, wt, env, "apply", "--cached", "--whitespace=nowarn", abs); err != nil {
			return "", applyError(file, abs, "", err)
		}
		tree, err := gitOut(ctx, wt, env, "write-tree")
		if err != nil {
			return "", fmt.Errorf("patch: %v", err)
		}
		if head, err = gitOut(ctx, wt, env, "commit-tree", "-p", head, "-m", "zcsuite: apply "+filepath.Base(file), tree); err != nil {
			return "", fmt.Errorf("patch: committing %s: %v", file, err)
		}
	}
	return head, nil
}

// clean reports whether the worktree's tracked files match its HEAD.
func clean(ctx context.Context, wt string) bool {
	st, err := gitOut(ctx, wt, nil, "status", "--porcelain", "--untracked-files=no")
	return err == nil && st == ""
}

// applyMbox applies a mailed series, one commit per mail.
func applyMbox(ctx context.Context, wt, file string) error {
	abs, _ := filepath.Abs(file)
	_, err := gitOut(ctx, wt, identity, "am", "--quiet", "--no-3way", "--whitespace=nowarn", abs)
	if err == nil {
		return nil
	}
	mail := ""
	out := err.Error()
	var ge *gitError
	if errors.As(err, &ge) {
		out = ge.output
	}
	if m := amFailedRE.FindStringSubmatch(out); m != nil {
		mail = fmt.Sprintf("mail %s %q", strings.TrimLeft(m[1], "0"), m[2])
	}
	gitOut(ctx, wt, nil, "am", "--abort")
	return applyError(file, abs, mail, err)
}

var (
	// git apply's "error: patch failed: fs/fuse/dev_uring.c:1412".
	failedAtRE = regexp.MustCompile(`error: patch failed: (\S+):(\d+)`)
	// git am's "Patch failed at 0002 fuse: the subject".
	amFailedRE = regexp.MustCompile(`Patch failed at (\d+) ([^\n]*)`)
	// the first "error: ..." line of git's complaint.
	errorLineRE = regexp.MustCompile(`(?m)^(?:error|fatal): (.*)$`)
	hunkRE      = regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@`)
)

// applyError names the hunk git could not apply, from git's error and the
// patch file's text.
func applyError(file, abs, mail string, gitErr error) error {
	e := &ApplyError{File: file}
	msg := gitErr.Error()
	var ge *gitError
	if errors.As(gitErr, &ge) {
		msg = ge.output
	}
	if m := errorLineRE.FindStringSubmatch(msg); m != nil {
		e.Detail = "git: " + strings.TrimSpace(m[1])
	}
	var where []string
	if mail != "" {
		where = append(where, mail)
	}
	if m := failedAtRE.FindStringSubmatch(msg); m != nil {
		if h := findHunk(abs, m[1], m[2]); h != "" {
			where = append(where, "hunk "+h+" of "+m[1])
		} else {
			where = append(where, "the hunk at "+m[1]+":"+m[2])
		}
	} else if m := regexp.MustCompile(`error: (\S+): (?:No such file or directory|does not exist in index)`).FindStringSubmatch(msg); m != nil {
		where = append(where, "its hunks of "+m[1]+", a file the base does not have")
	}
	e.Where = strings.Join(where, ", ")
	return e
}

// findHunk returns the header of the hunk of path starting at old line
// `line` in the patch file ("" when not found).
func findHunk(patchFile, path, line string) string {
	f, err := os.Open(patchFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	in := false
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "--- ") {
			name := strings.TrimPrefix(strings.Fields(l + " x")[1], "a/")
			in = name == path
			continue
		}
		if strings.HasPrefix(l, "+++ ") && !in {
			name := strings.TrimPrefix(strings.Fields(l + " x")[1], "b/")
			in = name == path
			continue
		}
		if in {
			if m := hunkRE.FindStringSubmatch(l); m != nil && m[1] == line {
				return strings.TrimSpace(l[:strings.LastIndex(l, "@@")+2])
			}
		}
	}
	return ""
}

// inputKey identifies the base and the patch files' content.
func inputKey(base string, patches []string, mbox string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "base %s\n", base)
	add := func(kind, f string) error {
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInput, err)
		}
		defer fh.Close()
		fmt.Fprintf(h, "%s %s\n", kind, filepath.Base(f))
		_, err = io.Copy(h, fh)
		return err
	}
	for _, p := range patches {
		if err := add("patch", p); err != nil {
			return "", err
		}
	}
	if mbox != "" {
		if err := add("mbox", mbox); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func countCommits(ctx context.Context, wt, from, to string) int {
	out, err := gitOut(ctx, wt, nil, "rev-list", "--count", from+".."+to)
	if err != nil {
		return 0
	}
	n := 0
	fmt.Sscan(out, &n)
	return n
}

func isGitTree(ctx context.Context, dir string) bool {
	top, err := gitOut(ctx, dir, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return false
	}
	return samePath(top, dir)
}

// samePath compares two paths after resolving symbolic links.
func samePath(a, b string) bool {
	if r, err := filepath.EvalSymlinks(a); err == nil {
		a = r
	}
	if r, err := filepath.EvalSymlinks(b); err == nil {
		b = r
	}
	return a == b
}

func short(c string) string { return c[:min(12, len(c))] }

// gitOut runs git (in dir when set) with extra environment and returns its
// trimmed output; an error carries git's stderr.
func gitOut(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", &gitError{args: args, err: err, output: strings.TrimSpace(stderr.String() + "\n" + string(out))}
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// gitError is a git command that failed, with what it printed.
type gitError struct {
	args   []string
	err    error
	output string
}

// Error is one line: git's lines joined with "; ".
func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.args, " "), e.err, strings.Join(strings.Fields(strings.ReplaceAll(e.output, "\n", " ; ")), " "))
}
