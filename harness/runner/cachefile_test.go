package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/qemu"
)

func TestReadAccelCacheIgnoresADamagedAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accel", "key")
	var log logLines
	if _, _, ok := readAccelCache(path, log.logf); ok || len(log.l) != 0 {
		t.Fatalf("no file: ok=%v, lines %q", ok, log.l)
	}
	// Positive control: what the probe writes reads back.
	if err := writeCacheFile(path, []byte(qemu.AccelTCG+"\nno usable /dev/kvm")); err != nil {
		t.Fatal(err)
	}
	if accel, why, ok := readAccelCache(path, log.logf); !ok || accel != qemu.AccelTCG || why != "no usable /dev/kvm" || len(log.l) != 0 {
		t.Fatalf("got %q %q %v, lines %q", accel, why, ok, log.l)
	}
	for _, junk := range []string{"", "\x00\x00\x7fELF", "kvmm\nwhy", "tcg,thread=multi\nwhy"} {
		log.l = nil
		os.WriteFile(path, []byte(junk), 0o644)
		if accel, _, ok := readAccelCache(path, log.logf); ok || len(log.l) != 1 || !strings.Contains(log.l[0], "damaged") {
			t.Errorf("%q: got %q ok=%v, lines %q; want it ignored with one line", junk, accel, ok, log.l)
		}
	}
}

func TestLoadTimingsIgnoresADamagedFileAndSaveRewritesIt(t *testing.T) {
	cache := t.TempDir()
	var log logLines
	good := specTimings{"a spec": 1.5}
	good.save(cache, "tcg")
	if got := loadTimings(cache, "tcg", log.logf); got.est("a spec") != 1.5 || len(log.l) != 0 {
		t.Fatalf("saved timings read back as %v, lines %q", got, log.l)
	}
	for _, junk := range []string{`{"a spec": 1.5, "b`, "\x00\x00\x00", `{"a spec": -3}`, `["a spec"]`} {
		log.l = nil
		os.WriteFile(timingsPath(cache, "tcg"), []byte(junk), 0o644)
		got := loadTimings(cache, "tcg", log.logf)
		if len(got) != 0 || len(log.l) != 1 || !strings.Contains(log.l[0], "damaged") {
			t.Errorf("%q: got %v, lines %q; want empty timings and one line", junk, got, log.l)
		}
	}
	good.save(cache, "tcg")
	log.l = nil
	if got := loadTimings(cache, "tcg", log.logf); got.est("a spec") != 1.5 || len(log.l) != 0 {
		t.Fatalf("rewritten timings read back as %v, lines %q", got, log.l)
	}
	if parts, _ := filepath.Glob(timingsPath(cache, "tcg") + ".part*"); len(parts) != 0 {
		t.Errorf("leftover partial files %v", parts)
	}
}
