package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/filesum"
)

// debFixture is a private apt directory, as FetchDebian leaves it, for a
// made-up debian:7.3-test kernel: fresh lists (so nothing refreshes them),
// the resolved package, and both .deb files in the download folder. A fake
// apt-get on PATH stands in for the archive: it counts its calls and
// "downloads" from the fixture's own pristine copies.
type debFixture struct {
	cache, debs, pristine, calls string
	binDeb, baseDeb              string
	lines                        []string
	mu                           sync.Mutex
}

const (
	fixtureSpec    = "debian:7.3-test"
	fixtureBinary  = "linux-binary-7.3-test-amd64"
	fixtureBase    = "linux-base-7.3-test-amd64"
	fixtureVersion = "7.3~rc7-1~exp1"
)

func newDebFixture(t *testing.T) *debFixture {
	t.Helper()
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: Debian kernels cannot be unpacked here", tool)
		}
	}
	dir := t.TempDir()
	f := &debFixture{cache: filepath.Join(dir, "cache"), pristine: filepath.Join(dir, "pristine"), calls: filepath.Join(dir, "apt-get.calls")}
	apt := filepath.Join(f.cache, "apt")
	f.debs = filepath.Join(apt, "debs")
	for _, d := range []string{f.debs, filepath.Join(apt, "resolved"), f.pristine} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A minimal bzImage header and banner (see TestFromPathHeader).
	img := make([]byte, 0x1000)
	copy(img[hdrMagicOff:], "HdrS")
	img[hdrVersionOff+1] = 0x02
	copy(img[0x400:], "7.3-test-amd64 (fixture) #1 SMP\x00")
	f.binDeb = buildDeb(t, f.pristine, fixtureBinary, map[string][]byte{
		"usr/lib/modules/7.3-test-amd64/vmlinuz": img,
		"usr/lib/modules/7.3-test-amd64/config":  []byte("CONFIG_FUSE_FS=y\n"),
	})
	f.baseDeb = buildDeb(t, f.pristine, fixtureBase, map[string][]byte{"usr/share/doc/" + fixtureBase + "/README": []byte("base\n")})
	for _, d := range []string{f.binDeb, f.baseDeb} {
		b, _ := os.ReadFile(d)
		os.WriteFile(filepath.Join(f.debs, filepath.Base(d)), b, 0o644)
	}
	os.WriteFile(filepath.Join(apt, "sources.list"), []byte(strings.Join(DebianSources, "\n")+"\n"), 0o644)
	stamp := time.Now().UTC().Format(time.RFC3339) + "\n"
	os.WriteFile(filepath.Join(apt, "lists.stamp"), []byte(stamp), 0o644)
	sum, _ := filesum.SHA256(f.binDeb)
	resolved, _ := json.Marshal(map[string]any{"Stamp": stamp, "Info": pkgInfo{Name: fixtureBinary, Version: fixtureVersion, SHA256: sum}})
	os.WriteFile(filepath.Join(apt, "resolved", sanitize(fixtureSpec)+".json"), resolved, 0o644)
	// The fake apt-get: "download NAME=VERSION..." copies NAME's pristine
	// .deb into the working directory; anything else fails.
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	script := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %q
dl=
for a in "$@"; do
	if [ "$a" = download ]; then dl=1; continue; fi
	[ -n "$dl" ] || continue
	cp %q/"${a%%%%=*}"_*.deb . || exit 1
