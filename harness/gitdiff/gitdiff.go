// Package gitdiff says which lines a git range adds or changes: the one
// reader of diffs behind -mutate-diff and -coverage-diff.
package gitdiff

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// Lines runs git diff A B (no context) in tree, limited to paths when
// given, and returns per file the line numbers of B that the range adds
// or changes.
func Lines(ctx context.Context, tree, rng string, paths ...string) (map[string][]int, error) {
	a, b, ok := strings.Cut(rng, "..")
	if !ok || a == "" || b == "" || strings.HasPrefix(b, ".") {
		return nil, fmt.Errorf("range %q: want A..B", rng)
	}
	args := append([]string{"-C", tree, "diff", "-U0", "--no-color", "--no-ext-diff", a, b, "--"}, paths...)
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git diff %s in %s: %v: %s", rng, tree, err, strings.TrimSpace(stderr.String()))
	}
	return Parse(bytes.NewReader(out))
}

// Parse reads a unified diff (git diff, any context) and returns, per
// file of the new side, the line numbers its hunks add or change, in
// order. Deleted files and pure deletions add nothing.
func Parse(r io.Reader) (map[string][]int, error) {
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
