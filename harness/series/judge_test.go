package series

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

func spec(name string, o verdict.Outcome, splats ...string) verdict.Spec {
	s := verdict.Spec{Name: name, Outcome: o, Labels: []string{"env"}}
	for _, t := range splats {
		s.Splats = append(s.Splats, verdict.Splat{Title: t})
	}
	return s
}

func run(o verdict.Outcome, specs ...verdict.Spec) *verdict.Run {
	return &verdict.Run{Outcome: o, GuestStarted: o != verdict.Untested, Specs: specs}
}

const uringSpec = "environment has fuse.enable_uring switched on"

// absentRun is a VM whose guest found no FUSE-over-io_uring in the kernel.
var absentRun = &verdict.Run{Outcome: verdict.Untested, GuestStarted: true, FeatureAbsent: "INIT flags2 0x1ff lacks bit 9",
	Reason: verdict.FeatureAbsentPrefix + "INIT flags2 0x1ff lacks bit 9"}

func TestJudgeAttempt(t *testing.T) {
	capRE := regexp.MustCompile(`enable_uring`)
	kasan := regexp.MustCompile(`KASAN`)
	cases := []struct {
		name  string
		badIf *regexp.Regexp
		a     Attempt
		want  Verdict
		code  int
		// substring of the reason
		reason string
	}{
		{"all pass", nil, Attempt{Runs: []*verdict.Run{run(verdict.Pass, spec(uringSpec, verdict.Pass))}}, Good, 0, "every spec passed"},
		{"a failure", nil, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec(uringSpec, verdict.Fail))}}, Bad, 1, "FAIL " + uringSpec},
		{"all skipped is a skip, not good", nil, Attempt{Runs: []*verdict.Run{run(verdict.Skip, spec("x", verdict.Skip), spec("y", verdict.Skip))}}, Skip, 125, "untested: every spec was skipped"},
		{"known fail is good", nil, Attempt{Runs: []*verdict.Run{run(verdict.Pass, spec("x", verdict.KnownFail))}}, Good, 0, ""},
		{"fixed is bad", nil, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec("x", verdict.Fixed))}}, Bad, 1, "FIXED x"},
		{"build failure", nil, Attempt{Err: &kbuild.BuildError{Target: "bzImage", Err: errors.New("exit status 2")}}, Skip, 125, "make bzImage failed"},
		{"boot failure", nil, Attempt{Runs: []*verdict.Run{{Outcome: verdict.Untested, Reason: "the guest never started"}}}, Skip, 125, "untested: the guest never started"},
		{"bad beats untested", nil, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec("x", verdict.Fail)), {Outcome: verdict.Untested}}}, Bad, 1, ""},
		{"splat outside a spec", nil, Attempt{Runs: []*verdict.Run{{Outcome: verdict.Fail, GuestStarted: true, Specs: []verdict.Spec{spec("x", verdict.Pass)}, Outside: []verdict.Splat{{Title: "WARNING in foo"}}}}}, Bad, 1, "splat outside any spec: WARNING in foo"},
		{"run-level failure", nil, Attempt{Runs: []*verdict.Run{{Outcome: verdict.Fail, Reason: "the guest suite exited 1 although every spec passed", GuestStarted: true, Specs: []verdict.Spec{spec("x", verdict.Pass)}}}}, Bad, 1, "run: the guest suite exited 1"},

		{"bad-if: matching failure", capRE, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec(uringSpec, verdict.Fail), spec("other", verdict.Fail))}}, Bad, 1, "FAIL " + uringSpec},
		{"bad-if: other failures ignored", capRE, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec(uringSpec, verdict.Pass), spec("other", verdict.Fail))}}, Good, 0, "1 other bad outcome(s) ignored"},
		{"bad-if: matching splat title", kasan, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec("reads back", verdict.Fail, "BUG: KASAN: use-after-free in fuse_uring_cmd"))}}, Bad, 1, "KASAN"},
		{"bad-if: matching outside splat", kasan, Attempt{Runs: []*verdict.Run{{Outcome: verdict.Fail, GuestStarted: true, Specs: []verdict.Spec{spec("x", verdict.Pass)}, Outside: []verdict.Splat{{Title: "BUG: KASAN: slab-out-of-bounds"}}}}}, Bad, 1, ""},
		{"bad-if: crash hides the spec", capRE, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec("first", verdict.Panic))}}, Skip, 125, "could not be observed"},
		{"bad-if: crash after the spec passed", capRE, Attempt{Runs: []*verdict.Run{run(verdict.Fail, spec(uringSpec, verdict.Pass), spec("later", verdict.Hang))}}, Good, 0, "ignored"},
		{"bad-if: untestable stays skip", capRE, Attempt{Runs: []*verdict.Run{{Outcome: verdict.Untested, Reason: "kernel panic before the guest started"}}}, Skip, 125, "kernel panic before the guest started"},
		{"feature absent", nil, Attempt{Runs: []*verdict.Run{absentRun, absentRun}}, Skip, 125, "untested: " + absentRun.Reason},
		{"bad-if: feature absent", capRE, Attempt{Runs: []*verdict.Run{absentRun}}, Skip, 125, "untested: " + absentRun.Reason},
		{"bad-if: build failure stays skip", capRE, Attempt{Err: errors.New("make failed")}, Skip, 125, ""},
		{"bad-if: matching spec skipped", capRE, Attempt{Runs: []*verdict.Run{run(verdict.Pass, spec(uringSpec, verdict.Skip), spec("other", verdict.Pass))}}, Skip, 125, "every matching spec was skipped"},
		{"bad-if: matched nothing", regexp.MustCompile(`no such spec`), Attempt{Runs: []*verdict.Run{run(verdict.Pass, spec(uringSpec, verdict.Pass))}}, Good, 0, "no spec name matched it either"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := Judge{BadIf: c.badIf}.Attempt(c.a)
			if j.Verdict != c.want || j.ExitCode() != c.code || !strings.Contains(j.Reason, c.reason) {
				t.Fatalf("got %s (exit %d) %q, want %s (exit %d) containing %q", j.Verdict, j.ExitCode(), j.Reason, c.want, c.code, c.reason)
			}
		})
	}
}

