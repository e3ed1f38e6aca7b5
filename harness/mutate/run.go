package mutate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/cachelock"
	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// Status is what became of a mutant.
type Status string

// The statuses. Killed and Timeout count as detected; BuildFailed,
// Equivalent and Untested are left out of the score.
const (
	Killed      Status = "killed"       // a spec failed, panicked or the kernel splatted
	Survived    Status = "survived"     // the whole suite passed
	Timeout     Status = "timeout"      // the per-mutant deadline cut the suite before a bad spec
	BuildFailed Status = "build-failed" // the mutant does not compile
	Equivalent  Status = "equivalent"   // listed as equivalent; not run
	Untested    Status = "untested"     // the kernel did not reach the suite (exit 125)
)

// Build builds the kernel tree at tree.
type Build func(ctx context.Context, tree string) (*kernel.Kernel, error)

// Test runs the suite against k, reporting into dir, cut at deadline; it
// returns the VMs' verdicts and the run's exit code.
type Test func(ctx context.Context, k *kernel.Kernel, dir string, deadline time.Duration) ([]*verdict.Run, int, error)

// Options configure Run.
type Options struct {
	// Tree is the pristine kernel tree (never written).
	Tree string
	// TreeRev identifies the tree's state beyond the mutated files (its
	// git commit; "" for a tree that does not change, such as an unpacked
	// source package). Cached results are kept per TreeRev and the mutated
	// files' content; other uncommitted changes are not told apart.
	TreeRev string
	// SuiteKey identifies the suite a mutant is tested with: the guest
	// image's content and the run's spec selection. Cached results (and
	// the unmutated kernel's pass) are kept per SuiteKey, so a survivor
	// recorded before a spec was added, or under another -label-filter,
	// is tested again instead of reused.
	SuiteKey string
	// Files are the files to mutate, relative to Tree.
	Files []string
	// Funcs, DiffRange and Sample narrow the mutants.
	Funcs     []string
	IDs       []string
	DiffRange string
	Sample    int
	// Deadline bounds each mutant's suite run.
	Deadline time.Duration
	// CacheDir holds the mutation workspace and the per-mutant results.
	CacheDir, ReportDir string
	// Equivalents are the reviewed equivalent mutants.
	Equivalents Equivalents
	Build       Build
	Test        Test
	// Seed, when set, prepares the workspace tree's build directory from
	// the pristine tree's (kbuild.Seed).
	Seed func(ctx context.Context, from, tree string) error
	Out  io.Writer
}

// Outcome is one mutant's result.
type Outcome struct {
	Mutant
	Status Status `json:"status"`
	// Killer is the first bad spec (or splat) that killed the mutant.
	Killer string `json:"killer,omitempty"`
	Reason string `json:"reason,omitempty"`
	// BuildSeconds and TestSeconds are the mutant's costs.
	BuildSeconds float64 `json:"build_s"`
	TestSeconds  float64 `json:"test_s"`
	// Cached is true when the result came from an earlier run.
	Cached bool `json:"cached,omitempty"`
}

