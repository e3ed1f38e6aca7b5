package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// VMRun is one VM boot's material.
type VMRun struct {
	// Name says what the VM ran ("main", or the destructive spec).
	Name    string          `json:"name"`
	Repro   string          `json:"repro"`
	Verdict *verdict.Run    `json:"verdict"`
	Ginkgo  json.RawMessage `json:"-"`
	// GoTestSeconds are the run times of the Go tests run like specs
	// (zcserver.test's), by spec name; the Ginkgo report has the specs'.
	GoTestSeconds map[string]float64 `json:"-"`
	Console       []string           `json:"-"`
	Kmsg          []string           `json:"-"`
	// Duration is the VM's wall time.
	Duration time.Duration `json:"duration_ns"`
	// BootToHello is QEMU start to the guest's hello event.
	BootToHello time.Duration `json:"boot_to_hello_ns"`
	// Stderr is QEMU's own stderr.
	Stderr string `json:"qemu_stderr,omitempty"`
	// Restored names the saved VM state this VM resumed from instead of
	// booting (empty when it booted).
	Restored string `json:"restored_from,omitempty"`
	// BootRetries lists earlier boots of this VM that died before the
	// guest started (an emulation flake is retried once).
	BootRetries []string `json:"boot_retries,omitempty"`
	// End is how the VM ended (zero for a VM that never started).
	End verdict.VMEnd `json:"end"`
}

// Phase is one timed step.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	Note     string        `json:"note,omitempty"`
}

// Facts is kernel.json: what was booted and how.
type Facts struct {
	Kernel     any     `json:"kernel"`
	ConfigHash string  `json:"config_sha256,omitempty"`
	Accel      string  `json:"accelerator"`
	AccelNote  string  `json:"accelerator_note,omitempty"`
	ABI        string  `json:"abi_profile,omitempty"`
	Initramfs  string  `json:"initramfs_sha256,omitempty"`
	Phases     []Phase `json:"phases"`
	// ParallelVMs is how many VMs ran at once.
	ParallelVMs int    `json:"parallel_vms,omitempty"`
	ExitCode    int    `json:"exit_code"`
	Started     string `json:"started"`
	// FeatureAbsent is why the kernel could not be tested when it lacks
	// FUSE-over-io_uring (the guest's FUSE_INIT evidence), else empty.
	FeatureAbsent string `json:"feature_absent,omitempty"`
	// Shard says which part of the run's specs a -shard run tested.
	Shard *Shard `json:"shard,omitempty"`
}

// Shard is a -shard run's part: the K-th of N, of a set of Specs specs
// whose sorted names, one a line, hash to SetSHA256 (package shard).
type Shard struct {
	K         int    `json:"k"`
	N         int    `json:"n"`
	Specs     int    `json:"specs"`
	SetSHA256 string `json:"set_sha256"`
}

// Write writes every report file into dir. verdict.json is the canonical
// list of specs; report.json, junit.xml and results.ktap hold the same
// specs with the same outcomes, plus each VM's own failure (see
// ginkgoReports, writeJUnit, WriteKTAP).
func Write(dir string, facts Facts, runs []VMRun) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var console, kmsg strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&console, "%s%q\n%s%s\n", vmLogHeader, r.Name, reproHeader, r.Repro)
		console.WriteString(strings.Join(r.Console, "\n"))
		console.WriteString("\n")
		fmt.Fprintf(&kmsg, "%s%q\n", vmLogHeader, r.Name)
		kmsg.WriteString(strings.Join(r.Kmsg, "\n"))
		kmsg.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "console.log"), []byte(console.String()), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kmsg.log"), []byte(kmsg.String()), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := writeJSON(filepath.Join(dir, "kernel.json"), facts); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "verdict.json"), struct {
		ExitCode int     `json:"exit_code"`
		Runs     []VMRun `json:"runs"`
	}{facts.ExitCode, runs}); err != nil {
		return err
	}
	reps, cases := ginkgoReports(facts, runs)
	if err := writeJSON(filepath.Join(dir, "report.json"), reps); err != nil {
		return err
	}
	if err := writeJUnit(dir, facts, cases); err != nil {
		return err
	}
	return writeKTAP(dir, facts, runs)
}

