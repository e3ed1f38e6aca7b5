package ksym

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/zcsuite/zcsuite/harness/console"
)

// ErrNoText is a map that holds no kernel text symbol.
var ErrNoText = errors.New("ksym: no kernel text symbols")

// Table is a System.map's text symbols, sorted by address.
type Table struct {
	addrs []uint64
	names []string
}

// Load reads a System.map ("ffffffff81000000 T _text" per line).
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &Table{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || len(fs[1]) != 1 {
			continue
		}
		switch fs[1] {
		case "T", "t", "W", "w":
		default:
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		t.addrs = append(t.addrs, a)
		t.names = append(t.names, fs[2])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ksym: %s: %w", path, err)
	}
	if len(t.addrs) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoText, path)
	}
	idx := make([]int, len(t.addrs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return t.addrs[idx[i]] < t.addrs[idx[j]] })
	addrs, names := make([]uint64, len(idx)), make([]string, len(idx))
	for i, k := range idx {
		addrs[i], names[i] = t.addrs[k], t.names[k]
	}
	t.addrs, t.names = addrs, names
	return t, nil
}

// Lookup returns the function holding addr, its start address and its size
// (up to the next symbol at a higher address). ok is false below the first
// symbol and at or past the last one (the end marker of the kernel's text,
// which no code follows).
func (t *Table) Lookup(addr uint64) (name string, start, size uint64, ok bool) {
	i := sort.Search(len(t.addrs), func(i int) bool { return t.addrs[i] > addr }) - 1
	if i < 0 {
		return "", 0, 0, false
	}
	// Several names may share an address (aliases): the first one names
	// it, as the kernel's own lookup does, and the next distinct address
	// ends the function.
	for i > 0 && t.addrs[i-1] == t.addrs[i] {
		i--
	}
	j := i + 1
	for j < len(t.addrs) && t.addrs[j] == t.addrs[i] {
		j++
	}
	if j == len(t.addrs) {
		return "", 0, 0, false
	}
	return t.names[i], t.addrs[i], t.addrs[j] - t.addrs[i], true
}

// addrRE is a bare kernel address as %pS and %pB print it without
// KALLSYMS: "0x" and 16 hex digits, not already followed by a symbol.
var addrRE = regexp.MustCompile(`\b0x(ffffffff[0-9a-f]{8})\b`)

// traceRE is a call-trace frame: a return address, whose call instruction
// lies just before it (the address may be the first byte of the next
// function when the caller never returns).
var traceRE = regexp.MustCompile(`^\s+(?:\? )?0xffffffff[0-9a-f]{8}\s*$`)

// Line returns line with every bare kernel text address the table knows
// written as the kernel writes it with KALLSYMS: "name+0xoff/0xsize". Other
// text, and addresses outside the kernel's text, are left alone.
func (t *Table) Line(line string) string {
	trace := traceRE.MatchString(console.StripTimestamp(line))
	return addrRE.ReplaceAllStringFunc(line, func(s string) string {
		a, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return s
		}
		look := a
		if trace && a > 0 {
			look = a - 1
		}
		name, start, size, ok := t.Lookup(look)
		if !ok {
			return s
		}
		return fmt.Sprintf("%s+0x%x/0x%x", name, a-start, size)
	})
}

// Lines applies Line to every line; lines holding no address are shared.
func (t *Table) Lines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if strings.Contains(l, "0xffffffff") {
			l = t.Line(l)
		}
		out[i] = l
	}
	return out
}