// Run makes, builds and tests the mutants and writes mutation.md and
// mutation.json into the report directory (after every mutant, so an
// interrupted run leaves what it measured).
func Run(ctx context.Context, o Options) (*Summary, error) {
	logf := func(f string, v ...any) {
		if o.Out != nil {
			fmt.Fprintf(o.Out, "zcsuite: mutate: "+f+"\n", v...)
		}
	}
	var all []Mutant
	pristine := map[string][]byte{}
	var diffLines map[string]map[int]bool
	if o.DiffRange != "" {
		var err error
		if diffLines, err = DiffLines(ctx, o.Tree, o.DiffRange, o.Files); err != nil {
			return nil, err
		}
	}
	for _, f := range o.Files {
		src, err := os.ReadFile(filepath.Join(o.Tree, f))
		if err != nil {
			return nil, fmt.Errorf("%w: -mutate %s: %v", ErrSelect, f, err)
		}
		pristine[f] = src
		all = append(all, Generate(f, src)...)
	}
	generated := len(all)
	all, err := ByFunc(all, o.Funcs)
	if err != nil {
		return nil, err
	}
	if diffLines != nil {
		all = ByLines(all, diffLines)
	}
	if all, err = ByID(all, o.IDs); err != nil {
		return nil, err
	}
	selected := len(all)
	all = Sample(all, o.Sample)
	logf("%d mutants generated in %s, %d selected, %d to test", generated, strings.Join(o.Files, ","), selected, len(all))

	ws, unlock, err := workspace(ctx, o.CacheDir, o.Tree, logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tree := filepath.Join(ws, "tree")
	defer restore(tree, pristine)
	if err := restore(tree, pristine); err != nil {
		return nil, err
	}
	if o.Seed != nil {
		if err := o.Seed(ctx, o.Tree, tree); err != nil {
			return nil, err
		}
	}
	sum := &Summary{Files: o.Files, Funcs: o.Funcs, DiffRange: o.DiffRange, Sample: o.Sample, Generated: generated, Selected: selected, Deadline: o.Deadline.Seconds()}
	t0 := time.Now()
	write := func() error {
		sum.WallSeconds = time.Since(t0).Seconds()
		return sum.Write(o.ReportDir)
	}

	// The unmutated kernel must pass, or no survivor means anything.
	base, err := baseline(ctx, o, ws, tree, pristine, logf)
	sum.Baseline = base
	if err != nil {
		write()
		return sum, err
	}

	for i, m := range all {
		if ctx.Err() != nil {
			break
		}
		key := resultKey(o.TreeRev, o.SuiteKey, m, pristine[m.File])
		res := filepath.Join(ws, "results", key+".json")
		var out Outcome
		if r := o.Equivalents.Reason(m); r != "" {
			out = Outcome{Mutant: m, Status: Equivalent, Reason: r}
		} else if data, err := os.ReadFile(res); err == nil && json.Unmarshal(data, &out) == nil && out.ID == m.ID {
			out.Cached = true
		} else {
			noteMutated(ws, m.File)
			out = testMutant(ctx, o, tree, pristine, m, filepath.Join(o.ReportDir, "mutants", fmt.Sprintf("%03d-%s", i+1, m.ID)))
			if ctx.Err() != nil {
				break // an interrupted mutant is tested again on resume
			}
			if out.Status != Untested {
				saveJSON(res, out)
			}
		}
		sum.Add(out)
		logf("[%d/%d] %s:%d %s %s → %s%s", i+1, len(all), m.File, m.Line, m.Rule, m.Diff(), out.Status, map[bool]string{true: " by " + out.Killer}[out.Killer != ""])
		if err := write(); err != nil {
			return sum, err
		}
	}
	sum.Interrupted = ctx.Err() != nil
	return sum, write()
}

// testMutant applies m in the workspace tree, builds and tests it.
func testMutant(ctx context.Context, o Options, tree string, pristine map[string][]byte, m Mutant, dir string) Outcome {
	out := Outcome{Mutant: m}
	src, err := m.Apply(pristine[m.File])
	if err == nil {
		err = restore(tree, pristine)
	}
	if err == nil {
		err = writeFile(filepath.Join(tree, m.File), src)
	}
	if err != nil {
		out.Status, out.Reason = Untested, err.Error()
		return out
	}
	t0 := time.Now()
	k, err := o.Build(ctx, tree)
	out.BuildSeconds = time.Since(t0).Seconds()
	var be *kbuild.BuildError
	switch {
	case errors.As(err, &be) && ctx.Err() == nil:
		out.Status, out.Reason = BuildFailed, "does not compile"
		for _, l := range be.Lines {
			if strings.Contains(l, "error:") {
				out.Reason = oneLine(strings.TrimSpace(l))
				break
			}
		}
		return out
	case err != nil:
		out.Status, out.Reason = Untested, oneLine(err.Error())
		return out
	}
	t0 = time.Now()
	runs, code, err := o.Test(ctx, k, dir, o.Deadline)
	out.TestSeconds = time.Since(t0).Seconds()
	out.Status, out.Killer, out.Reason = judge(runs, code, err)
	return out
}

// judge turns a suite run into a mutant's status and its killer.
func judge(runs []*verdict.Run, code int, err error) (Status, string, string) {
	var timedOut []string
	for _, r := range runs {
		for _, s := range r.Specs {
			switch {
			case s.Outcome == verdict.Hang || s.Outcome == verdict.NotRun:
				timedOut = append(timedOut, s.Name)
			case s.Outcome.Bad():
				return Killed, s.Name, fmt.Sprintf("%s: %s", s.Outcome, oneLine(s.Reason))
			}
		}
		for _, sp := range r.Outside {
			return Killed, "splat outside specs: " + sp.Title, ""
		}
		if o, reason, ok := r.VMFailure(); ok && o.Bad() && o != verdict.Hang {
			return Killed, "VM " + string(o), oneLine(reason)
		}
	}
	switch {
	case len(timedOut) > 0 && code != verdict.ExitUntested:
		return Timeout, "", fmt.Sprintf("deadline: %d spec(s) hung or not run, first %s", len(timedOut), timedOut[0])
	case code == verdict.ExitGood:
		return Survived, "", ""
	case code == verdict.ExitBad:
		return Killed, "run", "exit 1 without a bad spec"
	}
	msg := fmt.Sprintf("exit %d", code)
	if err != nil {
		msg += ": " + oneLine(err.Error())
	}
	return Untested, "", msg
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

// resultKey names a mutant's cached result: the mutant and the content of
// the file it was made from, in the tree's revision, tested by the suite.
func resultKey(rev, suite string, m Mutant, src []byte) string {
	h := sha256.New()
	if rev != "" {
		fmt.Fprintf(h, "rev %s\x00", rev)
	}
	if suite != "" {
		fmt.Fprintf(h, "suite %s\x00", suite)
	}
	fmt.Fprintf(h, "%s\x00%s\x00", m.ID, m.New)
	h.Write(src)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// baseline builds and tests the unmutated workspace tree once per content
// of the mutated files; it must pass.
func baseline(ctx context.Context, o Options, ws, tree string, pristine map[string][]byte, logf func(string, ...any)) (*Outcome, error) {
	h := sha256.New()
	if o.TreeRev != "" {
		fmt.Fprintf(h, "rev %s\x00", o.TreeRev)
	}
	if o.SuiteKey != "" {
		fmt.Fprintf(h, "suite %s\x00", o.SuiteKey)
	}
	for _, f := range o.Files {
		fmt.Fprintf(h, "%s\x00", f)
		h.Write(pristine[f])
	}
	res := filepath.Join(ws, "results", "baseline-"+hex.EncodeToString(h.Sum(nil)[:12])+".json")
	var out Outcome
	if data, err := os.ReadFile(res); err == nil && json.Unmarshal(data, &out) == nil && out.Status == Survived {
		out.Cached = true
		logf("the unmutated kernel passed the suite before (%s)", res)
		return &out, nil
	}
	logf("building and testing the unmutated kernel first")
	t0 := time.Now()
	k, err := o.Build(ctx, tree)
	out.BuildSeconds = time.Since(t0).Seconds()
	if err != nil {
		return &out, fmt.Errorf("mutate: the unmutated tree does not build: %w", err)
	}
	t0 = time.Now()
	runs, code, err := o.Test(ctx, k, filepath.Join(o.ReportDir, "mutants", "000-baseline"), o.Deadline)
	out.TestSeconds = time.Since(t0).Seconds()
	out.Status, out.Killer, out.Reason = judge(runs, code, err)
	if ctx.Err() != nil {
		return &out, ctx.Err()
	}
	if out.Status != Survived {
		return &out, fmt.Errorf("mutate: the unmutated kernel is not good (%s %s %s): fix that first, or no mutant's result means anything", out.Status, out.Killer, out.Reason)
	}
	saveJSON(res, out)
	return &out, nil
}

// workspace returns the mutation workspace of tree in the cache, with a
// hard-linked copy of the tree in its tree/, linked again on every run (in
// place) so it is the tree as it is now. Files are only ever replaced by rename there,
// never written in place, so the original stays untouched. Files a run
// mutated are listed in mutated.txt and given a fresh time on the next run:
// the copy's link has the original's old time, which make would take as
// older than an object built from a mutant.
func workspace(ctx context.Context, cacheDir, tree string, logf func(string, ...any)) (string, func(), error) {
	h := sha256.Sum256([]byte(tree))
	ws := filepath.Join(cacheDir, "mutate", hex.EncodeToString(h[:8]))
	if err := os.MkdirAll(filepath.Join(ws, "results"), 0o755); err != nil {
		return "", nil, err
	}
	unlock, err := cachelock.Lock(ctx, filepath.Join(ws, "lock"), logf)
	if err != nil {
		return "", nil, err
	}
	copyDir := filepath.Join(ws, "tree")
	t0 := time.Now()
	// Into the existing directory when there is one: the build directory
	// is keyed to the copy's top directory (kbuild empties it for a
	// recreated tree).
	args := []string{"-al", tree, copyDir}
	if _, err := os.Stat(copyDir); err == nil {
		args = []string{"-al", "--remove-destination", tree + "/.", copyDir + "/"}
	}
	if out, err := exec.CommandContext(ctx, "cp", args...).CombinedOutput(); err != nil {
		unlock()
		return "", nil, fmt.Errorf("mutate: linking a copy of %s: %v: %s", tree, err, strings.TrimSpace(string(out)))
	}
	data, _ := os.ReadFile(filepath.Join(ws, "mutated.txt"))
	for _, f := range strings.Fields(string(data)) {
		if src, err := os.ReadFile(filepath.Join(copyDir, f)); err == nil {
			writeFile(filepath.Join(copyDir, f), src)
		}
	}
	logf("linked a copy of %s into %s (%.1fs)", tree, copyDir, time.Since(t0).Seconds())
	return ws, unlock, nil
}

// noteMutated adds f to the workspace's list of files mutants changed.
func noteMutated(ws, f string) {
	data, _ := os.ReadFile(filepath.Join(ws, "mutated.txt"))
	for _, g := range strings.Fields(string(data)) {
		if g == f {
			return
		}
	}
	writeFile(filepath.Join(ws, "mutated.txt"), append(data, []byte(f+"\n")...))
}

// restore puts the pristine content back into every mutated file of the
// workspace tree that differs from it.
func restore(tree string, pristine map[string][]byte) error {
	for f, src := range pristine {
		p := filepath.Join(tree, f)
		if cur, err := os.ReadFile(p); err == nil && string(cur) == string(src) {
			continue
		}
		if err := writeFile(p, src); err != nil {
			return err
		}
	}
	return nil
}

// writeFile replaces p by rename: p may be a hard link to the pristine
// tree, which must never change.
func writeFile(p string, data []byte) error {
	tmp := p + ".zcsuite-mutant"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func saveJSON(p string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		writeFile(p, append(data, '\n'))
	}
}
