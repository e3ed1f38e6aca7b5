package series

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// Verdict is a kernel's bisect verdict.
type Verdict string

// Verdicts, in the words git bisect uses.
const (
	Good Verdict = "good"
	Bad  Verdict = "bad"
	Skip Verdict = "skip"
)

// ExitCode is the verdict's `git bisect run` exit code.
func (v Verdict) ExitCode() int {
	switch v {
	case Good:
		return verdict.ExitGood
	case Bad:
		return verdict.ExitBad
	}
	return verdict.ExitUntested
}

// ExitAbort is the exit code that makes `git bisect run` stop instead of
// marking the commit (anything above 127): zcsuite uses it in bisect mode
// for usage errors and interruptions, which say nothing about the commit.
const ExitAbort = 128

// Attempt is one run of the suite against one kernel.
type Attempt struct {
	// Runs are the verdicts of the attempt's VMs.
	Runs []*verdict.Run
	// Err says why the kernel could not be tested at all (build,
	// configuration, boot, infrastructure); nil when verdicts were reached.
	Err error
	// Kernel is what was tested (nil when the build failed).
	Kernel *kernel.Kernel
	// BootToHello is the main VM's boot time.
	BootToHello time.Duration
	// Duration is the attempt's wall time, build included.
	Duration time.Duration
	// ReportDir holds the attempt's reports.
	ReportDir string
}

// Judgement is a verdict with its grounds.
type Judgement struct {
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason"`
	// Matched are the bad outcomes that count (all of them without a
	// signature).
	Matched []string `json:"matched,omitempty"`
	// Ignored are bad outcomes the signature did not match.
	Ignored []string `json:"ignored,omitempty"`
}

// ExitCode is the judgement's `git bisect run` exit code.
func (j Judgement) ExitCode() int { return j.Verdict.ExitCode() }

// Judge decides verdicts. The zero Judge counts every bad outcome.
type Judge struct {
	// BadIf, when set, is the signature: only bad outcomes whose spec name
	// or splat title it matches count.
	BadIf *regexp.Regexp
}

// Counts reports whether a bad outcome of the spec (or other thing) name,
// with the kernel splats charged to it, counts: it matches the signature
// by name or by a splat's title, or there is no signature.
func (j Judge) Counts(name string, splats []verdict.Splat) bool {
	if j.BadIf == nil || j.BadIf.MatchString(name) {
		return true
	}
	for _, sp := range splats {
		if j.BadIf.MatchString(sp.Title) {
			return true
		}
	}
	return false
}

// badOutcome is one bad thing an attempt saw.
type badOutcome struct {
	text    string
	matches bool
}

