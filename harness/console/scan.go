package console

import (
	"regexp"
	"strings"
)

// Splat is one kernel report found in a log.
type Splat struct {
	Kind Kind
	// Title names the report without run-specific details; equal titles
	// mean the same bug.
	Title string
	// Line is the index, in the lines given to Scan or Feed, of the
	// report's first line.
	Line int
	// Report is the report's lines, time stamps stripped, trailing white
	// space trimmed, joined with "\n".
	Report string
	// Fatal is true when the report ends in a kernel panic.
	Fatal bool
}

// maxReportLines bounds one report, so a log that never ends a report (or a
// body that never stops looking like one) cannot swallow the rest.
const maxReportLines = 600

// headlineDetail is how many lines after a report's first line belong to it
// whatever they look like.
const headlineDetail = 3

// Scan returns every report in lines, in order. It is NewScanner, Feed for
// each line, then Flush.
func Scan(lines []string) []Splat {
	s := NewScanner()
	var out []Splat
	for _, l := range lines {
		if sp, ok := s.Feed(l); ok {
			out = append(out, sp)
		}
	}
	if sp, ok := s.Flush(); ok {
		out = append(out, sp)
	}
	return out
}

// state is where the open report stands.
type state int

const (
	idle      state = iota
	collect         // inside a report
	afterEnd        // the end marker was seen; a panic or epilogue may follow
	afterFail       // the report's panic was seen: everything until the panic's end belongs to it
)

// Scanner finds reports in a stream of log lines. The zero value is not
// ready; use NewScanner. A Scanner is not safe for concurrent use.
type Scanner struct {
	n     int // index of the next line
	st    state
	pat   *pattern
	match []string
	start int
	lines []string
	fatal bool
	// pastUntil: the pattern's until line has been seen.
	pastUntil bool
	// last is the key of the last report returned since the last marker
	// line, for dropping repeats.
	last string
}

// NewScanner returns a Scanner at the start of a log.
func NewScanner() *Scanner { return &Scanner{} }

// Feed takes the next log line (console or /dev/kmsg format). It returns a
// report when this line shows that the report before it is complete; the
// report started on an earlier line.
func (s *Scanner) Feed(line string) (Splat, bool) {
	idx := s.n
	s.n++
	msg := StripTimestamp(line)
	for {
		sp, ok, again := s.step(idx, msg)
		if !again {
			return sp, ok
		}
		// The open report was closed by msg; msg itself still has to be
		// looked at, and a closed report is returned after that.
		if ok {
			s.consider(idx, msg)
			return sp, true
		}
	}
}

// step advances the state machine by one message. again means the report
// ended before msg: the caller must offer msg again (sp/ok carry the ended
// report).
func (s *Scanner) step(idx int, msg string) (sp Splat, ok, again bool) {
	switch s.st {
	case idle:
		s.consider(idx, msg)
		return Splat{}, false, false
	case afterFail:
		s.lines = append(s.lines, msg)
		if endPanic.MatchString(msg) || len(s.lines) >= maxReportLines {
			sp, ok = s.close()
			return sp, ok, false
		}
		return Splat{}, false, false
	case afterEnd:
		// A panic or another oops right after the end marker is the
		// consequence of this report (panic_on_oops, the same fault on
		// another CPU).
		if p, _ := match(msg); p != nil && p.join {
			s.lines = append(s.lines, msg)
			s.st = collect
			if p.kind == KindPanic {
				s.fatal = true
				s.st = afterFail
			}
			return Splat{}, false, false
		}
		// The oops code prints the registers again after the marker.
		if (tailRE.MatchString(msg) || bodyRE.MatchString(msg)) && len(s.lines) < maxReportLines {
			s.lines = append(s.lines, msg)
			return Splat{}, false, false
		}
		sp, ok = s.close()
		return sp, ok, true
	}
	// collect
	if markerRE.MatchString(msg) {
		sp, ok = s.close()
		return sp, ok, true
	}
	if p, _ := match(msg); p != nil {
		if !p.join {
			sp, ok = s.close()
			return sp, ok, true
		}
		s.lines = append(s.lines, msg)
		if p.kind == KindPanic {
			s.fatal = true
			s.st = afterFail
		}
		return Splat{}, false, false
	}
	if len(s.lines) >= maxReportLines {
		sp, ok = s.close()
		return sp, ok, true
	}
	if endTrace.MatchString(msg) || (s.pat.end != nil && s.pat.end.MatchString(msg)) {
		s.lines = append(s.lines, msg)
		s.st = afterEnd
		return Splat{}, false, false
	}
	if s.pat.end != nil || (s.pat.until != nil && !s.pastUntil) {
		if s.pat.until != nil && s.pat.until.MatchString(msg) {
			s.pastUntil = true
		}
		s.lines = append(s.lines, msg)
		return Splat{}, false, false
	}
	// A headline is often followed by a few free-form detail lines
	// ("in_atomic(): 1, ...", "index 8 is out of range for type ...").
	if len(s.lines) <= headlineDetail || bodyRE.MatchString(msg) || (s.pat.body != nil && s.pat.body.MatchString(msg)) {
		s.lines = append(s.lines, msg)
		return Splat{}, false, false
	}
	sp, ok = s.close()
	return sp, ok, true
}

// consider looks at a message while no report is open.
func (s *Scanner) consider(idx int, msg string) {
	if markerRE.MatchString(msg) {
		s.last = ""
		return
	}
	p, m := match(msg)
	if p == nil {
		return
	}
	s.st, s.pat, s.match, s.start = collect, p, m, idx
	s.lines = append(s.lines[:0], msg)
	s.fatal = p.kind == KindPanic
	s.pastUntil = false
	if s.fatal {
		s.st = afterFail
	}
}

// close ends the open report. ok is false when the report repeats the last
// one returned.
func (s *Scanner) close() (Splat, bool) {
	p := s.pat
	lines := s.lines
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	sp := Splat{
		Kind:   p.kind,
		Title:  cleanTitle(p.title(lines, s.match)),
		Line:   s.start,
		Report: strings.Join(lines, "\n"),
		Fatal:  s.fatal,
	}
	s.st, s.pat, s.match, s.lines, s.fatal = idle, nil, nil, s.lines[:0], false
	key := sp.Kind.String() + "\x00" + sp.Title
	if key == s.last && !sp.Fatal {
		return Splat{}, false
	}
	s.last = key
	return sp, true
}

// Flush ends the input: it returns the report still open, if any.
func (s *Scanner) Flush() (Splat, bool) {
	if s.st == idle {
		return Splat{}, false
	}
	return s.close()
}

func match(msg string) (*pattern, []string) {
	if msg == "" {
		return nil, nil
	}
	for i := range patterns {
		if m := patterns[i].start.FindStringSubmatch(msg); m != nil {
			return &patterns[i], m
		}
	}
	return nil, nil
}

// runSpecific matches a title word that carries run-specific data: a
// hexadecimal address or value, or a "name:value" with such a value.
var runSpecific = regexp.MustCompile(`(?i)(?:0x[0-9a-f]+|[0-9a-f]{8,}|\S+:[0-9a-f]{4,})`)

// cleanTitle collapses white space and cuts a title before its first word
// carrying run-specific data.
func cleanTitle(t string) string {
	f := strings.Fields(t)
	for i, w := range f {
		if runSpecific.MatchString(w) {
			f = f[:i]
			break
		}
	}
	return strings.TrimRight(strings.Join(f, " "), ":,")
}
