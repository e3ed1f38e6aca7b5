package shard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, s := range []string{"", "1", "0/3", "4/3", "1/0", "a/b", "1/3/4", "-1/3", "2/ 3"} {
		if _, err := Parse(s); !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q): %v, want ErrSpec", s, err)
		}
	}
	if s, err := Parse("2/3"); err != nil || s != (Shard{2, 3}) || s.String() != "2/3" {
		t.Errorf("Parse(2/3) = %v, %v", s, err)
	}
}

// The shards of a set cover every spec exactly once, are balanced, and do
// not depend on the order the specs were listed in.
func TestSelectCoversEverySpecOnceWhateverTheOrder(t *testing.T) {
	var main, destructive []string
	sec := map[string]float64{}
	for i := range 60 {
		s := fmt.Sprintf("spec %02d", i)
		main = append(main, s)
		sec[s] = float64(i%7) * 0.3
	}
	for i := range 5 {
		s := fmt.Sprintf("destructive %d", i)
		destructive = append(destructive, s)
		sec[s] = 1
	}
	est := func(s string) float64 { return sec[s] }
	for n := 1; n <= 4; n++ {
		seen := map[string]int{}
		var loads []float64
		for k := 1; k <= n; k++ {
			m, d := Shard{k, n}.Select(main, destructive, est)
			rm, rd := Shard{k, n}.Select(reversed(main), reversed(destructive), est)
			if !slices.Equal(m, rm) || !slices.Equal(d, rd) {
				t.Errorf("shard %d/%d depends on the specs' order", k, n)
			}
			load := 0.0
			for _, s := range m {
				seen[s]++
				load += est(s)
			}
			for _, s := range d {
				seen[s]++
				load += est(s) + VMCost
			}
			loads = append(loads, load)
		}
		for _, s := range append(append([]string(nil), main...), destructive...) {
			if seen[s] != 1 {
				t.Errorf("%d shards: %s selected %d times", n, s, seen[s])
			}
		}
		if lo, hi := slices.Min(loads), slices.Max(loads); hi-lo > 2.5 {
			t.Errorf("%d shards unbalanced: %v", n, loads)
		}
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestSetHashIgnoresOrder(t *testing.T) {
	if SetHash([]string{"a", "b"}) != SetHash([]string{"b", "a"}) || SetHash([]string{"a"}) == SetHash([]string{"a", "b"}) {
		t.Error("SetHash must name the set, not its order")
	}
}

// The shipped timings parse, so every machine balances by them.
func TestShippedTimings(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	tm, err := LoadTimings(filepath.Join(filepath.Dir(file), "..", "..", "fixtures", "timings", "tcg.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tm) < 100 {
		t.Errorf("fixtures/timings/tcg.json lists %d specs", len(tm))
	}
	if _, err := LoadTimings(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
