package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ErrSpec is a malformed -shard argument.
var ErrSpec = errors.New("shard: bad shard")

// Shard is the K-th of N parts (1 ≤ K ≤ N). The zero Shard means no
// sharding.
type Shard struct {
	K, N int
}

// Parse reads "K/N".
func Parse(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, errK := strconv.Atoi(ks)
	n, errN := strconv.Atoi(ns)
	if !ok || errK != nil || errN != nil || n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("%w: %q (want K/N with 1 <= K <= N, e.g. 2/3)", ErrSpec, s)
	}
	return Shard{K: k, N: n}, nil
}

// On reports whether s selects a part.
func (s Shard) On() bool { return s.N > 0 }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Balance splits specs into n parts of about equal expected time: each
// spec, longest first, goes onto the part with the least expected time so
// far. Ties are broken by the spec's name and the part's index, so the
// result depends only on the specs and est, not on their order. It
// returns the parts and their expected times.
func Balance(specs []string, n int, est func(string) float64) ([][]string, []float64) {
	return BalanceFrom(specs, n, est, nil)
}

// BalanceFrom is Balance onto parts that already carry work: initial[i]
// seconds on part i (missing entries are 0), e.g. tests a part runs
// besides its specs. The loads returned include it.
func BalanceFrom(specs []string, n int, est func(string) float64, initial []float64) ([][]string, []float64) {
	n = max(n, 1)
	parts := make([][]string, n)
	load := make([]float64, n)
	copy(load, initial)
	ss := append([]string(nil), specs...)
	sort.Strings(ss)
	sort.SliceStable(ss, func(i, j int) bool { return est(ss[i]) > est(ss[j]) })
	for _, s := range ss {
		i := 0
		for j := range load {
			if load[j] < load[i] {
				i = j
			}
		}
		parts[i] = append(parts[i], s)
		load[i] += est(s)
	}
	return parts, load
}

// VMCost is what the balance charges for each destructive spec on top of
// its own time: it boots (or resumes) a VM of its own.
const VMCost = 1.5

// Select returns the shard's part of the non-destructive specs (main) and
// of the destructive ones. The non-destructive specs are balanced first;
// each destructive spec then goes, longest first, onto the least loaded
// shard, counting VMCost for its VM.
func (s Shard) Select(main, destructive []string, est func(string) float64) (mainPart, destructivePart []string) {
	parts, load := Balance(main, s.N, est)
	ds := append([]string(nil), destructive...)
	sort.Strings(ds)
	sort.SliceStable(ds, func(i, j int) bool { return est(ds[i]) > est(ds[j]) })
	dParts := make([][]string, s.N)
	for _, d := range ds {
		i := 0
		for j := range load {
			if load[j] < load[i] {
				i = j
			}
		}
		dParts[i] = append(dParts[i], d)
		load[i] += est(d) + VMCost
	}
	return parts[s.K-1], dParts[s.K-1]
}

// SetHash names a set of specs: the sha256 of their sorted names, one a
// line. Shards of the same run record the same hash of the whole set, and
// a merge checks that the specs they ran hash to it.
func SetHash(specs []string) string {
	ss := append([]string(nil), specs...)
	sort.Strings(ss)
	h := sha256.New()
	for _, s := range ss {
		h.Write([]byte(s + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Timings are the spec run times (seconds) shipped with the suite,
// fixtures/timings/tcg.json: what every machine balances shards by.
type Timings map[string]float64

// DefaultSpecSec is the expected time of a spec the timings do not list.
const DefaultSpecSec = 0.4

// LoadTimings reads a timings file.
func LoadTimings(path string) (Timings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("shard: spec timings: %w", err)
	}
	var t Timings
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("shard: spec timings %s: %w", path, err)
	}
	return t, nil
}

// Est is a spec's expected time.
func (t Timings) Est(spec string) float64 {
	if s, ok := t[spec]; ok {
		return s
	}
	return DefaultSpecSec
}
