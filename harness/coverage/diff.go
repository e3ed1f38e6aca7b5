package coverage

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DiffLines reads a unified diff (git diff, any context) and returns, per
// file of the new side, the line numbers its hunks add or change, in
// order. Deleted files and pure deletions add nothing.
func DiffLines(r io.Reader) (map[string][]int, error) {
	out := map[string][]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	file := ""
	next, left := 0, 0 // next new-side line number; new-side lines left in the hunk
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case left == 0 && strings.HasPrefix(l, "+++ "):
			p := strings.TrimPrefix(l, "+++ ")
			if i := strings.IndexByte(p, '\t'); i >= 0 {
				p = p[:i]
			}
			switch {
			case p == "/dev/null":
				file = ""
			case strings.HasPrefix(p, "b/"):
				file = p[2:]
			default:
				file = p
			}
		case strings.HasPrefix(l, "@@ "):
			start, count, err := newRange(l)
			if err != nil {
				return nil, fmt.Errorf("diff line %d: %v", n, err)
			}
			next, left = start, count
		case left > 0 && strings.HasPrefix(l, "+"):
			if file != "" {
				out[file] = append(out[file], next)
			}
			next++
			left--
		case left > 0 && strings.HasPrefix(l, " "):
			next++
			left--
		case left > 0 && l == "":
			// A context line whose single space was stripped.
			next++
			left--
		}
	}
	return out, sc.Err()
}

// newRange reads "+START[,COUNT]" from a hunk header.
func newRange(h string) (start, count int, err error) {
	for _, w := range strings.Fields(h)[1:] {
		if !strings.HasPrefix(w, "+") {
			continue
		}
		s, c, found := strings.Cut(w[1:], ",")
		if start, err = strconv.Atoi(s); err != nil {
			return 0, 0, fmt.Errorf("hunk header %q", h)
		}
		count = 1
		if found {
			if count, err = strconv.Atoi(c); err != nil {
				return 0, 0, fmt.Errorf("hunk header %q", h)
			}
		}
		return start, count, nil
	}
	return 0, 0, fmt.Errorf("hunk header %q has no new range", h)
}
