package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zcsuite/zcsuite/harness/report"
)

// prepareReportDir creates dir, checks that a file can be written there,
// and removes the report files of an earlier run, so that every report
// file in dir after this run belongs to it. A directory that cannot be
// used is a usage error: nothing has started yet.
func prepareReportDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: report directory %s: %v", ErrUsage, dir, err)
	}
	probe, err := os.CreateTemp(dir, ".zcsuite-write-check-")
	if err == nil {
		_, err = probe.WriteString("zcsuite\n")
		if cerr := probe.Close(); err == nil {
			err = cerr
		}
		os.Remove(probe.Name())
	}
	if err != nil {
		return fmt.Errorf("%w: report directory %s is not writable: %v", ErrUsage, dir, err)
	}
	for _, f := range report.Files {
		if err := os.Remove(filepath.Join(dir, f.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: report directory %s: removing the earlier run's %s: %v", ErrUsage, dir, f.Name, err)
		}
	}
	return nil
}
