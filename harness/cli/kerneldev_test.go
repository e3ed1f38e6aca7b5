package cli

import (
	"io"
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
		{[]string{"-commits-only"}, verdict.ExitUsage, "go with -series"},
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
