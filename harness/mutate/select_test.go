package mutate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

func TestSelect(t *testing.T) {
	src := []byte(body("\tif (n > 2)", "\t\treturn -EINVAL;", "\tq->len = n;") + "static void g(int n)\n{\n\tif (n)\n\t\tkfree(n);\n}\n")
	ms := Generate("x.c", src)
	f, err := ByFunc(ms, []string{"g"})
	if err != nil || len(f) == 0 {
		t.Fatalf("ByFunc(g): %v, %d", err, len(f))
	}
	for _, m := range f {
		if m.Func != "g" {
			t.Errorf("mutant of %s kept", m.Func)
		}
	}
	if _, err := ByFunc(ms, []string{"g", "nosuch"}); !errors.Is(err, ErrSelect) {
		t.Errorf("unknown function: %v", err)
	}
	s1, s2 := Sample(ms, 3), Sample(ms, 3)
	if len(s1) != 3 {
		t.Fatalf("sample of %d", len(s1))
	}
	for i := range s1 {
		if s1[i].ID != s2[i].ID || i > 0 && s1[i].Line < s1[i-1].Line {
			t.Errorf("sample not stable or not in file order: %v", s1)
		}
	}
	if len(Sample(ms, 0)) != len(ms) || len(Sample(ms, 1000)) != len(ms) {
		t.Error("sample 0 or more than all must keep all")
	}
	if got := ByLines(ms, map[string]map[int]bool{"x.c": {4: true}}); len(got) != 1 || got[0].Line != 4 {
		t.Errorf("ByLines: %v", got)
	}
}

func TestEquivalents(t *testing.T) {
	p := filepath.Join(t.TempDir(), "eq.txt")
	os.WriteFile(p, []byte("# comment\n\nfs/x.c abc123 only a log line\n"), 0o644)
	eq, err := LoadEquivalents(p)
	if err != nil {
		t.Fatal(err)
	}
	if r := eq.Reason(Mutant{File: "fs/x.c", ID: "abc123"}); r != "only a log line" {
		t.Errorf("reason %q", r)
	}
	os.WriteFile(p, []byte("fs/x.c abc123\n"), 0o644)
	if _, err := LoadEquivalents(p); err == nil {
		t.Error("an entry without a reason was accepted")
	}
	if eq, err := LoadEquivalents(filepath.Join(t.TempDir(), "none")); err != nil || len(eq) != 0 {
		t.Errorf("missing file: %v %v", eq, err)
	}
}

func TestJudge(t *testing.T) {
	spec := func(name string, o verdict.Outcome) verdict.Spec { return verdict.Spec{Name: name, Outcome: o} }
	run := func(specs ...verdict.Spec) []*verdict.Run {
		return []*verdict.Run{{Specs: specs, Outcome: verdict.Pass, GuestStarted: true, SuiteStarted: true}}
	}
	for _, tc := range []struct {
		name   string
		runs   []*verdict.Run
		code   int
		want   Status
		killer string
	}{
		{"all pass", run(spec("a", verdict.Pass), spec("b", verdict.Skip), spec("k", verdict.KnownFail)), 0, Survived, ""},
		{"first bad spec kills", run(spec("a", verdict.Pass), spec("b", verdict.Fail), spec("c", verdict.Panic)), 1, Killed, "b"},
		{"deadline", run(spec("a", verdict.Pass), spec("b", verdict.Hang), spec("c", verdict.NotRun)), 1, Timeout, ""},
		{"no boot", nil, 125, Untested, ""},
		// -fail-fast under -mutate: the first VM's specs after the killer
		// and the other VM's are NOT-RUN; the killer is still named.
		{"fail-fast", append(run(spec("a", verdict.NotRun), spec("b", verdict.NotRun)), run(spec("c", verdict.Pass), spec("d", verdict.Fail), spec("e", verdict.NotRun))...), 1, Killed, "d"},
	} {
		st, killer, _ := judge(tc.runs, tc.code, nil)
		if st != tc.want || killer != tc.killer {
			t.Errorf("%s: %s by %q, want %s by %q", tc.name, st, killer, tc.want, tc.killer)
		}
	}
}

func TestSummaryScore(t *testing.T) {
	var s Summary
	for _, st := range []Status{Killed, Killed, Timeout, Survived, BuildFailed, Equivalent, Untested} {
		s.Add(Outcome{Mutant: Mutant{File: "x.c", Func: "f", Line: 1, Old: "a", New: "b"}, Status: st})
	}
	if s.Score != 0.75 {
		t.Errorf("score %v, want 3/4", s.Score)
	}
	dir := t.TempDir()
	if err := s.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "mutation.md"))
	if !contains(string(md), "Score: 3/4 = 75.0%") || !contains(string(md), "## Survivors (1)") {
		t.Errorf("mutation.md:\n%s", md)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
