package host

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// BenchmarkTimeToVerdictRatio measures a full warm verdict against a bare
// boot of the same kernel on the same machine (an init that says hello and
// powers off, runner.BareBoot), both in each iteration, and reports their
// ratio: the target is at most 2.5, and a ratio measured in one run holds
// on any machine, loaded or not. The load average at the end is reported
// beside it (load-1m).
//
//	go test ./suites/host -run '^$' -bench 'TimeToVerdictRatio$' -benchtime 3x -args -kernel=debian:7.3-cloud
func BenchmarkTimeToVerdictRatio(b *testing.B) {
	cache := runner.DefaultCacheDir()
	run(b, cache) // warm the caches
	var bare, full float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := runner.BareBoot(context.Background(), runner.WithKernel(*zc.Kernel), runner.WithCacheDir(cache))
		if err != nil {
			b.Fatal(err)
		}
		bare += d.Seconds()
		t0 := time.Now()
		run(b, cache)
		full += time.Since(t0).Seconds()
	}
	b.StopTimer()
	b.ReportMetric(bare/float64(b.N), "bare-boot-s/op")
	b.ReportMetric(full/float64(b.N), "verdict-s/op")
	b.ReportMetric(full/bare, "verdict/bare-boot")
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		var one float64
		fmt.Sscan(string(l), &one)
		b.ReportMetric(one, "load-1m")
	}
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
