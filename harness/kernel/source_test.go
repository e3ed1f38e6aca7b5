package kernel

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestFetchSourceBadVersion(t *testing.T) {
	for _, v := range []string{"", "7", "7.3-cloud", "7.3;rm", "../7.3"} {
		if _, err := FetchSource(context.Background(), v, t.TempDir(), nil); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%q: got %v, want ErrBadSpec", v, err)
		}
	}
}

func TestUnpackedSources(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed: cannot compare Debian versions")
	}
	cache := t.TempDir()
	for _, v := range []string{"7.3~rc6-1~exp1", "7.3~rc7-1~exp1", "7.3-1"} {
		root := filepath.Join(cache, "sources", "linux-source-7.3_"+sanitize(v))
		os.MkdirAll(filepath.Join(root, "linux-source-7.3"), 0o755)
		if v != "7.3-1" { // an interrupted unpack: no .complete
			os.WriteFile(filepath.Join(root, ".complete"), nil, 0o644)
		}
	}
	got := unpackedSources(cache, "linux-source-7.3")
	if len(got) != 2 || got[0].Version != "7.3~rc7-1~exp1" || got[1].Version != "7.3~rc6-1~exp1" {
		t.Fatalf("got %+v", got)
	}
	if filepath.Base(got[0].Tree) != "linux-source-7.3" {
		t.Fatalf("tree %s", got[0].Tree)
	}
}

// TestFetchSource downloads and unpacks Debian's linux-source-7.3 (160 MB,
// about a minute); it runs only when ZCSUITE_SOURCE_TEST is set.
func TestFetchSource(t *testing.T) {
	if os.Getenv("ZCSUITE_SOURCE_TEST") == "" {
		t.Skip("ZCSUITE_SOURCE_TEST is not set (the test downloads 160 MB)")
	}
	cache := os.Getenv("ZCSUITE_CACHE")
	if cache == "" {
		cache = t.TempDir()
	}
	src, err := FetchSource(context.Background(), "7.3", cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src.Tree, "fs/fuse/dev_uring.c")); err != nil {
		t.Fatalf("%+v: %v", src, err)
	}
	again, err := FetchSource(context.Background(), "7.3", cache, t.Logf)
	if err != nil || again.Tree != src.Tree {
		t.Fatalf("second fetch: %+v %v", again, err)
	}
	t.Logf("%+v", src)
}
