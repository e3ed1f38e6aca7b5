package lava

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// The monitors pattern reads back every outcome a guest prints, the
// longer names (KNOWN-FAIL) not as their tails (FAIL), and the spec's
// whole name.
func TestResultPatternReadsEveryOutcome(t *testing.T) {
	re := regexp.MustCompile(ResultPattern())
	for o, r := range Results {
		name := "cap-gate: ADD_QUEUE refuses (§3) a zero-copy queue"
		line := vmevent.ResultPrefix + string(o) + " " + vmevent.ResultID(name) + " " + name + "\r\n"
		m := re.FindStringSubmatch(line)
		if m == nil || m[re.SubexpIndex("result")] != string(o) || m[re.SubexpIndex("test_case_id")] != vmevent.ResultID(name) {
			t.Errorf("%s: %q", o, m)
		}
		if re.MatchString(vmevent.ResultPrefix + string(o) + " " + vmevent.ResultID(name)[:8]) {
			t.Errorf("%s: an ID cut short matches", o)
		}
		switch r {
		case "pass", "fail", "skip":
		default:
			t.Errorf("%s maps to %q, which LAVA does not know", o, r)
		}
	}
	for _, o := range []verdict.Outcome{verdict.Pass, verdict.Skip, verdict.KnownFail, verdict.Fail, verdict.Fixed, verdict.Hang, verdict.Panic, verdict.Crash, verdict.NotRun} {
		if _, ok := Results[o]; !ok {
			t.Errorf("outcome %s has no LAVA result", o)
		}
	}
	if Results[verdict.Fail] != "fail" || Results[verdict.Pass] != "pass" {
		t.Error("PASS and FAIL must stay pass and fail")
	}
}

// lava/check.py computes the same IDs from the run's spec names.
func TestResultIDIsCheckPys(t *testing.T) {
	if id := vmevent.ResultID("abc"); id != "zc-ba7816bf8f01" {
		t.Errorf("ResultID(abc) = %s; lava/check.py's result_id gives zc-ba7816bf8f01", id)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "base.cpio")
	kern := filepath.Join(dir, "vmlinuz")
	os.WriteFile(img, []byte("base archive"), 0o644)
	os.WriteFile(kern, []byte("kernel"), 0o644)
	b := &runner.LabBoot{
		Kernel:  &kernel.Kernel{Spec: "debian:7.3-cloud", Image: kern, SHA256: "abc"},
		Image:   &vmimage.Image{Path: img, Hash: "def"},
		Cmdline: []string{"console=ttyS0", "zcsuite.cfg=XYZ"}, SMP: 2, MemoryMB: 1024, Timeout: 8 * time.Minute,
		Known: []verdict.Expectation{{Spec: "h1 spec", Reason: "H1", Outcome: verdict.Panic}},
	}
	out := filepath.Join(dir, "job")
	path, err := Write(b, Options{Dir: out, Name: "zcsuite test"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := os.ReadFile(path)
	for _, want := range []string{"device_type: qemu", "to: tmpfs", "method: qemu", "-append 'console=ttyS0 zcsuite.cfg=XYZ'", "file://" + out + "/bzImage", "start: \"" + vmevent.ResultsStart + "\""} {
		if !strings.Contains(string(job), want) {
			t.Errorf("job lacks %q:\n%s", want, job)
		}
	}
	ird, _ := os.ReadFile(filepath.Join(out, InitramfsFile))
	if !bytes.HasPrefix(ird, []byte("base archive")) || !bytes.Contains(ird, []byte(`"Spec":"h1 spec"`)) || !bytes.Contains(ird, []byte("zcsuite/known.json")) || !bytes.Contains(ird, []byte("TRAILER!!!")) {
		t.Errorf("initramfs: %q", ird)
	}
	if k, _ := os.ReadFile(filepath.Join(out, KernelFile)); string(k) != "kernel" {
		t.Errorf("kernel copy %q", k)
	}
	if _, err := Write(b, Options{Dir: out, URL: "https://lab.example/zc/", Name: "x"}); err != nil {
		t.Fatal(err)
	}
	job, _ = os.ReadFile(path)
	if !strings.Contains(string(job), `url: "https://lab.example/zc/initramfs.cpio"`) {
		t.Errorf("-url: %s", job)
	}
}
