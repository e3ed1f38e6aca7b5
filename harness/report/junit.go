package report

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// JUnitSuite is the name of junit.xml's one test suite.
const JUnitSuite = "zcsuite guest specs"

// writeJUnit writes junit.xml: one testcase per spec verdict and one per VM
// failure (a testcase named "VM <name>"), in the order of report.json.
// Ginkgo's JUnit reporter renders them; the testcases then get the host's
// words, which a CI dashboard shows:
//
//	PASS                  passed
//	SKIP                  <skipped message="skipped - reason">
//	KNOWN-FAIL            <skipped message="KNOWN-FAIL: reason">
//	NOT-RUN               <skipped message="NOT-RUN: reason">
//	FAIL, FIXED, HANG,    <failure type="OUTCOME" message="OUTCOME: reason">
//	PANIC, CRASH
//	VM failure            <failure type="FAIL" ...>, or <error type="UNTESTED" ...>
//
// A known failure is skipped, not failed, because the run passes with it
// (exit code 0) and a red testcase would say otherwise; it is not a plain
// skip either: its message starts with KNOWN-FAIL, its system-out says it
// is a known kernel issue, and its zcsuite-verdict property holds the
// verdict (pytest records an xfail the same way, as a skip with a marker).
// The suite's properties give the exit code and the counts of known
// failures and specs not run.
func writeJUnit(dir string, facts Facts, cases []junitCase) error {
	if len(cases) == 0 && facts.ExitCode != verdict.ExitGood {
		// Nothing booted: the run itself is the one testcase, so that a
		// CI reading only junit.xml does not see an empty success.
		why := fmt.Sprintf("no VM ran: the kernel could not be tested (exit code %d)", facts.ExitCode)
		cases = []junitCase{{
			spec:    types.SpecReport{LeafNodeType: types.NodeTypeBeforeSuite, LeafNodeText: "zcsuite run", State: types.SpecStateFailed, Failure: types.Failure{Message: why}},
			outcome: verdict.Untested, reason: why,
		}}
	}
	all := types.Report{SuiteDescription: JUnitSuite, SuiteSucceeded: facts.ExitCode == verdict.ExitGood}
	if t, err := time.Parse(time.RFC3339, facts.Started); err == nil {
		all.StartTime = t
	}
	for _, c := range cases {
		all.SpecReports = append(all.SpecReports, c.spec)
		all.RunTime += c.spec.RunTime
		if c.spec.LeafNodeType != types.NodeTypeIt {
			all.SpecialSuiteFailureReasons = append(all.SpecialSuiteFailureReasons, c.spec.LeafNodeText+": "+string(c.outcome)+": "+oneLine(c.reason, reasonMax))
		}
	}
	path := filepath.Join(dir, "junit.xml")
	if err := reporters.GenerateJUnitReportWithConfig(all, path, reporters.JunitReportConfig{OmitLeafNodeType: true}); err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	var doc reporters.JUnitTestSuites
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.TestSuites) != 1 || len(doc.TestSuites[0].TestCases) != len(cases) {
		return fmt.Errorf("report: junit: Ginkgo's junit.xml is not what was asked for (%v)", err)
	}
	suite := &doc.TestSuites[0]
	known, notRun := 0, 0
	for i := range suite.TestCases {
		tc, c := &suite.TestCases[i], cases[i]
		word := oneLine(verdictText(c.outcome, c.reason), reasonMax)
		switch {
		case c.outcome == verdict.Pass || c.outcome == verdict.Skip:
			continue
		case c.outcome == verdict.KnownFail:
			known++
			tc.Skipped = &reporters.JUnitSkipped{Message: word}
			tc.SystemOut = "zcsuite verdict: KNOWN-FAIL, a known kernel issue (fixtures/expectations) that failed the way it was recorded; it does not fail the run.\n" + word + "\n" + tc.SystemOut
		case c.outcome == verdict.NotRun:
			notRun++
			tc.Skipped = &reporters.JUnitSkipped{Message: word}
			tc.SystemOut = "zcsuite verdict: NOT-RUN, the spec never started; this says nothing about the kernel.\n" + word + "\n" + tc.SystemOut
		case c.outcome == verdict.Untested && strings.HasPrefix(c.reason, verdict.FeatureAbsentPrefix):
			// The kernel predates the feature: skipped, as in KTAP.
			tc.Failure, tc.Error = nil, nil
			tc.Skipped = &reporters.JUnitSkipped{Message: word}
			tc.SystemOut = "zcsuite verdict: " + word + "\n" + tc.SystemOut
		case c.outcome == verdict.Untested:
			desc := word
			if tc.Failure != nil {
				desc = tc.Failure.Description
			}
			tc.Failure, tc.Skipped = nil, nil
			tc.Error = &reporters.JUnitError{Message: word, Type: string(c.outcome), Description: desc}
			tc.SystemOut = "zcsuite verdict: " + word + "\n" + tc.SystemOut
		default:
			desc := word
			if tc.Failure != nil {
				desc = tc.Failure.Description
			}
			tc.Skipped, tc.Error = nil, nil
			tc.Failure = &reporters.JUnitFailure{Message: word, Type: string(c.outcome), Description: desc}
			tc.SystemOut = "zcsuite verdict: " + word + "\n" + tc.SystemOut
		}
	}
	suite.Tests, suite.Skipped, suite.Disabled, suite.Failures, suite.Errors = 0, 0, 0, 0, 0
	for _, tc := range suite.TestCases {
		suite.Tests++
		switch {
		case tc.Failure != nil:
			suite.Failures++
		case tc.Error != nil:
			suite.Errors++
		case tc.Skipped != nil:
			suite.Skipped++
		}
	}
	suite.Properties.Properties = append(suite.Properties.Properties,
		reporters.JUnitProperty{Name: "zcsuite.exit_code", Value: fmt.Sprint(facts.ExitCode)},
		reporters.JUnitProperty{Name: "zcsuite.known_failures", Value: fmt.Sprint(known)},
		reporters.JUnitProperty{Name: "zcsuite.not_run", Value: fmt.Sprint(notRun)},
	)
	doc.Tests, doc.Disabled, doc.Errors, doc.Failures = suite.Tests, suite.Skipped, suite.Errors, suite.Failures
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	f.WriteString(xml.Header)
	enc := xml.NewEncoder(f)
	enc.Indent("  ", "    ")
	err = enc.Encode(doc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	return nil
}
