package coverage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tools are the host programs a report needs (Debian: lcov, gcc).
var Tools = []string{"geninfo", "lcov", "genhtml", "gcov"}

// ErrTools says a tool is missing.
var ErrTools = errors.New("coverage: tools missing")

// ErrNoData says no VM sent counters.
var ErrNoData = errors.New("coverage: no VM sent gcov counters")

// CheckTools reports the missing tools.
func CheckTools() error {
	var missing []string
	for _, t := range Tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not installed (Debian: apt-get install lcov gcc)", ErrTools, strings.Join(missing, ", "))
	}
	return nil
}

// lcovRC turns on branch coverage in lcov 1.x (2.x reads the same name).
var lcovRC = []string{"--rc", "lcov_branch_coverage=1"}

// vmInfo makes one VM's tracefile: its archive unpacked into work/<vm>
// with the build directory's .gcno files linked beside the .gcda files,
// then geninfo. It returns the tracefile's path.
func vmInfo(ctx context.Context, archive, buildDir, work, out string) error {
	if err := unpack(archive, buildDir, work); err != nil {
		return err
	}
	args := append([]string{work, "-o", out, "-q", "--base-directory", buildDir}, lcovRC...)
	return runTool(ctx, "geninfo", args...)
}

// unpack writes an archive's .gcda files under dir at their path relative
// to the build directory (their names in the guest start with it) and
// links each one's .gcno.
func unpack(archive, buildDir, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("coverage: %s: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	prefix := strings.TrimPrefix(filepath.Clean(buildDir), "/") + "/"
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("coverage: %s: %w", archive, err)
		}
		name := filepath.Clean(h.Name)
		rel, ok := strings.CutPrefix(name, prefix)
		if !ok || strings.HasPrefix(rel, "..") || !strings.HasSuffix(rel, ".gcda") {
			return fmt.Errorf("coverage: %s: %s is not a .gcda file of the build directory %s (a kernel built elsewhere?)", archive, h.Name, buildDir)
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		w, err := os.Create(dst)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, tr)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		gcno := strings.TrimSuffix(rel, ".gcda") + ".gcno"
		if _, err := os.Stat(filepath.Join(buildDir, gcno)); err != nil {
			return fmt.Errorf("coverage: the build directory has no %s for the guest's %s: %v", gcno, rel, err)
		}
		if err := os.Symlink(filepath.Join(buildDir, gcno), filepath.Join(dir, gcno)); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("coverage: %s holds no .gcda file", archive)
	}
	return nil
}

func runTool(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("coverage: %s: %v: %s", name, err, tail(string(out), 6))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
