package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/harness/qemu"
)

// writeCacheFile replaces path with b at once: readers, in this process or
// another, see the old file or the new one, never a part. A file of its
// own per writer, so concurrent writers cannot mix their bytes.
func writeCacheFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".part-")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// readAccelCache returns the accelerator probe's cached answer in path
// ("kvm" or "tcg", a line, then why). A file that holds anything else is
// damaged: it is ignored with a line saying so, and the caller probes again
// and rewrites it.
func readAccelCache(path string, logf func(string, ...any)) (accel, why string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	accel, why, _ = strings.Cut(string(b), "\n")
	if accel != qemu.AccelKVM && accel != qemu.AccelTCG {
		logf("accelerator probe cache %s is damaged (%q); probing again", path, truncate(accel, 40))
		return "", "", false
	}
	return accel, why, true
}

// readTimings reads the spec timings in path. A damaged file is ignored
// with a line saying so: the run plans with default estimates, and saving
// the run's timings rewrites it.
func readTimings(path string, logf func(string, ...any)) specTimings {
	b, err := os.ReadFile(path)
	if err != nil {
		return specTimings{}
	}
	var t specTimings
	if err := json.Unmarshal(b, &t); err != nil {
		logf("spec timings cache %s is damaged (%v); planning without it, this run rewrites it", path, err)
		return specTimings{}
	}
	for s, sec := range t {
		if !(sec > 0 && sec < 24*3600) {
			logf("spec timings cache %s is damaged (%q: %v s); planning without it, this run rewrites it", path, truncate(s, 60), sec)
			return specTimings{}
		}
	}
	return t
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…", s[:n])
}
