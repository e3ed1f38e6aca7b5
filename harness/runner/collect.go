package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// collector gathers one VM's guest events, console and kernel log while
// the VM runs, and tells the run as soon as it must act on what it saw:
// a spec that ended bad (for -fail-fast) and a wedge a spec declared
// showing itself (the VM then has nothing left to say). Its methods are
// safe for concurrent use: QEMU's readers call them.
type collector struct {
	name  string
	start time.Time
	find  verdict.SplatFinder
	known []verdict.Expectation
	// logf prints progress lines (each spec's end); nil prints nothing.
	logf func(string, ...any)
	// verbose copies console lines to logf; trace logs every guest event
	// but kernel log lines ($ZCSUITE_TRACE=1).
	verbose, trace bool
	// onBad, when set, is called once for each spec whose verdict, decided
	// from its end event and its kernel log span, is bad (not KNOWN-FAIL).
	onBad func(verdict.Spec)
	// onWedge, when set, is called once when a spec declared that it
	// wedges the kernel and the wedge then showed (a hung-task report, the
	// guest suite still not ended wedgeWait after the spec, or the guest
	// suite stopped at its deadline).
	onWedge func(why string)
	// wedgeWait is how long the guest suite may take to end after a spec
	// that declared a wedge before the wedge counts as shown: such a spec
	// says the suite cannot exit, and its own verdict is already in.
	wedgeWait time.Duration
	// after calls f once d has passed (time.AfterFunc; tests call f
	// themselves).
	after func(d time.Duration, f func())
	// onTimeout, when set, is called for each spec the guest reports as
	// timed out (Ginkgo's SpecTimeout or NodeTimeout), not for the spec
	// the suite's own timeout interrupted (ginkgoSuiteTimeout).
	onTimeout func(spec string)

	ready chan struct{}

	mu      sync.Mutex
	events  []vmevent.Event
	kmsg    []string
	console []string
	ginkgo  json.RawMessage
	// coverage is the Coverage event's data (nil until one came).
	coverage json.RawMessage
	// times is when the guest reached each point of its run.
	times vmTimes
	// now is the clock the times are read from (time.Now; tests set
	// their own).
	now func() time.Time

	// specs are the specs whose early verdict is still to be decided: the
	// events of each from its start (the start event or its kmsg marker,
	// whichever came first) on.
	specs map[int]*specSpan
	// marker is the spec whose kmsg span is open (0 between specs).
	marker int
	// wedge is the expected wedge the last ended spec declared, wedgeSeq
	// that spec; wedged is set once it showed.
	wedge    string
	wedgeSeq int
	wedged   bool
}

// specSpan is a spec's events while its early verdict waits for both its
// end event and its kmsg end marker.
type specSpan struct {
	events            []vmevent.Event
	ended, markerDone bool
}

// ginkgoSuiteTimeout is in the failure message Ginkgo gives the spec it
// interrupts at the suite's timeout: the VM's share of the run's
// -timeout ran out, which is the run's deadline, not a request the
// kernel left unanswered.
const ginkgoSuiteTimeout = "A suite timeout occurred"

// wedgeWait is how long a VM whose last spec declared a wedge waits for
// its guest suite to end before it is stopped: the suite's normal end
// after a spec takes well under a second when quiet.
const wedgeWait = 5 * time.Second

func newCollector(name string, start time.Time) *collector {
	return &collector{name: name, start: start, ready: make(chan struct{}, 1), specs: map[int]*specSpan{},
		wedgeWait: wedgeWait, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, now: time.Now}
}

// Ready is signalled when the guest says it is booted and waits for its
// config.
func (c *collector) Ready() <-chan struct{} { return c.ready }

func (c *collector) say(format string, v ...any) {
	if c.logf != nil {
		c.logf(format, v...)
	}
}

// Console takes one serial console line.
func (c *collector) Console(l string) {
	c.mu.Lock()
	c.console = append(c.console, l)
	c.mu.Unlock()
	if c.verbose {
		c.say("  %s | %s", c.name, l)
	}
}

