package cli

import (
	"flag"
	"testing"
)

func TestCoverageRange(t *testing.T) {
	for _, c := range []struct {
		args   []string
		commit string
		want   string
	}{
		{[]string{"-coverage"}, "abc", ""},
		{[]string{"-coverage", "-coverage-diff", "v1..v2"}, "abc", "v1..v2"},
		{[]string{"-coverage", "-series", "base..HEAD"}, "abc123", "base..abc123"},
		{[]string{"-coverage", "-series", "base..HEAD", "-coverage-diff", "x..y"}, "abc123", "x..y"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		d := addDevFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if got := d.coverageRange(c.commit); got != c.want {
			t.Errorf("%q at %s: %q, want %q", c.args, c.commit, got, c.want)
		}
	}
}
