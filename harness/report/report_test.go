package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

func TestSummaryShowsConsoleTailForPanics(t *testing.T) {
	var console []string
	for i := 0; i < 50; i++ {
		console = append(console, fmt.Sprintf("boot line %d", i))
	}
	console = append(console, "Kernel panic - not syncing: Fatal exception")
	runs := []VMRun{
		{Name: "main", Console: console, Verdict: &verdict.Run{Outcome: verdict.Fail, Specs: []verdict.Spec{
			{Name: "a", Outcome: verdict.Pass},
			{Name: "b", Outcome: verdict.Panic, Reason: "kernel panic: Fatal exception"},
		}}},
		{Name: "quiet", Console: []string{"nothing to see"}, Verdict: &verdict.Run{Outcome: verdict.Pass, Specs: []verdict.Spec{{Name: "c", Outcome: verdict.Pass}}}},
	}
	var b bytes.Buffer
	Summary(&b, Facts{Accel: "tcg"}, runs)
	out := b.String()
	if !strings.Contains(out, "last 20 console lines") || !strings.Contains(out, "  | Kernel panic - not syncing") {
		t.Fatalf("no console tail for the panicked VM:\n%s", out)
	}
	if strings.Contains(out, "boot line 30\n") || strings.Contains(out, "nothing to see") {
		t.Fatalf("tail too long, or shown for a healthy VM:\n%s", out)
	}
	if !strings.Contains(out, "zcsuite: 2 passed, 1 failed, 0 skipped") {
		t.Fatalf("closing line:\n%s", out)
	}
}

func TestClosingLine(t *testing.T) {
	specs := func(o ...verdict.Outcome) []verdict.Spec {
		var out []verdict.Spec
		for i, x := range o {
			out = append(out, verdict.Spec{Name: fmt.Sprint("s", i), Outcome: x})
		}
		return out
	}
	good := VMRun{Name: "main-1", Verdict: &verdict.Run{Outcome: verdict.Pass, Specs: specs(verdict.Pass, verdict.Pass, verdict.KnownFail, verdict.Skip)}}
	for _, c := range []struct {
		name string
		code int
		runs []VMRun
		want string
	}{
		{"good run with known failures", verdict.ExitGood, []VMRun{good,
			{Name: "destructive-1", Verdict: &verdict.Run{Outcome: verdict.Pass, Specs: specs(verdict.KnownFail)}}},
			"zcsuite: 4 passed (2 known failures), 0 failed, 1 skipped"},
		{"one known failure", verdict.ExitGood, []VMRun{good}, "zcsuite: 3 passed (1 known failure), 0 failed, 1 skipped"},
		{"a VM without its done event", verdict.ExitBad, []VMRun{good,
			{Name: "main-2", Verdict: &verdict.Run{Outcome: verdict.Fail, Reason: "the VM ended without the guest's done event", Specs: specs(verdict.Pass, verdict.Pass)}}},
			"zcsuite: 5 passed (1 known failure), 1 failed (VM main-2), 1 skipped"},
		{"failed specs and specs not run", verdict.ExitBad, []VMRun{
			{Name: "main", Verdict: &verdict.Run{Outcome: verdict.Fail, Specs: specs(verdict.Pass, verdict.Fail, verdict.Panic, verdict.Fixed, verdict.NotRun, verdict.NotRun)}}},
			"zcsuite: 1 passed, 3 failed, 0 skipped, 2 not run"},
		{"an untested VM", verdict.ExitUntested, []VMRun{good,
			{Name: "destructive-1", Verdict: &verdict.Run{Outcome: verdict.Untested, Reason: "the guest never started"}}},
			"zcsuite: 3 passed (1 known failure), 0 failed, 1 skipped, 1 VM untested (VM destructive-1)"},
		{"nothing but skips", verdict.ExitUntested, []VMRun{
			{Name: "main", Verdict: &verdict.Run{Outcome: verdict.Skip, Specs: specs(verdict.Skip, verdict.Skip)}}},
			"zcsuite: 0 passed, 0 failed, 2 skipped; nothing was tested (exit code 125)"},
		{"an interrupted run", 130, []VMRun{
			{Name: "main", Verdict: &verdict.Run{Outcome: verdict.Pass, Specs: specs(verdict.Pass, verdict.NotRun)}}},
			"zcsuite: 1 passed, 0 failed, 0 skipped, 1 not run; exit code 130"},
	} {
		if got := ClosingLine(c.code, c.runs); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		// The exit code and the failed count agree.
		var vs []*verdict.Run
		for _, r := range c.runs {
			vs = append(vs, r.Verdict)
		}
		if code := verdict.ExitCode(vs...); c.code < 128 && code != c.code {
			t.Errorf("%s: the case's exit code %d is not the verdicts' %d", c.name, c.code, code)
		}
		if failed := !strings.Contains(ClosingLine(c.code, c.runs), ", 0 failed"); failed != (c.code == verdict.ExitBad) {
			t.Errorf("%s: closing line %q with exit code %d", c.name, ClosingLine(c.code, c.runs), c.code)
		}
	}
}

