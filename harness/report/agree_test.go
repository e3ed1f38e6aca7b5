package report

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// guestReport is a guest Ginkgo report holding the given It specs, plus one
// the VM's filter left out.
func guestReport(t *testing.T, specs ...types.SpecReport) json.RawMessage {
	t.Helper()
	rep := types.Report{SuiteDescription: "zcsuite guest", SuiteSucceeded: false,
		SpecReports: append(specs, types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: "left out by the filter", State: types.SpecStateSkipped})}
	b, err := json.Marshal([]types.Report{rep})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func it(text string, state types.SpecState, msg string) types.SpecReport {
	return types.SpecReport{LeafNodeType: types.NodeTypeIt, ContainerHierarchyTexts: []string{"family:"}, LeafNodeText: text, State: state, Failure: types.Failure{Message: msg}}
}

// agreementRuns is a run with every kind of end: a shard cut off by an
// interruption (NOT-RUN specs), a shard whose guest stream ended without
// its done event, a destructive VM that panicked as a known issue, a
// destructive spec skipped at the ABI gate without booting, a VM whose
// guest never started, and one the deadline left no time to start.
func agreementRuns(t *testing.T) []VMRun {
	return []VMRun{
		{Name: "main-1", Ginkgo: guestReport(t,
			it("passes", types.SpecStatePassed, ""),
			it("fails", types.SpecStateFailed, "mount zcserver over /dev/fuse\nUnexpected error:\n    <syscall.Errno>: \n    function not implemented\n    0x26\noccurred"),
			it("gated", types.SpecStateSkipped, "ABI gate: not this kernel"),
			it("known", types.SpecStateFailed, "slot still registered"),
			it("fixed", types.SpecStatePassed, ""),
			it("splat", types.SpecStatePassed, ""),
		), Verdict: &verdict.Run{Outcome: verdict.Fail, Reason: "a spec failed", GuestStarted: true, SuiteStarted: true, Specs: []verdict.Spec{
			{Name: "family: passes", Labels: []string{"env", "abi-upstream"}, Outcome: verdict.Pass},
			{Name: "family: fails", Outcome: verdict.Fail, Reason: "mount zcserver over /dev/fuse: Unexpected error: function not implemented occurred"},
			{Name: "family: gated", Outcome: verdict.Skip, Reason: "ABI gate: not this kernel"},
			{Name: "family: known", Outcome: verdict.KnownFail, Reason: "known issue: H2 (slot still registered)"},
			{Name: "family: fixed", Outcome: verdict.Fixed, Reason: "known issue no longer reproduces: H9"},
			{Name: "family: splat", Outcome: verdict.Fail, Reason: "kernel splat: WARNING: at fs/fuse/dev_uring.c:100"},
			{Name: "family: never started", Outcome: verdict.NotRun, Reason: "not run: interrupted by SIGINT"},
			{Name: "family: hangs", Outcome: verdict.Hang, Reason: "the guest suite hit its deadline"},
		}}},
		{Name: "main-2", Verdict: &verdict.Run{Outcome: verdict.Fail, Reason: "the VM ended without the guest's done event", GuestStarted: true, SuiteStarted: true, Specs: []verdict.Spec{
			{Name: "family: second shard", Outcome: verdict.Pass},
			{Name: "family: second shard too", Outcome: verdict.Pass},
		}}},
		{Name: "destructive-1", Verdict: &verdict.Run{Outcome: verdict.Pass, GuestStarted: true, SuiteStarted: true, Specs: []verdict.Spec{
			{Name: "queue-depth: NULL payload buffers (H1) panics", Labels: []string{"queue-depth", "destructive"}, Outcome: verdict.KnownFail, Reason: "known issue: H1 (kernel panic: kernel BUG at fs/fuse/dev.c:1064!)"},
		}}},
		{Name: "destructive-2", Verdict: &verdict.Run{Outcome: verdict.Skip, Reason: "every spec was skipped", GuestStarted: true, Specs: []verdict.Spec{
			{Name: "header-offset: kmbuf wrong slot", Outcome: verdict.Skip, Reason: "ABI gate: kmbuf not supported (the ABI gate as VM main-1 met it; this destructive spec's VM was not booted)"},
		}}},
		{Name: "destructive-3", Verdict: &verdict.Run{Outcome: verdict.Untested, Reason: "the guest never started: the VM ended without the guest's done event"}},
		{Name: "destructive-4", Verdict: verdict.NotStarted([]verdict.Planned{{Name: "unregister: aborts mid-request", Labels: []string{"unregister", "destructive"}}}, "the run's deadline passed before this VM started")},
	}
}

