package ksym

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/console"
)

// symRE is a symbolised address as the kernel prints it with KALLSYMS.
var symRE = regexp.MustCompile(`\b([A-Za-z_][\w.]*)\+0x([0-9a-f]+)/0x([0-9a-f]+)\b`)

// unsymbolise writes every "name+0xoff/0xsize" the map knows as the bare
// address a kernel without KALLSYMS prints in its place ("0x" and 16 hex
// digits), checking the size against the map (the map is the kernel's).
func unsymbolise(t *testing.T, mapText string, lines []string) []string {
	t.Helper()
	addr := map[string]uint64{}
	for _, l := range strings.Split(mapText, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 {
			a, _ := strconv.ParseUint(f[0], 16, 64)
			if _, ok := addr[f[2]]; !ok {
				addr[f[2]] = a
			}
		}
	}
	tab, err := Load(writeMap(t, mapText))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = symRE.ReplaceAllStringFunc(l, func(s string) string {
			m := symRE.FindStringSubmatch(s)
			base, ok := addr[m[1]]
			if !ok {
				t.Fatalf("line %d: %s is not in the map excerpt", i, m[1])
			}
			off, _ := strconv.ParseUint(m[2], 16, 64)
			size, _ := strconv.ParseUint(m[3], 16, 64)
			if _, _, sz, ok := tab.Lookup(base); !ok || sz != size {
				t.Fatalf("line %d: %s is 0x%x bytes in the map, 0x%x in the log: not this kernel's map", i, m[1], sz, size)
			}
			return fmt.Sprintf("0x%016x", base+off)
		})
	}
	return out
}

// TestFixtures reads real console logs of kernels built with KALLSYMS
// (testdata/*.log, with the excerpt of their System.map in *.map): the
// same log as a kernel without KALLSYMS prints it has titles without the
// function, and read through the map it has the original titles again.
func TestFixtures(t *testing.T) {
	logs, _ := filepath.Glob("testdata/*.log")
	if len(logs) == 0 {
		t.Fatal("no fixture in testdata")
	}
	for _, lf := range logs {
		t.Run(filepath.Base(lf), func(t *testing.T) {
			raw, err := os.ReadFile(lf)
			if err != nil {
				t.Fatal(err)
			}
			mapText, err := os.ReadFile(strings.TrimSuffix(lf, ".log") + ".map")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
			want := console.Scan(lines)
			if len(want) == 0 {
				t.Fatal("the fixture holds no splat")
			}
			bare := unsymbolise(t, string(mapText), lines)
			tab, err := Load(writeMap(t, string(mapText)))
			if err != nil {
				t.Fatal(err)
			}
			without := console.Scan(bare)
			with := console.Scan(tab.Lines(bare))
			if len(without) != len(want) || len(with) != len(want) {
				t.Fatalf("%d splats, %d without symbols, %d symbolised", len(want), len(without), len(with))
			}
			for i := range want {
				if without[i].Title == want[i].Title {
					t.Errorf("splat %d: %q even without symbols: the fixture proves nothing", i, want[i].Title)
				}
				if with[i].Title != want[i].Title {
					t.Errorf("splat %d: symbolised title %q, want %q (without symbols: %q)", i, with[i].Title, want[i].Title, without[i].Title)
				}
				t.Logf("splat %d: %q; without KALLSYMS %q", i, want[i].Title, without[i].Title)
			}
		})
	}
}
