package merge

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/shard"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// ErrSet is a shard set that does not add up to one run: a shard missing
// or given twice, shards of different runs, or specs covered twice or not
// at all.
var ErrSet = errors.New("merge: not a complete shard set")

// ErrRead is a directory that holds no readable report; ErrOut an output
// directory that is one of the shards'. Both are usage errors.
var (
	ErrRead = errors.New("merge: unreadable report")
	ErrOut  = errors.New("merge: bad output directory")
)

// ExitSet is the exit code of a merge refused with ErrSet: neither a
// verdict on the kernel (0, 1, 125) nor a mistyped command line (2).
const ExitSet = 3

// Result is the merged run.
type Result struct {
	Facts report.Facts
	Runs  []report.VMRun
	// ExitCode is the merged verdict's exit code.
	ExitCode int
}

type part struct {
	dir   string
	facts report.Facts
	runs  []report.VMRun
}

// Dirs reads the shards' report directories and merges them, shard 1's
// VMs first.
func Dirs(dirs []string) (*Result, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: no report directory given", ErrSet)
	}
	var parts []part
	for _, d := range dirs {
		f, runs, err := report.Read(d)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrRead, d, err)
		}
		if f.Shard == nil {
			return nil, fmt.Errorf("%w: %s is not a shard's report (kernel.json names no shard: run with -shard K/N)", ErrSet, d)
		}
		parts = append(parts, part{d, f, runs})
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].facts.Shard.K < parts[j].facts.Shard.K })
	if err := check(parts); err != nil {
		return nil, err
	}
	res := &Result{Facts: parts[0].facts}
	res.Facts.Shard = nil
	res.Facts.Phases = nil
	var all []*verdict.Run
	for _, p := range parts {
		for _, ph := range p.facts.Phases {
			ph.Name = fmt.Sprintf("shard%d:%s", p.facts.Shard.K, ph.Name)
			res.Facts.Phases = append(res.Facts.Phases, ph)
		}
		res.Facts.ParallelVMs = max(res.Facts.ParallelVMs, p.facts.ParallelVMs)
		for _, r := range p.runs {
			res.Runs = append(res.Runs, r)
			all = append(all, r.Verdict)
		}
	}
	res.ExitCode = verdict.ExitCode(all...)
	res.Facts.ExitCode = res.ExitCode
	res.Facts.FeatureAbsent = verdict.FeatureAbsent(all...)
	return res, nil
}

// check refuses a set that is not one run's shards 1..N, each once, on the
// same kernel and image, together covering the set of specs each names
// exactly once.
func check(parts []part) error {
	first := parts[0]
	n := first.facts.Shard.N
	seen := map[int]string{}
	for _, p := range parts {
		s := p.facts.Shard
		switch {
		case s.N != n:
			return fmt.Errorf("%w: %s is shard %d/%d, %s one of %d", ErrSet, p.dir, s.K, s.N, first.dir, n)
		case seen[s.K] != "":
			return fmt.Errorf("%w: shard %d/%d given twice (%s and %s)", ErrSet, s.K, n, seen[s.K], p.dir)
		case s.SetSHA256 != first.facts.Shard.SetSHA256:
			return fmt.Errorf("%w: %s and %s split different spec sets (another label filter, focus or guest binary)", ErrSet, first.dir, p.dir)
		case kernelSHA(p.facts) != kernelSHA(first.facts):
			return fmt.Errorf("%w: %s and %s tested different kernels (sha256 %.16s, %.16s)", ErrSet, first.dir, p.dir, kernelSHA(first.facts), kernelSHA(p.facts))
		case p.facts.Initramfs != first.facts.Initramfs:
			return fmt.Errorf("%w: %s and %s booted different images (initramfs %.16s, %.16s)", ErrSet, first.dir, p.dir, first.facts.Initramfs, p.facts.Initramfs)
		}
		seen[s.K] = p.dir
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if seen[k] == "" {
			missing = append(missing, fmt.Sprintf("%d/%d", k, n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: shard %s missing", ErrSet, strings.Join(missing, ", "))
	}
	where := map[string]string{}
	var specs []string
	for _, p := range parts {
		for _, r := range p.runs {
			for _, s := range r.Verdict.Specs {
				if d, dup := where[s.Name]; dup {
					return fmt.Errorf("%w: spec %q is in %s and %s", ErrSet, s.Name, d, p.dir)
				}
				where[s.Name] = p.dir
				specs = append(specs, s.Name)
			}
		}
	}
	if len(specs) != first.facts.Shard.Specs || shard.SetHash(specs) != first.facts.Shard.SetSHA256 {
		return fmt.Errorf("%w: the shards hold %d spec(s), not the %d their run split", ErrSet, len(specs), first.facts.Shard.Specs)
	}
	return nil
}

// kernelSHA is the booted image's sha256 from kernel.json's kernel.
func kernelSHA(f report.Facts) string {
	b, _ := json.Marshal(f.Kernel)
	var k struct {
		SHA256 string `json:"sha256"`
	}
	json.Unmarshal(b, &k)
	return k.SHA256
}

// Write writes the merged reports into dir, which must not be one of the
// shards' directories.
func (r *Result) Write(dir string, shardDirs []string) error {
	abs, _ := filepath.Abs(dir)
	for _, d := range shardDirs {
		if a, _ := filepath.Abs(d); a == abs {
			return fmt.Errorf("%w: %s is one of the shards' report directories", ErrOut, d)
		}
	}
	return report.Write(dir, r.Facts, r.Runs)
}
