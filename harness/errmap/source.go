package errmap

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zcsuite/zcsuite/harness/coverage"
	"github.com/zcsuite/zcsuite/harness/mutate"
)

// Located is a map site found in the source.
type Located struct {
	Site
	First, Last int // 1-based source lines the fragment spans
}

// Locate finds every site's fragment in src: inside the body of the
// site's function, exactly once (whitespace between the fragment's tokens
// may be any run of blanks and newlines). It also returns the source
// lines inside functions that produce an errno (coverage.ErrorLines, the
// same list -coverage checks for hits) and that no site's fragment
// covers: sites the map does not list.
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
	for _, el := range coverage.ErrorLines(src) {
		if funcs[el.Line-1] != "" && !covered[el.Line] {
			unlisted = append(unlisted, el.Line)
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