done
[ -n "$dl" ] || exit 100
`, f.calls, f.pristine)
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return f
}

// buildDeb makes NAME_VERSION_amd64.deb in dir holding files.
func buildDeb(t *testing.T, dir, name string, files map[string][]byte) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), name)
	os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: zcsuite <zcsuite@invalid>\nDescription: test fixture\n", name, fixtureVersion)
	os.WriteFile(filepath.Join(tree, "DEBIAN", "control"), []byte(control), 0o644)
	for p, b := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(tree, p)), 0o755)
		os.WriteFile(filepath.Join(tree, p), b, 0o644)
	}
	out := filepath.Join(dir, name+"_"+debEscape(fixtureVersion)+"_amd64.deb")
	if msg, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, msg)
	}
	return out
}

func (f *debFixture) fetch(t *testing.T) (*Kernel, []string) {
	t.Helper()
	f.mu.Lock()
	f.lines = nil
	f.mu.Unlock()
	logf := func(format string, v ...any) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lines = append(f.lines, fmt.Sprintf(format, v...))
	}
	k, err := FetchDebian(context.Background(), fixtureSpec, f.cache, logf)
	if err != nil {
		t.Fatalf("FetchDebian: %v (lines %q)", err, f.lines)
	}
	return k, f.lines
}

func (f *debFixture) downloads() string {
	b, _ := os.ReadFile(f.calls)
	return strings.TrimSpace(string(b))
}

// fetchedOnce unpacks the fixture kernel and checks the positive control:
// a second fetch serves the folder as it is, silently, with no apt-get.
func (f *debFixture) fetchedOnce(t *testing.T) *Kernel {
	t.Helper()
	k, _ := f.fetch(t)
	if k.Package != fixtureBinary || k.Release() != "7.3-test-amd64" || k.ConfigSource != "package" {
		t.Fatalf("first fetch: got %+v", k)
	}
	again, lines := f.fetch(t)
	if again.Image != k.Image || again.SHA256 != k.SHA256 || len(lines) != 0 {
		t.Fatalf("an intact folder was not reused silently: %+v, lines %q", again, lines)
	}
	if calls := f.downloads(); calls != "" {
		t.Fatalf("apt-get ran although both .deb files were cached: %s", calls)
	}
	return k
}

func TestFetchDebianUnpacksAMissingImageFromTheCachedDeb(t *testing.T) {
	f := newDebFixture(t)
	k := f.fetchedOnce(t)
	if err := os.Remove(k.Image); err != nil {
		t.Fatal(err)
	}
	healed, lines := f.fetch(t)
	if healed.SHA256 != k.SHA256 || healed.Image != k.Image {
		t.Fatalf("re-unpacked kernel %+v, want image %s sha256 %s", healed, k.Image, k.SHA256)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "vmlinuz is missing") || !strings.Contains(lines[0], "unpacking it again") {
		t.Fatalf("want one line saying the image was missing and is unpacked again, got %q", lines)
	}
	if calls := f.downloads(); calls != "" {
		t.Fatalf("apt-get ran although both .deb files were cached: %s", calls)
	}
}

func TestFetchDebianUnpacksAChangedImageAgain(t *testing.T) {
	f := newDebFixture(t)
	k := f.fetchedOnce(t)
	b, _ := os.ReadFile(k.Image)
	b[len(b)-1] ^= 0xff // still a bzImage, another sha256
	os.WriteFile(k.Image, b, 0o644)
	healed, lines := f.fetch(t)
	if healed.SHA256 != k.SHA256 {
		t.Fatalf("sha256 %s after re-unpacking, want %s", healed.SHA256, k.SHA256)
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "not the "+k.SHA256[:16]+" recorded") {
		t.Fatalf("want one line naming the recorded sha256, got %q", lines)
	}
}

func TestFetchDebianDownloadsADamagedDebAgain(t *testing.T) {
	f := newDebFixture(t)
	k := f.fetchedOnce(t)
	os.Remove(k.Image)
	cached := filepath.Join(f.debs, filepath.Base(f.binDeb))
	if err := os.Truncate(cached, 100); err != nil {
		t.Fatal(err)
	}
	healed, lines := f.fetch(t)
	if healed.SHA256 != k.SHA256 {
		t.Fatalf("sha256 %s after the download, want %s", healed.SHA256, k.SHA256)
	}
	if len(lines) != 2 || !strings.Contains(lines[1], filepath.Base(cached)+" has sha256") || !strings.Contains(lines[1], "downloading it again") {
		t.Fatalf("want the re-unpack line and one naming the damaged .deb, got %q", lines)
	}
	if calls := f.downloads(); !strings.Contains(calls, "download "+fixtureBinary+"="+fixtureVersion) || strings.Contains(calls, fixtureBase) {
		t.Fatalf("apt-get calls %q: want one download of the damaged package only", calls)
	}
}

func TestFetchDebianRecordsAnOlderFolder(t *testing.T) {
	f := newDebFixture(t)
	k := f.fetchedOnce(t)
	// An older zcsuite left an empty .complete: nothing to check the image
	// against, so it is unpacked again once, and recorded.
	os.WriteFile(filepath.Join(filepath.Dir(k.Image), "../../../../.complete"), nil, 0o644)
	_, lines := f.fetch(t)
	if len(lines) != 1 || !strings.Contains(lines[0], "no image sha256 recorded") {
		t.Fatalf("got %q", lines)
	}
	if _, lines = f.fetch(t); len(lines) != 0 {
		t.Fatalf("the recorded folder was unpacked again: %q", lines)
	}
}
