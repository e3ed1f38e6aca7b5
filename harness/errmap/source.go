package errmap

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zcsuite/zcsuite/harness/mutate"
)

// producing matches the source lines that produce an errno literally: a
// return of one, an assignment of one, ERR_PTR of one, or one passed to a
// completion (io_uring_cmd_done(cmd, -E..., ...)). -EIOCBQUEUED is
// io_uring's "completes later", not an error, and is left out.
var producing = regexp.MustCompile(`(?:return\s+-E[A-Z]+|(?:^|[^<>!=])=\s*-E[A-Z]+|ERR_PTR\(-E[A-Z]+\)|,\s*-E[A-Z]+\s*,)`)

// Located is a map site found in the source.
type Located struct {
	Site
	First, Last int // 1-based source lines the fragment spans
}

// Locate finds every site's fragment in src: inside the body of the
// site's function, exactly once (whitespace between the fragment's tokens
// may be any run of blanks and newlines). It also returns the source
// lines that produce an errno literally (see producing) and that no
// site's fragment covers: sites the map does not list.
func Locate(src []byte, sites []Site) (found []Located, unlisted []int, errs []error) {
	lines := strings.Split(string(src), "\n")
	funcs := mutate.Functions(src)
	covered := map[int]bool{}
	for _, s := range sites {
		first, last, err := locate(lines, funcs, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for l := first; l <= last; l++ {
			covered[l] = true
		}
		found = append(found, Located{Site: s, First: first, Last: last})
	}
	for i, l := range lines {
		if funcs[i] != "" && producing.MatchString(l) && !strings.Contains(l, "EIOCBQUEUED") && !covered[i+1] {
			unlisted = append(unlisted, i+1)
		}
	}
	return found, unlisted, errs
}

func locate(lines, funcs []string, s Site) (int, int, error) {
	var body strings.Builder
	var starts []int // body offset of each body line, and its source line
	var srcLine []int
	for i, l := range lines {
		if funcs[i] != s.Func {
			continue
		}
		starts = append(starts, body.Len())
		srcLine = append(srcLine, i+1)
		body.WriteString(l)
		body.WriteByte('\n')
	}
	if len(starts) == 0 {
		return 0, 0, fmt.Errorf("%v: no function %s in the source", s, s.Func)
	}
	tokens := strings.Fields(s.Fragment)
	for i, t := range tokens {
		tokens[i] = regexp.QuoteMeta(t)
	}
	re := regexp.MustCompile(strings.Join(tokens, `\s*`))
	ms := re.FindAllStringIndex(body.String(), -1)
	switch {
	case len(ms) == 0:
		return 0, 0, fmt.Errorf("%v: fragment not found in %s", s, s.Func)
	case len(ms) > 1:
		return 0, 0, fmt.Errorf("%v: fragment found %d times in %s; make it unique", s, len(ms), s.Func)
	}
	at := func(off int) int {
		n := 0
		for j, st := range starts {
			if st <= off {
				n = srcLine[j]
			}
		}
		return n
	}
	return at(ms[0][0]), at(ms[0][1] - 1), nil
}
