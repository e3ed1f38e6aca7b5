package host

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

var (
	kernels     = flag.String("kernels", "debian:7.3-cloud,debian:7.2-cloud", "comma-separated kernels to test (debian:VERSION-FLAVOUR or bzImage paths)")
	kernelFlag  = flag.String("kernel", "", "a single kernel to test (overrides -kernels)")
	requireVM   = flag.Bool("require-vm", false, "fail instead of skipping when no VM can run")
	reportRoot  = flag.String("report-root", "", "directory for per-kernel reports (default: results/ in the module)")
	labelFilter = flag.String("label-filter", "", "Ginkgo label filter for the guest specs")
	accel       = flag.String("accel", "", "accelerator: auto, kvm or tcg (default $ZCSUITE_ACCEL or auto)")
)

func TestVM(t *testing.T) {
	list := strings.Split(*kernels, ",")
	if *kernelFlag != "" {
		list = []string{*kernelFlag}
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil && os.Getenv("ZCSUITE_QEMU") == "" {
		skipOrFail(t, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86); the VM specs cannot run")
	}
	root := *reportRoot
	if root == "" {
		dir, err := vmimage.ModuleDir()
		if err != nil {
			skipOrFail(t, err.Error())
		}
		root = filepath.Join(dir, "results")
	}
	for _, k := range list {
		k := strings.TrimSpace(k)
		t.Run(k, func(t *testing.T) {
			opts := []runner.Option{
				runner.WithKernel(k),
				runner.WithReportDir(filepath.Join(root, reportName(k))),
				runner.WithOutput(testWriter{t}),
				runner.WithLabelFilter(*labelFilter),
			}
			if *accel != "" {
				opts = append(opts, runner.WithAccel(*accel))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
			defer cancel()
			res, err := runner.Run(ctx, opts...)
			if err != nil {
				t.Fatalf("kernel %s could not be tested: %v", k, err)
			}
			ran := 0
			for _, vm := range res.Runs {
				if vm.Verdict.Outcome == verdict.Untested {
					t.Errorf("VM %q: %s", vm.Name, vm.Verdict.Reason)
				}
				for _, s := range vm.Verdict.Specs {
					s := s
					t.Run(s.Name, func(t *testing.T) {
						switch s.Outcome {
						case verdict.Pass:
						case verdict.KnownFail:
							t.Logf("KNOWN-FAIL: %s", s.Reason)
						case verdict.Skip:
							t.Skip(s.Reason)
						default:
							t.Errorf("%s: %s", s.Outcome, s.Reason)
						}
					})
					if s.Outcome != verdict.Skip {
						ran++
					}
				}
				for _, sp := range vm.Verdict.Outside {
					t.Errorf("kernel splat outside any spec: %s", sp.Title)
				}
			}
			if ran == 0 {
				t.Errorf("kernel %s: the VM reported zero specs run", k)
			}
			if res.ExitCode != verdict.ExitGood {
				t.Errorf("kernel %s: run exit code %d (reports in %s)", k, res.ExitCode, filepath.Join(root, reportName(k)))
			}
		})
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if *requireVM {
		t.Fatal(why)
	}
	t.Skip(why)
}

func reportName(k string) string {
	if strings.HasPrefix(k, "debian:") {
		return strings.ReplaceAll(k, ":", "-")
	}
	return fmt.Sprintf("path-%s", filepath.Base(k))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