// goTestSeconds returns the run time of each Go test the guest reported
// like a spec (vmevent.GoTestSeqBase on), from its start and end events'
// guest times: the spec timings then plan with them.
func (c *collector) goTestSeconds() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := map[int]time.Time{}
	out := map[string]float64{}
	for _, e := range c.events {
		if e.Seq < vmevent.GoTestSeqBase {
			continue
		}
		switch e.Type {
		case vmevent.SpecStart:
			start[e.Seq] = e.Time
		case vmevent.SpecEnd:
			if t0, ok := start[e.Seq]; ok && e.Time.After(t0) {
				out[e.Spec] = e.Time.Sub(t0).Seconds()
			}
		}
	}
	return out
}

// Event takes one guest event.
func (c *collector) Event(e vmevent.Event) {
	var bad []verdict.Spec
	wedge := ""
	c.mu.Lock()
	if c.trace && e.Type != vmevent.Kmsg {
		c.say("  trace %s +%.3fs %s %s%s", c.name, time.Since(c.start).Seconds(), e.Type, e.Name, e.Spec)
	}
	switch e.Type {
	case vmevent.Report:
		c.ginkgo = e.Data
		c.mu.Unlock()
		return
	case vmevent.Coverage:
		c.coverage = e.Data
		c.mu.Unlock()
		return
	case vmevent.Ready:
		var f vmevent.ReadyFacts
		if json.Unmarshal(e.Data, &f) == nil {
			c.times.guestUptime = time.Duration(f.UptimeNs)
		}
		select {
		case c.ready <- struct{}{}:
		default:
		}
		c.mu.Unlock()
		return
	case vmevent.Kmsg:
		c.kmsg = append(c.kmsg, fmt.Sprintf("[%6d.%06d] %s", e.KmsgUsec/1e6, e.KmsgUsec%1e6, e.Text))
		bad = c.kmsgLine(e)
		wedge = c.wedgeShown(e)
	case vmevent.Hello:
		c.times.hello = c.now()
	case vmevent.Exit:
		c.times.exited = c.now()
		if c.wedge != "" && e.Code == vmevent.GuestDeadlineCode {
			wedge = c.markWedged("the guest suite stopped at its deadline after it")
		}
	case vmevent.SpecStart:
		if c.times.firstSpec.IsZero() {
			c.times.firstSpec = c.now()
		}
		c.wedge = ""
		bad = c.specEvent(e)
	case vmevent.SpecEnd:
		c.times.lastSpec = c.now()
		c.wedge, c.wedgeSeq = e.ExpectedWedge, e.Seq
		c.say("  %-8s %s", strings.ToUpper(e.State), e.Spec)
		bad = c.specEvent(e)
	case vmevent.Log:
		c.say("  guest %s: %s", c.name, e.Text)
	}
	c.events = append(c.events, e)
	c.mu.Unlock()
	if c.onBad != nil {
		for _, s := range bad {
			c.onBad(s)
		}
	}
	if wedge != "" && c.onWedge != nil {
		c.onWedge(wedge)
	}
	if e.Type == vmevent.SpecEnd && e.ExpectedWedge != "" && c.after != nil {
		seq := e.Seq
		c.after(c.wedgeWait, func() { c.wedgeUnended(seq) })
	}
	if e.Type == vmevent.SpecEnd && e.State == "timedout" && !strings.Contains(e.Message, ginkgoSuiteTimeout) && c.onTimeout != nil && !c.isKnown(e.Spec) {
		c.onTimeout(e.Spec)
	}
}

// isKnown reports whether spec has a known-issue expectation: its
// timing out may be the issue recorded, and must not cut the run short.
func (c *collector) isKnown(spec string) bool {
	for _, k := range c.known {
		if k.Spec == spec {
			return true
		}
	}
	return false
}

// span returns seq's pending span, making it.
func (c *collector) span(seq int) *specSpan {
	s := c.specs[seq]
	if s == nil {
		s = &specSpan{}
		c.specs[seq] = s
	}
	return s
}

