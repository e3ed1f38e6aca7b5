package merge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/shard"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// writeShard writes a shard's report directory with the given specs (name
// → outcome), each VM one spec.
func writeShard(t *testing.T, dir string, k, n int, all []string, specs map[string]verdict.Outcome, kernelSHA string) {
	t.Helper()
	var runs []report.VMRun
	bad := false
	for name, o := range specs {
		v := &verdict.Run{Specs: []verdict.Spec{{Name: name, Outcome: o, Reason: "because"}}, Outcome: verdict.Pass, GuestStarted: true, SuiteStarted: true}
		if o == verdict.Fail {
			v.Outcome, bad = verdict.Fail, true
		}
		runs = append(runs, report.VMRun{Name: "shard-vm-" + name, Verdict: v, Console: []string{"console of " + name}, Kmsg: []string{"kmsg of " + name}})
	}
	facts := report.Facts{Kernel: map[string]string{"sha256": kernelSHA}, Accel: "tcg", Initramfs: "img", Shard: &report.Shard{K: k, N: n, Specs: len(all), SetSHA256: shard.SetHash(all)}}
	if bad {
		facts.ExitCode = verdict.ExitBad
	}
	if err := report.Write(dir, facts, runs); err != nil {
		t.Fatal(err)
	}
}

func TestMerge(t *testing.T) {
	all := []string{"a", "b", "c"}
	tmp := t.TempDir()
	d1, d2, d3 := filepath.Join(tmp, "1"), filepath.Join(tmp, "2"), filepath.Join(tmp, "3")
	writeShard(t, d1, 1, 2, all, map[string]verdict.Outcome{"a": verdict.Pass, "b": verdict.Skip}, "k1")
	writeShard(t, d2, 2, 2, all, map[string]verdict.Outcome{"c": verdict.Pass}, "k1")

	res, err := Dirs([]string{d2, d1})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != verdict.ExitGood || len(res.Runs) != 3 || res.Facts.Shard != nil {
		t.Fatalf("merged: exit %d, %d VMs, shard %v", res.ExitCode, len(res.Runs), res.Facts.Shard)
	}
	out := filepath.Join(tmp, "merged")
	if err := res.Write(out, []string{d1, d2}); err != nil {
		t.Fatal(err)
	}
	// The merged directory reads back with every spec, console and log.
	_, runs, err := report.Read(out)
	if err != nil || len(runs) != 3 {
		t.Fatalf("merged report reads back %d VMs: %v", len(runs), err)
	}
	for _, r := range runs {
		s := r.Verdict.Specs[0].Name
		if len(r.Console) != 1 || r.Console[0] != "console of "+s || len(r.Kmsg) != 1 || r.Kmsg[0] != "kmsg of "+s {
			t.Errorf("VM %s: console %q kmsg %q", r.Name, r.Console, r.Kmsg)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if n := strings.Count(string(b), `"zcsuite-verdict"`); n != 3 {
		t.Errorf("merged report.json has %d verdict entries, want one per spec (3)", n)
	}
	if err := res.Write(d1, []string{d1, d2}); !errors.Is(err, ErrOut) {
		t.Errorf("writing over a shard: %v", err)
	}

	// A failing spec in any shard fails the merged verdict.
	d2f := filepath.Join(tmp, "2f")
	writeShard(t, d2f, 2, 2, all, map[string]verdict.Outcome{"c": verdict.Fail}, "k1")
	if res, err := Dirs([]string{d1, d2f}); err != nil || res.ExitCode != verdict.ExitBad {
		t.Errorf("with a failure: %v, %+v", err, res)
	}

	bad := map[string][]string{
		"a shard missing":  {d1},
		"a shard twice":    {d1, d1, d2},
		"not a shard dir":  {d1, tmp},
		"nothing to merge": nil,
	}
	dOther := filepath.Join(tmp, "other-kernel")
	writeShard(t, dOther, 2, 2, all, map[string]verdict.Outcome{"c": verdict.Pass}, "k2")
	bad["different kernels"] = []string{d1, dOther}
	dDup := filepath.Join(tmp, "dup")
	writeShard(t, dDup, 2, 2, all, map[string]verdict.Outcome{"b": verdict.Pass, "c": verdict.Pass}, "k1")
	bad["a spec twice"] = []string{d1, dDup}
	dLess := filepath.Join(tmp, "less")
	writeShard(t, dLess, 2, 2, all, map[string]verdict.Outcome{}, "k1")
	bad["a spec in no shard"] = []string{d1, dLess}
	writeShard(t, d3, 3, 3, all, map[string]verdict.Outcome{"c": verdict.Pass}, "k1")
	bad["shards of different N"] = []string{d1, d3}
	for what, dirs := range bad {
		_, err := Dirs(dirs)
		want := ErrSet
		if what == "not a shard dir" {
			want = ErrRead
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
}
