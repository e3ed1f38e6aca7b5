package report

import (
	"encoding/json"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
)

// VerdictEntry is the report entry name that carries the host's verdict.
const VerdictEntry = "zcsuite-verdict"

// vmNodePrefix names the report node of a VM's own failure ("VM main-2").
const vmNodePrefix = "VM "

// ginkgoReports builds report.json: one Ginkgo report per VM, holding
// exactly that VM's verdicts in the order they ran. The verdicts are the
// canonical list; where the guest's Ginkgo report has the spec, its record
// (timings, locations, failure details, report entries) is kept and amended
// with the verdict, and a spec without one (its VM panicked, was cut off,
// or was never booted) is recorded from the verdict alone. A VM's own
// failure (verdict.Run.VMFailure) is an AfterSuite node named "VM <name>"
// after its specs. Every report's SuiteSucceeded says whether the run
// passed (exit code 0).
//
// It also returns, in order, what junit.xml lists: each spec's record and
// each VM failure node, with the verdict behind it.
func ginkgoReports(facts Facts, runs []VMRun) ([]types.Report, []junitCase) {
	out := []types.Report{}
	var cases []junitCase
	for _, r := range runs {
		rep, c := vmReport(r, facts.ExitCode == verdict.ExitGood)
		out = append(out, rep)
		cases = append(cases, c...)
	}
	return out, cases
}

// junitCase is one testcase of junit.xml: a spec's record, or a VM's own
// failure, and the verdict it shows.
type junitCase struct {
	spec    types.SpecReport
	outcome verdict.Outcome
	reason  string
}

func vmReport(r VMRun, succeeded bool) (types.Report, []junitCase) {
	var cases []junitCase
	var rep types.Report
	byName := map[string]types.SpecReport{}
	var setup []types.SpecReport // the guest's suite-level nodes, kept as they are
	var guest []types.Report
	if len(r.Ginkgo) > 0 && json.Unmarshal(r.Ginkgo, &guest) == nil && len(guest) > 0 {
		rep = guest[0]
		for _, g := range guest {
			for _, sr := range g.SpecReports {
				if sr.LeafNodeType != types.NodeTypeIt {
					setup = append(setup, sr)
				} else if _, dup := byName[sr.FullText()]; !dup {
					byName[sr.FullText()] = sr
				}
			}
		}
	} else {
		rep = types.Report{SuiteDescription: labels.SuiteDescription}
	}
	rep.SuiteSucceeded = succeeded
	rep.SpecialSuiteFailureReasons = nil
	rep.SpecReports = setup
	v := r.Verdict
	if v == nil {
		v = &verdict.Run{Outcome: verdict.Untested, Reason: "no verdict"}
	}
	for _, s := range v.Specs {
		sr, ok := byName[s.Name]
		if !ok {
			sr = types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: s.Name, LeafNodeLabels: s.Labels}
		}
		applyVerdict(&sr, s)
		rep.SpecReports = append(rep.SpecReports, sr)
		cases = append(cases, junitCase{sr, s.Outcome, s.Reason})
	}
	if o, reason, ok := v.VMFailure(); ok {
		msg := verdictText(o, reason)
		rep.SpecialSuiteFailureReasons = append(rep.SpecialSuiteFailureReasons, vmNodePrefix+r.Name+": "+msg)
		node := types.SpecReport{
			LeafNodeType: types.NodeTypeAfterSuite, LeafNodeText: vmNodePrefix + r.Name,
			State: types.SpecStateFailed, RunTime: r.Duration,
			Failure: types.Failure{Message: msg, FailureNodeContext: types.FailureNodeIsLeafNode, FailureNodeType: types.NodeTypeAfterSuite},
		}
		if v.FeatureAbsent != "" {
			// Not a failure: the kernel predates the feature.
			node.State = types.SpecStateSkipped
		}
		node.ReportEntries = append(node.ReportEntries, types.ReportEntry{Name: VerdictEntry, Value: types.WrapEntryValue(msg)})
		rep.SpecReports = append(rep.SpecReports, node)
		cases = append(cases, junitCase{node, o, reason})
	}
	return rep, cases
}

// applyVerdict makes a spec record say what its verdict says, and adds the
// verdict as a report entry. A known failure is recorded as skipped with a
// message that starts "KNOWN-FAIL:", a spec that never started as skipped
// with "NOT-RUN:", and a splat, a panic, a hang or a known issue that
// stopped reproducing fails the spec whatever the guest thought. A failure
// message starts with the verdict and its reason ("FAIL: cause"); the
// guest's own message follows on the next lines.
func applyVerdict(sr *types.SpecReport, s verdict.Spec) {
	text := verdictText(s.Outcome, s.Reason)
	sr.ReportEntries = append(sr.ReportEntries, types.ReportEntry{
		Name: VerdictEntry, Time: sr.EndTime, Value: types.WrapEntryValue(text),
	})
	if sr.Failure.FailureNodeType == types.NodeTypeInvalid {
		// A failure the host decided: it belongs to the spec's leaf node.
		sr.Failure.FailureNodeContext, sr.Failure.FailureNodeType = types.FailureNodeIsLeafNode, sr.LeafNodeType
		sr.Failure.Location = sr.LeafNodeLocation
	}
	// The guest's own message, kept below the verdict when it says more.
	withGuest := func(head string) string {
		if m := sr.Failure.Message; m != "" && !strings.Contains(head, m) {
			return head + "\n" + m
		}
		return head
	}
	switch s.Outcome {
	case verdict.Pass:
		sr.State = types.SpecStatePassed
	case verdict.Skip:
		sr.State = types.SpecStateSkipped
		if sr.Failure.Message == "" {
			sr.Failure.Message = s.Reason
		}
	case verdict.KnownFail, verdict.NotRun:
		sr.State = types.SpecStateSkipped
		sr.Failure.Message = withGuest(text)
	case verdict.Hang:
		sr.State = types.SpecStateTimedout
		sr.Failure.Message = withGuest(text)
	default:
		sr.State = types.SpecStateFailed
		sr.Failure.Message = withGuest(text)
	}
}

// verdictText is how the reports word a verdict: "OUTCOME: reason". A
// NOT-RUN reason's own "not run: " is dropped ("NOT-RUN: interrupted by
// SIGINT").
func verdictText(o verdict.Outcome, reason string) string {
	if o == verdict.NotRun {
		reason = notRunWhy(reason)
	}
	if reason == "" {
		return string(o)
	}
	return string(o) + ": " + reason
}

// notRunWhy is why a spec did not run, without the "not run: " its reason
// starts with.
func notRunWhy(reason string) string { return strings.TrimPrefix(reason, "not run: ") }