func TestJudgeIgnoredAndMatched(t *testing.T) {
	j := Judge{BadIf: regexp.MustCompile(`enable_uring`)}.Attempt(Attempt{Runs: []*verdict.Run{
		run(verdict.Fail, spec(uringSpec, verdict.Fail), spec("other", verdict.Crash, "Oops: general protection fault", "Oops: general protection fault")),
	}})
	if len(j.Matched) != 1 || len(j.Ignored) != 1 || !strings.Contains(j.Ignored[0], "CRASH other [Oops: general protection fault]") {
		t.Fatalf("%+v", j)
	}
}

func TestJudgeCombine(t *testing.T) {
	good := Judgement{Verdict: Good, Reason: "ok"}
	bad := Judgement{Verdict: Bad, Reason: "FAIL x", Matched: []string{"FAIL x"}}
	skip := Judgement{Verdict: Skip, Reason: "boot"}
	for _, c := range []struct {
		in     []Judgement
		want   Verdict
		reason string
	}{
		{nil, Skip, "not tested"},
		{[]Judgement{good}, Good, "ok"},
		{[]Judgement{good, good, good}, Good, "all 3 runs good"},
		{[]Judgement{good, bad}, Bad, "run 2 of 2: FAIL x"},
		{[]Judgement{good, skip, bad}, Bad, "run 3 of 3"},
		{[]Judgement{good, skip, good}, Skip, "run 2 of 3: boot"},
	} {
		got := Judge{}.Combine(c.in)
		if got.Verdict != c.want || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("%v: got %s %q", c.in, got.Verdict, got.Reason)
		}
	}
}

func TestKernelRepeat(t *testing.T) {
	// A flaky kernel: the second of three attempts fails; the third never
	// runs, and the build runs once.
	builds, tests := 0, 0
	build := func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error) {
		builds++
		return &kernel.Kernel{Commit: "0123456789abcdef", Subject: "fuse: change"}, nil
	}
	test := func(ctx context.Context, kf KernelFunc, dir string) Attempt {
		tests++
		k, err := kf(ctx, nil)
		if err != nil {
			return Attempt{Err: err}
		}
		o := verdict.Pass
		if tests == 2 {
			o = verdict.Fail
		}
		return Attempt{Kernel: k, Runs: []*verdict.Run{run(o, spec(uringSpec, o))}}
	}
	row := Kernel(context.Background(), 1, build, test, 3, Judge{}, "/r")
	if builds != 1 || tests != 2 || row.Verdict != Bad || row.ExitCode() != 1 || row.Commit != "0123456789abcdef" {
		t.Fatalf("builds %d tests %d row %+v", builds, tests, row)
	}
	if len(row.Attempts) != 2 || row.Attempts[0] != Good || row.Attempts[1] != Bad || row.ReportDir != "/r" {
		t.Fatalf("attempts %v dir %s", row.Attempts, row.ReportDir)
	}
	// A build failure is not retried.
	tests = 0
	failing := func(ctx context.Context, logf func(string, ...any)) (*kernel.Kernel, error) {
		return nil, &kbuild.BuildError{Target: "bzImage", Lines: []string{"fs/fuse/dev_uring.c:1:1: error: x"}, Err: errors.New("exit status 2")}
	}
	row = Kernel(context.Background(), 1, failing, test, 3, Judge{}, "/r")
	if tests != 1 || row.Verdict != Skip || row.ExitCode() != 125 || row.Build != BuildFailed || !strings.Contains(row.BuildError, "error: x") {
		t.Fatalf("tests %d row %+v", tests, row)
	}
}
