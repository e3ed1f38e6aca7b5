package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromPathErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := FromPath(filepath.Join(dir, "missing")); !errors.Is(err, ErrNoSuchKernel) {
		t.Fatalf("missing file: got %v, want ErrNoSuchKernel", err)
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, make([]byte, 4096), 0o644)
	if _, err := FromPath(junk); !errors.Is(err, ErrNotKernel) {
		t.Fatalf("zero file: got %v, want ErrNotKernel", err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("#!/bin/sh\n"), 0o644)
	if _, err := FromPath(short); !errors.Is(err, ErrNotKernel) {
		t.Fatalf("short file: got %v, want ErrNotKernel", err)
	}
	if _, err := FromPath(dir); !errors.Is(err, ErrNotKernel) {
		t.Fatalf("directory: got %v, want ErrNotKernel", err)
	}
}

func TestFromPathHeader(t *testing.T) {
	img := make([]byte, 0x1000)
	copy(img[hdrMagicOff:], "HdrS")
	img[hdrVersionOff] = 0x00
	img[hdrVersionOff+1] = 0x02 // banner at 0x200+0x200
	copy(img[0x400:], "7.3.0-rc7-zc (dev@box) #4 SMP\x00")
	p := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(p, img, 0o644)
	k, err := FromPath(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release() != "7.3.0-rc7-zc" || len(k.SHA256) != 64 || k.Source != "path" {
		t.Fatalf("got %+v", k)
	}
}

// TestFromPathCutShort gives an image whose boot header promises more
// bytes than the file has (a copy interrupted at 1 MB): not a kernel,
// refused before anything boots.
func TestFromPathCutShort(t *testing.T) {
	img := make([]byte, 0x1000)
	copy(img[hdrMagicOff:], "HdrS")
	img[hdrSetupSectsOff] = 1
	binary.LittleEndian.PutUint32(img[hdrSysSizeOff:], 0x100) // 4 KiB of payload after 1 KiB of setup
	p := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(p, img, 0o644)
	_, err := FromPath(p)
	if !errors.Is(err, ErrNotKernel) || !strings.Contains(err.Error(), "cut short: 4096 bytes, its boot header says 5120") {
		t.Fatalf("got %v", err)
	}
	os.WriteFile(p, append(img, make([]byte, 1024)...), 0o644)
	if _, err := FromPath(p); err != nil {
		t.Fatalf("whole image refused: %v", err)
	}
}

func TestParseDebianSpec(t *testing.T) {
	for _, c := range []struct {
		spec, ver, flav string
		ok              bool
	}{
		{"debian:7.3-cloud", "7.3", "cloud", true},
		{"debian:7.2-cloud", "7.2", "cloud", true},
		{"debian:7.2.13-cloud", "7.2.13", "cloud", true},
		{"debian:6.12-cloud", "6.12", "cloud", true},
		{"debian:cloud", "", "", false},
		{"debian:7.3", "", "", false},
		{"ubuntu:7.3-cloud", "", "", false},
		{"debian:7.3-cloud;rm", "", "", false},
	} {
		v, f, err := ParseDebianSpec(c.spec)
		if c.ok != (err == nil) || v != c.ver || f != c.flav {
			t.Errorf("%q: got %q %q %v", c.spec, v, f, err)
		}
		if err != nil && !errors.Is(err, ErrBadSpec) {
			t.Errorf("%q: error %v is not ErrBadSpec", c.spec, err)
		}
	}
}

// Both namings of Debian's kernel packages resolve; the unsigned, debug
// and meta packages and other flavours and versions do not.
func TestKernelPackageRE(t *testing.T) {
	for _, c := range []struct {
		version, flavour, name string
		ok                     bool
	}{
		{"7.3", "cloud", "linux-binary-7.3-cloud-amd64", true},
		{"7.2", "cloud", "linux-binary-7.2.13+deb14-cloud-amd64", true},
		{"6.12", "cloud", "linux-image-6.12.117+deb13-cloud-amd64", true},
		{"6.12", "cloud", "linux-image-6.12.117+deb13-cloud-amd64-unsigned", false},
		{"6.12", "cloud", "linux-image-6.12.117+deb13-cloud-amd64-dbg", false},
		{"6.12", "cloud", "linux-image-cloud-amd64", false},
		{"6.12", "cloud", "linux-image-6.12.117+deb13-amd64", false},
		{"6.1", "cloud", "linux-image-6.12.117+deb13-cloud-amd64", false},
		{"7.2", "cloud", "linux-base-7.2.13+deb14-cloud-amd64", false},
	} {
		if got := kernelPackageRE(c.version, c.flavour).MatchString(c.name); got != c.ok {
			t.Errorf("%s-%s ~ %s: %v, want %v", c.version, c.flavour, c.name, got, c.ok)
		}
	}
}

// TestFetchDebian talks to Debian's archive; it is skipped when apt is
// missing or ZCSUITE_OFFLINE is set.
func TestFetchDebian(t *testing.T) {
	if os.Getenv("ZCSUITE_OFFLINE") != "" {
		t.Skip("ZCSUITE_OFFLINE is set")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not installed: cannot fetch Debian kernels")
	}
	cache := os.Getenv("ZCSUITE_CACHE")
	if cache == "" {
		cache = t.TempDir()
	}
	k, err := FetchDebian(context.Background(), "debian:7.3-cloud", cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if k.Package != "linux-binary-7.3-cloud-amd64" || k.Version == "" || len(k.SHA256) != 64 || k.ConfigPath == "" {
		t.Fatalf("got %+v", k)
	}
	if _, err := FetchDebian(context.Background(), "debian:6.99-cloud", cache, t.Logf); !errors.Is(err, ErrUnknownDebian) {
		t.Fatalf("unknown version: got %v, want ErrUnknownDebian", err)
	}
}
