package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// GcovDir is the report directory's subdirectory where a -coverage run
// leaves each VM's gcov counters as it came from the guest:
// <VM name>.tgz (see vmevent.CoverageData).
const GcovDir = "gcov"

// WithCoverage makes every VM of the run reset the kernel's gcov counters
// before its specs and send the .gcda files of these source directories
// after them (a kernel built with kernelconfig/gcov.config); each VM's are
// written to GcovDir in the report directory. No directories: off.
func WithCoverage(dirs ...string) Option {
	return func(c *Config) error { c.Coverage = dirs; return nil }
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// CoverageArchive is where a -coverage run writes VM vm's counters.
func CoverageArchive(reportDir, vm string) string {
	return filepath.Join(reportDir, GcovDir, unsafeName.ReplaceAllString(vm, "_")+".tgz")
}

// saveCoverage writes what a VM's Coverage event carried (data; nil when
// the VM sent none) to GcovDir and says what it got.
func (r *runState) saveCoverage(name string, data json.RawMessage) {
	if len(r.c.Coverage) == 0 || r.c.ReportDir == "" {
		return
	}
	if data == nil {
		r.logf("VM %q sent no coverage: its kernel or guest did not live to the end of its specs", name)
		return
	}
	var d vmevent.CoverageData
	if err := json.Unmarshal(data, &d); err != nil {
		r.logf("VM %q: its coverage event is not readable: %v", name, err)
		return
	}
	if d.Error != "" {
		r.logf("VM %q: coverage: %s", name, d.Error)
	}
	if d.Files == 0 {
		return
	}
	file := CoverageArchive(r.c.ReportDir, name)
	err := os.MkdirAll(filepath.Dir(file), 0o755)
	if err == nil {
		err = os.WriteFile(file, d.Tgz, 0o644)
	}
	if err != nil {
		r.logf("VM %q: writing its coverage: %v", name, err)
		return
	}
	r.logf("VM %q: coverage of %d file(s), %.0f KiB compressed", name, d.Files, float64(len(d.Tgz))/1024)
}

// clearCoverage removes an earlier run's counters from the report
// directory.
func clearCoverage(c *Config) error {
	if len(c.Coverage) == 0 || c.ReportDir == "" {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(c.ReportDir, GcovDir)); err != nil {
		return fmt.Errorf("%w: report directory %s: removing the earlier run's %s: %v", ErrUsage, c.ReportDir, GcovDir, err)
	}
	return nil
}
