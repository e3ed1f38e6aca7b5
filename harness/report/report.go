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

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// VMRun is one VM boot's material.
type VMRun struct {
	// Name says what the VM ran ("main", or the destructive spec).
	Name    string          `json:"name"`
	Repro   string          `json:"repro"`
	Verdict *verdict.Run    `json:"verdict"`
	Ginkgo  json.RawMessage `json:"-"`
	Console []string        `json:"-"`
	Kmsg    []string        `json:"-"`
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
}

// Write writes every report file into dir.
func Write(dir string, facts Facts, runs []VMRun) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var console, kmsg strings.Builder
	var merged []types.Report
	for _, r := range runs {
		fmt.Fprintf(&console, "==== zcsuite VM %q\n==== repro: %s\n", r.Name, r.Repro)
		console.WriteString(strings.Join(r.Console, "\n"))
		console.WriteString("\n")
		fmt.Fprintf(&kmsg, "==== zcsuite VM %q\n", r.Name)
		kmsg.WriteString(strings.Join(r.Kmsg, "\n"))
		kmsg.WriteString("\n")
		if len(r.Ginkgo) > 0 {
			var reps []types.Report
			if err := json.Unmarshal(r.Ginkgo, &reps); err == nil {
				for i := range reps {
					Amend(&reps[i], r.Verdict)
					reps[i].SpecReports = ranHere(reps[i].SpecReports)
				}
				merged = append(merged, reps...)
			}
		}
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
	if merged == nil {
		merged = []types.Report{}
	}
	if err := writeJSON(filepath.Join(dir, "report.json"), merged); err != nil {
		return err
	}
	if len(merged) > 0 {
		all := merged[0]
		for _, m := range merged[1:] {
			all.SpecReports = append(all.SpecReports, m.SpecReports...)
			all.SuiteSucceeded = all.SuiteSucceeded && m.SuiteSucceeded
		}
		all.SuiteDescription = "zcsuite guest specs"
		if err := reporters.GenerateJUnitReportWithConfig(all, filepath.Join(dir, "junit.xml"), reporters.JunitReportConfig{OmitLeafNodeType: true}); err != nil {
			return fmt.Errorf("report: junit: %w", err)
		}
	}
	return writeKTAP(dir, facts, runs)
}

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

// ranHere drops the specs a VM's label filter or focus left out: Ginkgo
// lists every spec of the suite in each VM's report, so with several VMs
// the merged reports would repeat each spec as skipped once per VM that
// did not run it. A spec that ran (its VM gave it a verdict, even SKIP)
// stays, and so does every node that is not a spec.
func ranHere(srs []types.SpecReport) []types.SpecReport {
	out := srs[:0]
	for _, sr := range srs {
		if sr.LeafNodeType == types.NodeTypeIt && sr.State == types.SpecStateSkipped && !hasEntry(sr, VerdictEntry) {
			continue
		}
		out = append(out, sr)
	}
	return out
}

func hasEntry(sr types.SpecReport, name string) bool {
	for _, e := range sr.ReportEntries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// VerdictEntry is the report entry name that carries the host's verdict.
const VerdictEntry = "zcsuite-verdict"

// Amend rewrites the guest's spec states with the host's verdicts, so the
// JSON and JUnit reports say what the verdict says: a splat or a panic
// fails a spec the guest thought passed, a KNOWN-FAIL is reported as
// skipped with its reason, a FIXED known issue fails.
func Amend(rep *types.Report, v *verdict.Run) {
	if v == nil {
		return
	}
	by := map[string]verdict.Spec{}
	for _, s := range v.Specs {
		by[s.Name] = s
	}
	for i := range rep.SpecReports {
		sr := &rep.SpecReports[i]
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		s, ok := by[sr.FullText()]
		if !ok {
			continue
		}
		sr.ReportEntries = append(sr.ReportEntries, types.ReportEntry{
			Name: VerdictEntry, Time: sr.EndTime,
			Value: types.WrapEntryValue(string(s.Outcome) + ": " + s.Reason),
		})
		switch s.Outcome {
		case verdict.Pass, verdict.Skip:
		case verdict.KnownFail:
			sr.State = types.SpecStateSkipped
			sr.Failure.Message = "KNOWN-FAIL: " + s.Reason
		default:
			if sr.State != types.SpecStateFailed || s.Outcome != verdict.Fail {
				sr.State = types.SpecStateFailed
				sr.Failure.Message = string(s.Outcome) + ": " + s.Reason + "\n" + sr.Failure.Message
			}
		}
	}
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
		if r.Verdict.Outcome == verdict.Untested {
			fmt.Fprintf(w, "%-11s VM %s: %s\n", "UNTESTED", r.Name, r.Verdict.Reason)
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
	pass, fail, skip := counts[verdict.Pass]+counts[verdict.KnownFail], 0, counts[verdict.Skip]
	for o, n := range counts {
		if o.Bad() {
			fail += n
		}
	}
	fmt.Fprintf(w, "zcsuite: %d passed, %d failed, %d skipped\n", pass, fail, skip)
}

// consoleTail is how many console lines the summary shows for a VM that
// panicked, hung or crashed.
const consoleTail = 20

func endedBadly(v *verdict.Run) bool {
	if v.Outcome == verdict.Untested {
		return true
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
