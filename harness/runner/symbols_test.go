package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

// A kernel without KALLSYMS prints bare addresses: with its System.map at
// hand the run names the function, so a declared "WARNING in fuse_uring_"
// can match; with an unknown config the run says once that titles may not
// name functions; a relocated (KASLR) kernel is not read through the map.
func TestSplatFinderSymbols(t *testing.T) {
	dir := t.TempDir()
	smap := filepath.Join(dir, "System.map")
	os.WriteFile(smap, []byte("ffffffff81346700 t fuse_uring_req_end\nffffffff81346900 t fuse_uring_next\nffffffff81400000 T _etext\n"), 0o644)
	log := []string{
		"------------[ cut here ]------------",
		"WARNING: at 0xffffffff81346824, CPU#1: zcserver/77",
		"RIP: 0010:0xffffffff81346824",
		"---[ end trace 0000000000000000 ]---",
	}
	title := func(k *kernel.Kernel) (string, string) {
		var out strings.Builder
		r := &runState{c: &Config{Find: FindSplats, Out: &out}}
		s := r.splatFinder(k)(log)
		if len(s) != 1 {
			t.Fatalf("%d splats, want 1", len(s))
		}
		return s[0].Title, out.String()
	}
	if got, out := title(&kernel.Kernel{ConfigSource: "none (no --kernel-config, no embedded IKCONFIG)", SystemMap: smap}); got != "WARNING in fuse_uring_req_end" || strings.Count(out, "cannot name functions") != 1 {
		t.Errorf("unknown config, System.map: title %q, output %q", got, out)
	}
	if got, out := title(&kernel.Kernel{ConfigSource: "none (no --kernel-config, no embedded IKCONFIG)"}); strings.Contains(got, "fuse_uring") || !strings.Contains(out, "cannot name functions") {
		t.Errorf("unknown config, no map: title %q, output %q", got, out)
	}
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("CONFIG_RANDOMIZE_BASE=y\n"), 0o644)
	if got, out := title(&kernel.Kernel{ConfigPath: cfg, SystemMap: smap}); strings.Contains(got, "fuse_uring") || out != "" {
		t.Errorf("KASLR kernel: title %q, output %q; want the addresses left alone, nothing said", got, out)
	}
	os.WriteFile(cfg, []byte("CONFIG_KALLSYMS=y\n"), 0o644)
	if got, out := title(&kernel.Kernel{ConfigPath: cfg, SystemMap: smap}); got != "WARNING in fuse_uring_req_end" || out != "" {
		t.Errorf("known config, map: title %q, output %q", got, out)
	}
}
