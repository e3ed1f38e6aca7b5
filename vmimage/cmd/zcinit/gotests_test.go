package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

func TestRelayGoTests(t *testing.T) {
	out := `=== RUN   TestA
--- PASS: TestA (0.01s)
=== RUN   TestB
=== RUN   TestB/sub
    b_test.go:9: no FUSE here
--- SKIP: TestB (0.00s)
    --- SKIP: TestB/sub (0.00s)
=== RUN   TestC
    c_test.go:3: want 1, got 2
--- FAIL: TestC (0.00s)
=== RUN   TestD
panic: boom
`
	var buf bytes.Buffer
	ev := vmevent.NewWriter(&buf)
	var marks []string
	next := relayGoTests(ev, "/zcsuite/zcserver.test", strings.NewReader(out), 100, func(s string) { marks = append(marks, s) })
	if next != 104 {
		t.Fatalf("next seq %d, want 104", next)
	}
	rd := vmevent.NewReader(&buf)
	var ends []vmevent.Event
	for {
		e, err := rd.Next()
		if err != nil {
			break
		}
		if e.Type == vmevent.SpecEnd {
			ends = append(ends, e)
		}
	}
	want := []struct{ spec, state, msg string }{
		{"zcserver.test: TestA", "passed", ""},
		{"zcserver.test: TestB", "skipped", "b_test.go:9: no FUSE here"},
		{"zcserver.test: TestC", "failed", "c_test.go:3: want 1, got 2"},
		{"zcserver.test: TestD", "failed", "panic: boom | the test binary ended without this test's result"},
	}
	if len(ends) != len(want) {
		t.Fatalf("%d spec-end events, want %d: %+v", len(ends), len(want), ends)
	}
	for i, w := range want {
		if e := ends[i]; e.Spec != w.spec || e.State != w.state || e.Message != w.msg {
			t.Errorf("end %d: %q %q %q; want %q %q %q", i, e.Spec, e.State, e.Message, w.spec, w.state, w.msg)
		}
	}
	if len(marks) != 8 || marks[0] != "zcsuite: spec-start 100 zcserver.test: TestA" {
		t.Fatalf("kmsg marks %q", marks)
	}
}

func TestRelayGoTestsKeepsTheEndOfALongFailure(t *testing.T) {
	out := "=== RUN   TestE\n    e_test.go:1: " + strings.Repeat("log ", 100) + "\n    e_test.go:9: the real failure\n--- FAIL: TestE (0.00s)\n"
	var buf bytes.Buffer
	relayGoTests(vmevent.NewWriter(&buf), "/zcsuite/zcserver.test", strings.NewReader(out), 1, func(string) {})
	rd := vmevent.NewReader(&buf)
	for {
		e, err := rd.Next()
		if err != nil {
			t.Fatal("no spec-end event")
		}
		if e.Type == vmevent.SpecEnd {
			if !strings.HasSuffix(e.Message, "e_test.go:9: the real failure") || len(e.Message) > 310 {
				t.Fatalf("message %q: want its end, the failure, within 300 bytes", e.Message)
			}
			return
		}
	}
}
