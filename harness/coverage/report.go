package coverage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/harness/gitdiff"
)

// Dirs are the kernel source directories whose counters the guest sends.
var Dirs = []string{"fs/fuse", "io_uring"}

// Sources are the files the tables cover (path.Match patterns relative to
// the tree).
var Sources = []string{"fs/fuse/*.c", "io_uring/*.c"}

// DefaultErrorFiles are the files whose unreached error returns
// coverage.md lists when none are asked for.
var DefaultErrorFiles = []string{"fs/fuse/dev_uring.c"}

// Report file names in the report directory.
const (
	MarkdownFile = "coverage.md"
	JSONFile     = "coverage.json"
	InfoFile     = "coverage.info"
	HTMLDir      = "coverage"
)

// Options say what to report on.
type Options struct {
	// ReportDir is where the reports go.
	ReportDir string
	// BuildDir is the kernel's build directory (its .gcno files), Tree its
	// source tree.
	BuildDir, Tree string
	// VMs are the run's VMs, each with the path of its counters' archive
	// (a gzip-compressed tar of .gcda files named by their path in the
	// guest's debugfs); those whose archive is missing are listed as not
	// collected.
	VMs []VM
	// Diff, when set, is a git range A..B of Tree whose added or changed
	// lines are listed with their hit counts.
	Diff string
	// ErrorFiles are the files (relative to Tree) whose error returns
	// with no hit are listed (default DefaultErrorFiles).
	ErrorFiles []string
}

// VM is one VM of the run and where its counters are; NotBooted says the
// run decided its specs without booting it (an ABI gate, an interruption).
type VM struct {
	Name, Archive string
	NotBooted     bool
}

// Summary is coverage.json.
type Summary struct {
	Tree      string   `json:"tree"`
	BuildDir  string   `json:"build_dir"`
	Collected []string `json:"vms_collected"`
	// Missing are VMs of the run that sent no counters (their kernel
	// did not survive, or the guest did not get there).
	Missing []string `json:"vms_missing,omitempty"`
	// NotBooted are VMs the run never booted.
	NotBooted []string  `json:"vms_not_booted,omitempty"`
	Total     Counts    `json:"total"`
	Files     []FileSum `json:"files"`
	Diff      *DiffSum  `json:"diff,omitempty"`
	Errors    []ErrFile `json:"error_returns_not_reached"`
}

// FileSum is one file's counts and its functions'.
type FileSum struct {
	Path string `json:"path"`
	Counts
	Funcs []FuncSum `json:"functions"`
}

// FuncSum is one function's.
type FuncSum struct {
	Name string `json:"name"`
	Line int    `json:"line"`
	Hits int64  `json:"hits"`
	Counts
}

// DiffSum is the patch coverage of a range.
type DiffSum struct {
	Range string `json:"range"`
	// Lines are every added or changed line of the .c and .h files the
	// tracefile knows and of the others, uncovered first.
	Lines []DiffLine `json:"lines"`
	// Instrumented, Hit count the lines gcov has a counter for.
	Instrumented int `json:"instrumented"`
	Hit          int `json:"hit"`
}

// DiffLine is one line of the diff. Hits is nil for a line with no
// counter (a declaration, a brace, a comment, or a file not profiled).
type DiffLine struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Hits *int64 `json:"hits"`
	Text string `json:"text"`
}

// ErrFile is one file's error returns with no hit.
type ErrFile struct {
	File string `json:"file"`
	// Total is how many error-return lines have a counter; NoCounter
	// lists those that have none (gcov put their code on another line).
	Total     int       `json:"with_counter"`
	NotHit    []ErrLine `json:"not_reached"`
	NoCounter []ErrLine `json:"no_counter,omitempty"`
}

