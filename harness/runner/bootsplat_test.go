package runner

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// The boot splat the repository's expectations declare for the 7.3-rc7
// debug kernel is the one its captured boot log gives, through the real
// splat finder: a debug build passes with it reported as known, and the
// same log on a kernel without KASAN in its config still fails.
func TestDeclaredBootSplatMatchesCapturedLog(t *testing.T) {
	logPath, err := moduleFile("fixtures/console/dbg-kasan-boot-wild-memory-access.log")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`^\[\s*[0-9.]+\] ?`)
	evs := []vmevent.Event{{Type: vmevent.Hello}, {Type: vmevent.Phase, Name: "suite-start"}}
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		evs = append(evs, vmevent.Event{Type: vmevent.Kmsg, Text: stamp.ReplaceAllString(l, "")})
	}
	evs = append(evs,
		vmevent.Event{Type: vmevent.SpecStart, Seq: 1, Spec: "a"},
		vmevent.Event{Type: vmevent.Kmsg, Text: "zcsuite: spec-start 1 a"},
		vmevent.Event{Type: vmevent.Kmsg, Text: "zcsuite: spec-end 1 passed"},
		vmevent.Event{Type: vmevent.SpecEnd, Seq: 1, State: "passed"})

	dir := t.TempDir()
	for _, c := range []struct {
		config string
		want   verdict.Outcome
	}{
		{"CONFIG_KASAN=y\nCONFIG_FUSE_FS=y\n", verdict.Pass},
		{"# CONFIG_KASAN is not set\nCONFIG_FUSE_FS=y\n", verdict.Fail},
	} {
		cfg := filepath.Join(dir, "config")
		if err := os.WriteFile(cfg, []byte(c.config), 0o644); err != nil {
			t.Fatal(err)
		}
		k := &kernel.Kernel{Source: "tree", Banner: "7.3.0-rc7 (root@vm) #1 SMP PREEMPT", ConfigPath: cfg}
		known, err := KnownIssues(k)
		if err != nil {
			t.Fatal(err)
		}
		r := verdict.Decide(verdict.Input{Events: evs, End: verdict.VMEnd{SawDone: true}, Find: FindSplats, Known: known})
		if r.Outcome != c.want {
			t.Errorf("config %q: outcome %s (%s), want %s; known %+v", c.config, r.Outcome, r.Reason, c.want, r.KnownOutside)
		}
		if c.want == verdict.Pass && (len(r.KnownOutside) != 1 || !strings.Contains(r.KnownOutside[0].Reason, "TCG")) {
			t.Errorf("known boot splats %+v", r.KnownOutside)
		}
	}
}
