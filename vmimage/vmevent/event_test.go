package vmevent

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	in := []Event{
		{Type: Hello},
		{Type: SpecStart, Seq: 1, Spec: "env kernel release", Labels: []string{"env"}},
		{Type: Kmsg, KmsgSeq: 7, KmsgLevel: 4, Text: "WARNING: CPU: 0 PID: 1 at x"},
		{Type: SpecEnd, Seq: 1, State: "passed"},
		{Type: Exit, Code: 0},
		{Type: Done},
	}
	for _, e := range in {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for i := range in {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.Type != in[i].Type || got.Seq != in[i].Seq || got.Text != in[i].Text || got.Time.IsZero() {
			t.Fatalf("event %d: got %+v want %+v", i, got, in[i])
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end of a complete stream: got %v, want io.EOF", err)
	}
}

func TestMissingDone(t *testing.T) {
	r := NewReader(strings.NewReader(`{"type":"hello"}` + "\n" + `{"type":"spec-start","seq":1}` + "\n"))
	for i := 0; i < 2; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, ErrNoDone) {
		t.Fatalf("got %v, want ErrNoDone", err)
	}
}

func TestGarbageLine(t *testing.T) {
	r := NewReader(strings.NewReader("\x00\x01garbage\n" + `{"type":"done"}` + "\n"))
	_, err := r.Next()
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 1 {
		t.Fatalf("got %v, want a DecodeError on line 1", err)
	}
	if e, err := r.Next(); err != nil || e.Type != Done {
		t.Fatalf("reader did not recover: %v %v", e, err)
	}
}

func TestCmdlineRoundTrip(t *testing.T) {
	c := GuestConfig{Mode: ModeSuite, Binary: "/zcsuite/guest.test", Args: []string{"--ginkgo.label-filter=!destructive && (env || init)"}, TimeoutSec: 300}
	w, err := c.Cmdline()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(w, " \t\n") {
		t.Fatalf("command-line word has blanks: %q", w)
	}
	got, ok, err := ParseCmdline("console=ttyS0 " + w + " panic=-1")
	if err != nil || !ok {
		t.Fatalf("parse: ok=%v err=%v", ok, err)
	}
	if got.Binary != c.Binary || got.Args[0] != c.Args[0] || got.TimeoutSec != 300 {
		t.Fatalf("got %+v want %+v", got, c)
	}
	if _, ok, _ := ParseCmdline("console=ttyS0 panic=-1"); ok {
		t.Fatal("a line without the key parsed as a zcsuite VM")
	}
	if _, ok, err := ParseCmdline(CmdlineKey + "=%%%"); !ok || err == nil {
		t.Fatalf("bad value: ok=%v err=%v", ok, err)
	}
}

func TestConfigLineRoundTrip(t *testing.T) {
	c := GuestConfig{Mode: ModeSuite, Binary: "/zcsuite/guest.test", Args: []string{"--ginkgo.focus=a|b"}, TimeoutSec: 60, HostUnixNano: 42}
	line, err := c.Line()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("config line is not one line: %q", line)
	}
	got, err := ParseLine(line)
	if err != nil || got.Args[0] != c.Args[0] || got.HostUnixNano != 42 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := ParseLine([]byte(`{"m":"probe"}`)); err == nil {
		t.Fatal("a probe config was accepted over the port")
	}
	if _, err := ParseLine([]byte("garbage")); err == nil {
		t.Fatal("garbage was accepted as a config line")
	}
}
