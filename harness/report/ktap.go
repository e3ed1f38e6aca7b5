package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// KTAPFile is the KTAP report's name in the report directory.
const KTAPFile = "results.ktap"

// writeKTAP writes results.ktap into dir.
func writeKTAP(dir string, facts Facts, runs []VMRun) error {
	f, err := os.Create(filepath.Join(dir, KTAPFile))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	WriteKTAP(f, facts, runs)
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// WriteKTAP renders the verdicts as KTAP version 1
// (Documentation/dev-tools/ktap.rst): one top-level test per VM boot, named
// after the VM, whose subtests are that VM's specs in the order they ran.
// The host's verdict decides each line, not the guest's own result:
//
//	PASS        ok N spec
//	SKIP        ok N spec # SKIP reason
//	KNOWN-FAIL  ok N spec # XFAIL reason  (expected to fail, and it did)
//	NOT-RUN     ok N spec # SKIP not run: reason  (it never started)
//	FAIL        not ok N spec             (reason on a diagnostic line)
//	FIXED       not ok N spec             (a known issue stopped reproducing)
//	HANG        not ok N spec # TIMEOUT reason
//	PANIC/CRASH not ok N spec # ERROR reason
//
// A VM is "not ok" when its run is bad, "not ok … # ERROR" when nothing in it
// could be tested, "ok … # SKIP" when its kernel lacks FUSE-over-io_uring,
// "ok" otherwise. Splats seen outside every spec are
// diagnostic lines before the VM's result.
func WriteKTAP(w io.Writer, facts Facts, runs []VMRun) {
	fmt.Fprintln(w, "KTAP version 1")
	if k := kernelLine(facts); k != "" {
		fmt.Fprintf(w, "# zcsuite: %s\n", k)
	}
	fmt.Fprintf(w, "1..%d\n", len(runs))
	if len(runs) == 0 {
		fmt.Fprintf(w, "# zcsuite: no VM ran; the kernel could not be tested (exit code %d)\n", facts.ExitCode)
	}
	for i, r := range runs {
		v := r.Verdict
		if v == nil {
			v = &verdict.Run{Outcome: verdict.Untested, Reason: "no verdict"}
		}
		fmt.Fprintln(w, "  KTAP version 1")
		fmt.Fprintf(w, "  # Subtest: %s\n", ktapName(r.Name))
		fmt.Fprintf(w, "  1..%d\n", len(v.Specs))
		for j, s := range v.Specs {
			result, directive := ktapSpec(s)
			if directive == "" && s.Outcome != verdict.Pass {
				for _, l := range reasonLines(string(s.Outcome), s.Reason) {
					fmt.Fprintf(w, "  # %s\n", l)
				}
			}
			fmt.Fprintf(w, "  %s %d %s%s\n", result, j+1, ktapName(s.Name), directive)
		}
		for _, sp := range v.Outside {
			fmt.Fprintf(w, "# kernel splat outside any spec: %s\n", oneLine(sp.Title, 200))
		}
		for _, sp := range v.KnownOutside {
			fmt.Fprintf(w, "# known kernel splat during boot: %s (%s)\n", oneLine(sp.Title, 200), oneLine(sp.Reason, 200))
		}
		name := ktapName(r.Name)
		switch {
		case v.Outcome == verdict.Untested && v.FeatureAbsent != "":
			// Not an error of the test: the kernel predates the feature,
			// which KTAP (like kselftest) reports as a skip.
			fmt.Fprintf(w, "ok %d %s # SKIP %s\n", i+1, name, ktapText(v.Reason))
		case v.Outcome == verdict.Untested:
			fmt.Fprintf(w, "not ok %d %s # ERROR %s\n", i+1, name, ktapText(v.Reason))
		case v.Outcome.Bad():
			if v.Reason != "" {
				fmt.Fprintf(w, "# %s\n", ktapText(v.Reason))
			}
			fmt.Fprintf(w, "not ok %d %s\n", i+1, name)
		default:
			fmt.Fprintf(w, "ok %d %s\n", i+1, name)
		}
	}
}

// ktapSpec returns a spec's result word and its directive (with the
// leading " # "), or "" when the reason goes on a diagnostic line.
func ktapSpec(s verdict.Spec) (string, string) {
	switch s.Outcome {
	case verdict.Pass:
		return "ok", ""
	case verdict.Skip:
		return "ok", " # SKIP " + ktapText(s.Reason)
	case verdict.KnownFail:
		return "ok", " # XFAIL " + ktapText(s.Reason)
	case verdict.NotRun:
		return "ok", " # SKIP " + ktapText("not run: "+notRunWhy(s.Reason))
	case verdict.Hang:
		return "not ok", " # TIMEOUT " + ktapText(s.Reason)
	case verdict.Panic, verdict.Crash:
		return "not ok", " # ERROR " + ktapText(string(s.Outcome)+": "+s.Reason)
	}
	return "not ok", ""
}

// ktapName makes a test description: no '#' (it starts the directive) and
// no line breaks.
func ktapName(s string) string {
	s = strings.ReplaceAll(s, "#", "no.")
	return strings.Join(strings.Fields(s), " ")
}

// ktapText makes directive data: one line, bounded.
func ktapText(s string) string { return oneLine(s, reasonMax) }

// reasonLines splits a failure reason into diagnostic lines, at most 10.
func reasonLines(outcome, reason string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(reason), "\n") {
		if l = strings.TrimRight(l, " \t"); l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return []string{outcome}
	}
	out[0] = outcome + ": " + out[0]
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... (%d more lines in report.json)", len(out)-10))
	}
	return out
}

// kernelLine describes the kernel from the facts. Facts.Kernel is whatever
// the runner stored; its JSON form is read for a few well-known fields.
func kernelLine(f Facts) string {
	var d struct {
		Banner string `json:"banner"`
		SHA256 string `json:"sha256"`
		Commit string `json:"commit"`
	}
	if b, err := json.Marshal(f.Kernel); err == nil {
		json.Unmarshal(b, &d)
	}
	var parts []string
	if d.Banner != "" {
		parts = append(parts, "kernel "+d.Banner)
	}
	if d.SHA256 != "" {
		parts = append(parts, "sha256 "+d.SHA256)
	}
	if d.Commit != "" {
		parts = append(parts, "commit "+d.Commit)
	}
	if f.Accel != "" {
		parts = append(parts, "accelerator "+f.Accel)
	}
	return ktapText(strings.Join(parts, ", "))
}
