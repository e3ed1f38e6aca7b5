package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/verdict"
)

func TestWriteKTAP(t *testing.T) {
	facts := Facts{
		Kernel: map[string]any{"banner": "7.3.0-rc7 (dev@box) #3 SMP", "sha256": "abc123", "commit": "deadbeef"},
		Accel:  "tcg", ExitCode: 1,
	}
	runs := []VMRun{
		{Name: "main", Verdict: &verdict.Run{Outcome: verdict.Fail, Reason: "a spec failed", GuestStarted: true, Specs: []verdict.Spec{
			{Name: "environment runs the kernel the host booted", Outcome: verdict.Pass},
			{Name: "cap-gate refuses #2 without CAP_SYS_ADMIN", Outcome: verdict.Fail, Reason: "Expected EPERM\ngot nil"},
			{Name: "queue-depth rejects depth 0", Outcome: verdict.Skip, Reason: "kernel lacks bufpool"},
			{Name: "mixed-flags known bug", Outcome: verdict.KnownFail, Reason: "known issue: #12 (FAIL)"},
			{Name: "unregister fixed bug", Outcome: verdict.Fixed, Reason: "known issue no longer reproduces"},
			{Name: "payload-sz hangs", Outcome: verdict.Hang, Reason: "the guest suite hit its deadline"},
			{Name: "integrity never started", Outcome: verdict.NotRun, Reason: "not run: interrupted by SIGTERM"},
		}, Outside: []verdict.Splat{{Title: "WARNING in fuse_uring_stop_queues"}}}},
		{Name: "unregister aborts mid-request", Verdict: &verdict.Run{Outcome: verdict.Untested, Reason: "the guest never started: kernel panic"}},
		{Name: "integrity panics", Verdict: &verdict.Run{Outcome: verdict.Fail, GuestStarted: true, Specs: []verdict.Spec{
			{Name: "integrity panics", Outcome: verdict.Panic, Reason: "kernel panic: BUG: KASAN: use-after-free"},
		}}},
		{Name: "clean", Verdict: &verdict.Run{Outcome: verdict.Pass, GuestStarted: true, Specs: []verdict.Spec{{Name: "clean spec", Outcome: verdict.Pass}}}},
	}
	var b strings.Builder
	WriteKTAP(&b, facts, runs)
	want := `KTAP version 1
# zcsuite: kernel 7.3.0-rc7 (dev@box) #3 SMP, sha256 abc123, commit deadbeef, accelerator tcg
1..4
  KTAP version 1
  # Subtest: main
  1..7
  ok 1 environment runs the kernel the host booted
  # FAIL: Expected EPERM
  # got nil
  not ok 2 cap-gate refuses no.2 without CAP_SYS_ADMIN
  ok 3 queue-depth rejects depth 0 # SKIP kernel lacks bufpool
  ok 4 mixed-flags known bug # XFAIL known issue: #12 (FAIL)
  # FIXED: known issue no longer reproduces
  not ok 5 unregister fixed bug
  not ok 6 payload-sz hangs # TIMEOUT the guest suite hit its deadline
  ok 7 integrity never started # SKIP not run: interrupted by SIGTERM
# kernel splat outside any spec: WARNING in fuse_uring_stop_queues
# a spec failed
not ok 1 main
  KTAP version 1
  # Subtest: unregister aborts mid-request
  1..0
not ok 2 unregister aborts mid-request # ERROR the guest never started: kernel panic
  KTAP version 1
  # Subtest: integrity panics
  1..1
  not ok 1 integrity panics # ERROR PANIC: kernel panic: BUG: KASAN: use-after-free
not ok 3 integrity panics
  KTAP version 1
  # Subtest: clean
  1..1
  ok 1 clean spec
ok 4 clean
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	// Every result line's description is free of '#' and every plan
	// matches its results (a minimal KTAP check).
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "ok "); ok || strings.HasPrefix(l, "not ok ") {
			if !ok {
				rest = strings.TrimPrefix(l, "not ok ")
			}
			desc, _, _ := strings.Cut(rest, " # ")
			if strings.Contains(desc, "#") {
				t.Errorf("description with '#': %q", l)
			}
		}
	}
}

func TestWriteKTAPNoRuns(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, Facts{ExitCode: verdict.ExitUntested}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, KTAPFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "KTAP version 1\n1..0\n# zcsuite: no VM ran") {
		t.Fatalf("got %q", b)
	}
}
