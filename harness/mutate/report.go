package mutate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Summary is a mutation run's result: mutation.json, and mutation.md
// for people.
type Summary struct {
	Files     []string `json:"files"`
	Funcs     []string `json:"funcs,omitempty"`
	DiffRange string   `json:"diff_range,omitempty"`
	Sample    int      `json:"sample,omitempty"`
	// Generated counts every mutant of the files; Selected those left
	// after -mutate-func and -mutate-diff (Sample then picks from them).
	Generated, Selected int
	// Deadline is the per-mutant suite deadline in seconds.
	Deadline float64 `json:"deadline_s"`
	// Baseline is the unmutated kernel's run.
	Baseline *Outcome          `json:"baseline,omitempty"`
	Mutants  []Outcome         `json:"mutants"`
	Counts   map[Status]int    `json:"counts"`
	ByFunc   map[string]*Tally `json:"by_func"`
	// Score is (killed + timeout) / (killed + timeout + survived): the
	// share of the compiling, non-equivalent, tested mutants the suite
	// detects.
	Score       float64 `json:"score"`
	WallSeconds float64 `json:"wall_s"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

// Tally counts one function's mutants.
type Tally struct {
	Killed, Survived, Other int
}

// Add records one mutant's outcome.
func (s *Summary) Add(o Outcome) {
	if s.Counts == nil {
		s.Counts, s.ByFunc = map[Status]int{}, map[string]*Tally{}
	}
	s.Mutants = append(s.Mutants, o)
	s.Counts[o.Status]++
	key := o.File + ":" + o.Func
	t := s.ByFunc[key]
	if t == nil {
		t = &Tally{}
		s.ByFunc[key] = t
	}
	switch o.Status {
	case Killed, Timeout:
		t.Killed++
	case Survived:
		t.Survived++
	default:
		t.Other++
	}
	det := s.Counts[Killed] + s.Counts[Timeout]
	if n := det + s.Counts[Survived]; n > 0 {
		s.Score = float64(det) / float64(n)
	}
}

// Write writes mutation.json and mutation.md into dir.
func (s *Summary) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "mutation.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mutation.md"), []byte(s.Markdown()), 0o644)
}

// Markdown is the human report: the score, the counts, every survivor
// with its diff and place, then every other mutant.
func (s *Summary) Markdown() string {
	var b strings.Builder
	det := s.Counts[Killed] + s.Counts[Timeout]
	fmt.Fprintf(&b, "# Mutation testing: %s\n\n", strings.Join(s.Files, ", "))
	if len(s.Funcs) > 0 {
		fmt.Fprintf(&b, "Functions: %s.  ", strings.Join(s.Funcs, ", "))
	}
	if s.DiffRange != "" {
		fmt.Fprintf(&b, "Lines changed by %s.  ", s.DiffRange)
	}
	fmt.Fprintf(&b, "%d mutants generated, %d selected, %d tested or listed", s.Generated, s.Selected, len(s.Mutants))
	if s.Sample > 0 {
		fmt.Fprintf(&b, " (sample of %d)", s.Sample)
	}
	fmt.Fprintf(&b, "; per-mutant deadline %.0f s; wall time %.0f s.\n\n", s.Deadline, s.WallSeconds)
	if s.Interrupted {
		b.WriteString("**Interrupted**: the run stopped early; run the same command again to resume.\n\n")
	}
	fmt.Fprintf(&b, "**Score: %d/%d = %.1f%%** (killed + timeout over killed + timeout + survived; build failures, listed equivalents and untested mutants are left out)\n\n",
		det, det+s.Counts[Survived], 100*s.Score)
	fmt.Fprintf(&b, "| killed | survived | timeout | build-failed | equivalent | untested |\n|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d |\n\n",
		s.Counts[Killed], s.Counts[Survived], s.Counts[Timeout], s.Counts[BuildFailed], s.Counts[Equivalent], s.Counts[Untested])
	section := func(title string, keep func(Outcome) bool, extra func(Outcome) string) {
		var rows []Outcome
		for _, o := range s.Mutants {
			if keep(o) {
				rows = append(rows, o)
			}
		}
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "## %s (%d)\n\n| file:line | function | rule | change | id | %s |\n|---|---|---|---|---|---|\n", title, len(rows), map[bool]string{true: "why", false: "by"}[title != "Killed"])
		for _, o := range rows {
			fmt.Fprintf(&b, "| %s:%d | %s | %s | `%s` | %s | %s |\n", o.File, o.Line, o.Func, o.Rule, strings.ReplaceAll(o.Diff(), "|", `\|`), o.ID, strings.ReplaceAll(extra(o), "|", `\|`))
		}
		b.WriteString("\n")
	}
	section("Survivors", func(o Outcome) bool { return o.Status == Survived }, func(Outcome) string { return "" })
	section("Timeouts", func(o Outcome) bool { return o.Status == Timeout }, func(o Outcome) string { return o.Reason })
	section("Killed", func(o Outcome) bool { return o.Status == Killed }, func(o Outcome) string { return o.Killer })
	section("Equivalent (fixtures/mutation/equivalent.txt)", func(o Outcome) bool { return o.Status == Equivalent }, func(o Outcome) string { return o.Reason })
	section("Build failed", func(o Outcome) bool { return o.Status == BuildFailed }, func(o Outcome) string { return o.Reason })
	section("Untested", func(o Outcome) bool { return o.Status == Untested }, func(o Outcome) string { return o.Reason })
	if len(s.ByFunc) > 0 {
		b.WriteString("## Per function\n\n| function | detected | survived | other |\n|---|---|---|---|\n")
		keys := make([]string, 0, len(s.ByFunc))
		for k := range s.ByFunc {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t := s.ByFunc[k]
			fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", k, t.Killed, t.Survived, t.Other)
		}
	}
	return b.String()
}
