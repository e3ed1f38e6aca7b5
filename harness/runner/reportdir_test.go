package runner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zcsuite/zcsuite/harness/report"
)

// TestPrepareReportDir: the directory is created, an earlier run's report
// files go (the user's other files stay), and a directory that cannot be
// written is a usage error before anything starts.
func TestPrepareReportDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := prepareReportDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range report.Files {
		os.WriteFile(filepath.Join(dir, f.Name), []byte("old run"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if err := prepareReportDir(dir); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "notes.txt" {
		t.Fatalf("left in the report dir: %v", left)
	}
	file := filepath.Join(dir, "notes.txt")
	if err := prepareReportDir(file); !errors.Is(err, ErrUsage) {
		t.Fatalf("a file as report dir: %v", err)
	}
	if err := prepareReportDir("/proc/zcsuite-report-check"); !errors.Is(err, ErrUsage) {
		t.Fatalf("/proc: %v", err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o555)
	if os.Geteuid() != 0 { // root writes anywhere
		if err := prepareReportDir(ro); !errors.Is(err, ErrUsage) {
			t.Fatalf("read-only dir: %v", err)
		}
	}
}
