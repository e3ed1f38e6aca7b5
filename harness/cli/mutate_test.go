package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// TestMutateUsage checks the -mutate combinations refused before anything
// is fetched or built.
func TestMutateUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-mutate", "fs/fuse/dev_uring.c"}, "-mutate needs -kernel-tree"},
		{[]string{"-mutate-func", "f"}, "go with -mutate"},
		{[]string{"-mutate-sample", "3"}, "go with -mutate"},
		{[]string{"-kernel-tree", "/x", "-mutate", "/abs/dev_uring.c"}, "relative to the tree"},
		{[]string{"-kernel-tree", "/x", "-mutate", "fs/fuse/Makefile"}, "want a .c file"},
		{[]string{"-kernel-tree", "/x", "-mutate", "a.c", "-mutate-sample", "-1"}, "-mutate-sample -1"},
		{[]string{"-kernel-tree", "/x", "-mutate", "a.c", "-mutate-deadline", "0s"}, "-mutate-deadline"},
		{[]string{"-kernel-tree", "/x", "-mutate", "a.c", "-series", "a..b"}, "excludes -series"},
	} {
		var stderr strings.Builder
		if got := Main(c.args, io.Discard, &stderr); got != verdict.ExitUsage || !strings.Contains(stderr.String(), c.msg) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, want %d; stderr %q", c.args, got, verdict.ExitUsage, stderr.String())
		}
	}
}
