package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/bench"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/report"
)

// FioPath is the host fio binary a bench image carries (Debian's fio).
var FioPath = "/usr/bin/fio"

// writeBench collects the bench samples from the guest reports and writes
// bench.md and bench.png into dir.
func writeBench(dir string, runs []report.VMRun, accel, kern string) (string, error) {
	var entries []string
	for _, r := range runs {
		var reps []types.Report
		if len(r.Ginkgo) == 0 || json.Unmarshal(r.Ginkgo, &reps) != nil {
			continue
		}
		for _, rep := range reps {
			for _, sr := range rep.SpecReports {
				for _, e := range sr.ReportEntries {
					if e.Name == bench.ReportEntry {
						entries = append(entries, e.StringRepresentation())
					}
				}
			}
		}
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("the bench run produced no samples")
	}
	samples, err := bench.Parse(entries)
	if err != nil {
		return "", err
	}
	rows := bench.Summarize(samples)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	md := filepath.Join(dir, "bench.md")
	f, err := os.Create(md)
	if err != nil {
		return "", err
	}
	bench.Markdown(f, rows, accel)
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := bench.Draw(filepath.Join(dir, "bench.png"), rows, bench.About{Title: "zcserver modes under fio (bs=1M, 2 jobs)", Kernel: kern, Accel: accel}); err != nil {
		return "", err
	}
	return md, nil
}

// benchKernel names the kernel for the chart: its spec and release.
func benchKernel(k any) string {
	if k, ok := k.(*kernel.Kernel); ok && k != nil {
		return fmt.Sprintf("%s (%s)", k.Spec, k.Release())
	}
	return ""
}
