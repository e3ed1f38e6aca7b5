package kbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSeed(t *testing.T) {
	cache := t.TempDir()
	from, tree := filepath.Join(t.TempDir(), "linux"), filepath.Join(t.TempDir(), "copy")
	os.MkdirAll(from, 0o755)
	os.MkdirAll(tree, 0o755)
	src := Dir(cache, from, "min")
	os.MkdirAll(filepath.Join(src, "arch/x86/boot"), 0o755)
	os.MkdirAll(filepath.Join(src, "fs/fuse"), 0o755)
	os.WriteFile(filepath.Join(src, "arch/x86/boot/bzImage"), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(src, ".config"), []byte("CONFIG_FUSE_FS=y\n"), 0o644)
	cmd := filepath.Join(src, "fs/fuse/.dev.o.cmd")
	os.WriteFile(cmd, []byte("savedcmd := gcc -I"+from+"/include "+from+"/fs/fuse/dev.c\n"), 0o644)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(cmd, old, old)
	os.Symlink(from, filepath.Join(src, "source"))
	(&builder{dir: src}).writeStamp(stamp{Version: stampVersion, TreeID: treeID(from)})

	if err := Seed(context.Background(), cache, from, tree, "min", nil); err != nil {
		t.Fatal(err)
	}
	dst := Dir(cache, tree, "min")
	data, _ := os.ReadFile(filepath.Join(dst, "fs/fuse/.dev.o.cmd"))
	if strings.Contains(string(data), from) || !strings.Contains(string(data), tree+"/fs/fuse/dev.c") {
		t.Errorf("command file not rewritten: %s", data)
	}
	if st, _ := os.Stat(filepath.Join(dst, "fs/fuse/.dev.o.cmd")); !st.ModTime().Equal(old) {
		t.Errorf("mtime %v, want %v kept", st.ModTime(), old)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "source")); l != tree {
		t.Errorf("source -> %s, want %s", l, tree)
	}
	if s, ok := (&builder{dir: dst}).readStamp(); !ok || s.TreeID != treeID(tree) {
		t.Errorf("stamp tree id %q, want %q", s.TreeID, treeID(tree))
	}
	// The original is untouched, and a second Seed leaves the copy alone.
	if data, _ := os.ReadFile(cmd); !strings.Contains(string(data), from) {
		t.Errorf("the original build directory changed: %s", data)
	}
	os.WriteFile(filepath.Join(dst, "marker"), nil, 0o644)
	if err := Seed(context.Background(), cache, from, tree, "min", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "marker")); err != nil {
		t.Error("a second Seed replaced an existing build directory")
	}
}
