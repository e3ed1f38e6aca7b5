package vmevent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// PortName is the virtio-serial port name the host gives the event channel
// and the guest init looks for under /sys/class/virtio-ports.
const PortName = "zcsuite.events"

// Type names one kind of event.
type Type string

const (
	// Ready says a ModePort guest is booted and waits for its config line;
	// the host may snapshot the VM now.
	Ready Type = "ready"
	// Hello is the guest init's first event once it has its config: the
	// guest is up and about to run it.
	Hello Type = "hello"
	// Phase marks a guest phase boundary (Name: "suite-start", ...).
	Phase Type = "phase"
	// SpecStart and SpecEnd bracket one guest spec.
	SpecStart Type = "spec-start"
	SpecEnd   Type = "spec-end"
	// Kmsg carries one /dev/kmsg record.
	Kmsg Type = "kmsg"
	// Report carries the guest suite's Ginkgo JSON report.
	Report Type = "report"
	// Log is a free-form line from the guest init.
	Log Type = "log"
	// Exit reports how the guest test binary ended.
	Exit Type = "exit"
	// Done is the last event of a healthy guest; without it the host
	// treats the run as a guest crash or hang.
	Done Type = "done"
	// FeatureAbsent says, before any spec, that the kernel lacks the
	// feature under test (Message: what is missing and the kernel's own
	// evidence, its FUSE_INIT offer): the guest then runs no spec, and
	// the host reports the kernel as untestable, not as broken.
	FeatureAbsent Type = "feature-absent"
	// Coverage carries the kernel's gcov counters after the specs (Data:
	// CoverageData), sent only when the config asks for them.
	Coverage Type = "coverage"
)

// CoverageData is the data of a Coverage event: the .gcda files of the
// directories the config named, read from debugfs's gcov tree after the
// specs, as one gzip-compressed tar whose names are relative to
// /sys/kernel/debug/gcov (there they mirror the kernel's build directory).
type CoverageData struct {
	Files int `json:"files"`
	// Tgz is the archive (base64 in the JSON line).
	Tgz []byte `json:"tgz,omitempty"`
	// Error says why some or all counters could not be read.
	Error string `json:"error,omitempty"`
}

// DoneAck is the line the host writes back on the port once it has read a
// Done event. A guest whose host talks on the port (ModePort) powers off
// only after it, or after DoneAckWait: QEMU drops what it has not yet
// passed to its socket when the guest powers off, and under load that
// was the end of the stream, Done included.
const DoneAck = "zcsuite-done-ack\n"

// GuestDeadlineCode is the guest suite's exit code (in the Exit and Done
// events) when it was stopped at its deadline.
const GuestDeadlineCode = 124

// FailSpecFlag is the guest binary's flag that fails the specs whose full
// text matches its regexp, on purpose: a test of the harness (the host
// passes it only for its ZCSUITE_TEST_FAIL_SPEC knob), never set in a
// normal run.
const FailSpecFlag = "zcsuite.fail-spec"

// DoneAckWait bounds the guest's wait for DoneAck.
const DoneAckWait = 2 * time.Minute

// ReadyFacts is the data of a Ready event.
type ReadyFacts struct {
	// UptimeNs is the guest's CLOCK_BOOTTIME: the kernel's boot so far.
	UptimeNs int64 `json:"uptime_ns"`
}

// Event is one line of the stream. Only the fields a type needs are set.
type Event struct {
	Type Type      `json:"type"`
	Time time.Time `json:"time"`

	// Spec events.
	Seq     int      `json:"seq,omitempty"`
	Spec    string   `json:"spec,omitempty"`
	Labels  []string `json:"labels,omitempty"`
	State   string   `json:"state,omitempty"`
	Message string   `json:"message,omitempty"` // SpecEnd: a failure's cause (one line, at most 300 bytes) or a skip's reason
	// ExpectedSplats lists splat titles (or prefixes) a spec declared as
	// expected; they do not fail that spec.
	ExpectedSplats []string `json:"expected_splats,omitempty"`
	// ExpectedWedge, when set, says why the spec leaves the kernel wedged
	// on purpose (a destructive spec): the guest suite hanging after this
	// spec ended is then the expected damage, not a failure.
	ExpectedWedge string `json:"expected_wedge,omitempty"`
	// TaintBefore and TaintAfter are /proc/sys/kernel/tainted around the
	// spec (SpecEnd only).
	TaintBefore uint64 `json:"taint_before,omitempty"`
	TaintAfter  uint64 `json:"taint_after,omitempty"`

	// Kmsg events.
	KmsgSeq   uint64 `json:"kmsg_seq,omitempty"`
	KmsgLevel int    `json:"kmsg_level,omitempty"`
	KmsgUsec  uint64 `json:"kmsg_usec,omitempty"`
	Text      string `json:"text,omitempty"`

	// Phase events.
	Name string `json:"name,omitempty"`

	// Exit events.
	Code int `json:"code,omitempty"`

	// Report events (raw Ginkgo JSON), hello facts.
	Data json.RawMessage `json:"data,omitempty"`
}

// Writer serialises events onto one stream; it is safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write stamps e with the current time if it has none and writes it as one
// JSON line.
func (w *Writer) Write(e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("vmevent: encode %s: %w", e.Type, err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("vmevent: write %s: %w", e.Type, err)
	}
	return nil
}

// ErrNoDone reports a stream that ended without a Done event.
var ErrNoDone = errors.New("vmevent: stream ended without a done event")

// MaxLine bounds one event line (a Ginkgo report can be large).
const MaxLine = 64 << 20

// Reader decodes a stream of events.
type Reader struct {
	sc   *bufio.Scanner
	done bool
	line int
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	return &Reader{sc: sc}
}

// Next returns the next event. At the end of a stream it returns io.EOF
// when a Done event was seen and ErrNoDone otherwise. Lines that are not
// events (a guest may write garbage while dying) are reported as errors
// naming the line; the caller may continue reading.
func (r *Reader) Next() (Event, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return Event{}, &DecodeError{Line: r.line, Err: err}
		}
		if e.Type == Done {
			r.done = true
		}
		return e, nil
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, fmt.Errorf("vmevent: read: %w", err)
	}
	if r.done {
		return Event{}, io.EOF
	}
	return Event{}, ErrNoDone
}

// DecodeError is a line of the stream that is not an event.
type DecodeError struct {
	Line int
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("vmevent: line %d is not an event: %v", e.Line, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
