package host

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/runner"
)

// BenchmarkTimeToVerdict measures a full warm run against one kernel (the
// first iteration fills the caches and is not timed): what every bisect
// step and every patch of a series pays. It reports the phases as extra
// metrics. Run it with
//
//	go test ./suites/host -run '^$' -bench TimeToVerdict -benchtime 3x -args -kernel=debian:7.3-cloud
//
// and add -label-filter to time a subset.
func BenchmarkTimeToVerdict(b *testing.B) {
	k := *kernelFlag
	if k == "" {
		k = "debian:7.3-cloud"
	}
	dir := b.TempDir()
	run := func() *runner.Result {
		res, err := runner.Run(context.Background(),
			runner.WithKernel(k), runner.WithReportDir(filepath.Join(dir, "r")),
			runner.WithLabelFilter(*labelFilter), runner.WithOutput(io.Discard))
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	if _, err := os.Stat("/dev/null"); err != nil {
		b.Skip(err)
	}
	run() // warm the caches
	phases := map[string]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := run()
		for _, p := range res.Facts.Phases {
			name, _, _ := strings.Cut(p.Name, ":")
			phases[name] += p.Duration.Seconds()
		}
	}
	b.StopTimer()
	for name, sec := range phases {
		b.ReportMetric(sec/float64(b.N), name+"-s/op")
	}
}
