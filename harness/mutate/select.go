package mutate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/harness/gitdiff"
)

// ErrSelect is a bad selection (-mutate-func naming no function of the
// files, a -mutate-diff range git cannot read); callers map it to a usage
// error.
var ErrSelect = errors.New("mutate: bad selection")

// ByFunc keeps the mutants inside the named functions; every name must
// match at least one mutant's function.
func ByFunc(ms []Mutant, names []string) ([]Mutant, error) {
	if len(names) == 0 {
		return ms, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = false
	}
	var out []Mutant
	for _, m := range ms {
		if _, ok := want[m.Func]; ok {
			want[m.Func] = true
			out = append(out, m)
		}
	}
	var missing []string
	for n, seen := range want {
		if !seen {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%w: -mutate-func %s: no such function with mutants in the files", ErrSelect, strings.Join(missing, ","))
	}
	return out, nil
}

// ByID keeps the mutants with these IDs; every ID must be among ms.
func ByID(ms []Mutant, ids []string) ([]Mutant, error) {
	if len(ids) == 0 {
		return ms, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = false
	}
	var out []Mutant
	for _, m := range ms {
		if _, ok := want[m.ID]; ok {
			want[m.ID] = true
			out = append(out, m)
		}
	}
	for _, id := range ids {
		if !want[id] {
			return nil, fmt.Errorf("%w: -mutate-id %s: no such mutant in the selected files and functions", ErrSelect, id)
		}
	}
	return out, nil
}

// DiffLines lists, per file, the lines that A..B adds or changes (line
// numbers of B), from git in tree.
func DiffLines(ctx context.Context, tree, rng string, files []string) (map[string]map[int]bool, error) {
	lines, err := gitdiff.Lines(ctx, tree, rng, files...)
	if err != nil {
		return nil, fmt.Errorf("%w: -mutate-diff: %v", ErrSelect, err)
	}
	res := map[string]map[int]bool{}
	for f, ls := range lines {
		res[f] = map[int]bool{}
		for _, l := range ls {
			res[f][l] = true
		}
	}
	return res, nil
}

// ByLines keeps the mutants on the given lines of their file.
func ByLines(ms []Mutant, lines map[string]map[int]bool) []Mutant {
	var out []Mutant
	for _, m := range ms {
		if lines[m.File][m.Line] {
			out = append(out, m)
		}
	}
	return out
}

// Sample keeps n mutants spread over the list, the same n for the same
// list every time (chosen by a hash of their IDs, then put back in file
// order), so a resumed or repeated run tests the same mutants.
func Sample(ms []Mutant, n int) []Mutant {
	if n <= 0 || n >= len(ms) {
		return ms
	}
	idx := make([]int, len(ms))
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) string { h := sha256.Sum256([]byte(ms[i].ID)); return string(h[:]) }
	sort.Slice(idx, func(a, b int) bool { return key(idx[a]) < key(idx[b]) })
	idx = idx[:n]
	sort.Ints(idx)
	out := make([]Mutant, n)
	for i, j := range idx {
		out[i] = ms[j]
	}
	return out
}

// Equivalents are reviewed mutants that no userspace program can tell from
// the original, keyed by file and mutant ID, with the reviewer's reason.
type Equivalents map[string]string

// LoadEquivalents reads a list whose lines are "FILE ID REASON" ('#'
// starts a comment line); every entry must have a reason.
func LoadEquivalents(path string) (Equivalents, error) {
	eq := Equivalents{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return eq, nil
	}
	if err != nil {
		return nil, err
	}
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want FILE ID REASON", path, i+1)
		}
		eq[f[0]+" "+f[1]] = strings.Join(f[2:], " ")
	}
	return eq, nil
}

// Reason is the recorded reason m is equivalent, or "".
func (e Equivalents) Reason(m Mutant) string { return e[m.File+" "+m.ID] }
