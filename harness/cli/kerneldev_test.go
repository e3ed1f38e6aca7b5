package cli

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/series"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

func TestBisectRequested(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--kernel-tree", ".", "--bisect"}, true},
		{[]string{"-bisect=true", "-x"}, true},
		{[]string{"--bisect=false"}, false},
		{[]string{"--", "--bisect"}, false},
		{[]string{"--kernel-tree", "."}, false},
	} {
		if got := bisectRequested(c.args); got != c.want {
			t.Errorf("%q: got %v", c.args, got)
		}
	}
}

// TestDevUsage checks the flag combinations refused before anything
// starts, and that -bisect turns a usage error into the code that stops
// git bisect run.
func TestDevUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-repeat", "0"}, verdict.ExitUsage, "-repeat 0"},
		{[]string{"-kernel-tree", "/x", "-kernel", "debian:7.3-cloud"}, verdict.ExitUsage, "drop -kernel"},
		{[]string{"-debug-kernel"}, verdict.ExitUsage, "go with -kernel-tree"},
		{[]string{"-series", "a..b"}, verdict.ExitUsage, "-series needs -kernel-tree"},
		{[]string{"-kernel-tree", "/x", "-series", "a..b", "-bisect"}, series.ExitAbort, "exclude each other"},
		{[]string{"-stop-on-bad"}, verdict.ExitUsage, "goes with -series"},
		{[]string{"-bad-if", "("}, verdict.ExitUsage, "-bad-if"},
		{[]string{"-bisect", "-bad-if", "("}, series.ExitAbort, "-bad-if"},
		{[]string{"-bisect", "-no-such-flag"}, series.ExitAbort, ""},
		{[]string{"-bisect", "stray"}, series.ExitAbort, "unexpected argument"},
		{[]string{"-no-such-flag"}, verdict.ExitUsage, ""},
		{[]string{"-fetch-source", "7"}, verdict.ExitUsage, "MAJOR.MINOR"},
		{[]string{"-patch", "/x.patch"}, verdict.ExitUsage, "go with -kernel-tree"},
		{[]string{"-mbox", "/x.mbx"}, verdict.ExitUsage, "go with -kernel-tree"},
		{[]string{"-kernel-tree", "/x", "-patch", "/no/such.patch"}, verdict.ExitUsage, "/no/such.patch: no such file"},
		{[]string{"-kernel-tree", "/x", "-mbox", "/"}, verdict.ExitUsage, "/ is not a regular file"},
		{[]string{"-kernel-tree", "/x", "-bisect", "-patch", "/no/such.patch"}, series.ExitAbort, "no such file"},
		{[]string{"-commits-only"}, verdict.ExitUsage, "go with -series"},
		{[]string{"-coverage"}, verdict.ExitUsage, "-coverage go with -kernel-tree"},
		{[]string{"-kernel-tree", "/x", "-coverage-diff", "a..b"}, verdict.ExitUsage, "go with -coverage"},
		{[]string{"-kernel-tree", "/x", "-coverage-errors", "fs/fuse/dev.c"}, verdict.ExitUsage, "go with -coverage"},
		{[]string{"-kernel-tree", "/x", "-coverage", "-bisect"}, series.ExitAbort, "-coverage excludes"},
		{[]string{"-kernel-tree", "/x", "-coverage", "-mutate", "fs/fuse/dev_uring.c"}, verdict.ExitUsage, "-coverage excludes"},
		{[]string{"-commit", "2"}, verdict.ExitUsage, "go with -series"},
		{[]string{"-kernel-tree", "/x", "-series", "a..b", "-commit", "0"}, verdict.ExitUsage, "-commit 0"},
		{[]string{"-kernel-tree", "/x", "-series", "a..b", "-commit", "1", "-commits-only"}, verdict.ExitUsage, "exclude each other"},
		{[]string{"-shard", "4/3"}, verdict.ExitUsage, "-shard"},
		{[]string{"-shard", "1/2", "-bench"}, verdict.ExitUsage, "exclude each other"},
		{[]string{"merge"}, verdict.ExitUsage, "name the shards' report directories"},
		{[]string{"merge", "-no-such-flag"}, verdict.ExitUsage, ""},
		{[]string{"merge", "/nonexistent-zcsuite-shard"}, verdict.ExitUsage, "unreadable report"},
		{[]string{"lava-job"}, verdict.ExitUsage, "-out DIR is required"},
		{[]string{"lava-job", "-out", "x", "-kernel-tree", "/x", "-kernel", "debian:7.3-cloud"}, verdict.ExitUsage, "drop -kernel"},
		{[]string{"lava-job", "-out", "x", "stray"}, verdict.ExitUsage, "unexpected argument"},
		{[]string{"lava-job", "-out", "x", "-kernel", "debian:nosuch"}, verdict.ExitUsage, ""},
	} {
		var stderr strings.Builder
		if got := Main(c.args, io.Discard, &stderr); got != c.code || !strings.Contains(stderr.String(), c.msg) {
			t.Errorf("%q: exit %d, want %d; stderr %q", c.args, got, c.code, stderr.String())
		}
	}
}

// TestPatchDoesNotApply: a patch that does not apply onto the base is an
// untestable kernel (125), said in one line naming the file and the hunk,
// and the base is left as it was.
func TestPatchDoesNotApply(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	base := filepath.Join(t.TempDir(), "linux")
	files := map[string]string{
		"Makefile": "VERSION = 9\nPATCHLEVEL = 9\n", "Kconfig": "", "scripts/kconfig/merge_config.sh": "", "arch/x86/Kconfig": "",
		"fs/fuse/dev_uring.c": "one\ntwo\nthree\n",
	}
	for name, body := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diff := filepath.Join(t.TempDir(), "fix.patch")
	if err := os.WriteFile(diff, []byte("--- a/fs/fuse/dev_uring.c\n+++ b/fs/fuse/dev_uring.c\n@@ -1,3 +1,3 @@\n one\n-TWO\n+2\n three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := Main([]string{"-kernel-tree", base, "-patch", diff, "-cache-dir", t.TempDir(), "-report-dir", t.TempDir()}, &stdout, &stderr)
	if code != verdict.ExitUntested {
		t.Errorf("exit %d, want %d; stderr %q", code, verdict.ExitUntested, stderr.String())
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, diff+" does not apply: hunk @@ -1,3 +1,3 @@ of fs/fuse/dev_uring.c") {
		t.Errorf("stderr %q: want one line naming %s and its hunk", msg, diff)
	}
	if got, _ := os.ReadFile(filepath.Join(base, "fs/fuse/dev_uring.c")); string(got) != files["fs/fuse/dev_uring.c"] {
		t.Errorf("the base tree changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(base, ".git")); err == nil {
		t.Errorf("the base tree got a .git")
	}
}
