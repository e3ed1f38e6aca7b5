package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/zcsuite/zcsuite/harness/console"
	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// A guest that decides its own verdicts (GuestConfig.Verdict: a LAVA job,
// with no zcsuite host reading its events) keeps a copy of its event
// stream and, after the suite, runs the host's own decision over it: the
// verdict package with the console package's splat patterns and the known
// issues the image carries. These two packages are shared by host and
// guest as they are (they import nothing of either side), so a lab's
// verdict is the one `./run.sh` gives for the same events.

// recorder keeps a copy of everything written to the event stream.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) events() []vmevent.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd := vmevent.NewReader(bytes.NewReader(r.buf.Bytes()))
	var out []vmevent.Event
	for {
		e, err := rd.Next()
		var de *vmevent.DecodeError
		switch {
		case errors.As(err, &de):
			continue
		case err != nil:
			return out
		}
		out = append(out, e)
	}
}

// loadKnown reads the known issues the image carries (none when it
// carries no file).
func loadKnown() ([]verdict.Expectation, error) {
	b, err := os.ReadFile(vmevent.KnownPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var known []verdict.Expectation
	if err := json.Unmarshal(b, &known); err != nil {
		return nil, fmt.Errorf("%s: %w", vmevent.KnownPath, err)
	}
	return known, nil
}

// printVerdict decides every spec's verdict from the recorded events and
// the suite's exit code, and prints the result lines and the KTAP report
// to w. It returns the run's exit code under the host's rules.
func printVerdict(w io.Writer, rec *recorder, code int) int {
	known, err := loadKnown()
	if err != nil {
		fmt.Fprintf(w, "zcinit: known issues: %v\n", err)
	}
	v := verdict.Decide(verdict.Input{
		Events: rec.events(),
		End:    verdict.VMEnd{SawDone: true, GuestCode: code},
		Find:   console.VerdictSplats,
		Known:  known,
	})
	exit := verdict.ExitCode(v)
	if err != nil && exit == verdict.ExitGood {
		exit = verdict.ExitUntested
	}
	fmt.Fprintln(w, vmevent.ResultsStart)
	for _, s := range v.Specs {
		fmt.Fprintf(w, "%s%s %s %s\n", vmevent.ResultPrefix, s.Outcome, vmevent.ResultID(s.Name), s.Name)
	}
	runs := []report.VMRun{{Name: "guest", Verdict: v}}
	report.WriteKTAP(w, report.Facts{ExitCode: exit}, runs)
	fmt.Fprintln(w, report.ClosingLine(exit, runs))
	fmt.Fprintf(w, "%s exit %d\n", vmevent.ResultsEnd, exit)
	return exit
}