// outcomesOf maps spec name to outcome word, one map per report file.
type outcomesOf map[string]string

func verdictJSON(t *testing.T, dir string) (outcomesOf, map[string]string) {
	var v struct {
		Runs []struct {
			Name    string       `json:"name"`
			Verdict *verdict.Run `json:"verdict"`
		} `json:"runs"`
	}
	readJSON(t, filepath.Join(dir, "verdict.json"), &v)
	specs, vms := outcomesOf{}, map[string]string{}
	for _, r := range v.Runs {
		for _, s := range r.Verdict.Specs {
			specs[s.Name] = string(s.Outcome)
		}
		if o, _, ok := r.Verdict.VMFailure(); ok {
			vms["VM "+r.Name] = string(o)
		}
	}
	return specs, vms
}

func reportJSON(t *testing.T, dir string) (outcomesOf, map[string]string, []types.Report) {
	var reps []types.Report
	readJSON(t, filepath.Join(dir, "report.json"), &reps)
	specs, vms := outcomesOf{}, map[string]string{}
	for _, rep := range reps {
		for _, sr := range rep.SpecReports {
			word := ""
			msg := sr.Failure.Message
			switch sr.State {
			case types.SpecStatePassed:
				word = "PASS"
			case types.SpecStateSkipped:
				word = "SKIP"
				for _, p := range []string{"KNOWN-FAIL", "NOT-RUN"} {
					if strings.HasPrefix(msg, p+": ") {
						word = p
					}
				}
			case types.SpecStateFailed, types.SpecStateTimedout:
				word, _, _ = strings.Cut(msg, ":")
				if sr.State == types.SpecStateFailed && !strings.Contains(msg, ": ") {
					word = "?"
				}
			}
			if !entrySays(sr, word) {
				t.Errorf("report.json: %q is %s but its %s entry disagrees", sr.FullText(), word, VerdictEntry)
			}
			if sr.LeafNodeType == types.NodeTypeIt {
				specs[sr.FullText()] = word
			} else {
				vms[sr.FullText()] = word
			}
		}
	}
	return specs, vms, reps
}

// entrySays reports whether the verdict entry starts with word.
func entrySays(sr types.SpecReport, word string) bool {
	for _, e := range sr.ReportEntries {
		if e.Name == VerdictEntry {
			return strings.HasPrefix(e.StringRepresentation(), word)
		}
	}
	return false
}

var labelSuffix = regexp.MustCompile(` \[[^\]]*\]$`)

func junitXML(t *testing.T, dir string) (outcomesOf, map[string]string, reporters.JUnitTestSuites) {
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc reporters.JUnitTestSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	specs, vms := outcomesOf{}, map[string]string{}
	for _, s := range doc.TestSuites {
		for _, tc := range s.TestCases {
			word := "PASS"
			switch {
			case tc.Failure != nil:
				word = tc.Failure.Type
			case tc.Error != nil:
				word = tc.Error.Type
			case tc.Skipped != nil:
				word = "SKIP"
				for _, p := range []string{"KNOWN-FAIL", "NOT-RUN"} {
					if strings.HasPrefix(tc.Skipped.Message, p+": ") {
						word = p
					}
				}
			}
			name := labelSuffix.ReplaceAllString(tc.Name, "")
			if strings.HasPrefix(name, "VM ") {
				vms[name] = word
			} else {
				specs[name] = word
			}
		}
	}
	return specs, vms, doc
}

var (
	ktapSpecLine = regexp.MustCompile(`^  (ok|not ok) [0-9]+ (.*?)(?: # (SKIP|XFAIL|TIMEOUT|ERROR) (.*))?$`)
	ktapVMLine   = regexp.MustCompile(`^(ok|not ok) [0-9]+ (\S+)(?: # (\S+))?`)
)