// Make turns the VMs' archives into coverage.info, coverage.json,
// coverage.md and the HTML report in the report directory.
func Make(ctx context.Context, o Options) (*Summary, error) {
	if err := CheckTools(); err != nil {
		return nil, err
	}
	s := &Summary{Tree: o.Tree, BuildDir: o.BuildDir}
	var have []VM
	for _, vm := range o.VMs {
		if vm.NotBooted {
			s.NotBooted = append(s.NotBooted, vm.Name)
			continue
		}
		if _, err := os.Stat(vm.Archive); err != nil {
			s.Missing = append(s.Missing, vm.Name)
			continue
		}
		have = append(have, vm)
		s.Collected = append(s.Collected, vm.Name)
	}
	if len(have) == 0 {
		return s, ErrNoData
	}
	work, err := os.MkdirTemp(o.ReportDir, ".coverage-work-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	merge := []string{}
	for i, vm := range have {
		// Each VM's tracefile beside its archive.
		info := strings.TrimSuffix(vm.Archive, ".tgz") + ".info"
		if err := vmInfo(ctx, vm.Archive, o.BuildDir, filepath.Join(work, fmt.Sprint(i)), info); err != nil {
			return nil, fmt.Errorf("VM %s: %w", vm.Name, err)
		}
		merge = append(merge, "-a", info)
	}
	all := filepath.Join(work, "all.info")
	if err := runTool(ctx, "lcov", append(append(merge, "-o", all, "-q"), lcovRC...)...); err != nil {
		return nil, err
	}
	info := filepath.Join(o.ReportDir, InfoFile)
	extract := []string{"--extract", all}
	for _, d := range Dirs {
		extract = append(extract, "*/"+d+"/*")
	}
	if err := runTool(ctx, "lcov", append(append(extract, "-o", info, "-q"), lcovRC...)...); err != nil {
		return nil, err
	}
	html := filepath.Join(o.ReportDir, HTMLDir)
	os.RemoveAll(html)
	if err := runTool(ctx, "genhtml", info, "-o", html, "-q", "--branch-coverage", "--prefix", o.Tree, "--title", "zcsuite -coverage"); err != nil {
		return nil, err
	}
	f, err := os.Open(info)
	if err != nil {
		return nil, err
	}
	files, err := ParseTracefile(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("coverage: %s: %w", info, err)
	}
	byRel := map[string]*File{}
	for _, fl := range files {
		byRel[o.rel(fl.Path)] = fl
	}
	s.fill(byRel)
	if o.Diff != "" {
		if s.Diff, err = diffSum(ctx, o.Tree, o.Diff, byRel); err != nil {
			return nil, err
		}
	}
	errFiles := o.ErrorFiles
	if len(errFiles) == 0 {
		errFiles = DefaultErrorFiles
	}
	for _, ef := range errFiles {
		src, err := os.ReadFile(filepath.Join(o.Tree, ef))
		if err != nil {
			return nil, fmt.Errorf("coverage: error returns of %s: %w", ef, err)
		}
		s.Errors = append(s.Errors, errorsNotReached(ef, src, byRel[ef]))
	}
	if err := s.write(o.ReportDir); err != nil {
		return nil, err
	}
	return s, nil
}

// rel is a tracefile path relative to the tree (the build directory for
// generated files).
func (o Options) rel(p string) string {
	for _, base := range []string{o.Tree, o.BuildDir} {
		if r, ok := strings.CutPrefix(p, strings.TrimSuffix(base, "/")+"/"); ok {
			return r
		}
	}
	return p
}

// selected reports whether rel is one of Sources.
func selected(rel string) bool {
	for _, p := range Sources {
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
	}
	return false
}

// fill makes the per-file and per-function tables of the Sources files.
func (s *Summary) fill(byRel map[string]*File) {
	var rels []string
	for r := range byRel {
		if selected(r) {
			rels = append(rels, r)
		}
	}
	sort.Strings(rels)
	for _, r := range rels {
		fl := byRel[r]
		fs := FileSum{Path: r, Counts: fl.Counts()}
		for i, fn := range fl.Funcs {
			fs.Funcs = append(fs.Funcs, FuncSum{Name: fn.Name, Line: fn.Line, Hits: fn.Hits, Counts: fl.FuncCounts(i)})
		}
		s.Total.Lines += fs.Lines
		s.Total.LinesHit += fs.LinesHit
		s.Total.Branches += fs.Branches
		s.Total.BranchesHit += fs.BranchesHit
		s.Files = append(s.Files, fs)
	}
}

// CheckDiff checks that rng is a range git knows in tree.
func CheckDiff(ctx context.Context, tree, rng string) error {
	a, b, ok := strings.Cut(rng, "..")
	if !ok || a == "" || b == "" || strings.HasPrefix(b, ".") {
		return fmt.Errorf("-coverage-diff %q: want A..B", rng)
	}
	// rev-parse --verify takes one revision at a time.
	for _, rev := range []string{a, b} {
		out, err := exec.CommandContext(ctx, "git", "-C", tree, "rev-parse", "--verify", rev+"^{commit}").CombinedOutput()
		if err != nil {
			return fmt.Errorf("-coverage-diff %s: %s has no commit %s (%s)", rng, tree, rev, tail(string(out), 1))
		}
	}
	return nil
}

func diffSum(ctx context.Context, tree, rng string, byRel map[string]*File) (*DiffSum, error) {
	lines, err := gitdiff.Lines(ctx, tree, rng)
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	return patchCoverage(rng, lines, byRel, func(f string) []string {
		b, err := os.ReadFile(filepath.Join(tree, f))
		if err != nil {
			return nil
		}
		return strings.Split(string(b), "\n")
	}), nil
}

// patchCoverage maps a diff's lines to hit counts: lines with a counter
// and no hit first, then those hit, then those with no counter, each in
// file and line order.
func patchCoverage(rng string, lines map[string][]int, byRel map[string]*File, source func(string) []string) *DiffSum {
	d := &DiffSum{Range: rng}
	var files []string
	for f := range lines {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		src := source(f)
		fl := byRel[f]
		for _, n := range lines[f] {
			dl := DiffLine{File: f, Line: n}
			if n-1 < len(src) {
				dl.Text = strings.TrimSpace(src[n-1])
			}
			if fl != nil {
				if h, ok := fl.Lines[n]; ok {
					dl.Hits = &h
					d.Instrumented++
					if h > 0 {
						d.Hit++
					}
				}
			}
			d.Lines = append(d.Lines, dl)
		}
	}
	rank := func(l DiffLine) int {
		switch {
		case l.Hits != nil && *l.Hits == 0:
			return 0
		case l.Hits != nil:
			return 1
		}
		return 2
	}
	sort.SliceStable(d.Lines, func(i, j int) bool { return rank(d.Lines[i]) < rank(d.Lines[j]) })
	return d
}

func errorsNotReached(file string, src []byte, fl *File) ErrFile {
	e := ErrFile{File: file}
	for _, l := range ErrorLines(src) {
		h, ok := int64(0), false
		if fl != nil {
			h, ok = fl.Lines[l.Line]
		}
		switch {
		case !ok:
			e.NoCounter = append(e.NoCounter, l)
		case h == 0:
			e.Total++
			e.NotHit = append(e.NotHit, l)
		default:
			e.Total++
		}
	}
	return e
}

func (s *Summary) write(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, JSONFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	s.Markdown(&md)
	return os.WriteFile(filepath.Join(dir, MarkdownFile), md.Bytes(), 0o644)
}

func pct(hit, all int) string {
	if all == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(hit)/float64(all))
}

