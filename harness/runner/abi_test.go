package runner

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

func TestWithABI(t *testing.T) {
	c, err := NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.ABI != "auto" || abiArg(c) != "--zcsuite.abi=auto" {
		t.Fatalf("default ABI %q, arg %q", c.ABI, abiArg(c))
	}
	for _, p := range []string{"upstream", "kmbuf-v2", "kmbuf-v3", "kmbuf-v4"} {
		c, err := NewConfig(WithABI(p))
		if err != nil || abiArg(c) != "--zcsuite.abi="+p {
			t.Errorf("%s: %v %q", p, err, abiArg(c))
		}
	}
	if _, err := NewConfig(WithABI("kmbuf")); !errors.Is(err, ErrUsage) {
		t.Fatalf("bad profile: %v, want a usage error", err)
	}
}

func TestABIFact(t *testing.T) {
	rep := types.Report{SpecReports: types.SpecReports{
		{LeafNodeType: types.NodeTypeIt},
		{LeafNodeType: types.NodeTypeIt, ReportEntries: types.ReportEntries{
			{Name: "other", Time: time.Now(), Value: types.WrapEntryValue("x")},
			{Name: vmevent.ReportEntryABI, Time: time.Now(), Value: types.WrapEntryValue("upstream (auto: INIT 7.46)")},
		}},
	}}
	b, err := json.Marshal([]types.Report{rep})
	if err != nil {
		t.Fatal(err)
	}
	runs := []report.VMRun{{Name: "main"}, {Name: "d", Ginkgo: b}}
	if got := abiFact("auto", runs); got != "upstream (auto: INIT 7.46)" {
		t.Fatalf("abiFact = %q", got)
	}
	if got := abiFact("auto", runs[:1]); !strings.HasPrefix(got, "auto (not resolved") {
		t.Fatalf("abiFact without entries = %q", got)
	}
	if got := abiFact("kmbuf-v2", nil); got != "kmbuf-v2" {
		t.Fatalf("abiFact of a requested profile = %q", got)
	}
	if got := abiFact("auto", []report.VMRun{{Ginkgo: json.RawMessage("not json")}}); !strings.HasPrefix(got, "auto (") {
		t.Fatalf("abiFact with a broken report = %q", got)
	}
}
