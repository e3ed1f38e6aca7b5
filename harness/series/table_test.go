package series

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

func labelled(name, family string, o verdict.Outcome, splats ...string) verdict.Spec {
	s := spec(name, o, splats...)
	s.Labels = []string{family, "abi-upstream"}
	return s
}

func sampleTable() *Table {
	t := &Table{Tree: "/src/linux", Range: "v7.3-rc7..fuse-zc", Repeat: 1, Families: Families(), Verdict: Good}
	k := func(c, s string) *kernel.Kernel { return &kernel.Kernel{Commit: c, Subject: s} }
	okBuild := BuildInfo{Done: true, Time: 95 * time.Second}

	a1 := Attempt{Kernel: k("1111111111111111aaaa", "fuse: add the zero-copy flag"), BootToHello: 2100 * time.Millisecond, Duration: 130 * time.Second, ReportDir: "/r/01-111111111111",
		Runs: []*verdict.Run{run(verdict.Pass, labelled("env a", "env", verdict.Pass), labelled("env b", "env", verdict.Pass), labelled("gate", "cap-gate", verdict.Pass), labelled("known", "cap-gate", verdict.KnownFail))}}
	t.Add(NewRow(1, []Attempt{a1}, Judge{}.Attempt(a1), okBuild))

	a2 := Attempt{Kernel: k("2222222222222222bbbb", "fuse: drop the | capability check"), BootToHello: 2 * time.Second, Duration: 61 * time.Second, ReportDir: "/r/02-222222222222",
		Runs: []*verdict.Run{run(verdict.Fail, labelled("env a", "env", verdict.Pass), labelled("env b", "env", verdict.Pass), labelled("gate", "cap-gate", verdict.Fail, "WARNING: CPU: 0 PID: 1 at fs/fuse/dev_uring.c:1558"), labelled("known", "cap-gate", verdict.KnownFail), verdict.Spec{Name: "unlabelled", Outcome: verdict.Skip})}}
	r2 := NewRow(2, []Attempt{a2}, Judge{}.Attempt(a2), BuildInfo{Done: true, Time: 8 * time.Second})
	r2.Commit, r2.Subject = "2222222222222222bbbb", "fuse: drop the | capability check"
	t.Add(r2)

	buildErr := fmt.Errorf("kernel could not be tested: %w", &kbuild.BuildError{Target: "bzImage", Log: "/c/build.log", Lines: []string{"fs/fuse/dev_uring.c:12:1: error: expected ';'"}, Err: errors.New("exit status 2")})
	a3 := Attempt{Err: buildErr, Duration: 9 * time.Second, ReportDir: "/r/03-333333333333"}
	r3 := NewRow(3, []Attempt{a3}, Judge{}.Attempt(a3), BuildInfo{Done: true, Err: buildErr, Time: 9 * time.Second})
	r3.Commit, r3.Subject = "3333333333333333cccc", "fuse: typo"
	t.Add(r3)
	return t
}

func TestTableText(t *testing.T) {
	tb := sampleTable()
	var b strings.Builder
	tb.Text(&b)
	want := `#  commit        subject                            build     boot   env p/f/k  cap-gate p/f/k  other p/f/k  new splats                                   verdict  time
1  111111111111  fuse: add the zero-copy flag       ok 1m35s  ok 2s  2/0/0      1/0/1           -            0                                            GOOD     2m10s
2  222222222222  fuse: drop the | capability check  ok 8s     ok 2s  2/0/0      0/1/1           0/0/0        1: WARNING: CPU: 0 PID: 1 at fs/fuse/dev_u…  BAD      1m01s
3  333333333333  fuse: typo                         FAIL      -      -          -               -            0                                            SKIP     9s
series v7.3-rc7..fuse-zc: BAD, 3 commit(s), 3m20s
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestTableMarkdownAndJSON(t *testing.T) {
	tb := sampleTable()
	dir := t.TempDir()
	if err := tb.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "series.md"))
	for _, s := range []string{
		"| # | commit | subject | build | boot | env p/f/k | cap-gate p/f/k | other p/f/k | new splats | verdict | time |",
		"|---|---|---|---|---|---|---|---|---|---|---|",
		`| 2 | 222222222222 | fuse: drop the \| capability check | ok 8s | ok 2s | 2/0/0 | 0/1/1 | 0/0/0 |`,
		"## 2. 222222222222 fuse: drop the \\| capability check",
		"**BAD**: FAIL gate [WARNING: CPU: 0 PID: 1 at fs/fuse/dev_uring.c:1558]",
		"## 3. 333333333333 fuse: typo",
		"fs/fuse/dev_uring.c:12:1: error: expected ';'",
		"Reports: `/r/03-333333333333`",
	} {
		if !strings.Contains(string(md), s) {
			t.Errorf("series.md lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(string(md), "## 1.") {
		t.Error("a good commit without news got a section")
	}
	var back Table
	data, _ := os.ReadFile(filepath.Join(dir, "series.json"))
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 3 || back.Verdict != Bad || back.Rows[1].Families["cap-gate"] != (Counts{Fail: 1, Known: 1}) ||
		back.Rows[2].Build != BuildFailed || back.Rows[0].BuildSec != 95 || back.Rows[0].BootSec != 2.1 || back.Rows[1].Verdict != Bad {
		t.Fatalf("json: %s", data)
	}
}

func TestTableNewSplats(t *testing.T) {
	tb := &Table{Families: Families()}
	mk := func(boot string, splats ...string) Row {
		return Row{Boot: boot, Splats: splats, Judgement: Judgement{Verdict: Good}}
	}
	tb.Add(mk("ok", "A"))
	tb.Add(mk("ok", "A", "B"))
	tb.Add(mk("FAIL"))
	tb.Add(mk("ok", "B", "C"))
	got := [][]string{tb.Rows[0].NewSplats, tb.Rows[1].NewSplats, tb.Rows[2].NewSplats, tb.Rows[3].NewSplats}
	if fmt.Sprint(got) != "[[A] [B] [] [C]]" {
		t.Fatalf("new splats %v", got)
	}
}

func TestBuildColumn(t *testing.T) {
	cfg := &kbuild.ConfigError{Config: ".config", Dropped: []kbuild.Dropped{{Option: "CONFIG_FUSE_IO_URING", Want: "y", Got: "n", Fragment: "min.config"}}}
	r := NewRow(1, []Attempt{{Err: cfg}}, Judgement{Verdict: Skip}, BuildInfo{Done: true, Err: fmt.Errorf("wrapped: %w", cfg)})
	if r.Build != BuildConfig || !strings.Contains(r.BuildError, "CONFIG_FUSE_IO_URING") {
		t.Fatalf("%+v", r)
	}
	if r := NewRow(1, nil, Judgement{Verdict: Skip}, BuildInfo{}); r.Build != BuildNone || r.Boot != BuildNone {
		t.Fatalf("%+v", r)
	}
}
