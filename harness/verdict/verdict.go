package verdict

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// Outcome is a spec's or a run's verdict.
type Outcome string

// Outcomes, best first.
const (
	Pass      Outcome = "PASS"
	Skip      Outcome = "SKIP"
	KnownFail Outcome = "KNOWN-FAIL"
	Fail      Outcome = "FAIL"
	Fixed     Outcome = "FIXED"
	Hang      Outcome = "HANG"
	Panic     Outcome = "PANIC"
	Crash     Outcome = "CRASH"
	// NotRun is a spec that was planned but never started: the run was
	// interrupted, or its VM hit its deadline or died before reaching it.
	// Its Reason says which. It is not a verdict on the kernel.
	NotRun Outcome = "NOT-RUN"
	// Untested is the run-level outcome when the kernel could not be
	// tested at all.
	Untested Outcome = "UNTESTED"
)

// Bad reports whether o fails a run.
func (o Outcome) Bad() bool {
	switch o {
	case Fail, Fixed, Hang, Panic, Crash:
		return true
	}
	return false
}

// Exit codes (git bisect run compatible).
const (
	ExitGood     = 0
	ExitBad      = 1
	ExitUsage    = 2
	ExitUntested = 125
)

// Splat is a kernel report found in a log span.
type Splat struct {
	Title string `json:"title"`
	Fatal bool   `json:"fatal,omitempty"`
	// HungTask is set for the hung-task detector's report ("blocked for
	// more than N seconds"), which is how a wedged kernel shows.
	HungTask bool `json:"hung_task,omitempty"`
}

// SplatFinder scans log lines (timestamps already stripped) for kernel
// reports.
type SplatFinder func(lines []string) []Splat

// Expectation is a known kernel issue: the named spec fails on kernels the
// expectation matches, for the reason given — or, with BootSplat, the
// kernel's boot logs that splat before any spec runs.
type Expectation struct {
	// Spec matches a spec's full text exactly.
	Spec string
	// BootSplat matches the exact title of a splat logged before the first
	// spec started (the kernel's own boot). Such a declaration tolerates
	// the splat: a boot that does not log it is not "fixed", since boot
	// splats of this kind depend on timing.
	BootSplat string
	// Reason says which kernel issue this is.
	Reason string
	// Outcome is the failure expected (Fail, Panic, ...). Default Fail.
	Outcome Outcome
}

// VMEnd is how the VM ended, as the qemu package saw it.
type VMEnd struct {
	SawDone   bool
	GuestCode int
	TimedOut  bool
	QEMUExit  int
	EventErr  string
	// Deadline is the time the VM was given (its share of the run's
	// -timeout), for the reasons of a VM that hit it.
	Deadline time.Duration
	// Interrupted says why the run stopped this VM before it was done (a
	// signal): what was running then and what came after did not run,
	// which says nothing about the kernel.
	Interrupted string
	// Wedged says how the wedge a spec declared showed when the host
	// stopped the VM for it (see vmevent.Event.ExpectedWedge).
	Wedged string
}

// GuestDeadlineCode is the guest suite's exit code when it was stopped at
// its deadline (the guest's timer or Ginkgo's suite timeout).
const GuestDeadlineCode = vmevent.GuestDeadlineCode

// HitDeadline reports whether the VM was stopped by its deadline (the
// guest's timer or, failing that, the host's) rather than by a signal.
func (e VMEnd) HitDeadline() bool {
	if e.Interrupted != "" || e.Wedged != "" {
		return false
	}
	return (e.SawDone && e.GuestCode == GuestDeadlineCode) || (!e.SawDone && e.TimedOut)
}

func (e VMEnd) deadline() string {
	if e.Deadline <= 0 {
		return "its deadline"
	}
	return fmt.Sprintf("its deadline (%s of the run's -timeout)", e.Deadline.Round(time.Second))
}

// Input is everything a verdict is made of.
type Input struct {
	Events  []vmevent.Event
	Console []string
	End     VMEnd
	Find    SplatFinder
	// Known lists the known issues for this kernel.
	Known []Expectation
	// Planned lists the specs the VM was to run, with their labels: a
	// planned spec that never started is reported NOT-RUN with the reason.
	Planned []Planned
}

// Planned is a spec a VM was to run.
type Planned struct {
	Name   string
	Labels []string
}

