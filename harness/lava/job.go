package lava

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/u-root/mkuimage/cpio"

	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// Files a job directory holds.
const (
	JobFile       = "job.yaml"
	KernelFile    = "bzImage"
	InitramfsFile = "initramfs.cpio"
)

// Results maps each zcsuite outcome to the LAVA result it is recorded as
// (LAVA knows pass, fail, skip and unknown): a known kernel issue that
// failed the recorded way passes, as it does not fail a run; a spec that
// never ran is a skip. The exact outcome is kept in the job's log, on the
// result line.
var Results = map[verdict.Outcome]string{
	verdict.Pass:      "pass",
	verdict.Skip:      "skip",
	verdict.KnownFail: "pass",
	verdict.NotRun:    "skip",
	verdict.Fail:      "fail",
	verdict.Fixed:     "fail",
	verdict.Hang:      "fail",
	verdict.Panic:     "fail",
	verdict.Crash:     "fail",
}

// ResultPattern is the monitors pattern that reads one result line.
func ResultPattern() string {
	var os []string
	for o := range Results {
		os = append(os, regexp.QuoteMeta(string(o)))
	}
	// Longest first, so KNOWN-FAIL is not read as FAIL.
	sortByLen(os)
	// The test case is the spec's fixed-size ID (vmevent.ResultID): the
	// dispatcher matches on what the console has delivered so far, and a
	// long spec name arrives in pieces.
	return regexp.QuoteMeta(vmevent.ResultPrefix) + `(?P<result>` + strings.Join(os, "|") + `) (?P<test_case_id>zc-[0-9a-f]{12})`
}

func sortByLen(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && (len(s[j]) > len(s[j-1]) || len(s[j]) == len(s[j-1]) && s[j] < s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Options are a job's settings.
type Options struct {
	// Dir receives the job and its artefacts.
	Dir string
	// URL is where the lab downloads the artefacts from (the files of
	// Dir, published there); "" references them as file:// paths in Dir,
	// for a dispatcher on this machine.
	URL string
	// Name is the job's name.
	Name string
}

// Write writes the job definition for b and its artefacts into o.Dir:
// the kernel, and the image with the known issues appended as a second
// cpio archive (the kernel unpacks both).
func Write(b *runner.LabBoot, o Options) (string, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", fmt.Errorf("lava: %w", err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", fmt.Errorf("lava: %w", err)
	}
	if err := copyFile(b.Kernel.Image, filepath.Join(dir, KernelFile)); err != nil {
		return "", err
	}
	if err := writeInitramfs(b.Image.Path, b.Known, filepath.Join(dir, InitramfsFile)); err != nil {
		return "", err
	}
	base := o.URL
	if base == "" {
		base = "file://" + dir
	}
	base = strings.TrimSuffix(base, "/")
	job := Job(b, base+"/"+KernelFile, base+"/"+InitramfsFile, o.Name)
	path := filepath.Join(dir, JobFile)
	if err := os.WriteFile(path, job, 0o644); err != nil {
		return "", fmt.Errorf("lava: %w", err)
	}
	return path, nil
}

// Job is the job definition: deploy the kernel and the initramfs to
// tmpfs, boot them with the qemu method, read the guest's result lines.
// Strings are written as JSON strings, which YAML reads as they are.
func Job(b *runner.LabBoot, kernelURL, initramfsURL, name string) []byte {
	q := func(s string) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		e.Encode(s)
		return strings.TrimSuffix(b.String(), "\n")
	}
	mins := func(d time.Duration) int { return int((d + time.Minute - 1) / time.Minute) }
	suite := mins(b.Timeout) + 1
	var w bytes.Buffer
	fmt.Fprintf(&w, "# zcsuite LAVA job: %s\n", b.Kernel.Spec)
	fmt.Fprintf(&w, "# kernel %s sha256 %s, initramfs %s\n", b.Kernel.Version, b.Kernel.SHA256, b.Image.Hash)
	fmt.Fprintf(&w, "device_type: qemu\njob_name: %s\npriority: medium\nvisibility: public\n", q(name))
	fmt.Fprintf(&w, "timeouts:\n  job:\n    minutes: %d\n  action:\n    minutes: %d\n  connection:\n    minutes: %d\n", suite+10, suite, suite)
	// The lab's qemu device type renders these into QEMU's options; the
	// guest needs b.SMP CPUs (one FUSE queue each) and no KVM.
	fmt.Fprintf(&w, "context:\n  arch: amd64\n  cpu: max\n  memory: %d\n  extra_options:\n  - %s\n  - %s\n", b.MemoryMB, q("-smp"), q(fmt.Sprint(b.SMP)))
	w.WriteString("actions:\n")
	w.WriteString("- deploy:\n    to: tmpfs\n    timeout:\n      minutes: 5\n    images:\n")
	fmt.Fprintf(&w, "      kernel:\n        image_arg: %s\n        url: %s\n", q("-kernel {kernel} -append '"+strings.Join(b.Cmdline, " ")+"'"), q(kernelURL))
	fmt.Fprintf(&w, "      ramdisk:\n        image_arg: %s\n        url: %s\n", q("-initrd {ramdisk}"), q(initramfsURL))
	w.WriteString("- boot:\n    method: qemu\n    media: tmpfs\n    timeout:\n      minutes: 3\n")
	fmt.Fprintf(&w, "- test:\n    timeout:\n      minutes: %d\n    monitors:\n    - name: zcsuite\n", suite)
	fmt.Fprintf(&w, "      start: %s\n      end: %s\n      pattern: %s\n      fixupdict:\n", q(vmevent.ResultsStart), q(vmevent.ResultsEnd), q(ResultPattern()))
	var os []string
	for o := range Results {
		os = append(os, string(o))
	}
	sortByLen(os)
	for _, o := range os {
		fmt.Fprintf(&w, "        %s: %s\n", q(o), Results[verdict.Outcome(o)])
	}
	return w.Bytes()
}

// writeInitramfs writes the image followed by a cpio archive holding the
// known issues (vmevent.KnownPath).
func writeInitramfs(image string, known []verdict.Expectation, out string) error {
	if known == nil {
		known = []verdict.Expectation{}
	}
	kb, err := json.Marshal(known)
	if err != nil {
		return fmt.Errorf("lava: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("lava: %w", err)
	}
	defer f.Close()
	in, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("lava: %w", err)
	}
	defer in.Close()
	n, err := io.Copy(f, in)
	if err != nil {
		return fmt.Errorf("lava: %w", err)
	}
	// Each archive starts on a 4-byte boundary.
	if pad := (4 - n%4) % 4; pad > 0 {
		f.Write(make([]byte, pad))
	}
	rw := cpio.Newc.Writer(f)
	if err := cpio.WriteRecords(rw, []cpio.Record{cpio.StaticFile(strings.TrimPrefix(vmevent.KnownPath, "/"), string(kb), 0o644)}); err != nil {
		return fmt.Errorf("lava: known issues archive: %w", err)
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("lava: known issues archive: %w", err)
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("lava: %w", err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("lava: %w", err)
	}
	return nil
}
