package console

import "github.com/zcsuite/zcsuite/harness/verdict"

// VerdictSplats is Scan as the verdict package wants it (a
// verdict.SplatFinder): the host's runner and a guest deciding its own
// verdicts both use it, so both see the same splats.
func VerdictSplats(lines []string) []verdict.Splat {
	var out []verdict.Splat
	for _, s := range Scan(lines) {
		out = append(out, verdict.Splat{Title: s.Title, Fatal: s.Fatal, HungTask: s.Kind == KindHungTask})
	}
	return out
}