// Spec is one guest spec's verdict.
type Spec struct {
	Seq        int      `json:"seq"`
	Name       string   `json:"name"`
	Labels     []string `json:"labels,omitempty"`
	GuestState string   `json:"guest_state"`
	Message    string   `json:"message,omitempty"`
	Splats     []Splat  `json:"splats,omitempty"`
	Outcome    Outcome  `json:"outcome"`
	Reason     string   `json:"reason,omitempty"`
	// Expected lists the splats the spec declared.
	Expected []string `json:"expected_splats,omitempty"`
}

// Run is the verdict of one VM run.
type Run struct {
	Specs []Spec `json:"specs"`
	// Outside are splats logged outside every spec (boot, teardown).
	Outside []Splat `json:"outside_splats,omitempty"`
	// KnownOutside are splats the kernel's boot logged that the
	// expectations declare (Expectation.BootSplat): reported, not failed.
	KnownOutside []KnownSplat `json:"known_outside_splats,omitempty"`
	Outcome      Outcome      `json:"outcome"`
	Reason       string       `json:"reason,omitempty"`
	// Note explains an outcome that is not what it seems (an expected
	// wedge after a destructive spec).
	Note string `json:"note,omitempty"`
	// GuestStarted is true when the guest init said hello.
	GuestStarted bool `json:"guest_started"`
	// SuiteStarted is true when the guest suite started.
	SuiteStarted bool `json:"suite_started"`
	// FeatureAbsent, when set, is the guest's word that the kernel lacks
	// FUSE-over-io_uring (vmevent.FeatureAbsent): what is missing and the
	// kernel's evidence. Such a run is Untested, and so is every later VM
	// of the kernel: the runner boots none.
	FeatureAbsent string `json:"feature_absent,omitempty"`
}

// KnownSplat is a splat outside every spec that a known issue declares.
type KnownSplat struct {
	Splat
	Reason string `json:"reason"`
}

// FeatureAbsentPrefix starts the Reason of a run whose kernel lacks the
// feature under test.
const FeatureAbsentPrefix = "FUSE over io_uring is absent from this kernel: "

var markerRE = regexp.MustCompile(`^zcsuite: spec-(start|end) ([0-9]+)\b`)

// MarkerRE matches the kmsg markers by which the guest brackets each spec
// ("zcsuite: spec-start N ..." and "zcsuite: spec-end N ..."): the kernel
// log between them is the spec's span.
var MarkerRE = markerRE

