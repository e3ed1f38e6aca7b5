package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/zcsuite/zcsuite/harness/merge"
	reports "github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/series"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// exitCodes is the exit code table -help prints.
var exitCodes = []struct {
	code    string
	meaning string
}{
	{fmt.Sprint(verdict.ExitGood), "every spec passed (skips carry their reason; known kernel issues are KNOWN-FAIL)"},
	{fmt.Sprint(verdict.ExitBad), "a spec failed, panicked or hung, a kernel splat was seen, a VM failed by itself (its guest stream ended without the done event, or planned specs did not run), or a known issue stopped reproducing (FIXED)"},
	{fmt.Sprint(verdict.ExitUsage), "usage error: bad flag, filter or focus, missing kernel file, a file that is not a kernel (or one cut short), unknown debian: name, report directory not writable"},
	{fmt.Sprint(verdict.ExitUntested), "the kernel could not be tested: fetch or build failure, missing config option, boot failure, panic before the suite, nothing but skips, a report file that could not be written"},
	{fmt.Sprint(merge.ExitSet), "zcsuite merge only: the report directories are not one run's complete shard set (a shard missing or given twice, shards of different kernels, images or spec sets, a spec not covered exactly once)"},
	{fmt.Sprint(series.ExitAbort), "with -bisect only: a usage error or an interruption, which stops `git bisect run`"},
	{"129, 130, 143", "interrupted by SIGHUP, SIGINT or SIGTERM (128 + the signal): every VM is stopped, the reports hold the specs that ran and mark the others NOT-RUN"},
}

// printHelp is -help: the flags, the report files and the exit codes.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: zcsuite [flags]\n       zcsuite merge [-report-dir OUT] DIR...\n       zcsuite lava-job [-kernel K | -kernel-tree T] -out DIR [-url URL]\n       go test -json ./... | zcsuite test-tally\n\nBoots a kernel in QEMU and runs the zcsuite guest specs against it.\n\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nreport files, in -report-dir (each list of specs in them is the same, with the same outcomes):\n")
	for _, f := range reports.Files {
		holds := f.Holds
		if f.With != "" {
			holds = "with " + f.With + ": " + holds
		}
		item(w, "  "+f.Name, holds, 4)
	}
	item(w, "  series.md, series.json", "with -series: the table of the commits; each commit's report files are in NN-<commit>/", 4)
	item(w, "  coverage.md, coverage.json, coverage.info, coverage/", "with -coverage: line and branch coverage of fs/fuse/*.c and io_uring/*.c merged over the VMs, per file and per function; the error returns no VM reached; with -coverage-diff or -series the hit count of every line the diff adds or changes, uncovered first; the lcov tracefile and genhtml's HTML report; each VM's counters as it sent them in gcov/", 4)
	item(w, "  mutation.md, mutation.json", "with -mutate: the mutation score, every survivor with its one-line diff and file:line, every mutant's status and killing spec; each mutant's report files are in mutants/NNN-<id>/", 4)
	fmt.Fprintln(w)
	item(w, "", "The summary ends with the line CI reads: \"zcsuite: N passed (K known failures), N failed, N skipped\", then \", N not run\" when specs never started and \", N VMs untested\" when VMs tested nothing; a VM that failed by itself counts as failed.", 0)
	fmt.Fprintf(w, "\nexit codes (git bisect run compatible):\n")
	for _, e := range exitCodes {
		item(w, "  "+e.code, e.meaning, 7)
	}
}

// item prints a name and its description, wrapped at 100 columns and
// indented to col: on the name's line when the name is shorter than col,
// below it otherwise (like the flags' descriptions).
func item(w io.Writer, name, desc string, col int) {
	pad := strings.Repeat(" ", col)
	line := name
	if name != "" && len(name) >= col {
		fmt.Fprintln(w, name)
		line = ""
	}
	line += pad[len(line):]
	for _, word := range strings.Fields(desc) {
		if len(line) > col && len(line)+1+len(word) > 100 {
			fmt.Fprintln(w, line)
			line = pad
		}
		if len(line) > col {
			line += " "
		}
		line += word
	}
	fmt.Fprintln(w, line)
}