func resultsKTAP(t *testing.T, dir string) (outcomesOf, map[string]string) {
	b, err := os.ReadFile(filepath.Join(dir, KTAPFile))
	if err != nil {
		t.Fatal(err)
	}
	specs, vms := outcomesOf{}, map[string]string{}
	diag := ""
	for _, l := range strings.Split(string(b), "\n") {
		if d, ok := strings.CutPrefix(l, "  # "); ok {
			diag = d
			continue
		}
		if m := ktapSpecLine.FindStringSubmatch(l); m != nil {
			word := "PASS"
			switch {
			case m[3] == "SKIP" && strings.HasPrefix(m[4], "not run: "):
				word = "NOT-RUN"
			case m[3] == "SKIP":
				word = "SKIP"
			case m[3] == "XFAIL":
				word = "KNOWN-FAIL"
			case m[3] == "TIMEOUT":
				word = "HANG"
			case m[3] == "ERROR":
				word, _, _ = strings.Cut(m[4], ":")
			case m[1] == "not ok":
				word, _, _ = strings.Cut(diag, ":")
			}
			specs[m[2]] = word
			diag = ""
			continue
		}
		if m := ktapVMLine.FindStringSubmatch(l); m != nil && m[1] == "not ok" {
			word := "FAIL"
			if m[3] == "ERROR" {
				word = "UNTESTED"
			}
			vms["VM "+m[2]] = word
		}
	}
	return specs, vms
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestFormatsAgree checks that verdict.json, report.json, junit.xml and
// results.ktap hold the same specs with the same outcomes, and the same VM
// failures, for a run with every kind of VM end.
func TestFormatsAgree(t *testing.T) {
	runs := agreementRuns(t)
	var vs []*verdict.Run
	for _, r := range runs {
		vs = append(vs, r.Verdict)
	}
	facts := Facts{ExitCode: verdict.ExitCode(vs...), Started: "2026-12-03T14:00:00Z"}
	if facts.ExitCode != verdict.ExitBad {
		t.Fatalf("exit code %d, want 1", facts.ExitCode)
	}
	dir := t.TempDir()
	if err := Write(dir, facts, runs); err != nil {
		t.Fatal(err)
	}
	want, wantVMs := verdictJSON(t, dir)
	if len(want) != 13 || len(wantVMs) != 2 {
		t.Fatalf("verdict.json: %d specs, %d VM failures: %v %v", len(want), len(wantVMs), want, wantVMs)
	}
	rj, rjVMs, reps := reportJSON(t, dir)
	ju, juVMs, doc := junitXML(t, dir)
	kt, ktVMs := resultsKTAP(t, dir)
	for file, got := range map[string][2]map[string]string{
		"report.json":  {rj, rjVMs},
		"junit.xml":    {ju, juVMs},
		"results.ktap": {kt, ktVMs},
	} {
		if g, w := strings.Join(sortedKeys(got[0]), "|"), strings.Join(sortedKeys(want), "|"); g != w {
			t.Errorf("%s specs:\n got %s\nwant %s", file, g, w)
		}
		for name, o := range want {
			if got[0][name] != o {
				t.Errorf("%s: %q is %q, verdict.json says %q", file, name, got[0][name], o)
			}
		}
		for name, o := range wantVMs {
			if got[1][name] != o {
				t.Errorf("%s: %s is %q, verdict.json says %q", file, name, got[1][name], o)
			}
		}
		// A KTAP VM line is also "not ok" when one of its specs failed.
		if len(got[1]) != len(wantVMs) && file != "results.ktap" {
			t.Errorf("%s: VM failures %v, want %v", file, got[1], wantVMs)
		}
	}
	// The guest report's left-out spec is in no file.
	if _, ok := rj["family: left out by the filter"]; ok {
		t.Error("report.json lists a spec the VM's filter left out")
	}
	for _, rep := range reps {
		if rep.SuiteSucceeded {
			t.Errorf("report.json: SuiteSucceeded on a run that exits 1")
		}
	}
	s := doc.TestSuites[0]
	if s.Tests != 15 || s.Failures != 5 || s.Errors != 1 || s.Skipped != 6 || doc.Failures != 5 || doc.Errors != 1 {
		t.Errorf("junit.xml counts: tests %d failures %d errors %d skipped %d (top: failures %d errors %d)", s.Tests, s.Failures, s.Errors, s.Skipped, doc.Failures, doc.Errors)
	}
	for _, p := range []struct{ name, want string }{{"SuiteSucceeded", "false"}, {"zcsuite.exit_code", "1"}, {"zcsuite.known_failures", "2"}, {"zcsuite.not_run", "2"}} {
		if got := s.Properties.WithName(p.name); got != p.want {
			t.Errorf("junit.xml property %s = %q, want %q", p.name, got, p.want)
		}
	}
	for _, tc := range s.TestCases {
		switch labelSuffix.ReplaceAllString(tc.Name, "") {
		case "queue-depth: NULL payload buffers (H1) panics":
			if tc.Skipped == nil || tc.Skipped.Message != "KNOWN-FAIL: known issue: H1 (kernel panic: kernel BUG at fs/fuse/dev.c:1064!)" ||
				!strings.Contains(tc.SystemOut, "known kernel issue") || tc.Properties == nil || !strings.Contains(tc.Properties.WithName(VerdictEntry), "KNOWN-FAIL") {
				t.Errorf("known failure not shown as one: %+v %+v", tc.Skipped, tc)
			}
		case "family: never started":
			if tc.Skipped == nil || tc.Skipped.Message != "NOT-RUN: interrupted by SIGINT" {
				t.Errorf("NOT-RUN spec: %+v", tc.Skipped)
			}
		case "family: fails":
			if tc.Failure == nil || tc.Failure.Message != "FAIL: mount zcserver over /dev/fuse: Unexpected error: function not implemented occurred" {
				t.Errorf("failure message: %+v", tc.Failure)
			}
		case "VM main-2":
			if tc.Failure == nil || tc.Failure.Message != "FAIL: the VM ended without the guest's done event" {
				t.Errorf("VM failure: %+v", tc.Failure)
			}
		}
	}
}

// TestGoodRunSucceeds checks SuiteSucceeded and the JUnit counts of a run
// that exits 0 with a known failure among its specs.
func TestGoodRunSucceeds(t *testing.T) {
	runs := agreementRuns(t)[2:4] // the known PANIC and the gate skip
	runs = append(runs, VMRun{Name: "main", Verdict: &verdict.Run{Outcome: verdict.Pass, GuestStarted: true, Specs: []verdict.Spec{{Name: "a", Outcome: verdict.Pass}}}})
	dir := t.TempDir()
	if err := Write(dir, Facts{ExitCode: verdict.ExitGood}, runs); err != nil {
		t.Fatal(err)
	}
	_, _, reps := reportJSON(t, dir)
	for _, rep := range reps {
		if !rep.SuiteSucceeded {
			t.Errorf("report.json: SuiteSucceeded false on a run that exits 0")
		}
	}
	_, vms, doc := junitXML(t, dir)
	s := doc.TestSuites[0]
	if len(vms) != 0 || s.Tests != 3 || s.Failures+s.Errors != 0 || s.Skipped != 2 || s.Properties.WithName("SuiteSucceeded") != "true" {
		t.Errorf("junit.xml: VM failures %v, tests %d failures %d errors %d skipped %d, SuiteSucceeded %s", vms, s.Tests, s.Failures, s.Errors, s.Skipped, s.Properties.WithName("SuiteSucceeded"))
	}
}

// TestNothingRanIsAFailureInJUnit checks that a run in which no VM booted
// does not leave an empty, green junit.xml.
func TestNothingRanIsAFailureInJUnit(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Facts{ExitCode: verdict.ExitUntested}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, doc := junitXML(t, dir)
	if doc.Errors != 1 || doc.TestSuites[0].TestCases[0].Error.Type != "UNTESTED" {
		t.Fatalf("junit.xml: %+v", doc)
	}
}

// TestFilesListsWhatWriteWrites keeps Files, which -help prints, true.
func TestFilesListsWhatWriteWrites(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Facts{ExitCode: verdict.ExitBad}, agreementRuns(t)); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	for _, f := range Files {
		if f.With == "" {
			want = append(want, f.Name)
		}
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Write wrote %v, Files lists %v", got, want)
	}
}