// Decide computes the verdicts.
func Decide(in Input) *Run {
	run := &Run{}
	bySeq := map[int]*Spec{}
	var order []int
	running := 0 // seq of a spec that started but did not end
	wedge := ""  // the expected wedge declared by the last spec that ended
	// Kernel log spans, from the kmsg events and our markers.
	spans := map[int][]string{}
	var outside []string
	boot := 0 // how many of outside were logged before the first spec
	sawSpec := false
	// afterWedge is the kernel log outside any spec once a spec declared
	// that it wedges the kernel: hung tasks there are that damage.
	var afterWedge, wedgeSigns []string
	cur := 0
	known := map[string]Expectation{}
	bootKnown := map[string]Expectation{}
	for _, k := range in.Known {
		if k.BootSplat != "" {
			bootKnown[k.BootSplat] = k
			continue
		}
		known[k.Spec] = k
	}
	for _, e := range in.Events {
		switch e.Type {
		case vmevent.Hello:
			run.GuestStarted = true
		case vmevent.FeatureAbsent:
			run.FeatureAbsent = firstNonEmpty(e.Message, "the guest gave no detail")
		case vmevent.Phase:
			if e.Name == "suite-start" {
				run.SuiteStarted = true
			}
		case vmevent.SpecStart:
			s := &Spec{Seq: e.Seq, Name: e.Spec, Labels: e.Labels}
			bySeq[e.Seq] = s
			order = append(order, e.Seq)
			running = e.Seq
		case vmevent.SpecEnd:
			s := bySeq[e.Seq]
			if s == nil {
				s = &Spec{Seq: e.Seq, Name: e.Spec, Labels: e.Labels}
				bySeq[e.Seq] = s
				order = append(order, e.Seq)
			}
			s.GuestState, s.Message, s.Expected = e.State, e.Message, e.ExpectedSplats
			wedge = e.ExpectedWedge
			if newTaint := e.TaintAfter &^ e.TaintBefore; newTaint != 0 && len(e.ExpectedSplats) == 0 {
				s.Splats = append(s.Splats, Splat{Title: fmt.Sprintf("kernel taint changed during the spec: %#x -> %#x", e.TaintBefore, e.TaintAfter)})
			}
			if running == e.Seq {
				running = 0
			}
		case vmevent.Kmsg:
			if m := markerRE.FindStringSubmatch(e.Text); m != nil {
				n, _ := strconv.Atoi(m[2])
				if m[1] == "start" {
					cur, sawSpec = n, true
				} else {
					cur = 0
				}
				continue
			}
			switch {
			case cur != 0:
				spans[cur] = append(spans[cur], e.Text)
			case wedge != "":
				afterWedge = append(afterWedge, e.Text)
			default:
				outside = append(outside, e.Text)
				if !sawSpec {
					boot = len(outside)
				}
			}
		}
	}
	if in.Find != nil {
		for seq, lines := range spans {
			if s := bySeq[seq]; s != nil {
				s.Splats = append(s.Splats, in.Find(lines)...)
			}
		}
		for _, sp := range in.Find(outside[:boot]) {
			if k, ok := bootKnown[sp.Title]; ok {
				run.KnownOutside = append(run.KnownOutside, KnownSplat{Splat: sp, Reason: k.Reason})
			} else {
				run.Outside = append(run.Outside, sp)
			}
		}
		run.Outside = append(run.Outside, in.Find(outside[boot:])...)
		for _, sp := range in.Find(afterWedge) {
			if sp.HungTask {
				wedgeSigns = append(wedgeSigns, sp.Title)
			} else {
				run.Outside = append(run.Outside, sp)
			}
		}
	}

	// How the VM ended decides the spec that was running.
	var endOutcome Outcome
	var endReason string
	switch {
	case in.End.Interrupted != "" && !in.End.SawDone:
		endOutcome, endReason = NotRun, in.End.Interrupted+" while it ran"
	case in.End.SawDone && in.End.GuestCode == GuestDeadlineCode:
		endOutcome, endReason = Hang, "still running when the guest suite hit "+in.End.deadline()+" (task dump in kmsg.log)"
	case in.End.SawDone:
	case in.End.Wedged != "":
		endOutcome, endReason = Hang, "the host stopped the VM once the wedge its last spec declared showed: "+in.End.Wedged
	case in.End.TimedOut:
		endOutcome, endReason = Hang, "the VM stopped responding and was killed at "+in.End.deadline()
	default:
		endOutcome, endReason = Crash, "the VM ended without the guest's done event"
		if in.End.EventErr != "" {
			endReason += " (event stream: " + in.End.EventErr + ")"
		}
	}
	var fatal []Splat
	if !in.End.SawDone && in.End.Interrupted == "" && in.Find != nil {
		for _, s := range in.Find(in.Console) {
			if s.Fatal || strings.HasPrefix(s.Title, "Kernel panic") {
				fatal = append(fatal, s)
			}
		}
		if len(fatal) > 0 {
			endOutcome = Panic
			endReason = "kernel panic: " + fatal[0].Title
		}
	}

	if endOutcome == Hang && running == 0 && wedge != "" {
		// The last spec ended and declared that it wedges the kernel:
		// the suite hanging afterwards is that damage, not a new failure.
		run.Note = "the guest suite hung after a spec that wedges the kernel on purpose: " + wedge
		endOutcome, endReason = "", ""
	}
	if len(wedgeSigns) > 0 {
		note := "hung-task reports after the spec that wedges the kernel on purpose: " + strings.Join(wedgeSigns, "; ")
		if run.Note == "" {
			run.Note = note + " (" + wedge + ")"
		} else {
			run.Note += "; " + note
		}
	}

	for _, seq := range order {
		s := bySeq[seq]
		decideSpec(s, known)
		if endOutcome == Hang && in.End.SawDone && (s.GuestState == "timedout" || s.GuestState == "interrupted") {
			// Ginkgo stopped this spec at the suite's deadline: it was
			// still running, which is what a hang looks like from here.
			s.Outcome, s.Reason = Hang, endReason+": "+s.Message
			if k, ok := known[s.Name]; ok && k.Outcome == Hang {
				s.Outcome, s.Reason = KnownFail, "known issue: "+k.Reason+" ("+s.Reason+")"
			}
		}
		if endOutcome != "" && (seq == running || (running == 0 && seq == order[len(order)-1] && s.GuestState == "")) {
			s.Splats = append(s.Splats, fatal...)
			s.Outcome, s.Reason = endOutcome, endReason
			if k, ok := known[s.Name]; ok && k.Outcome == endOutcome {
				s.Outcome, s.Reason = KnownFail, "known issue: "+k.Reason+" ("+endReason+")"
			}
		}
		run.Specs = append(run.Specs, *s)
	}

	// Planned specs that never started.
	why := notRunReason(in.End, endOutcome, running, bySeq)
	if run.FeatureAbsent != "" {
		why = "not run: " + FeatureAbsentPrefix + run.FeatureAbsent
	}
	notRun := addNotRun(run, in.Planned, why)

	// The run.
	switch {
	case in.End.Interrupted != "" && !in.End.SawDone && !anyBad(run.Specs) && len(run.Outside) == 0:
		run.Outcome, run.Reason = NotRun, in.End.Interrupted
		return run
	case !run.GuestStarted:
		run.Outcome, run.Reason = Untested, "the guest never started: "+firstNonEmpty(endReason, "no hello event")
		if len(fatal) > 0 {
			run.Reason = "kernel panic before the guest started: " + fatal[0].Title
		}
		return run
	case run.FeatureAbsent != "" && len(run.Specs) == notRun:
		// The guest ran no spec because the kernel predates the feature:
		// nothing about the feature was learned, and nothing is broken.
		run.Outcome, run.Reason = Untested, FeatureAbsentPrefix+run.FeatureAbsent
		if endOutcome != "" {
			run.Reason += "; then " + endReason
		}
		return run
	case len(run.Specs) == notRun && endOutcome != "":
		run.Outcome, run.Reason = Untested, "no spec ran: "+endReason
		return run
	case len(run.Specs) == notRun:
		run.Outcome, run.Reason = Untested, fmt.Sprintf("no spec ran (guest suite exit code %d)", in.End.GuestCode)
		return run
	}
	run.Outcome = Pass
	ran := 0
	for _, s := range run.Specs {
		if s.Outcome != Skip && s.Outcome != NotRun {
			ran++
		}
		if s.Outcome.Bad() {
			run.Outcome = Fail
			run.Reason = "a spec failed"
		}
	}
	if len(run.Outside) > 0 {
		run.Outcome = Fail
		run.Reason = "kernel splat outside any spec: " + run.Outside[0].Title
	}
	if endOutcome != "" && running == 0 && run.Outcome == Pass {
		run.Outcome, run.Reason = Fail, endReason
	}
	guestFailed := false
	for _, s := range run.Specs {
		if s.GuestState != "passed" && s.GuestState != "skipped" && s.GuestState != "pending" {
			guestFailed = true
		}
	}
	if run.Outcome == Pass && in.End.GuestCode != 0 && !guestFailed && run.Note == "" {
		run.Outcome, run.Reason = Fail, fmt.Sprintf("the guest suite exited %d although every spec passed", in.End.GuestCode)
	}
	if run.Outcome == Pass && notRun > 0 {
		// The guest ended on its own, yet planned specs never started:
		// the run did not test what it was asked to.
		run.Outcome, run.Reason = Fail, fmt.Sprintf("%d planned spec(s) did not run", notRun)
	}
	if run.Outcome == Pass && ran == 0 {
		run.Outcome, run.Reason = Skip, "every spec was skipped"
	}
	return run
}

