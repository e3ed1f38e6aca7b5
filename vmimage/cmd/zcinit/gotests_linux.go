package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// goTestLine matches the verbose output of a Go test binary that starts
// and ends a top-level test ("=== RUN   TestX", "--- PASS: TestX (0.01s)").
var goTestLine = regexp.MustCompile(`^(?:=== (RUN)\s+|--- (PASS|FAIL|SKIP): )([^/\s]+)(?:\s|$)`)

// goTestStates maps a Go test's result to a Ginkgo spec state.
var goTestStates = map[string]string{"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}

// runGoTests runs each Go test binary of cfg.GoTests with -test.v and
// reports every top-level test as a spec: spec-start and spec-end events
// (with the kmsg markers the host cuts splat spans with), a failure's or a
// skip's output lines as its message. A binary that ends without a result
// for a test it started (a crash or its timeout) fails that test.
func runGoTests(ev *vmevent.Writer, bins []string, timeout time.Duration) {
	seq := vmevent.GoTestSeqBase
	for _, bin := range bins {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		cmd := exec.CommandContext(ctx, bin, "-test.v", "-test.count=1", "-test.timeout="+(timeout-5*time.Second).String())
		cmd.Dir = "/tmp"
		cmd.Env = append(os.Environ(), "HOME=/tmp", "TMPDIR=/tmp", "PATH=/zcsuite:/bin:/sbin")
		out, err := cmd.StdoutPipe()
		if err == nil {
			cmd.Stderr = cmd.Stdout
			err = cmd.Start()
		}
		if err != nil {
			ev.Write(vmevent.Event{Type: vmevent.Log, Text: fmt.Sprintf("zcinit: start %s: %v", bin, err)})
			cancel()
			continue
		}
		seq = relayGoTests(ev, bin, out, seq, writeKmsg)
		werr := cmd.Wait()
		cancel()
		if werr != nil {
			ev.Write(vmevent.Event{Type: vmevent.Log, Text: fmt.Sprintf("zcinit: %s: %v", bin, werr)})
		}
	}
}

// relayGoTests turns the verbose output r of the Go test binary bin into
// spec events numbered from seq on, marking each test's span in kmsg with
// mark, and returns the next free number.
func relayGoTests(ev *vmevent.Writer, bin string, r io.Reader, seq int, mark func(string)) int {
	cur, curSeq := "", 0
	var lines []string
	end := func(state string) {
		msg := strings.Join(lines, " | ")
		switch {
		case len(msg) <= 300:
		case state == "failed":
			// A failure is said last (t.Fatal, a panic), after the
			// test's own log lines: keep the end.
			msg = "…" + msg[len(msg)-300:]
		default:
			msg = msg[:300]
		}
		if state == "passed" {
			msg = ""
		}
		ev.Write(vmevent.Event{Type: vmevent.SpecEnd, Seq: curSeq, Spec: vmevent.GoTestSpec(bin, cur), State: state, Message: msg})
		mark(fmt.Sprintf("zcsuite: spec-end %d", curSeq))
		cur, lines = "", nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := goTestLine.FindStringSubmatch(line)
		switch {
		case m != nil && m[1] == "RUN":
			if cur != "" {
				lines = append(lines, "the test binary started another test before this one ended")
				end("failed")
			}
			cur, curSeq = m[3], seq
			seq++
			mark(fmt.Sprintf("zcsuite: spec-start %d %s", curSeq, vmevent.GoTestSpec(bin, cur)))
			ev.Write(vmevent.Event{Type: vmevent.SpecStart, Seq: curSeq, Spec: vmevent.GoTestSpec(bin, cur)})
		case m != nil && m[3] == cur:
			end(goTestStates[m[2]])
		case cur != "":
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
				lines = append(lines, t)
			}
		}
	}
	if cur != "" {
		lines = append(lines, "the test binary ended without this test's result")
		end("failed")
	}
	return seq
}

// goTestTimeout bounds each Go test binary: three minutes, or half the
// suite's own timeout when that is shorter.
func goTestTimeout(cfg vmevent.GuestConfig) time.Duration {
	d := 3 * time.Minute
	if t := time.Duration(cfg.TimeoutSec) * time.Second / 2; t > 10*time.Second && t < d {
		d = t
	}
	return d
}
