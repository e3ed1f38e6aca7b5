// Package errmap reads the reviewed map of a kernel file's errno sites
// (fixtures/coverage/dev_uring-errors.txt) and checks it against the two
// things it refers to: the guest specs that pin the sites, and the kernel
// source that holds them. A site is named by its function, its errno and
// a code fragment, never by a line number, so the map survives code
// moving inside the file and fails loudly when a site changes or a new
// one appears.
package errmap

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Status says how a site is accounted for.
type Status string

const (
	// Spec: a guest spec executes the site and asserts its errno.
	Spec Status = "spec"
	// Unreachable: no userspace program can make the site return (or can
	// observe its errno); Detail says why.
	Unreachable Status = "unreachable"
	// Gap: reachable, no spec yet.
	Gap Status = "gap"
)

// ErrFormat is a malformed map line.
var ErrFormat = errors.New("errmap: malformed line")

// Site is one line of the map.
type Site struct {
	Line     int    // line number in the map file (for messages)
	Func     string // the C function holding the site
	Errno    string // e.g. EINVAL
	Fragment string // code that identifies the site inside Func
	Status   Status
	// Detail is the spec's full text prefix (Spec) or the reason
	// (Unreachable, Gap).
	Detail string
}

func (s Site) String() string {
	return fmt.Sprintf("line %d: %s %s `%s`", s.Line, s.Func, s.Errno, s.Fragment)
}

var (
	lineRE  = regexp.MustCompile("^([A-Za-z_][A-Za-z0-9_]*) (E[A-Z0-9]+) `([^`]+)` (spec|unreachable|gap) (.+)$")
	errnoRE = regexp.MustCompile(`^E[A-Z0-9]+$`)
)

// Parse reads a map: '#' starts a comment line, blank lines are ignored,
// every other line is FUNCTION ERRNO `FRAGMENT` STATUS DETAIL.
func Parse(text string) ([]Site, error) {
	var out []Site
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil || !errnoRE.MatchString(m[2]) || strings.TrimSpace(m[3]) == "" || strings.TrimSpace(m[5]) == "" {
			return nil, fmt.Errorf("%w %d: want FUNCTION ERRNO `FRAGMENT` spec|unreachable|gap DETAIL: %q", ErrFormat, i+1, l)
		}
		out = append(out, Site{Line: i + 1, Func: m[1], Errno: m[2], Fragment: m[3], Status: Status(m[4]), Detail: strings.TrimSpace(m[5])})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the map lists no site", ErrFormat)
	}
	return out, nil
}

// Load reads and parses the map file at path.
func Load(path string) ([]Site, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sites, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sites, nil
}

// Counts returns how many sites have each status.
func Counts(sites []Site) map[Status]int {
	c := map[Status]int{}
	for _, s := range sites {
		c[s.Status]++
	}
	return c
}
