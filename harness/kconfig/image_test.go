package kconfig

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// TestFromKernelImageDebian: Debian's 7.3 vmlinuz is a real zstd bzImage
// built without IKCONFIG, so its payload decompresses and holds no config.
func TestFromKernelImageDebian(t *testing.T) {
	k := debianKernel(t, "debian:7.3-cloud")
	_, err := FromKernelImage(k.Image)
	if !errors.Is(err, ErrNoIKConfig) {
		t.Fatalf("FromKernelImage = %v, want ErrNoIKConfig", err)
	}
}

// TestFromKernelImageBuilt reads the config out of a bzImage built with
// CONFIG_IKCONFIG=y (kernelconfig/min.config sets it) and compares it with
// the .config it was built from. Set ZCSUITE_TEST_BZIMAGE to the image and
// ZCSUITE_TEST_BZIMAGE_CONFIG to its .config; skipped otherwise.
func TestFromKernelImageBuilt(t *testing.T) {
	img, cfg := os.Getenv("ZCSUITE_TEST_BZIMAGE"), os.Getenv("ZCSUITE_TEST_BZIMAGE_CONFIG")
	if img == "" || cfg == "" {
		t.Skip("ZCSUITE_TEST_BZIMAGE and ZCSUITE_TEST_BZIMAGE_CONFIG not set: no IKCONFIG kernel built here")
	}
	got, err := FromKernelImage(img)
	if err != nil {
		t.Fatal(err)
	}
	want, err := FromFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != want.Hash() {
		t.Errorf("embedded config (%d options) differs from %s (%d options)", len(got), cfg, len(want))
	}
	if got.Value("CONFIG_IKCONFIG") != "y" {
		t.Errorf("CONFIG_IKCONFIG = %q in the embedded config", got.Value("CONFIG_IKCONFIG"))
	}
}

// fakeKernel returns a decompressed "kernel" of a few MiB: filler the
// compressors cannot squeeze to nothing, and when cfg is not empty the
// IKCONFIG block kernel/configs.c would embed.
func fakeKernel(t *testing.T, cfg string) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	filler := make([]byte, 3<<20)
	for i := range filler {
		filler[i] = "abcdefgh"[rng.IntN(8)]
	}
	b.Write(filler[:2<<20])
	if cfg != "" {
		b.WriteString("IKCFG_ST")
		z := gzip.NewWriter(&b)
		if _, err := io.WriteString(z, cfg); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		b.WriteString("IKCFG_ED")
	}
	b.Write(filler[2<<20:])
	return b.Bytes()
}

// bzImage wraps a compressed payload the way a bzImage does: setup code and
// a decompressor stub before it, a trailer after it.
func bzImage(payload []byte) []byte {
	var b bytes.Buffer
	b.Write(bytes.Repeat([]byte{0x90, 0x55, 0xaa, 0x00}, 4096))
	b.Write(payload)
	b.Write(bytes.Repeat([]byte{0xcc}, 512))
	return b.Bytes()
}

func compressWith(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch name {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "xz":
		w, err = xz.NewWriter(&b)
	case "zstd":
		w, err = zstd.NewWriter(&b)
	case "lz4":
		zw := lz4.NewWriter(&b)
		err = zw.Apply(lz4.LegacyOption(true))
		w = zw
	case "bzip2":
		// The standard library only decompresses bzip2; use the tool.
		return compressWithTool(t, data, "bzip2", "-c")
	case "xz-x86":
		// What the kernel build runs for KERNEL_XZ on x86.
		return compressWithTool(t, data, "xz", "-c", "--check=crc32", "--x86", "--lzma2=preset=1")
	default:
		t.Fatalf("no compressor %s", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compressWithTool(t *testing.T, data []byte, tool string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s tool not installed: cannot make this payload", tool)
	}
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFromKernelImageFormats(t *testing.T) {
	const cfg = "CONFIG_IKCONFIG=y\nCONFIG_FUSE_FS=y\n# CONFIG_KASAN is not set\n"
	kernel := fakeKernel(t, cfg)
	for _, name := range []string{"gzip", "xz", "xz-x86", "zstd", "bzip2", "lz4"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bzImage")
			if err := os.WriteFile(p, bzImage(compressWith(t, name, kernel)), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := FromKernelImage(p)
			if err != nil {
				t.Fatal(err)
			}
			if c["CONFIG_FUSE_FS"] != "y" || c["CONFIG_KASAN"] != "n" || len(c) != 3 {
				t.Errorf("config = %v", c)
			}
		})
	}
}

func TestFromKernelImageAbsent(t *testing.T) {
	dir := t.TempDir()
	noCfg := filepath.Join(dir, "bzImage-no-ikconfig")
	if err := os.WriteFile(noCfg, bzImage(compressWith(t, "xz", fakeKernel(t, ""))), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromKernelImage(noCfg); !errors.Is(err, ErrNoIKConfig) {
		t.Errorf("image without IKCONFIG: err = %v, want ErrNoIKConfig", err)
	}
	junk := filepath.Join(dir, "not-a-kernel")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a kernel "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FromKernelImage(junk)
	if !errors.Is(err, ErrNoPayload) || errors.Is(err, ErrNoIKConfig) {
		t.Errorf("junk file: err = %v, want ErrNoPayload (absence is not proven)", err)
	}
	if _, err := FromKernelImage(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want os.ErrNotExist", err)
	}
}

// TestFromKernelImageVmlinux: an uncompressed kernel carries the block in
// plain sight.
func TestFromKernelImageVmlinux(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(p, fakeKernel(t, "CONFIG_A=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := FromKernelImage(p)
	if err != nil || c["CONFIG_A"] != "y" {
		t.Fatalf("FromKernelImage = %v, %v", c, err)
	}
}

// TestUndoX86BCJ round-trips real x86 machine code (this test binary)
// through "xz --x86": the BCJ filter rewrote thousands of call and jump
// displacements, and unxz must restore every byte.
func TestUndoX86BCJ(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	packed := compressWithTool(t, code, "xz", "-c", "--check=crc32", "--x86", "--lzma2=preset=0")
	got, err := unxz(packed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, code) {
		n := 0
		for n < min(len(got), len(code)) && got[n] == code[n] {
			n++
		}
		t.Fatalf("decoded %d bytes, want %d; first difference at offset %d", len(got), len(code), n)
	}
	// Without undoing the filter the bytes would differ: the test means something.
	plain := compressWithTool(t, code, "xz", "-c", "--check=crc32", "--lzma2=preset=0")
	if bytes.Equal(packed, plain) {
		t.Error("--x86 changed nothing")
	}
}

func TestUnxzRefusesOtherFilters(t *testing.T) {
	// ARM BCJ (0x07) before LZMA2.
	packed := compressWithTool(t, bytes.Repeat([]byte("kernel "), 1000), "xz", "-c", "--arm", "--lzma2=preset=0")
	if _, err := unxz(packed); !errors.Is(err, errXZUnsupported) {
		t.Errorf("unxz = %v, want errXZUnsupported", err)
	}
}
