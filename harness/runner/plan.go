package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/suites/labels"
)

// vmJob is one VM of a run: a shard of the non-destructive specs, or one
// destructive spec.
type vmJob struct {
	name    string
	args    []string
	timeout time.Duration
	// est is the expected guest time in seconds (from earlier runs).
	est float64
	// order places the VM's results in the report.
	order int
}

// Expected costs, in seconds, when no earlier run measured a spec.
const (
	defaultSpecSec = 0.4
	// vmOverheadSec is a resumed VM's start, the guest suite's start and
	// the shutdown.
	vmOverheadSec = 1.5
)

// planLanes spreads the VMs over lanes that run concurrently: the
// destructive specs' VMs first (longest first, each onto the least loaded
// lane), then the non-destructive specs one by one the same way; each
// lane's non-destructive specs become one VM that runs before its
// destructive ones, so most failures show early. With one lane the
// non-destructive specs keep the caller's own filter (shardArgs is not
// used); otherwise each shard VM focuses on exactly its specs.
func planLanes(lanes int, mainSpecs, destructive []string, est func(string) float64, mainArgs func(specs []string, sharded bool) []string, destructiveArgs func(spec string) []string, mainTimeout, destructiveTimeout time.Duration) [][]vmJob {
	if lanes < 1 {
		lanes = 1
	}
	load := make([]float64, lanes)
	least := func() int {
		i := 0
		for j := range load {
			if load[j] < load[i] {
				i = j
			}
		}
		return i
	}
	type dItem struct {
		spec string
		n    int
		sec  float64
	}
	var ds []dItem
	for i, s := range destructive {
		ds = append(ds, dItem{s, i + 1, est(s) + vmOverheadSec})
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].sec > ds[j].sec })
	dLanes := make([][]dItem, lanes)
	for _, d := range ds {
		i := least()
		dLanes[i] = append(dLanes[i], d)
		load[i] += d.sec
	}
	total := 0.0
	for _, s := range mainSpecs {
		total += est(s)
	}
	// Sharding costs a VM start per shard: not worth it for a few specs.
	sharded := lanes > 1 && total > 4*vmOverheadSec
	shards := make([][]string, lanes)
	if sharded {
		ms := append([]string(nil), mainSpecs...)
		sort.SliceStable(ms, func(i, j int) bool { return est(ms[i]) > est(ms[j]) })
		for i := range load {
			load[i] += vmOverheadSec
		}
		for _, s := range ms {
			i := least()
			shards[i] = append(shards[i], s)
			load[i] += est(s)
		}
	} else if len(mainSpecs) > 0 {
		shards[least()] = mainSpecs
	}
	var out [][]vmJob
	nShards := 0
	for _, sh := range shards {
		if len(sh) > 0 {
			nShards++
		}
	}
	shard := 0
	for i := range lanes {
		var lane []vmJob
		if len(shards[i]) > 0 {
			shard++
			name := "main"
			if nShards > 1 {
				name = fmt.Sprintf("main-%d", shard)
			}
			sec := vmOverheadSec
			for _, s := range shards[i] {
				sec += est(s)
			}
			lane = append(lane, vmJob{name: name, args: mainArgs(shards[i], sharded), timeout: mainTimeout, est: sec, order: shard - 1})
		}
		for _, d := range dLanes[i] {
			lane = append(lane, vmJob{name: fmt.Sprintf("destructive-%d", d.n), args: destructiveArgs(d.spec), timeout: destructiveTimeout, est: d.sec, order: lanes + d.n})
		}
		if len(lane) > 0 {
			out = append(out, lane)
		}
	}
	return out
}

// focusOn is a Ginkgo focus regexp that selects exactly the given specs
// (Ginkgo matches the suite description and the spec's full text).
func focusOn(specs []string) string {
	q := make([]string, len(specs))
	for i, s := range specs {
		q[i] = regexp.QuoteMeta(s)
	}
	return "^" + regexp.QuoteMeta(labels.SuiteDescription+" ") + "(?:" + strings.Join(q, "|") + ")$"
}

// specTimings are the guest run times of earlier runs, per spec, for one
// accelerator: they balance the shards.
type specTimings map[string]float64

func timingsPath(cacheDir, accel string) string {
	return filepath.Join(cacheDir, "timings", accel+".json")
}

func loadTimings(cacheDir, accel string) specTimings {
	t := specTimings{}
	if b, err := os.ReadFile(timingsPath(cacheDir, accel)); err == nil {
		json.Unmarshal(b, &t)
	}
	return t
}

func (t specTimings) est(spec string) float64 {
	if s, ok := t[spec]; ok {
		return s
	}
	return defaultSpecSec
}

// update records the run times of the specs that ran in runs.
func (t specTimings) update(runs []report.VMRun) {
	for _, r := range runs {
		if len(r.Ginkgo) == 0 {
			continue
		}
		var reps []types.Report
		if json.Unmarshal(r.Ginkgo, &reps) != nil {
			continue
		}
		for _, rep := range reps {
			for _, sr := range rep.SpecReports {
				if sr.LeafNodeType != types.NodeTypeIt || sr.RunTime <= 0 {
					continue
				}
				t[sr.FullText()] = sr.RunTime.Seconds()
			}
		}
	}
}

func (t specTimings) save(cacheDir, accel string) {
	p := timingsPath(cacheDir, accel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	b, _ := json.MarshalIndent(t, "", " ")
	os.WriteFile(p+".part", b, 0o644)
	os.Rename(p+".part", p)
}