// notRunReason says why the planned specs that never started did not.
func notRunReason(end VMEnd, endOutcome Outcome, running int, bySeq map[int]*Spec) string {
	during := ""
	if s := bySeq[running]; s != nil {
		during = fmt.Sprintf(" during %q", s.Name)
	}
	switch {
	case end.Interrupted != "":
		return "not run: " + end.Interrupted
	case end.HitDeadline():
		return "not run: the VM hit " + end.deadline() + during
	case endOutcome == Panic:
		return "not run: the kernel panicked" + during
	case endOutcome != "":
		return "not run: the VM ended early" + during
	}
	return fmt.Sprintf("not run: the guest suite ended (exit code %d) without running it", end.GuestCode)
}

// addNotRun appends the planned specs the guest never reported, and
// returns how many specs of run are NOT-RUN.
func addNotRun(run *Run, planned []Planned, reason string) int {
	seen := map[string]bool{}
	for _, s := range run.Specs {
		seen[s.Name] = true
	}
	for _, p := range planned {
		if !seen[p.Name] {
			seen[p.Name] = true
			run.Specs = append(run.Specs, Spec{Name: p.Name, Labels: p.Labels, Outcome: NotRun, Reason: reason})
		}
	}
	n := 0
	for _, s := range run.Specs {
		if s.Outcome == NotRun {
			n++
		}
	}
	return n
}

