package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// listSpecs dry-runs the guest binary on the host to list the specs a
// filter selects, with each spec's labels.
func listSpecs(ctx context.Context, guestTest, filter, focus string) ([]string, map[string][]string, error) {
	reps, err := dryRun(ctx, guestTest, filter, focus)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	lbl := map[string][]string{}
	for _, rep := range reps {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt && s.State != types.SpecStateSkipped && s.State != types.SpecStatePending {
				names = append(names, s.FullText())
				lbl[s.FullText()] = s.Labels()
			}
		}
	}
	return names, lbl, nil
}

// dryRun runs the guest binary's Ginkgo dry run on the host and returns
// its report: every spec of the binary, those the filter or focus leaves
// out as skipped.
func dryRun(ctx context.Context, guestTest, filter, focus string) ([]types.Report, error) {
	dir, err := os.MkdirTemp("", "zcsuite-dry-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "dry.json")
	args := []string{"--ginkgo.dry-run", "--ginkgo.json-report=" + out, "--ginkgo.no-color"}
	if filter != "" {
		args = append(args, "--ginkgo.label-filter="+filter)
	}
	if focus != "" {
		args = append(args, "--ginkgo.focus="+focus)
	}
	cmd := exec.CommandContext(ctx, guestTest, args...)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		return nil, fmt.Errorf("listing guest specs: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	var reps []types.Report
	if err := json.Unmarshal(b, &reps); err != nil {
		return nil, fmt.Errorf("listing guest specs: %w", err)
	}
	return reps, nil
}

// specCatalog lists the full text of every spec of the guest binary,
// whatever its labels: what a spec set (vmevent.EncodeSpecSet) is encoded
// against, as the guest binary decodes it against its own list.
func specCatalog(ctx context.Context, guestTest string) ([]string, error) {
	reps, err := dryRun(ctx, guestTest, "", "")
	if err != nil {
		return nil, err
	}
	var all []string
	for _, rep := range reps {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt {
				all = append(all, s.FullText())
			}
		}
	}
	return all, nil
}
