package runner

import (
	"encoding/json"
	"fmt"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/report"
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
