package coverage

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// File is one source file's record in an lcov tracefile.
type File struct {
	// Path is the SF: path as lcov wrote it.
	Path string
	// Lines maps an instrumented line to its hit count (DA:).
	Lines map[int]int64
	// Funcs are the functions (FN:/FNDA:), in line order.
	Funcs []Func
	// Branches are the branch outcomes (BRDA:).
	Branches []Branch
}

// Func is one function of a File.
type Func struct {
	Name string
	// Line is where it starts; End, when lcov gave it, where it ends
	// (0 otherwise).
	Line, End int
	Hits      int64
}

// Branch is one outcome of a branch: Taken is -1 when its block never
// ran (lcov's "-").
type Branch struct {
	Line, Block, Branch int
	Taken               int64
}

// ParseTracefile reads an lcov tracefile (the geninfo/lcov .info format:
// SF, FN, FNDA, DA, BRDA records up to end_of_record). Records of the same
// file are merged by adding their counts.
func ParseTracefile(r io.Reader) ([]*File, error) {
	byPath := map[string]*File{}
	var order []string
	var cur *File
	fnIdx := map[string]int{}
	brIdx := map[[3]int]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	bad := func(format string, v ...any) error {
		return fmt.Errorf("tracefile line %d: %s", n, fmt.Sprintf(format, v...))
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		key, val, _ := strings.Cut(line, ":")
		if line == "end_of_record" {
			cur = nil
			continue
		}
		if key == "SF" {
			if byPath[val] == nil {
				byPath[val] = &File{Path: val, Lines: map[int]int64{}}
				order = append(order, val)
			}
			cur = byPath[val]
			fnIdx = map[string]int{}
			for i, f := range cur.Funcs {
				fnIdx[f.Name] = i
			}
			brIdx = map[[3]int]int{}
			for i, b := range cur.Branches {
				brIdx[[3]int{b.Line, b.Block, b.Branch}] = i
			}
			continue
		}
		if cur == nil {
			if key == "TN" || line == "" {
				continue
			}
			return nil, bad("%q outside a file record", line)
		}
		f := strings.Split(val, ",")
		switch key {
		case "FN":
			// FN:<line>,<name> (lcov 1.x) or FN:<line>,<end>,<name>.
			if len(f) < 2 {
				return nil, bad("FN %q", val)
			}
			l, err := strconv.Atoi(f[0])
			if err != nil {
				return nil, bad("FN line %q", f[0])
			}
			fn := Func{Line: l, Name: f[len(f)-1]}
			if len(f) == 3 {
				fn.End, _ = strconv.Atoi(f[1])
			}
			if _, ok := fnIdx[fn.Name]; !ok {
				fnIdx[fn.Name] = len(cur.Funcs)
				cur.Funcs = append(cur.Funcs, fn)
			}
		case "FNDA":
			if len(f) != 2 {
				return nil, bad("FNDA %q", val)
			}
			c, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil, bad("FNDA count %q", f[0])
			}
			i, ok := fnIdx[f[1]]
			if !ok {
				fnIdx[f[1]] = len(cur.Funcs)
				cur.Funcs = append(cur.Funcs, Func{Name: f[1]})
				i = len(cur.Funcs) - 1
			}
			cur.Funcs[i].Hits += c
		case "DA":
			if len(f) < 2 {
				return nil, bad("DA %q", val)
			}
			l, err1 := strconv.Atoi(f[0])
			c, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, bad("DA %q", val)
			}
			cur.Lines[l] += max(c, 0)
		case "BRDA":
			if len(f) != 4 {
				return nil, bad("BRDA %q", val)
			}
			var k [3]int
			for i := range k {
				v, err := strconv.Atoi(f[i])
				if err != nil {
					return nil, bad("BRDA %q", val)
				}
				k[i] = v
			}
			taken := int64(-1)
			if f[3] != "-" {
				t, err := strconv.ParseInt(f[3], 10, 64)
				if err != nil {
					return nil, bad("BRDA taken %q", f[3])
				}
				taken = t
			}
			if i, ok := brIdx[k]; ok {
				b := &cur.Branches[i]
				if taken >= 0 {
					b.Taken = max(b.Taken, 0) + taken
				}
				continue
			}
			brIdx[k] = len(cur.Branches)
			cur.Branches = append(cur.Branches, Branch{Line: k[0], Block: k[1], Branch: k[2], Taken: taken})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]*File, 0, len(order))
	for _, p := range order {
		fl := byPath[p]
		sort.SliceStable(fl.Funcs, func(i, j int) bool { return fl.Funcs[i].Line < fl.Funcs[j].Line })
		out = append(out, fl)
	}
	return out, nil
}

// Counts are hit/total pairs.
type Counts struct {
	LinesHit    int `json:"lines_hit"`
	Lines       int `json:"lines"`
	BranchesHit int `json:"branches_hit"`
	Branches    int `json:"branches"`
}

// count counts lines in [from, to] (to 0: no upper bound).
func (f *File) count(from, to int) Counts {
	var c Counts
	for l, h := range f.Lines {
		if l < from || (to > 0 && l > to) {
			continue
		}
		c.Lines++
		if h > 0 {
			c.LinesHit++
		}
	}
	for _, b := range f.Branches {
		if b.Line < from || (to > 0 && b.Line > to) {
			continue
		}
		c.Branches++
		if b.Taken > 0 {
			c.BranchesHit++
		}
	}
	return c
}

// Counts is the whole file's.
func (f *File) Counts() Counts { return f.count(0, 0) }

// FuncCounts is one function's counts: the lines from its start to its
// end, or, when the tracefile gave no end, to the line before the next
// function's start.
func (f *File) FuncCounts(i int) Counts {
	fn := f.Funcs[i]
	end := fn.End
	if end == 0 {
		for _, g := range f.Funcs[i+1:] {
			if g.Line > fn.Line {
				end = g.Line - 1
				break
			}
		}
	}
	if end == 0 {
		end = int(^uint(0) >> 1)
	}
	return f.count(fn.Line, end)
}
