package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/zcsuite/zcsuite/harness/merge"
	zcreport "github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// mergeMain is `zcsuite merge [-report-dir OUT] DIR…`: the report
// directories of a shard set merged into one, with one verdict and its
// exit code (merge.ExitSet when the set does not cover every spec once).
func mergeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zcsuite merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("report-dir", "", "where to write the merged reports (default results/latest in the zcsuite checkout); not one of the shards' directories")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: zcsuite merge [-report-dir OUT] DIR...\n\nMerges the report directories of the runs -shard 1/N ... N/N into one report\ndirectory and one verdict (exit codes as for a run; %d when the directories\nare not one run's complete shard set, each spec exactly once).\n\n", merge.ExitSet)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return verdict.ExitGood
		}
		return verdict.ExitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "zcsuite merge: name the shards' report directories (see zcsuite merge -help)")
		return verdict.ExitUsage
	}
	dirs := make([]string, fs.NArg())
	for i, d := range fs.Args() {
		dirs[i] = CallerPath(d)
	}
	dir := *out
	if dir == "" {
		dir = DefaultReportDir()
	}
	dir = CallerPath(dir)
	res, err := merge.Dirs(dirs)
	switch {
	case errors.Is(err, merge.ErrSet):
		fmt.Fprintf(stderr, "zcsuite %v\n", err)
		return merge.ExitSet
	case err != nil:
		fmt.Fprintf(stderr, "zcsuite %v\n", err)
		return verdict.ExitUsage
	}
	if err := res.Write(dir, dirs); err != nil {
		fmt.Fprintf(stderr, "zcsuite %v\n", err)
		if errors.Is(err, merge.ErrOut) {
			return verdict.ExitUsage
		}
		return verdict.ExitUntested
	}
	zcreport.Summary(stdout, res.Facts, res.Runs)
	fmt.Fprintf(stdout, "zcsuite: %d shard(s) merged into %s\n", len(dirs), dir)
	return res.ExitCode
}
