package runner

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// WithABI sets the FUSE io_uring ABI profile the guest specs speak:
// "auto" (the default: the guest decides from what the booted kernel
// states, and never picks kmbuf on a kernel without the kmbuf series),
// "upstream", "kmbuf-v2", "kmbuf-v3" or "kmbuf-v4" (the v3 layout). The
// guest gets it as -zcsuite.abi; specs of the other profile skip.
func WithABI(p string) Option {
	return func(c *Config) error {
		if err := vmevent.CheckABI(p); err != nil {
			return fmt.Errorf("%w: --abi: %v", ErrUsage, err)
		}
		c.ABI = p
		return nil
	}
}

// abiArg is the guest binary's flag carrying the profile.
func abiArg(c *Config) string {
	p := c.ABI
	if p == "" {
		p = vmevent.ABIAuto
	}
	return "--zcsuite.abi=" + p
}

// abiFact is kernel.json's abi_profile: what the guest recorded in its
// specs' report entries (for auto, the profile it resolved and why; the
// first VM that recorded one), or the requested profile when no spec did.
func abiFact(requested string, runs []report.VMRun) string {
	if requested == "" {
		requested = vmevent.ABIAuto
	}
	for _, r := range runs {
		if v := abiFromReport(r.Ginkgo); v != "" {
			return v
		}
	}
	if requested == vmevent.ABIAuto {
		return "auto (not resolved: no guest spec recorded a profile)"
	}
	return requested
}

// abiFromReport returns the first ReportEntryABI value in a guest suite's
// Ginkgo JSON report, or "".
func abiFromReport(ginkgo json.RawMessage) string {
	if len(ginkgo) == 0 {
		return ""
	}
	var reps []types.Report
	if err := json.Unmarshal(ginkgo, &reps); err != nil {
		return ""
	}
	for _, rep := range reps {
		for _, s := range rep.SpecReports {
			for _, e := range s.ReportEntries {
				if e.Name == vmevent.ReportEntryABI {
					return e.StringRepresentation()
				}
			}
		}
	}
	return ""
}

// abiGateSkip returns a SKIP verdict for a destructive spec, without
// booting its VM, when a finished VM of this run skipped a spec of the same
// ABI profile label at the ABI gate (vmevent.ABIGatePrefix): the gate
// depends only on the kernel and -abi, so the destructive spec would skip
// the same way, and a VM costs seconds.
func abiGateSkip(j vmJob, specLabels []string, done map[int]report.VMRun) (*report.VMRun, bool) {
	var abi string
	for _, l := range specLabels {
		if l == labels.ABIKmbuf || l == labels.ABIUpstream {
			abi = l
		}
	}
	if abi == "" {
		return nil, false
	}
	orders := make([]int, 0, len(done))
	for o := range done {
		orders = append(orders, o)
	}
	sort.Ints(orders)
	for _, o := range orders {
		run := done[o]
		if run.Verdict == nil {
			continue
		}
		for _, s := range run.Verdict.Specs {
			if s.Outcome != verdict.Skip || !slices.Contains(s.Labels, abi) ||
				!strings.HasPrefix(s.Message, vmevent.ABIGatePrefix) {
				continue
			}
			why := s.Message + " (the ABI gate as VM " + run.Name + " met it; this destructive spec's VM was not booted)"
			v := &verdict.Run{
				Specs:        []verdict.Spec{{Seq: 1, Name: j.spec, Labels: specLabels, GuestState: "skipped", Message: s.Message, Outcome: verdict.Skip, Reason: why}},
				Outcome:      verdict.Skip,
				Reason:       "every spec was skipped",
				GuestStarted: true,
			}
			return &report.VMRun{Name: j.name, Verdict: v}, true
		}
	}
	return nil, false
}