// TestSummaryShowsTheCause checks that a reason of the guest's full length
// reaches the screen uncut.
func TestSummaryShowsTheCause(t *testing.T) {
	cause := "mount zcserver over /dev/fuse: Unexpected error: zcserver: INIT flags2 0x1ff lacks bit 9 (FUSE_OVER_IO_URING); first in Linux 6.14 occurred " + strings.Repeat("x", 150)
	runs := []VMRun{{Name: "main", Verdict: &verdict.Run{Outcome: verdict.Fail, Specs: []verdict.Spec{{Name: "a", Outcome: verdict.Fail, Reason: cause}}}}}
	var b bytes.Buffer
	Summary(&b, Facts{ExitCode: verdict.ExitBad}, runs)
	if !strings.Contains(b.String(), cause+"\n") {
		t.Fatalf("reason cut:\n%s", b.String())
	}
}

// A kernel without FUSE-over-io_uring: the summary says so in one line,
// however many VMs said it, shows no console tail, and KTAP skips each VM
// with the same reason.
func TestFeatureAbsentReports(t *testing.T) {
	why := verdict.FeatureAbsentPrefix + "FUSE_OVER_IO_URING (fuse.enable_uring on): not supported by this kernel (INIT flags2 0x1ff lacks bit 9; first in Linux 6.14)"
	absent := func(name string) VMRun {
		return VMRun{Name: name, Console: []string{"boot line"}, Verdict: &verdict.Run{Outcome: verdict.Untested, Reason: why, FeatureAbsent: "x", GuestStarted: true,
			Specs: []verdict.Spec{{Name: "spec " + name, Outcome: verdict.NotRun, Reason: "not run: " + why}}}}
	}
	runs := []VMRun{absent("shard-1"), absent("shard-2")}
	var b bytes.Buffer
	Summary(&b, Facts{Accel: "tcg"}, runs)
	out := b.String()
	if n := strings.Count(out, why); n != 1 {
		t.Errorf("the reason appears %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "UNTESTED    "+why+"\n") || strings.Contains(out, "console lines") || strings.Contains(out, "NOT-RUN     spec") {
		t.Errorf("summary:\n%s", out)
	}
	var k bytes.Buffer
	WriteKTAP(&k, Facts{ExitCode: verdict.ExitUntested}, runs)
	if !strings.Contains(k.String(), "\nok 1 shard-1 # SKIP "+why+"\n") || !strings.Contains(k.String(), "\nok 2 shard-2 # SKIP "+why+"\n") || strings.Contains(k.String(), "not ok") {
		t.Errorf("ktap:\n%s", k.String())
	}
	if !strings.Contains(k.String(), "  ok 1 spec shard-1 # SKIP not run: "+why+"\n") {
		t.Errorf("ktap: the VM's NOT-RUN specs are not skips:\n%s", k.String())
	}
}

// Every report file of a kernel without FUSE-over-io_uring says UNTESTED
// for that reason without a failure: junit.xml and report.json skip the
// VM and its NOT-RUN specs, KTAP skips them.
func TestFeatureAbsentFiles(t *testing.T) {
	why := verdict.FeatureAbsentPrefix + "INIT flags2 0x1ff lacks bit 9"
	run := verdict.FeatureAbsentRun([]verdict.Planned{{Name: "a"}, {Name: "b"}}, "INIT flags2 0x1ff lacks bit 9")
	dir := t.TempDir()
	if err := Write(dir, Facts{ExitCode: verdict.ExitUntested, FeatureAbsent: why}, []VMRun{{Name: "main-1", Verdict: run}}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	junit := read("junit.xml")
	if strings.Contains(junit, "<failure") || strings.Contains(junit, "<error") || !strings.Contains(junit, why) || strings.Count(junit, "<skipped") != 3 {
		t.Errorf("junit.xml:\n%s", junit)
	}
	if rep := read("report.json"); strings.Contains(rep, `"failed"`) || !strings.Contains(rep, why) {
		t.Errorf("report.json:\n%s", rep)
	}
	if ktap := read(KTAPFile); strings.Contains(ktap, "not ok") || !strings.Contains(ktap, "ok 1 main-1 # SKIP "+why) {
		t.Errorf("results.ktap:\n%s", ktap)
	}
	if v := read("verdict.json"); !strings.Contains(v, `"feature_absent"`) {
		t.Errorf("verdict.json:\n%s", v)
	}
}
