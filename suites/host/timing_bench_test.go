package host

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/runner"
)

// BenchmarkTimeToVerdict measures a full warm run against one kernel (the
// first iteration fills the caches, saves the booted VM state and records
// the spec times that balance the shards, and is not timed): what every
// bisect step and every patch of a series pays. It reports the phases as
// extra metrics (summed over the VMs, which run concurrently). Run it with
//
//	go test ./suites/host -run '^$' -bench TimeToVerdict -benchtime 3x -args -kernel=debian:7.3-cloud
//
// and add -label-filter to time a subset.
func BenchmarkTimeToVerdict(b *testing.B) {
	cache := runner.DefaultCacheDir()
	run(b, cache) // warm the caches
	phases := map[string]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		addPhases(phases, run(b, cache))
	}
	b.StopTimer()
	reportPhases(b, phases)
}

// BenchmarkTimeToVerdictCold measures a full run from an empty zcsuite
// cache, with the kernel packages already downloaded (they are copied into
// each iteration's fresh cache while the timer is stopped): the image
// build, the accelerator probe, cold boots and saving the VM state all
// count. Go's own build cache stays warm.
func BenchmarkTimeToVerdictCold(b *testing.B) {
	seed := runner.DefaultCacheDir()
	run(b, seed) // make sure the kernel is downloaded
	phases := map[string]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cache := filepath.Join(b.TempDir(), "cache")
		for _, d := range []string{"kernels", "apt"} {
			if err := os.MkdirAll(cache, 0o755); err != nil {
				b.Fatal(err)
			}
			if out, err := exec.Command("cp", "-a", filepath.Join(seed, d), cache).CombinedOutput(); err != nil {
				b.Fatalf("copying the downloaded kernels: %v: %s", err, out)
			}
		}
		b.StartTimer()
		addPhases(phases, run(b, cache))
	}
	b.StopTimer()
	reportPhases(b, phases)
}

func run(b *testing.B, cache string) *runner.Result {
	b.Helper()
	res, err := runner.Run(context.Background(),
		runner.WithKernel(*zc.Kernel), runner.WithCacheDir(cache), runner.WithReportDir(filepath.Join(b.TempDir(), "r")),
		runner.WithLabelFilter(*zc.LabelFilter), runner.WithOutput(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	if res.ExitCode != 0 {
		b.Fatalf("the run's exit code is %d, not 0", res.ExitCode)
	}
	return res
}

func addPhases(phases map[string]float64, res *runner.Result) {
	for _, p := range res.Facts.Phases {
		name, _, _ := strings.Cut(p.Name, ":")
		phases[name] += p.Duration.Seconds()
	}
}

func reportPhases(b *testing.B, phases map[string]float64) {
	for name, sec := range phases {
		b.ReportMetric(sec/float64(b.N), name+"-s/op")
	}
}
