package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

func TestReadCoverage(t *testing.T) {
	root := t.TempDir()
	build := "root/cache/kbuild/x-min-gcov"
	files := map[string]string{
		build + "/fs/fuse/dev_uring.gcda": "a",
		build + "/fs/fuse/inode.gcda":     "b",
		build + "/io_uring/rsrc.gcda":     "c",
		build + "/fs/fuse/sub/other.gcda": "not a listed directory",
		build + "/fs/proc/base.gcda":      "not a listed directory",
		build + "/io_uring/notes.txt":     "not a .gcda",
		build + "/xfs/fuse/wrong.gcda":    "fs/fuse must be whole components",
	}
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := readCoverage(root, []string{"fs/fuse", "io_uring"})
	if d.Error != "" || d.Files != 3 {
		t.Fatalf("files %d, error %q; want 3 and none", d.Files, d.Error)
	}
	zr, err := gzip.NewReader(bytes.NewReader(d.Tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if string(b) != files[h.Name] {
			t.Errorf("%s holds %q, want %q", h.Name, b, files[h.Name])
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	want := []string{build + "/fs/fuse/dev_uring.gcda", build + "/fs/fuse/inode.gcda", build + "/io_uring/rsrc.gcda"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("archived %v, want %v", names, want)
	}
	if d := readCoverage(t.TempDir(), []string{"fs/fuse"}); d.Files != 0 || d.Error == "" {
		t.Errorf("an empty gcov tree: %+v, want an error", d)
	}
}
