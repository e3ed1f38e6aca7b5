package vmimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zcsuite/zcsuite/vmimage/filesum"
)

// buildTiny packs an image of one small static program, with its own
// module and cache directory under dir, and returns the lines Build logged.
func buildTiny(t *testing.T, dir string) (*Image, []string) {
	t.Helper()
	mod := filepath.Join(dir, "mod")
	if err := os.MkdirAll(filepath.Join(mod, "tiny"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/tiny\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(mod, "tiny", "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	var mu sync.Mutex
	var lines []string
	logf := func(format string, v ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, v...))
	}
	img, err := Build(context.Background(), WithModuleDir(mod), WithCacheDir(filepath.Join(dir, "cache")),
		WithBinaries(Binary{Package: "./tiny", Name: "zcinit"}), WithLogf(logf))
	if err != nil {
		t.Fatal(err)
	}
	return img, lines
}

func TestBuildRepacksACorruptCachedArchive(t *testing.T) {
	dir := t.TempDir()
	first, _ := buildTiny(t, dir)
	if first.Cached {
		t.Fatal("the first build says it reused an archive")
	}
	good, err := os.ReadFile(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: an untouched archive is reused, silently.
	again, lines := buildTiny(t, dir)
	if !again.Cached || again.Path != first.Path || len(lines) != 0 {
		t.Fatalf("untouched archive: cached=%v path %s (want %s), lines %q", again.Cached, again.Path, first.Path, lines)
	}
	// Flip one byte in the middle: same size, same name, other content.
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(first.Path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	healed, lines := buildTiny(t, dir)
	if healed.Cached {
		t.Fatal("a corrupt archive was served from the cache")
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "packing it again") || !strings.Contains(lines[0], filepath.Base(first.Path)) {
		t.Fatalf("want one line naming the corrupt archive and the repack, got %q", lines)
	}
	got, err := os.ReadFile(healed.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := filesum.SHA256(healed.Path)
	if !strings.Contains(filepath.Base(healed.Path), sum) {
		t.Errorf("repacked archive %s does not carry its sha256 %s", healed.Path, sum)
	}
	if healed.Path == first.Path && string(got) == string(bad) {
		t.Error("the corrupt bytes are still served")
	}
	if healed.Hash != first.Hash {
		t.Errorf("input hash changed from %s to %s although the inputs did not", first.Hash, healed.Hash)
	}
}

func TestBuildRepacksAnEmptiedArchive(t *testing.T) {
	dir := t.TempDir()
	first, _ := buildTiny(t, dir)
	if err := os.Truncate(first.Path, 0); err != nil {
		t.Fatal(err)
	}
	healed, lines := buildTiny(t, dir)
	if healed.Cached || healed.Size == 0 || len(lines) != 1 {
		t.Fatalf("emptied archive: cached=%v size %d, lines %q", healed.Cached, healed.Size, lines)
	}
}
