package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// gcovRoot is where a gcov kernel shows its counters (debugfs).
const gcovRoot = "/sys/kernel/debug/gcov"

// coverageWait bounds reading the counters: a kernel the specs left in a
// bad state must not hold the VM's end.
const coverageWait = time.Minute

// resetCoverage mounts debugfs and zeroes the gcov counters, so that what
// is collected after the suite is the suite's (not the boot's).
func resetCoverage(ev *vmevent.Writer) {
	os.MkdirAll("/sys/kernel/debug", 0o755)
	if err := unix.Mount("debugfs", "/sys/kernel/debug", "debugfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: mount debugfs: " + err.Error()})
	}
	if err := os.WriteFile(filepath.Join(gcovRoot, "reset"), []byte("1"), 0); err != nil {
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: resetting the gcov counters: " + err.Error()})
	}
}

// sendCoverage sends the .gcda files under dirs as one Coverage event.
func sendCoverage(ev *vmevent.Writer, dirs []string) {
	got := make(chan vmevent.CoverageData, 1)
	go func() { got <- readCoverage(gcovRoot, dirs) }()
	var d vmevent.CoverageData
	select {
	case d = <-got:
	case <-time.After(coverageWait):
		d.Error = fmt.Sprintf("reading %s took more than %s", gcovRoot, coverageWait)
	}
	b, err := json.Marshal(d)
	if err != nil {
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: encoding the coverage: " + err.Error()})
		return
	}
	ev.Write(vmevent.Event{Type: vmevent.Coverage, Data: b})
}

// readCoverage archives every .gcda file under root whose path has one of
// dirs as a whole path component sequence ("fs/fuse" matches
// root/<build dir>/fs/fuse/dev.gcda, not fs/fuse/sub/x.gcda).
func readCoverage(root string, dirs []string) vmevent.CoverageData {
	var d vmevent.CoverageData
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	var errs []string
	werr := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err.Error())
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(p, ".gcda") || !inDirs(p, dirs) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err.Error())
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
		d.Files++
		return nil
	})
	if werr != nil {
		errs = append(errs, werr.Error())
	}
	if err := tw.Close(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := zw.Close(); err != nil {
		errs = append(errs, err.Error())
	}
	if d.Files > 0 {
		d.Tgz = buf.Bytes()
	}
	if d.Files == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Sprintf("no .gcda file of %s under %s", strings.Join(dirs, ", "), root))
	}
	if len(errs) > 5 {
		errs = append(errs[:5], fmt.Sprintf("and %d more", len(errs)-5))
	}
	d.Error = strings.Join(errs, "; ")
	return d
}

func inDirs(p string, dirs []string) bool {
	parent := filepath.Dir(p)
	for _, dir := range dirs {
		if strings.HasSuffix(parent, "/"+strings.Trim(dir, "/")) {
			return true
		}
	}
	return false
}