// Markdown writes coverage.md.
func (s *Summary) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# Kernel coverage\n\nTree `%s`, build directory `%s`; counters of %d VM(s) merged (%s)", s.Tree, s.BuildDir, len(s.Collected), strings.Join(s.Collected, ", "))
	if len(s.Missing) > 0 {
		fmt.Fprintf(w, "; no counters from %s (its kernel or guest did not live to the end)", strings.Join(s.Missing, ", "))
	}
	if len(s.NotBooted) > 0 {
		fmt.Fprintf(w, "; not booted: %s", strings.Join(s.NotBooted, ", "))
	}
	fmt.Fprintf(w, ". HTML report: `%s/index.html`.\n\n", HTMLDir)
	fmt.Fprintf(w, "Total of %s: lines %d/%d (%s), branches %d/%d (%s).\n\n", strings.Join(Sources, " "),
		s.Total.LinesHit, s.Total.Lines, pct(s.Total.LinesHit, s.Total.Lines), s.Total.BranchesHit, s.Total.Branches, pct(s.Total.BranchesHit, s.Total.Branches))
	if s.Diff != nil {
		fmt.Fprintf(w, "## Patch coverage of %s\n\n%d line(s) added or changed, %d with a counter, %d of them hit (%s). Uncovered first; `-` is a line with no counter.\n\n",
			s.Diff.Range, len(s.Diff.Lines), s.Diff.Instrumented, s.Diff.Hit, pct(s.Diff.Hit, s.Diff.Instrumented))
		if len(s.Diff.Lines) > 0 {
			fmt.Fprintf(w, "| file:line | hits | line |\n|---|---:|---|\n")
			for _, l := range s.Diff.Lines {
				h := "-"
				if l.Hits != nil {
					h = fmt.Sprint(*l.Hits)
				}
				fmt.Fprintf(w, "| %s:%d | %s | `%s` |\n", l.File, l.Line, h, mdCode(l.Text))
			}
			fmt.Fprintln(w)
		}
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "## Error returns not reached in %s\n\n%d of %d error-return lines with a counter were never executed", e.File, len(e.NotHit), e.Total)
		if len(e.NoCounter) > 0 {
			fmt.Fprintf(w, " (%d more have no counter of their own: %s)", len(e.NoCounter), lineList(e.NoCounter))
		}
		fmt.Fprintf(w, ".\n\n")
		if len(e.NotHit) > 0 {
			fmt.Fprintf(w, "| line | source |\n|---:|---|\n")
			for _, l := range e.NotHit {
				fmt.Fprintf(w, "| %d | `%s` |\n", l.Line, mdCode(l.Text))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "## Files\n\n| file | lines | %% | branches | %% |\n|---|---:|---:|---:|---:|\n")
	for _, f := range s.Files {
		fmt.Fprintf(w, "| %s | %d/%d | %s | %d/%d | %s |\n", f.Path, f.LinesHit, f.Lines, pct(f.LinesHit, f.Lines), f.BranchesHit, f.Branches, pct(f.BranchesHit, f.Branches))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "## Functions\n\n")
	for _, f := range s.Files {
		if f.Lines == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s\n\n| function | line | calls | lines | branches |\n|---|---:|---:|---:|---:|\n", f.Path)
		for _, fn := range f.Funcs {
			fmt.Fprintf(w, "| %s | %d | %d | %d/%d | %d/%d |\n", fn.Name, fn.Line, fn.Hits, fn.LinesHit, fn.Lines, fn.BranchesHit, fn.Branches)
		}
		fmt.Fprintln(w)
	}
}

func lineList(ls []ErrLine) string {
	var s []string
	for _, l := range ls {
		s = append(s, fmt.Sprint(l.Line))
	}
	return strings.Join(s, ", ")
}

func mdCode(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
