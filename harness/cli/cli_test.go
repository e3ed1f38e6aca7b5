package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/runner"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// TestBadInput checks that every kind of bad input ends in one clear line
// and its exit code, before anything boots.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notKernel := filepath.Join(dir, "notes.txt")
	os.WriteFile(notKernel, []byte("this is not a kernel\n"), 0o644)
	// A kernel image whose boot header promises 5 KiB, cut at 4 KiB.
	cutShort := filepath.Join(dir, "bzImage-cut")
	img := make([]byte, 0x1000)
	copy(img[0x202:], "HdrS")
	img[0x1f1] = 1
	img[0x1f5] = 0x01 // syssize 0x100: 4 KiB of payload
	os.WriteFile(cutShort, img, 0o644)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-no-such-flag"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"extra"}, 2, "unexpected argument"},
		{"missing kernel file", []string{"-kernel", filepath.Join(dir, "missing/bzImage")}, 2, "no such kernel file"},
		{"not a kernel", []string{"-kernel", notKernel}, 2, "not a bootable x86 kernel image"},
		{"bad debian spec", []string{"-kernel", "debian:cloud"}, 2, "bad kernel argument"},
		{"unknown scheme", []string{"-kernel", "fedora:41"}, 2, "bad kernel argument"},
		{"bad accelerator", []string{"-accel", "hvf"}, 2, "accelerator"},
		{"bad focus", []string{"-focus", "("}, 2, "focus"},
		{"config for a debian kernel", []string{"-kernel", "debian:7.3-cloud", "-kernel-config", notKernel}, 2, "--kernel-config goes with a kernel path"},
		{"bad label filter", []string{"-label-filter", "cap-gate &&"}, 2, `label filter "cap-gate &&"`},
		{"bad label filter under -bisect", []string{"-bisect", "-kernel-tree", dir, "-label-filter", "(cap-gate"}, 128, `label filter "(cap-gate"`},
		{"kernel cut short", []string{"-kernel", cutShort}, 2, "is cut short"},
		{"report dir in /proc", []string{"-report-dir", "/proc/zcsuite-report"}, 2, "report directory /proc/zcsuite-report"},
		{"report dir is a file", []string{"-report-dir", notKernel}, 2, "report directory " + notKernel},
		{"bad timeout", []string{"-timeout", "5s"}, 2, "timeout 5s is below 20s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(append([]string{"-cache-dir", dir, "-report-dir", filepath.Join(dir, "r")}, c.args...), &out, &errb)
			if code != c.code {
				t.Fatalf("exit code %d, want %d\nstderr: %s", code, c.code, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Fatalf("stderr %q does not say %q", errb.String(), c.want)
			}
			if lines := strings.Count(strings.TrimSpace(errb.String()), "\n"); c.name != "unknown flag" && lines > 0 {
				t.Fatalf("want one line, got:\n%s", errb.String())
			}
		})
	}
}

// TestUnknownDebianKernel asks Debian's archive for a version that does
// not exist: a usage error (2), not an untestable kernel.
func TestUnknownDebianKernel(t *testing.T) {
	if testing.Short() || os.Getenv("ZCSUITE_OFFLINE") != "" {
		t.Skip("needs Debian's archive (-short or ZCSUITE_OFFLINE set)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not installed: cannot resolve Debian kernels")
	}
	var out, errb bytes.Buffer
	code := Main([]string{"-kernel", "debian:6.99-cloud", "-cache-dir", runner.DefaultCacheDir(), "-report-dir", t.TempDir()}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "no such Debian kernel package") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestKernelWithoutFuseIOURing gives a real kernel image with a config that
// lacks CONFIG_FUSE_IO_URING: the run must stop with 125 and name it.
func TestKernelWithoutFuseIOURing(t *testing.T) {
	if testing.Short() || os.Getenv("ZCSUITE_OFFLINE") != "" {
		t.Skip("needs Debian's archive (-short or ZCSUITE_OFFLINE set)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not installed: cannot fetch a real kernel image")
	}
	k, err := kernel.FetchDebian(context.Background(), "debian:7.3-cloud", runner.DefaultCacheDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(k.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	stripped := strings.Replace(string(cfg), "CONFIG_FUSE_IO_URING=y", "# CONFIG_FUSE_IO_URING is not set", 1)
	if stripped == string(cfg) {
		t.Fatal("the Debian config has no CONFIG_FUSE_IO_URING=y line to remove")
	}
	p := filepath.Join(t.TempDir(), "config")
	os.WriteFile(p, []byte(stripped), 0o644)
	var out, errb bytes.Buffer
	code := Main([]string{"-kernel", k.Image, "-kernel-config", p, "-report-dir", t.TempDir()}, &out, &errb)
	if code != 125 {
		t.Fatalf("exit code %d, want 125\nstderr: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "CONFIG_FUSE_IO_URING") || strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
		t.Fatalf("want one line naming CONFIG_FUSE_IO_URING, got:\n%s", errb.String())
	}
}

func TestFailFastIsOnUnderBisectUnlessTurnedOff(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-fail-fast"}, true},
		{[]string{"-bisect"}, true},
		{[]string{"-bisect", "-fail-fast=false"}, false},
		{[]string{"-kernel-tree", "debian-source:7.3", "-mutate", "fs/fuse/dev_uring.c"}, true},
		{[]string{"-kernel-tree", "debian-source:7.3", "-mutate", "fs/fuse/dev_uring.c", "-fail-fast=false"}, false},
		{[]string{"-kernel-tree", "debian-source:7.3"}, false},
	} {
		fs := flag.NewFlagSet("zcsuite", flag.ContinueOnError)
		f := Register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if got := f.failFast(); got != c.want {
			t.Errorf("%v: fail-fast %v, want %v", c.args, got, c.want)
		}
	}
}

func TestFailFastCountsWhatBadIfMatches(t *testing.T) {
	fs := flag.NewFlagSet("zcsuite", flag.ContinueOnError)
	f := Register(fs)
	if err := fs.Parse([]string{"-bisect", "-bad-if", "CAP_SYS_ADMIN|KASAN"}); err != nil {
		t.Fatal(err)
	}
	counts := f.dev.counts()
	if !counts("cap-gate: refuses zero-copy without CAP_SYS_ADMIN", nil) {
		t.Error("a spec the signature names does not count")
	}
	if counts("integrity: reads back", nil) {
		t.Error("a spec outside the signature counts")
	}
	if !counts("integrity: reads back", []verdict.Splat{{Title: "KASAN: use-after-free in fuse_copy_fill"}}) {
		t.Error("a spec with a splat the signature names does not count")
	}
}
