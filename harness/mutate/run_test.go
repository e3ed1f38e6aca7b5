package mutate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// TestRun drives Run with a fake build and suite: the suite "fails" when
// the built file's guard is gone. It checks the verdicts, that the
// original tree is never written, and that a second run resumes from the
// cache without building anything.
func TestRun(t *testing.T) {
	tree, cache, reports := t.TempDir(), t.TempDir(), t.TempDir()
	src := body("\tif (n > 2)", "\t\treturn -EINVAL;", "\tpr_info(\"hello\");", "\treturn 0;")
	os.MkdirAll(filepath.Join(tree, "fs"), 0o755)
	orig := filepath.Join(tree, "fs/x.c")
	os.WriteFile(orig, []byte(src), 0o644)

	builds, tests := 0, 0
	var built string
	all := Generate("fs/x.c", []byte(src))
	var logLine Mutant
	for _, m := range all {
		if m.Rule == RuleCallDrop {
			logLine = m
		}
	}
	o := Options{
		Tree: tree, Files: []string{"fs/x.c"}, Deadline: time.Minute, CacheDir: cache, ReportDir: reports,
		Equivalents: Equivalents{"fs/x.c " + logLine.ID: "only a log line"},
		Build: func(ctx context.Context, dir string) (*kernel.Kernel, error) {
			builds++
			data, err := os.ReadFile(filepath.Join(dir, "fs/x.c"))
			built = string(data)
			return &kernel.Kernel{}, err
		},
		Test: func(ctx context.Context, k *kernel.Kernel, dir string, d time.Duration) ([]*verdict.Run, int, error) {
			tests++
			out := verdict.Pass
			if !strings.Contains(built, "if (n > 2)") || !strings.Contains(built, "-EINVAL") {
				out = verdict.Fail
			}
			r := &verdict.Run{Specs: []verdict.Spec{{Name: "guard holds", Outcome: out}}, Outcome: out}
			if out == verdict.Fail {
				return []*verdict.Run{r}, verdict.ExitBad, nil
			}
			return []*verdict.Run{r}, verdict.ExitGood, nil
		},
	}
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(orig); string(data) != src {
		t.Fatal("the original tree was written")
	}
	// Survivors: the compare flip n > 2 -> n >= 2 (the fake suite only looks
	// for the text), so the counts are what the fake sees.
	if sum.Counts[Equivalent] != 1 || sum.Counts[Killed] == 0 || builds != 1+len(all)-1 {
		t.Errorf("counts %v, %d builds for %d mutants", sum.Counts, builds, len(all))
	}
	for _, m := range sum.Mutants {
		if m.Status == Killed && m.Killer != "guard holds" {
			t.Errorf("%s killed by %q", m.ID, m.Killer)
		}
	}
	var js Summary
	data, err := os.ReadFile(filepath.Join(reports, "mutation.json"))
	if err != nil || json.Unmarshal(data, &js) != nil || len(js.Mutants) != len(all) {
		t.Fatalf("mutation.json: %v (%d mutants)", err, len(js.Mutants))
	}
	// Resume: every result comes from the cache, and the copy keeps its
	// top directory (kbuild keys the build directory to it).
	copies, _ := filepath.Glob(filepath.Join(cache, "mutate", "*", "tree"))
	if len(copies) != 1 {
		t.Fatalf("tree copies %v", copies)
	}
	before := treeIno(t, copies[0])
	builds, tests = 0, 0
	sum2, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if builds != 0 || tests != 0 || sum2.Score != sum.Score {
		t.Errorf("second run built %d and tested %d times; score %v vs %v", builds, tests, sum2.Score, sum.Score)
	}
	if treeIno(t, copies[0]) != before {
		t.Error("the second run recreated the tree copy's top directory")
	}
	if data, _ := os.ReadFile(filepath.Join(copies[0], "fs/x.c")); string(data) != src {
		t.Error("the copy was left mutated")
	}
	// Another suite (a spec added, another filter): nothing cached is
	// reused, the unmutated kernel and every mutant are tested again.
	o.SuiteKey = "image=other"
	builds, tests = 0, 0
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(all) - 1; tests != want {
		t.Errorf("under another suite key %d suite runs, want %d (the baseline and every non-equivalent mutant)", tests, want)
	}
}

func treeIno(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