// Attempt judges one attempt.
func (j Judge) Attempt(a Attempt) Judgement {
	if a.Err != nil {
		return Judgement{Verdict: Skip, Reason: firstLine(a.Err.Error())}
	}
	if len(a.Runs) == 0 {
		return Judgement{Verdict: Skip, Reason: "no VM ran"}
	}
	var (
		bads       []badOutcome
		untested   []string
		died       bool
		sawMatchOK bool // a spec matching the signature passed (or failed as known)
		sawMatch   bool // a spec matching the signature ran at all
	)
	match := func(s string) bool { return j.BadIf != nil && j.BadIf.MatchString(s) }
	for _, r := range a.Runs {
		if r == nil {
			continue
		}
		if r.Outcome == verdict.Untested {
			untested = append(untested, r.Reason)
			died = true
		}
		runBad := false
		for _, s := range r.Specs {
			nameMatch := match(s.Name)
			if nameMatch {
				sawMatch = true
				if s.Outcome == verdict.Pass || s.Outcome == verdict.KnownFail {
					sawMatchOK = true
				}
			}
			switch s.Outcome {
			case verdict.Crash, verdict.Hang, verdict.Panic:
				died = true
			}
			if !s.Outcome.Bad() {
				continue
			}
			runBad = true
			m := nameMatch
			var titles []string
			for _, sp := range s.Splats {
				if !slices.Contains(titles, sp.Title) {
					titles = append(titles, sp.Title)
				}
				m = m || match(sp.Title)
			}
			text := fmt.Sprintf("%s %s", s.Outcome, s.Name)
			if len(titles) > 0 {
				text += " [" + strings.Join(titles, "; ") + "]"
			}
			bads = append(bads, badOutcome{text: text, matches: m})
		}
		for _, sp := range r.Outside {
			runBad = true
			bads = append(bads, badOutcome{text: "splat outside any spec: " + sp.Title, matches: match(sp.Title)})
		}
		if r.Outcome.Bad() && !runBad {
			bads = append(bads, badOutcome{text: "run: " + r.Reason})
		}
	}
	absent := verdict.FeatureAbsent(a.Runs...)
	var jd Judgement
	for _, b := range bads {
		if j.BadIf == nil || b.matches {
			jd.Matched = append(jd.Matched, b.text)
		} else {
			jd.Ignored = append(jd.Ignored, b.text)
		}
	}
	switch {
	case len(jd.Matched) > 0:
		jd.Verdict, jd.Reason = Bad, jd.Matched[0]
		if n := len(jd.Matched); n > 1 {
			jd.Reason += fmt.Sprintf(" (and %d more)", n-1)
		}
	case absent != "":
		// The kernel predates the feature: nothing could be observed,
		// with or without a signature; git bisect skips the commit.
		jd.Verdict, jd.Reason = Skip, "untested: "+absent
	case j.BadIf == nil && len(untested) > 0:
		jd.Verdict, jd.Reason = Skip, "untested: "+untested[0]
	case j.BadIf == nil && !anyTested(a.Runs):
		// Nothing but skips: the commit told us nothing, so it is not
		// good either (the plain run's exit code is 125 too).
		jd.Verdict, jd.Reason = Skip, "untested: every spec was skipped"
	case j.BadIf == nil:
		jd.Verdict, jd.Reason = Good, "every spec passed"
	case died && !sawMatchOK:
		jd.Verdict, jd.Reason = Skip, fmt.Sprintf("--bad-if %q could not be observed: a VM died early", j.BadIf)
		if len(untested) > 0 {
			jd.Reason += " (" + untested[0] + ")"
		}
	case sawMatch && !sawMatchOK && !died:
		jd.Verdict, jd.Reason = Skip, fmt.Sprintf("--bad-if %q: every matching spec was skipped", j.BadIf)
	default:
		jd.Verdict, jd.Reason = Good, fmt.Sprintf("nothing matching --bad-if %q went wrong", j.BadIf)
		if len(jd.Ignored) > 0 {
			jd.Reason += fmt.Sprintf(" (%d other bad outcome(s) ignored)", len(jd.Ignored))
		}
		if !sawMatch {
			jd.Reason += "; no spec name matched it either (a splat title that did not occur, or a typo?)"
		}
	}
	return jd
}

// anyTested reports whether a spec of runs passed or failed: ran and told
// something about the kernel.
func anyTested(runs []*verdict.Run) bool {
	for _, r := range runs {
		if r == nil {
			continue
		}
		for _, s := range r.Specs {
			if s.Outcome != verdict.Skip && s.Outcome != verdict.NotRun {
				return true
			}
		}
	}
	return false
}

// Combine judges repeated attempts of one kernel: the first bad attempt
// makes it bad, else any skip makes it skip, else it is good.
func (j Judge) Combine(attempts []Judgement) Judgement {
	if len(attempts) == 0 {
		return Judgement{Verdict: Skip, Reason: "not tested"}
	}
	if len(attempts) == 1 {
		return attempts[0]
	}
	var out Judgement
	var skip *Judgement
	skipAt := 0
	for i := range attempts {
		a := &attempts[i]
		out.Ignored = append(out.Ignored, a.Ignored...)
		switch a.Verdict {
		case Bad:
			out.Verdict, out.Matched = Bad, a.Matched
			out.Reason = fmt.Sprintf("run %d of %d: %s", i+1, len(attempts), a.Reason)
			return out
		case Skip:
			if skip == nil {
				skip, skipAt = a, i
			}
		}
	}
	if skip != nil {
		out.Verdict, out.Reason = Skip, fmt.Sprintf("run %d of %d: %s", skipAt+1, len(attempts), skip.Reason)
		return out
	}
	out.Verdict, out.Reason = Good, fmt.Sprintf("all %d runs good", len(attempts))
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSuffix(l, ":")
}
