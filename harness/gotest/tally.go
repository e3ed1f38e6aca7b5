// Package gotest reads the event stream of `go test -json` and tallies it
// for a person: each package's result as go test prints it, the output of
// every failed test, and every skipped test with its reason. `./run.sh test`
// pipes the unit tests through it so that a skip is seen, not hidden in a
// verbose log, and so that CI fails when a test skips because a file it
// reads is missing (a test that silently stops testing).
package gotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's format).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// Skip is one skipped test and the reason it gave (its last line of
// output before go test's own "--- SKIP" line).
type Skip struct {
	Package, Test, Reason string
}

// Summary is the tally of one stream.
type Summary struct {
	Passed, Failed, Skipped int
	// FailedPackages counts packages that failed, including those whose
	// tests did not build.
	FailedPackages int
	Skips          []Skip
}

// MissingFile reports the skips whose reason says a file was not there:
// such a test stopped testing because of the machine, not by design.
func (s Summary) MissingFile() []Skip {
	var out []Skip
	for _, k := range s.Skips {
		r := strings.ToLower(k.Reason)
		if strings.Contains(r, "no such file or directory") || strings.Contains(r, "file does not exist") {
			out = append(out, k)
		}
	}
	return out
}

type key struct{ pkg, test string }

// Tally reads the stream from r and writes to w, as the events arrive, each
// package's final line and the output of each failed test; lines that are
// not JSON (go test's own build errors) are copied through.
func Tally(r io.Reader, w io.Writer) (Summary, error) {
	var s Summary
	out := map[key][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			out[k] = append(out[k], e.Output)
		case "pass":
			if e.Test != "" {
				s.Passed++
			} else {
				fmt.Fprintf(w, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(out, k)
		case "skip":
			if e.Test != "" {
				s.Skipped++
				s.Skips = append(s.Skips, Skip{e.Package, e.Test, reason(out[k])})
			} else {
				fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
			}
			delete(out, k)
		case "fail":
			if e.Test != "" {
				s.Failed++
				// A subtest's failure also fails its parent: print
				// the innermost one's output only once.
				for _, l := range out[k] {
					io.WriteString(w, l)
				}
			} else {
				s.FailedPackages++
				for _, l := range out[k] {
					io.WriteString(w, l)
				}
				fmt.Fprintf(w, "FAIL\t%s\n", e.Package)
			}
			delete(out, k)
		}
	}
	sort.Slice(s.Skips, func(i, j int) bool {
		if s.Skips[i].Package != s.Skips[j].Package {
			return s.Skips[i].Package < s.Skips[j].Package
		}
		return s.Skips[i].Test < s.Skips[j].Test
	})
	return s, sc.Err()
}

// reason is the last line a skipped test wrote before go test's own
// "--- SKIP" line, without the file:line prefix's indentation.
func reason(lines []string) string {
	r := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		r = t
	}
	if r == "" {
		return "(no reason given)"
	}
	return r
}

// Report writes the closing tally: the counts, then every skip with its
// reason, then the skips that count as failures (missing files).
func (s Summary) Report(w io.Writer) {
	fmt.Fprintf(w, "unit tests: %d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
	if s.FailedPackages > 0 {
		fmt.Fprintf(w, ", %d package(s) failed", s.FailedPackages)
	}
	fmt.Fprintln(w)
	for _, k := range s.Skips {
		fmt.Fprintf(w, "  skipped %s %s: %s\n", short(k.Package), k.Test, k.Reason)
	}
	for _, k := range s.MissingFile() {
		fmt.Fprintf(w, "unit tests: %s %s skipped for a missing file, which fails the run: %s\n", short(k.Package), k.Test, k.Reason)
	}
}

// OK reports whether the stream shows nothing failed and no test skipped
// for a missing file.
func (s Summary) OK() bool {
	return s.Failed == 0 && s.FailedPackages == 0 && len(s.MissingFile()) == 0
}

func short(pkg string) string {
	return strings.TrimPrefix(pkg, "github.com/zcsuite/zcsuite/")
}
