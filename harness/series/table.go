package series

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/kbuild"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/suites/labels"
)

// Families are the spec families a row counts, in column order: the
// environment checks, then the edge-case families, then integrity. A spec
// with none of these labels counts as "other".
func Families() []string {
	out := []string{labels.Env, labels.Init}
	for _, f := range labels.Families {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if !slices.Contains(out, labels.Integrity) {
		out = append(out, labels.Integrity)
	}
	return out
}

// OtherFamily counts specs without a family label.
const OtherFamily = "other"

// Counts are one family's spec outcomes.
type Counts struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Known int `json:"known"`
	Skip  int `json:"skip"`
}

// Build states of a row.
const (
	BuildOK     = "ok"
	BuildFailed = "FAIL"
	BuildConfig = "CONFIG"
	BuildNone   = "-"
)

// Row is one commit (or one kernel) of a series.
type Row struct {
	Index   int    `json:"index"`
	Commit  string `json:"commit,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Build is ok, FAIL (make failed), CONFIG (Kconfig dropped an option
	// or configuring failed) or "-" (not built: no build, or the tree is
	// not the problem).
	Build      string  `json:"build"`
	BuildError string  `json:"build_error,omitempty"`
	BuildSec   float64 `json:"build_seconds,omitempty"`
	// Boot is ok when the guest of the main VM started, FAIL when it did
	// not, "-" when nothing booted.
	Boot    string  `json:"boot"`
	BootSec float64 `json:"boot_to_hello_seconds,omitempty"`
	// Families counts the spec outcomes of the worst attempt.
	Families map[string]Counts `json:"families,omitempty"`
	// Splats are the splat titles seen; NewSplats those the previous
	// tested row did not have.
	Splats    []string `json:"splats,omitempty"`
	NewSplats []string `json:"new_splats,omitempty"`
	Judgement
	// Attempts are the verdicts of the repeated attempts, in order.
	Attempts []Verdict `json:"attempts,omitempty"`
	Seconds  float64   `json:"seconds"`
	// ReportDir holds the row's reports (one subdirectory per attempt
	// when repeated).
	ReportDir string `json:"report_dir,omitempty"`
}

// BuildInfo is how a row's kernel build went.
type BuildInfo struct {
	// Done is true when a build ran.
	Done bool
	Err  error
	Time time.Duration
}

// NewRow summarizes the attempts of one kernel and their judgement.
func NewRow(index int, attempts []Attempt, j Judgement, b BuildInfo) Row {
	row := Row{Index: index, Judgement: j, Build: BuildNone, Boot: BuildNone}
	switch {
	case !b.Done:
	case b.Err == nil:
		row.Build, row.BuildSec = BuildOK, round1(b.Time.Seconds())
	case errors.Is(b.Err, kbuild.ErrConfig):
		row.Build, row.BuildError = BuildConfig, b.Err.Error()
	default:
		row.Build, row.BuildError = BuildFailed, b.Err.Error()
	}
	var total time.Duration
	worst := -1
	for i, a := range attempts {
		total += a.Duration
		row.Attempts = append(row.Attempts, Judge{}.Attempt(a).Verdict)
		if a.Kernel != nil && row.Commit == "" {
			row.Commit, row.Subject = a.Kernel.Commit, a.Kernel.Subject
		}
		if worst < 0 || rank(attempts[i]) > rank(attempts[worst]) {
			worst = i
		}
	}
	row.Seconds = round1(total.Seconds())
	if worst >= 0 {
		a := attempts[worst]
		if len(attempts) == 1 {
			row.ReportDir = a.ReportDir
		} else {
			row.ReportDir = filepath.Dir(a.ReportDir)
		}
		if len(a.Runs) > 0 && a.Runs[0] != nil {
			row.Boot = "FAIL"
			if a.Runs[0].GuestStarted {
				row.Boot = "ok"
				row.BootSec = round1(a.BootToHello.Seconds())
			}
		}
		row.Families = familyCounts(a.Runs)
		row.Splats = splatTitles(a.Runs)
	}
	if len(row.Attempts) < 2 {
		row.Attempts = nil
	}
	return row
}

// rank orders attempts for "worst": bad over skip over good, then more
// failures.
func rank(a Attempt) int {
	switch (Judge{}).Attempt(a).Verdict {
	case Bad:
		return 2
	case Skip:
		return 1
	}
	return 0
}

func familyCounts(runs []*verdict.Run) map[string]Counts {
	fams := Families()
	m := map[string]Counts{}
	for _, r := range runs {
		if r == nil {
			continue
		}
		for _, s := range r.Specs {
			fam := OtherFamily
			for _, l := range s.Labels {
				if slices.Contains(fams, l) {
					fam = l
					break
				}
			}
			c := m[fam]
			switch {
			case s.Outcome == verdict.Pass:
				c.Pass++
			case s.Outcome == verdict.KnownFail:
				c.Known++
			case s.Outcome == verdict.Skip:
				c.Skip++
			case s.Outcome.Bad():
				c.Fail++
			}
			m[fam] = c
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func splatTitles(runs []*verdict.Run) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, r := range runs {
		if r == nil {
			continue
		}
		for _, s := range r.Specs {
			for _, sp := range s.Splats {
				add(sp.Title)
			}
		}
		for _, sp := range r.Outside {
			add(sp.Title)
		}
	}
	return out
}

// Table is a whole series.
type Table struct {
	Tree   string `json:"tree"`
	Range  string `json:"range,omitempty"`
	Repeat int    `json:"repeat"`
	BadIf  string `json:"bad_if,omitempty"`
	Debug  bool   `json:"debug_kernel,omitempty"`
	// Families are the family columns, in order.
	Families []string `json:"families"`
	Rows     []Row    `json:"commits"`
	// Stopped says why the series ended before its last commit.
	Stopped string  `json:"stopped,omitempty"`
	Seconds float64 `json:"seconds"`
	// Verdict is the series': bad if a commit was bad, else skip if one
	// was skipped, else good.
	Verdict Verdict `json:"verdict"`
}

// Add appends a row, computing its new splats against the previous row
// that booted.
func (t *Table) Add(r Row) {
	var prev map[string]bool
	for i := len(t.Rows) - 1; i >= 0; i-- {
		if t.Rows[i].Boot == "ok" {
			prev = map[string]bool{}
			for _, s := range t.Rows[i].Splats {
				prev[s] = true
			}
			break
		}
	}
	r.NewSplats = nil
	for _, s := range r.Splats {
		if !prev[s] {
			r.NewSplats = append(r.NewSplats, s)
		}
	}
	t.Rows = append(t.Rows, r)
	t.Seconds = round1(t.Seconds + r.Seconds)
	t.Verdict = Good
	for _, row := range t.Rows {
		switch {
		case row.Verdict == Bad:
			t.Verdict = Bad
		case row.Verdict == Skip && t.Verdict == Good:
			t.Verdict = Skip
		}
	}
}

// columns are the family columns worth printing: the families any row
// has specs in, in Families order, then "other".
func (t *Table) columns() []string {
	have := map[string]bool{}
	for _, r := range t.Rows {
		for f := range r.Families {
			have[f] = true
		}
	}
	var cols []string
	for _, f := range append(append([]string{}, t.Families...), OtherFamily) {
		if have[f] {
			cols = append(cols, f)
		}
	}
	return cols
}

func (t *Table) header() []string {
	h := []string{"#", "commit", "subject", "build", "boot"}
	for _, f := range t.columns() {
		h = append(h, f+" p/f/k")
	}
	return append(h, "new splats", "verdict", "time")
}

func (t *Table) cells(r Row, subjectMax int) []string {
	commit := r.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	build := r.Build
	if r.BuildSec > 0 && r.Build == BuildOK {
		build = fmt.Sprintf("ok %s", dur(r.BuildSec))
	}
	boot := r.Boot
	if r.Boot == "ok" && r.BootSec > 0 {
		boot = fmt.Sprintf("ok %s", dur(r.BootSec))
	}
	c := []string{fmt.Sprint(r.Index), orDash(commit), orDash(clip(r.Subject, subjectMax)), build, boot}
	for _, f := range t.columns() {
		n, ok := r.Families[f]
		if !ok {
			c = append(c, "-")
			continue
		}
		c = append(c, fmt.Sprintf("%d/%d/%d", n.Pass, n.Fail, n.Known))
	}
	splats := "0"
	if len(r.NewSplats) > 0 {
		splats = fmt.Sprintf("%d: %s", len(r.NewSplats), clip(r.NewSplats[0], 40))
	}
	v := strings.ToUpper(string(r.Verdict))
	if len(r.Attempts) > 1 {
		var a []string
		for _, x := range r.Attempts {
			a = append(a, string(x[0]))
		}
		v += " (" + strings.Join(a, "") + ")"
	}
	return append(c, splats, v, dur(r.Seconds))
}

// Text prints the table for a terminal.
func (t *Table) Text(w io.Writer) {
	rows := [][]string{t.header()}
	for _, r := range t.Rows {
		rows = append(rows, t.cells(r, 40))
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	t.footer(w, "")
}

func (t *Table) footer(w io.Writer, prefix string) {
	fmt.Fprintf(w, "%sseries %s: %s, %d commit(s), %s", prefix, t.Range, strings.ToUpper(string(t.Verdict)), len(t.Rows), dur(t.Seconds))
	if t.Stopped != "" {
		fmt.Fprintf(w, "; stopped: %s", t.Stopped)
	}
	fmt.Fprintln(w)
}

// Markdown writes the table and, per commit, what went wrong.
func (t *Table) Markdown(w io.Writer) {
	fmt.Fprintf(w, "# zcsuite series %s\n\n", mdEscape(t.Range))
	fmt.Fprintf(w, "Tree `%s`", t.Tree)
	if t.Debug {
		fmt.Fprint(w, ", debug kernel")
	}
	if t.Repeat > 1 {
		fmt.Fprintf(w, ", each commit tested %d times", t.Repeat)
	}
	if t.BadIf != "" {
		fmt.Fprintf(w, ", bad only if `%s` matches", t.BadIf)
	}
	fmt.Fprint(w, ". Family cells are pass/fail/known-fail.\n\n")
	h := t.header()
	fmt.Fprintf(w, "| %s |\n", strings.Join(h, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(h)))
	for _, r := range t.Rows {
		c := t.cells(r, 60)
		for i := range c {
			c[i] = mdEscape(c[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
	fmt.Fprintln(w)
	t.footer(w, "")
	for _, r := range t.Rows {
		if r.Verdict == Good && len(r.NewSplats) == 0 && len(r.Ignored) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n## %d. %s %s\n\n", r.Index, short(r.Commit), mdEscape(r.Subject))
		fmt.Fprintf(w, "**%s**: %s\n", strings.ToUpper(string(r.Verdict)), mdEscape(r.Reason))
		if r.BuildError != "" {
			fmt.Fprintf(w, "\n```\n%s\n```\n", strings.TrimSpace(r.BuildError))
		}
		list := func(title string, items []string) {
			if len(items) == 0 {
				return
			}
			fmt.Fprintf(w, "\n%s:\n\n", title)
			for _, it := range items {
				fmt.Fprintf(w, "- %s\n", mdEscape(it))
			}
		}
		list("Counted", r.Matched)
		list("Ignored (not matching --bad-if)", r.Ignored)
		list("New splats", r.NewSplats)
		if r.ReportDir != "" {
			fmt.Fprintf(w, "\nReports: `%s`\n", r.ReportDir)
		}
	}
}

// Write writes series.md and series.json into dir.
func (t *Table) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("series: %w", err)
	}
	var md strings.Builder
	t.Markdown(&md)
	if err := os.WriteFile(filepath.Join(dir, "series.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("series: %w", err)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("series: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "series.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("series: %w", err)
	}
	return nil
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func dur(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	m := int(d / time.Minute)
	return fmt.Sprintf("%dm%02ds", m, int((d-time.Duration(m)*time.Minute)/time.Second))
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return orDash(c)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
