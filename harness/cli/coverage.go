package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/harness/coverage"
	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// coverageExit is a -coverage run's exit code: a good run whose coverage
// reports could not be made could not be measured (125).
func coverageExit(code int, covFailed bool, stderr io.Writer) int {
	if covFailed && code == verdict.ExitGood {
		fmt.Fprintln(stderr, "zcsuite: the specs passed but the coverage reports could not be made (exit 125)")
		return verdict.ExitUntested
	}
	return code
}

// coverageRange is the diff whose lines coverage.md lists for a kernel
// built at commit: -coverage-diff as given, else under -series A..B the
// series up to that commit (A..commit; A..B at its last one).
func (d *devFlags) coverageRange(commit string) string {
	if *d.coverageDiff != "" {
		return *d.coverageDiff
	}
	if a, _, ok := strings.Cut(*d.series, ".."); ok && a != "" && commit != "" {
		return a + ".." + commit
	}
	return ""
}

// coverageReport makes the coverage reports of a finished -coverage run in
// dir.
func (d *devFlags) coverageReport(ctx context.Context, res *runner.Result, dir string) (*coverage.Summary, error) {
	if res == nil || res.Kernel == nil || res.Kernel.ConfigPath == "" || res.Kernel.Tree == "" {
		return nil, errors.New("coverage: the run built no kernel")
	}
	o := coverage.Options{
		ReportDir: dir, BuildDir: filepath.Dir(res.Kernel.ConfigPath), Tree: res.Kernel.Tree,
		Diff: d.coverageRange(res.Kernel.Commit), ErrorFiles: splitList(*d.coverageErrors),
	}
	for _, r := range res.Runs {
		o.VMs = append(o.VMs, coverage.VM{Name: r.Name, Archive: runner.CoverageArchive(dir, r.Name), NotBooted: r.Duration == 0})
	}
	return coverage.Make(ctx, o)
}

// coverageLine is the one line a run prints about its coverage.
func coverageLine(s *coverage.Summary, dir string) string {
	line := fmt.Sprintf("coverage of %d VM(s): lines %d/%d, branches %d/%d of %s",
		len(s.Collected), s.Total.LinesHit, s.Total.Lines, s.Total.BranchesHit, s.Total.Branches, strings.Join(coverage.Sources, " "))
	for _, f := range s.Files {
		if f.Path == "fs/fuse/dev_uring.c" {
			line += fmt.Sprintf("; dev_uring.c lines %d/%d, branches %d/%d", f.LinesHit, f.Lines, f.BranchesHit, f.Branches)
		}
	}
	if s.Diff != nil {
		line += fmt.Sprintf("; %s: %d of %d lines with a counter hit", s.Diff.Range, s.Diff.Hit, s.Diff.Instrumented)
	}
	return line + "; " + filepath.Join(dir, coverage.MarkdownFile)
}
