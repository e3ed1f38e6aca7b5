package cli

import (
	"bytes"
	"strings"
	"testing"

	reports "github.com/zcsuite/zcsuite/harness/report"
)

// TestHelp checks that -help lists every report file and every exit code.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"-help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-help exits %d", code)
	}
	out := stderr.String()
	for _, f := range reports.Files {
		if !strings.Contains(out, "\n  "+f.Name+"\n") {
			t.Errorf("-help does not list %s", f.Name)
		}
	}
	for _, e := range exitCodes {
		if !strings.Contains(out, "\n  "+e.code+" ") && !strings.Contains(out, "\n  "+e.code+"\n") {
			t.Errorf("-help does not list exit code %s", e.code)
		}
	}
	if !strings.Contains(out, "-report-dir") || !strings.Contains(out, "zcsuite: N passed") {
		t.Errorf("-help lacks the flags or the closing line:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 100 && !strings.HasPrefix(l, "    \t") && !strings.HasPrefix(strings.TrimSpace(l), "-") {
			t.Errorf("line over 100 columns: %q", l)
		}
	}
}
