package host

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/cli"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// The zcsuite command's own flags (go test ./suites/host -args -kernel=…
// -report-dir=… -label-filter=…), plus two of the go test route's own.
var (
	zc        = cli.Register(flag.CommandLine)
	kernels   = flag.String("kernels", "", "test these kernels one after another (comma-separated), each with its reports in REPORT-DIR/<kernel>; KERNEL=CODE expects that exit code instead of 0 (e.g. a kernel that cannot be tested); KERNEL=feature-absent expects exit 125 because the kernel lacks FUSE-over-io_uring, and nothing else")
	requireVM = flag.Bool("require-vm", false, "fail instead of skipping when no VM can run")
)

// TestVM runs zcsuite exactly as the command does — the same flags, the
// same reports in the same place, the same progress on stdout — and
// passes when the run's exit code is the one expected (0 unless -kernels
// says otherwise). Each spec of the run becomes a subtest with its
// verdict. Relative paths in the flags are taken from the module's top
// directory (go test runs this binary in suites/host).
func TestVM(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil && os.Getenv("ZCSUITE_QEMU") == "" {
		skipOrFail(t, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86); the VM specs cannot run")
	}
	top, err := vmimage.ModuleDir()
	if err != nil {
		skipOrFail(t, err.Error())
	}
	if os.Getenv("ZCSUITE_CALLER_DIR") == "" {
		t.Setenv("ZCSUITE_CALLER_DIR", top)
	}
	ctx, stop := cli.WithSignals(context.Background(), zc.Bisect(), os.Stderr)
	defer stop()
	if *kernels == "" {
		runOne(ctx, t, "", expectation{})
		return
	}
	root := *zc.ReportDir
	if root == "" {
		root = filepath.Dir(cli.DefaultReportDir())
	}
	for _, item := range strings.Split(*kernels, ",") {
		k, want, err := parseKernelItem(item)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(k, func(t *testing.T) {
			set(t, "kernel", k)
			runOne(ctx, t, filepath.Join(root, reportName(k)), want)
		})
	}
}

// expectation is what a kernel of -kernels must give: an exit code and,
// with absent, the verdict that the kernel lacks FUSE-over-io_uring.
type expectation struct {
	code   int
	absent bool
}

// featureAbsent is the -kernels suffix for a kernel that predates
// FUSE-over-io_uring (debian:6.12-cloud=feature-absent).
const featureAbsent = "feature-absent"

// runOne runs zcsuite with the flags as set (reportDir overrides
// -report-dir when not empty) and checks its exit code and verdicts.
func runOne(ctx context.Context, t *testing.T, reportDir string, want expectation) {
	if reportDir != "" {
		set(t, "report-dir", reportDir)
	}
	code := zc.Run(ctx, os.Stdout, os.Stderr)
	dir := cli.CallerPath(*zc.ReportDir)
	if *zc.ReportDir == "" {
		dir = cli.DefaultReportDir()
	}
	specsAsSubtests(t, dir)
	if code != want.code {
		t.Errorf("kernel %s: zcsuite exit code %d, want %d (reports in %s)", *zc.Kernel, code, want.code, dir)
	}
	checkFeatureAbsent(t, dir, want.absent)
}

// checkFeatureAbsent requires, when absent, that every VM of the run was
// UNTESTED because the kernel lacks FUSE-over-io_uring (the guest's INIT
// evidence, no spec run) and that kernel.json says so; otherwise that no
// VM gave that verdict.
func checkFeatureAbsent(t *testing.T, dir string, absent bool) {
	t.Helper()
	var v struct {
		Runs []report.VMRun `json:"runs"`
	}
	var facts report.Facts
	for name, into := range map[string]any{"verdict.json": &v, "kernel.json": &facts} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			err = json.Unmarshal(b, into)
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
	}
	if absent && (len(v.Runs) == 0 || facts.FeatureAbsent == "") {
		t.Errorf("kernel %s: want the verdict FUSE over io_uring absent; %d VMs, kernel.json feature_absent %q", *zc.Kernel, len(v.Runs), facts.FeatureAbsent)
	}
	for _, vm := range v.Runs {
		r := vm.Verdict
		if r == nil {
			continue
		}
		switch {
		case !absent && r.FeatureAbsent != "":
			t.Errorf("VM %s: %s (%s); this kernel must have FUSE-over-io_uring", vm.Name, r.Outcome, r.Reason)
		case absent && (r.Outcome != verdict.Untested || r.FeatureAbsent == "" || !strings.HasPrefix(r.Reason, verdict.FeatureAbsentPrefix)):
			t.Errorf("VM %s: %s (%s); want UNTESTED because FUSE over io_uring is absent", vm.Name, r.Outcome, r.Reason)
		case absent:
			for _, s := range r.Specs {
				if s.Outcome != verdict.NotRun {
					t.Errorf("VM %s: spec %s is %s on a kernel without the feature", vm.Name, s.Name, s.Outcome)
				}
			}
		}
	}
	if absent && facts.FeatureAbsent != "" {
		t.Logf("kernel %s: %s", *zc.Kernel, facts.FeatureAbsent)
	}
}

// specsAsSubtests reads the run's verdict.json and gives each spec a
// subtest with its verdict.
func specsAsSubtests(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "verdict.json"))
	if err != nil {
		t.Errorf("no verdict.json: %v", err)
		return
	}
	var v struct {
		Runs []report.VMRun `json:"runs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Errorf("verdict.json: %v", err)
		return
	}
	for _, vm := range v.Runs {
		if vm.Verdict == nil {
			continue
		}
		for _, s := range vm.Verdict.Specs {
			t.Run(s.Name, func(t *testing.T) {
				switch s.Outcome {
				case verdict.Pass:
				case verdict.KnownFail:
					t.Logf("KNOWN-FAIL: %s", s.Reason)
				case verdict.Skip, verdict.NotRun:
					t.Skipf("%s: %s", s.Outcome, s.Reason)
				default:
					t.Errorf("%s: %s", s.Outcome, s.Reason)
				}
			})
		}
	}
}

// parseKernelItem splits KERNEL=CODE or KERNEL=feature-absent.
func parseKernelItem(item string) (string, expectation, error) {
	k, c, ok := strings.Cut(strings.TrimSpace(item), "=")
	switch {
	case !ok:
		return k, expectation{}, nil
	case c == featureAbsent:
		return k, expectation{code: verdict.ExitUntested, absent: true}, nil
	}
	code, err := strconv.Atoi(c)
	if err != nil {
		return "", expectation{}, fmt.Errorf("-kernels: %q: want KERNEL, KERNEL=EXITCODE or KERNEL=%s", item, featureAbsent)
	}
	return k, expectation{code: code}, nil
}

func set(t *testing.T, name, value string) {
	t.Helper()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
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
