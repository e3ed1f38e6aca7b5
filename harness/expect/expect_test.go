package expect

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestForMatchesByIdentity(t *testing.T) {
	f, err := Load(write(t, `{"kernels":[
	 {"match":{"package":"linux-binary-7.3-cloud-amd64","version":"7.3~rc*"},"issues":[{"spec":"a","reason":"H2"}]},
	 {"match":{"release":"^7\\.3"},"issues":[{"spec":"b","outcome":"PANIC","reason":"H1"}]},
	 {"match":{"sha256":"abc"},"issues":[{"spec":"c","reason":"only that image"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	deb73 := &kernel.Kernel{Package: "linux-binary-7.3-cloud-amd64", Version: "7.3~rc7-1~exp1", Banner: "7.3-cloud-amd64 (x) #1", SHA256: "def"}
	got := For([]*File{f}, deb73)
	if len(got) != 2 || got[0].Spec != "a" || got[1].Outcome != verdict.Panic {
		t.Fatalf("7.3: got %+v", got)
	}
	deb72 := &kernel.Kernel{Package: "linux-binary-7.2.13+deb14-cloud-amd64", Version: "7.2.13-1", Banner: "7.2.13+deb14-cloud-amd64 (x)"}
	if got := For([]*File{f}, deb72); len(got) != 0 {
		t.Fatalf("7.2: got %+v", got)
	}
	img := &kernel.Kernel{SHA256: "abc", Banner: "6.1.0 (x)"}
	if got := For([]*File{f}, img); len(got) != 1 || got[0].Spec != "c" {
		t.Fatalf("by sha: got %+v", got)
	}
}

func TestForMatchesByConfig(t *testing.T) {
	f, err := Load(write(t, `{"kernels":[
	 {"match":{"release":"^7\\.3","config":["CONFIG_KASAN=y"]},"issues":[{"boot_splat":"KASAN: x","reason":"debug only"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	debug, plain := filepath.Join(dir, "debug"), filepath.Join(dir, "plain")
	os.WriteFile(debug, []byte("CONFIG_FUSE_FS=y\nCONFIG_KASAN=y\n"), 0o644)
	os.WriteFile(plain, []byte("CONFIG_FUSE_FS=y\n# CONFIG_KASAN is not set\n"), 0o644)
	for _, c := range []struct {
		config string
		want   int
	}{{debug, 1}, {plain, 0}, {"", 0}, {filepath.Join(dir, "missing"), 0}} {
		k := &kernel.Kernel{Banner: "7.3.0-rc7 (root@vm) #1", ConfigPath: c.config}
		got := For([]*File{f}, k)
		if len(got) != c.want {
			t.Errorf("config %q: got %+v, want %d", c.config, got, c.want)
		}
		if c.want == 1 && got[0].BootSplat != "KASAN: x" {
			t.Errorf("config %q: got %+v", c.config, got)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	for name, body := range map[string]string{
		"empty match":         `{"kernels":[{"match":{},"issues":[{"spec":"a","reason":"r"}]}]}`,
		"no reason":           `{"kernels":[{"match":{"release":"x"},"issues":[{"spec":"a"}]}]}`,
		"pass outcome":        `{"kernels":[{"match":{"release":"x"},"issues":[{"spec":"a","reason":"r","outcome":"PASS"}]}]}`,
		"bad regexp":          `{"kernels":[{"match":{"release":"("},"issues":[]}]}`,
		"not json":            `{`,
		"spec and boot splat": `{"kernels":[{"match":{"release":"x"},"issues":[{"spec":"a","boot_splat":"b","reason":"r"}]}]}`,
		"neither":             `{"kernels":[{"match":{"release":"x"},"issues":[{"reason":"r"}]}]}`,
		"boot splat outcome":  `{"kernels":[{"match":{"release":"x"},"issues":[{"boot_splat":"b","reason":"r","outcome":"FAIL"}]}]}`,
		"bad config line":     `{"kernels":[{"match":{"config":["KASAN"]},"issues":[]}]}`,
	} {
		if _, err := Load(write(t, body)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestRepositoryFixtures loads the project's own expectation files.
func TestRepositoryFixtures(t *testing.T) {
	if _, err := LoadDir("../../fixtures/expectations"); err != nil {
		t.Fatal(err)
	}
}
