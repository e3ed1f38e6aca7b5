package runner

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// TestSaveCoverage: a VM's coverage event ends up as its archive in the
// report directory; a VM without one, or with none of the counters, is
// said and leaves no file.
func TestSaveCoverage(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	r := &runState{c: &Config{ReportDir: dir, Coverage: []string{"fs/fuse"}, Out: &out}}
	data, _ := json.Marshal(vmevent.CoverageData{Files: 2, Tgz: []byte("archive")})
	c := newCollector("shard 1/2", time.Now())
	c.Event(vmevent.Event{Type: vmevent.Coverage, Data: data})
	r.saveCoverage("shard 1/2", c.coverage)
	got, err := os.ReadFile(CoverageArchive(dir, "shard 1/2"))
	if err != nil || string(got) != "archive" {
		t.Fatalf("archive %q, %v; want the event's bytes", got, err)
	}
	if !strings.HasSuffix(CoverageArchive(dir, "shard 1/2"), "/gcov/shard_1_2.tgz") {
		t.Errorf("archive name %s", CoverageArchive(dir, "shard 1/2"))
	}
	r.saveCoverage("destructive", nil)
	empty, _ := json.Marshal(vmevent.CoverageData{Error: "no .gcda file"})
	r.saveCoverage("empty", empty)
	for _, vm := range []string{"destructive", "empty"} {
		if _, err := os.Stat(CoverageArchive(dir, vm)); err == nil {
			t.Errorf("%s: an archive was written", vm)
		}
	}
	for _, want := range []string{`VM "destructive" sent no coverage`, `VM "empty": coverage: no .gcda file`, `VM "shard 1/2": coverage of 2 file(s)`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
