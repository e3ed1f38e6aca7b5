package runner

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/shard"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/suites/spectime"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// vmJob is one VM of a run: a shard of the non-destructive specs, or one
// destructive spec.
type vmJob struct {
	name string
	// spec is a destructive VM's one spec.
	spec string
	// specs are the specs the VM is to run (a shard's, or spec).
	specs   []string
	args    []string
	timeout time.Duration
	// est is the expected guest time in seconds (from earlier runs).
	est float64
	// order places the VM's results in the report.
	order int
	// goTests are Go test binaries the guest runs after its specs
	// (vmevent.GuestConfig.GoTests).
	goTests []string
	// goTestSpecs are the goTests' tests, as specs: planned like the
	// others, so that a run that ends before them reports them NOT-RUN.
	goTestSpecs []string
}

// Expected costs, in seconds, when no earlier run measured a spec.
const (
	defaultSpecSec = 0.4
	// vmOverheadSec is a resumed VM's start, the guest suite's start and
	// the shutdown.
	vmOverheadSec = 1.5
)

// A shard VM's deadline (shardDeadline): the VM's start, the specs at
// deadlineSlowdown times their expected time, and one spec that runs
// into the longest spec timeout and its grace period.
const (
	// deadlineStart covers a VM's boot or resume, the guest suite's start
	// and the shutdown on a loaded machine (a resume took 20-40 s at a
	// load of 22-27 on 2 cores; a boot 6-8 s when quiet).
	deadlineStart = 90 * time.Second
	// deadlineSlowdown is how much slower than the earlier runs' times
	// (fixtures/timings and the cache's) the specs may run before the
	// deadline cuts them: the specs phases of a full run took about twice
	// the quiet machine's at a load of 15-22.
	deadlineSlowdown = 10
)

// shardDeadline is the deadline of a shard VM whose specs (and Go tests)
// are expected to take estSec, within the run's -timeout: it scales with
// the planned specs, so that a VM of a few specs on a kernel that slows
// every request (each spec slow, none timing out) ends in minutes, and
// it always leaves room for one spec to run into spectime.Max (each spec
// that times out is reported TIMEOUT by the guest, not cut by the VM's
// deadline).
func shardDeadline(runTimeout time.Duration, estSec float64) time.Duration {
	d := deadlineStart + time.Duration(deadlineSlowdown*estSec*float64(time.Second)) + spectime.Max + spectime.Grace
	return min(runTimeout, d.Round(time.Second))
}

// vmPlan is the VMs of a run: the shards of the non-destructive specs,
// one per lane, and the destructive specs' VMs, which the lanes take from
// a shared queue (longest first) once their shard is done, so that a shard
// that ran shorter than estimated picks up more of them.
type vmPlan struct {
	shards      []vmJob
	destructive []vmJob
	lanes       int
}

// vmPlanner splits a run's specs among its VMs (plan).
type vmPlanner struct {
	// lanes is how many VMs run at once.
	lanes int
	// est is a spec's expected guest time in seconds.
	est func(spec string) float64
	// firstExtra is the time the first shard's VM spends besides its
	// specs (zcserver's tests, which run after them).
	firstExtra float64
	// mainArgs are a shard VM's guest arguments; destructiveArgs a
	// destructive spec's VM's.
	mainArgs        func(specs []string, sharded bool) []string
	destructiveArgs func(spec string) []string
	// mainTimeout bounds a shard VM, destructiveTimeout a destructive one.
	mainTimeout, destructiveTimeout time.Duration
}

// plan splits the non-destructive specs into at most lanes shards of
// about equal expected time (longest spec first, each onto the least
// loaded shard). With one shard its VM keeps the caller's own filter
// (mainArgs gets sharded false); otherwise each shard VM focuses on
// exactly its specs. Sharding costs a VM start per shard, so a few specs
// stay in one VM.
//
// The balance counts firstExtra, so that the first VM gets fewer specs
// instead of ending last. It counts at most an equal share of the specs'
// time, so that the first VM always keeps specs of its own (a VM focused
// on no spec would fail its suite) even when the tests' time was recorded
// on a busier host than the specs'.
func (pl vmPlanner) plan(mainSpecs, destructive []string) vmPlan {
	lanes, est, firstExtra := max(pl.lanes, 1), pl.est, pl.firstExtra
	total := 0.0
	for _, s := range mainSpecs {
		total += est(s)
	}
	nShards := 1
	if total+firstExtra > 4*vmOverheadSec {
		nShards = min(lanes, len(mainSpecs))
	}
	firstExtra = min(firstExtra, total/float64(nShards))
	var p vmPlan
	if len(mainSpecs) > 0 {
		shards, load := shard.BalanceFrom(mainSpecs, nShards, est, []float64{firstExtra})
		// Greedy placement can still leave a part empty (one spec far
		// longer than the rest): such a part is no VM.
		shards, load = dropEmpty(shards, load)
		nShards = len(shards)
		for i, sh := range shards {
			name := "main"
			if nShards > 1 {
				name = fmt.Sprintf("main-%d", i+1)
			}
			p.shards = append(p.shards, vmJob{name: name, specs: sh, args: pl.mainArgs(sh, nShards > 1), timeout: pl.mainTimeout, est: load[i] + vmOverheadSec, order: i})
		}
	}
	for i, s := range destructive {
		p.destructive = append(p.destructive, vmJob{name: fmt.Sprintf("destructive-%d", i+1), spec: s, specs: []string{s}, args: pl.destructiveArgs(s), timeout: pl.destructiveTimeout, est: est(s) + vmOverheadSec, order: lanes + i})
	}
	sort.SliceStable(p.destructive, func(i, j int) bool { return p.destructive[i].est > p.destructive[j].est })
	p.lanes = max(len(p.shards), min(lanes, len(p.destructive)))
	return p
}

// dropEmpty removes the parts with no spec, and their loads.
func dropEmpty(parts [][]string, load []float64) ([][]string, []float64) {
	var ps [][]string
	var ls []float64
	for i, p := range parts {
		if len(p) > 0 {
			ps, ls = append(ps, p), append(ls, load[i])
		}
	}
	return ps, ls
}

// focusOn is a Ginkgo focus regexp that selects exactly the given specs
// (Ginkgo matches the suite description and the spec's full text).
func focusOn(specs []string) string {
	return vmevent.FocusOn(labels.SuiteDescription, specs)
}

// specTimings are the guest run times of earlier runs, per spec, for one
// accelerator: they balance the shards.
type specTimings map[string]float64

func timingsPath(cacheDir, accel string) string {
	return filepath.Join(cacheDir, "timings", accel+".json")
}

func loadTimings(cacheDir, accel string, logf func(string, ...any)) specTimings {
	return readTimings(timingsPath(cacheDir, accel), logf)
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
		for name, sec := range r.GoTestSeconds {
			t[name] = sec
		}
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
	b, _ := json.MarshalIndent(t, "", " ")
	writeCacheFile(timingsPath(cacheDir, accel), b)
}

// planned lists the specs the VM is to run, with their labels.
func (j vmJob) planned(labelsOf func(string) []string) []verdict.Planned {
	out := make([]verdict.Planned, len(j.specs))
	for i, s := range j.specs {
		out[i] = verdict.Planned{Name: s, Labels: labelsOf(s)}
	}
	for _, s := range j.goTestSpecs {
		out = append(out, verdict.Planned{Name: s})
	}
	return out
}
