package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

// Read loads a report directory that Write wrote back into the facts and
// VM runs it was written from, so that the reports of several runs (the
// shards of a CI matrix) can be written again as one. Each VM's Ginkgo
// record is taken from report.json with the verdict's amendments undone
// (Write adds them again), and its console and kernel log from
// console.log and kmsg.log.
func Read(dir string) (Facts, []VMRun, error) {
	var facts Facts
	if err := loadJSON(filepath.Join(dir, "kernel.json"), &facts); err != nil {
		return facts, nil, err
	}
	var v struct {
		ExitCode int     `json:"exit_code"`
		Runs     []VMRun `json:"runs"`
	}
	if err := loadJSON(filepath.Join(dir, "verdict.json"), &v); err != nil {
		return facts, nil, err
	}
	var reps []types.Report
	if err := loadJSON(filepath.Join(dir, "report.json"), &reps); err != nil {
		return facts, nil, err
	}
	if len(reps) != len(v.Runs) {
		return facts, nil, fmt.Errorf("report: %s: report.json has %d VM reports, verdict.json %d VMs", dir, len(reps), len(v.Runs))
	}
	console, err := readVMLogs(filepath.Join(dir, "console.log"), true)
	if err != nil {
		return facts, nil, err
	}
	kmsg, err := readVMLogs(filepath.Join(dir, "kmsg.log"), false)
	if err != nil {
		return facts, nil, err
	}
	for i := range v.Runs {
		r := &v.Runs[i]
		if r.Verdict == nil {
			return facts, nil, fmt.Errorf("report: %s: VM %q has no verdict", dir, r.Name)
		}
		b, err := json.Marshal([]types.Report{unamend(reps[i], r.Verdict)})
		if err != nil {
			return facts, nil, fmt.Errorf("report: %s: %w", dir, err)
		}
		r.Ginkgo, r.Console, r.Kmsg = b, console[r.Name], kmsg[r.Name]
	}
	return facts, v.Runs, nil
}

func loadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return nil
}

// unamend undoes vmReport's changes to a VM's Ginkgo report: the verdict
// entries, the verdict text before the guest's failure message, and the
// node of the VM's own failure.
func unamend(rep types.Report, v *verdict.Run) types.Report {
	text := map[string]string{}
	for _, s := range v.Specs {
		text[s.Name] = verdictText(s.Outcome, s.Reason)
	}
	rep.SpecialSuiteFailureReasons = nil
	var srs types.SpecReports
	for _, sr := range rep.SpecReports {
		if sr.LeafNodeType == types.NodeTypeAfterSuite && strings.HasPrefix(sr.LeafNodeText, vmNodePrefix) {
			continue
		}
		var entries types.ReportEntries
		for _, e := range sr.ReportEntries {
			if e.Name != VerdictEntry {
				entries = append(entries, e)
			}
		}
		sr.ReportEntries = entries
		if t, ok := text[sr.FullText()]; ok && t != "" {
			if m, ok := strings.CutPrefix(sr.Failure.Message, t); ok {
				sr.Failure.Message = strings.TrimPrefix(m, "\n")
			}
		}
		srs = append(srs, sr)
	}
	rep.SpecReports = srs
	return rep
}

// readVMLogs splits console.log or kmsg.log into each VM's lines, keyed by
// the VM's name ("==== zcsuite VM \"name\"" starts a VM's part; in
// console.log the repro line follows it).
func readVMLogs(path string, withRepro bool) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	out := map[string][]string{}
	name := ""
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if q, ok := strings.CutPrefix(l, vmLogHeader); ok {
			n, err := strconv.Unquote(q)
			if err != nil {
				return nil, fmt.Errorf("report: %s: bad VM header %q", path, l)
			}
			name = n
			out[name] = []string{}
			if withRepro && i+1 < len(lines) && strings.HasPrefix(lines[i+1], reproHeader) {
				i++
			}
			continue
		}
		out[name] = append(out[name], l)
	}
	for n, ls := range out {
		// Write ends each VM's part with a newline of its own.
		if len(ls) == 1 && ls[0] == "" {
			out[n] = nil
		}
	}
	return out, nil
}
