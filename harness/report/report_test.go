package report

import (
	"bytes"
	"fmt"
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