// The lines that start each VM's part of console.log and kmsg.log.
const (
	vmLogHeader = "==== zcsuite VM "
	reproHeader = "==== repro: "
)

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Summary prints the per-spec table and the totals.
func Summary(w io.Writer, facts Facts, runs []VMRun) {
	fmt.Fprintf(w, "\n%-11s %s\n", "VERDICT", "SPEC")
	var all []*verdict.Run
	for _, r := range runs {
		if r.Verdict == nil {
			continue
		}
		all = append(all, r.Verdict)
		for _, s := range r.Verdict.Specs {
			if s.Outcome == verdict.NotRun && r.Verdict.FeatureAbsent != "" {
				// Not run because the kernel lacks the feature: the one
				// UNTESTED line below says it for all of them.
				continue
			}
			line := fmt.Sprintf("%-11s %s", s.Outcome, s.Name)
			if len(s.Labels) > 0 {
				line += " [" + strings.Join(s.Labels, ",") + "]"
			}
			fmt.Fprintln(w, line)
			if s.Outcome != verdict.Pass && s.Reason != "" {
				fmt.Fprintf(w, "%-11s   %s\n", "", oneLine(s.Reason, reasonMax))
			}
		}
		for _, sp := range r.Verdict.Outside {
			fmt.Fprintf(w, "%-11s kernel splat outside any spec (VM %s): %s\n", "FAIL", r.Name, sp.Title)
		}
		for _, sp := range r.Verdict.KnownOutside {
			fmt.Fprintf(w, "%-11s kernel splat during boot, before any spec (VM %s): %s\n", verdict.KnownFail, r.Name, sp.Title)
			fmt.Fprintf(w, "%-11s   %s\n", "", oneLine("known issue: "+sp.Reason, reasonMax))
		}
		if o, reason, ok := r.Verdict.VMFailure(); ok && len(r.Verdict.Outside) == 0 && r.Verdict.FeatureAbsent == "" {
			fmt.Fprintf(w, "%-11s VM %s: %s\n", o, r.Name, reason)
		}
		if r.Verdict.Note != "" {
			fmt.Fprintf(w, "%-11s VM %s: %s\n", "NOTE", r.Name, r.Verdict.Note)
		}
		if endedBadly(r.Verdict) {
			// A panic, hang or crash: show how the console ended (the
			// whole log and, for hangs, the task dump are in the report).
			tail := r.Console
			if len(tail) > consoleTail {
				tail = tail[len(tail)-consoleTail:]
			}
			fmt.Fprintf(w, "---- VM %s: last %d console lines\n", r.Name, len(tail))
			for _, l := range tail {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		}
	}
	if why := verdict.FeatureAbsent(all...); why != "" {
		// Every VM of such a kernel says the same: one line.
		fmt.Fprintf(w, "%-11s %s\n", verdict.Untested, why)
	}
	counts := verdict.Counts(all...)
	var parts []string
	for _, o := range verdict.SortedOutcomes(counts) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "\nspecs: %s\n", strings.Join(parts, ", "))
	var ph []string
	for _, p := range facts.Phases {
		ph = append(ph, fmt.Sprintf("%s %.2fs", p.Name, p.Duration.Seconds()))
	}
	fmt.Fprintf(w, "phases: %s\n", strings.Join(ph, ", "))
	fmt.Fprintf(w, "accelerator: %s", facts.Accel)
	if facts.AccelNote != "" {
		fmt.Fprintf(w, " (%s)", facts.AccelNote)
	}
	fmt.Fprintln(w)
	// The plain closing line CI systems read.
	fmt.Fprintln(w, ClosingLine(facts.ExitCode, runs))
}

// ClosingLine is the summary's last line, which CI systems read: it starts
// "zcsuite: N passed, N failed, N skipped" and agrees with the exit code.
// Known failures count as passed and are named in brackets; a VM's own
// failure (verdict.Run.VMFailure), such as a guest stream that ended
// without its done event, counts as failed; specs that never started and
// VMs that could not test anything are counted after the skips.
//
//	zcsuite: 157 passed (4 known failures), 0 failed, 35 skipped
//	zcsuite: 94 passed, 1 failed (VM main-2), 0 skipped, 3 not run
func ClosingLine(exitCode int, runs []VMRun) string {
	var all []*verdict.Run
	var vmFailed, untested []string
	for _, r := range runs {
		if r.Verdict == nil {
			untested = append(untested, r.Name)
			continue
		}
		all = append(all, r.Verdict)
		if o, _, ok := r.Verdict.VMFailure(); ok {
			if o == verdict.Untested {
				untested = append(untested, r.Name)
			} else {
				vmFailed = append(vmFailed, r.Name)
			}
		}
	}
	counts := verdict.Counts(all...)
	failed := len(vmFailed)
	for o, n := range counts {
		if o.Bad() {
			failed += n
		}
	}
	known := counts[verdict.KnownFail]
	var b strings.Builder
	fmt.Fprintf(&b, "zcsuite: %d passed", counts[verdict.Pass]+known)
	if known > 0 {
		fmt.Fprintf(&b, " (%s)", plural(known, "known failure"))
	}
	fmt.Fprintf(&b, ", %d failed", failed)
	if len(vmFailed) > 0 {
		fmt.Fprintf(&b, " (VM %s)", strings.Join(vmFailed, ", VM "))
	}
	fmt.Fprintf(&b, ", %d skipped", counts[verdict.Skip])
	if n := counts[verdict.NotRun]; n > 0 {
		fmt.Fprintf(&b, ", %d not run", n)
	}
	if len(untested) > 0 {
		fmt.Fprintf(&b, ", %s untested (VM %s)", plural(len(untested), "VM"), strings.Join(untested, ", VM "))
	}
	switch {
	case exitCode == verdict.ExitUntested && len(untested) == 0:
		b.WriteString("; nothing was tested (exit code 125)")
	case exitCode != verdict.ExitGood && exitCode != verdict.ExitBad && exitCode != verdict.ExitUntested:
		fmt.Fprintf(&b, "; exit code %d", exitCode)
	}
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// consoleTail is how many console lines the summary shows for a VM that
// panicked, hung or crashed.
const consoleTail = 20

func endedBadly(v *verdict.Run) bool {
	if v.Outcome == verdict.Untested {
		// A kernel without the feature ended well: it has nothing to show.
		return v.FeatureAbsent == ""
	}
	for _, s := range v.Specs {
		switch s.Outcome {
		case verdict.Panic, verdict.Hang, verdict.Crash:
			return true
		}
	}
	return false
}

// reasonMax bounds a reason on the screen and in results.ktap: the guest's
// cause of a failure (at most 300 bytes) with the host's prefix, such as a
// known issue's description.
const reasonMax = 500

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		for max > 0 && !utf8.RuneStart(s[max]) {
			max--
		}
		s = s[:max] + "…"
	}
	return s
}