// specEvent files a spec's start or end event and returns the verdict
// of the spec if that completes it.
func (c *collector) specEvent(e vmevent.Event) []verdict.Spec {
	var bad []verdict.Spec
	if e.Type == vmevent.SpecStart {
		// A spec that ended before this one started has all its kernel
		// log the relay delivered; decide it even if its end marker was
		// lost.
		for seq, s := range c.specs {
			if s.ended && seq != e.Seq {
				s.markerDone = true
				bad = append(bad, c.decideReady(seq)...)
			}
		}
	}
	s := c.span(e.Seq)
	s.events = append(s.events, e)
	if e.Type == vmevent.SpecEnd {
		s.ended = true
	}
	return append(bad, c.decideReady(e.Seq)...)
}

// kmsgLine files a kernel log line into the open spec's span (the guest
// brackets each spec with kmsg markers; see verdict.Decide).
func (c *collector) kmsgLine(e vmevent.Event) []verdict.Spec {
	if m := markerRE.FindStringSubmatch(e.Text); m != nil {
		n, _ := strconv.Atoi(m[2])
		s := c.span(n)
		s.events = append(s.events, e)
		if m[1] == "start" {
			c.marker = n
			return nil
		}
		c.marker = 0
		s.markerDone = true
		return c.decideReady(n)
	}
	if c.marker != 0 {
		if s := c.specs[c.marker]; s != nil {
			s.events = append(s.events, e)
		}
	}
	return nil
}

// decideReady decides seq's verdict once its end event and its kmsg end
// marker are both in, the way the final verdict will (verdict.Decide on
// the spec's own events), and returns it when it is bad.
func (c *collector) decideReady(seq int) []verdict.Spec {
	s := c.specs[seq]
	if s == nil || !s.ended || !s.markerDone {
		return nil
	}
	delete(c.specs, seq)
	run := verdict.Decide(verdict.Input{Events: s.events, End: verdict.VMEnd{SawDone: true}, Find: c.find, Known: c.known})
	var bad []verdict.Spec
	for _, sp := range run.Specs {
		if sp.Outcome.Bad() {
			bad = append(bad, sp)
		}
	}
	return bad
}

// wedgeShown reports (once) a hung-task report after a spec that declared
// a wedge ended.
func (c *collector) wedgeShown(e vmevent.Event) string {
	if c.wedge == "" || c.wedged || c.marker != 0 || c.find == nil {
		return ""
	}
	for _, sp := range c.find([]string{e.Text}) {
		if sp.HungTask {
			return c.markWedged("the kernel reported a hung task after it (" + sp.Title + ")")
		}
	}
	return ""
}

// wedgeUnended shows the wedge spec seq declared if the guest suite has
// not ended since, nor started another spec.
func (c *collector) wedgeUnended(seq int) {
	c.mu.Lock()
	why := ""
	if c.wedge != "" && c.wedgeSeq == seq && c.times.exited.IsZero() {
		why = c.markWedged(fmt.Sprintf("the guest suite had not ended %s after it", c.wedgeWait))
	}
	c.mu.Unlock()
	if why != "" && c.onWedge != nil {
		c.onWedge(why)
	}
}

func (c *collector) markWedged(how string) string {
	if c.wedged {
		return ""
	}
	c.wedged = true
	return how + "; the spec declared: " + c.wedge
}

// errWedged is the cause with which a VM is stopped once the wedge its
// spec declared showed.
var errWedged = errors.New("the wedge a spec declared showed")

// markerRE matches the guest's kmsg spec markers (the same lines
// verdict.Decide splits the kernel log on).
var markerRE = verdict.MarkerRE

// input is what the VM's verdict is decided from.
func (c *collector) input(end verdict.VMEnd, planned []verdict.Planned) verdict.Input {
	c.mu.Lock()
	defer c.mu.Unlock()
	return verdict.Input{Events: append([]vmevent.Event(nil), c.events...), Console: append([]string(nil), c.console...),
		End: end, Find: c.find, Known: c.known, Planned: planned}
}

// timesSoFar is when the guest reached each point of its run, so far.
func (c *collector) timesSoFar() vmTimes {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.times
}

// consoleSoFar is the console lines so far.
func (c *collector) consoleSoFar() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.console...)
}

// guestData is what the guest sent besides its events: its Ginkgo report,
// its kernel log and its coverage archive.
func (c *collector) guestData() (ginkgo json.RawMessage, kmsg []string, coverage json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ginkgo, c.kmsg, c.coverage
}