// NotStarted is the verdict of a VM that never started: every spec it was
// to run is NOT-RUN for the reason given.
func NotStarted(planned []Planned, reason string) *Run {
	run := &Run{Outcome: NotRun, Reason: reason}
	addNotRun(run, planned, "not run: "+reason)
	return run
}

// FeatureAbsentRun is the verdict of a VM that was not started because an
// earlier VM of the kernel found the feature absent (absent is that VM's
// FeatureAbsent): Untested for the same reason, its planned specs NOT-RUN.
func FeatureAbsentRun(planned []Planned, absent string) *Run {
	run := &Run{Outcome: Untested, Reason: FeatureAbsentPrefix + absent, FeatureAbsent: absent}
	addNotRun(run, planned, "not run: "+run.Reason)
	return run
}

func anyBad(specs []Spec) bool {
	for _, s := range specs {
		if s.Outcome.Bad() {
			return true
		}
	}
	return false
}

func decideSpec(s *Spec, known map[string]Expectation) {
	splatFail := false
	for _, sp := range s.Splats {
		if !expected(sp.Title, s.Expected) {
			splatFail = true
		}
	}
	switch s.GuestState {
	case "passed":
		s.Outcome = Pass
	case "skipped", "pending":
		s.Outcome, s.Reason = Skip, s.Message
	case "":
		s.Outcome, s.Reason = Crash, "the spec never finished"
	default:
		s.Outcome, s.Reason = Fail, s.Message
	}
	if splatFail && s.Outcome != Skip {
		var titles []string
		for _, sp := range s.Splats {
			if !expected(sp.Title, s.Expected) {
				titles = append(titles, sp.Title)
			}
		}
		s.Outcome = Fail
		s.Reason = "kernel splat: " + strings.Join(titles, "; ")
	}
	if k, ok := known[s.Name]; ok {
		want := k.Outcome
		if want == "" {
			want = Fail
		}
		switch {
		case s.Outcome == want:
			s.Outcome, s.Reason = KnownFail, "known issue: "+k.Reason+" ("+s.Reason+")"
		case s.Outcome == Pass:
			s.Outcome, s.Reason = Fixed, "known issue no longer reproduces: "+k.Reason+" (update fixtures/expectations)"
		}
	}
}

func expected(title string, declared []string) bool {
	for _, d := range declared {
		if d != "" && strings.HasPrefix(title, d) {
			return true
		}
	}
	return false
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// ExitCode maps a set of run verdicts to the process exit code.
func ExitCode(runs ...*Run) int {
	code, tested := ExitGood, false
	for _, r := range runs {
		switch {
		case r.Outcome.Bad():
			return ExitBad
		case r.Outcome == Untested, r.Outcome == NotRun:
			code = ExitUntested
		case r.Outcome != Skip:
			tested = true
		}
	}
	if !tested {
		// Nothing but skips: nothing about the kernel was learned.
		return ExitUntested
	}
	return code
}

// FeatureAbsent returns the Reason of the first run that is Untested
// because the kernel lacks the feature under test, or "".
func FeatureAbsent(runs ...*Run) string {
	for _, r := range runs {
		if r != nil && r.Outcome == Untested && r.FeatureAbsent != "" {
			return r.Reason
		}
	}
	return ""
}

// Counts tallies outcomes.
func Counts(runs ...*Run) map[Outcome]int {
	m := map[Outcome]int{}
	for _, r := range runs {
		for _, s := range r.Specs {
			m[s.Outcome]++
		}
	}
	return m
}

// SortedOutcomes lists the outcomes present in m in a stable order.
func SortedOutcomes(m map[Outcome]int) []Outcome {
	var out []Outcome
	for o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
