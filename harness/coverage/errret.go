package coverage

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

// errReturnRE matches a line that produces an errno literally: a return
// of one, an assignment of one (for a later return), ERR_PTR of one, or
// one passed to a completion (io_uring_cmd_done(cmd, -E…, …)).
// -EIOCBQUEUED is io_uring's "completes later", not an error, and is left
// out. The errno map's check (harness/errmap) uses the same lines.
var errReturnRE = regexp.MustCompile(`\breturn\s+-E[A-Z0-9]+\b|(?:^|[^=!<>])=\s*-E[A-Z0-9]+\b|\bERR_PTR\(\s*-E[A-Z0-9]+|,\s*-E[A-Z0-9]+\s*,`)

// ErrLine is a source line that returns or sets an errno.
type ErrLine struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// ErrorLines lists the lines of a C source that produce an errno (see
// errReturnRE), outside comments.
func ErrorLines(src []byte) []ErrLine {
	var out []ErrLine
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	inComment := false
	for sc.Scan() {
		n++
		code := stripComments(sc.Text(), &inComment)
		if errReturnRE.MatchString(code) && !strings.Contains(code, "EIOCBQUEUED") {
			out = append(out, ErrLine{Line: n, Text: strings.TrimSpace(sc.Text())})
		}
	}
	return out
}

// stripComments removes /* */ and // comments from one line, carrying an
// open block comment to the next line through in.
func stripComments(l string, in *bool) string {
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		if *in {
			if strings.HasPrefix(l[i:], "*/") {
				*in = false
				i++
			}
			continue
		}
		if strings.HasPrefix(l[i:], "/*") {
			*in = true
			i++
			continue
		}
		if strings.HasPrefix(l[i:], "//") {
			break
		}
		b.WriteByte(l[i])
	}
	return b.String()
}
