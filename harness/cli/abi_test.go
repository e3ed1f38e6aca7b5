package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestABIFlag(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := Main([]string{"-abi", "kmbuf-v1", "-kernel", filepath.Join(dir, "missing"), "-cache-dir", dir, "-report-dir", filepath.Join(dir, "r")}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "--abi") || !strings.Contains(errb.String(), "kmbuf-v3") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
