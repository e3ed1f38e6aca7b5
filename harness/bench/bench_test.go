package bench

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func samples() []Sample {
	var s []Sample
	for round := 1; round <= 3; round++ {
		f := float64(round)
		s = append(s,
			Sample{Mode: ModeCopy, Job: "randread-direct", Round: round, MBps: 100 + f, Requests: 100, CopiedBytes: 100 << 20, ServerCPUSec: 1},
			Sample{Mode: ModePool, Job: "randread-direct", Round: round, MBps: 110 + f, Requests: 100, CopiedBytes: 100 << 20, ServerCPUSec: 1},
			Sample{Mode: ModeZeroCopy, Job: "randread-direct", Round: round, MBps: 125 + f, Requests: 100, ZeroCopyBytes: 100 << 20, ServerCPUSec: 0.5},
		)
	}
	return s
}

func TestSummarize(t *testing.T) {
	rows := Summarize(samples())
	if len(rows) != 3 || rows[0].Mode != ModeCopy || rows[2].Mode != ModeZeroCopy {
		t.Fatalf("rows %+v", rows)
	}
	zc := rows[2]
	if zc.Median != 127 || zc.Min != 126 || zc.Max != 128 || zc.N != 3 {
		t.Fatalf("zero-copy stats %+v", zc)
	}
	if math.Abs(zc.RatioToCopy-127.0/102.0) > 1e-9 || math.Abs(zc.PublishedRat-2600.0/2100.0) > 1e-9 {
		t.Fatalf("ratios %+v", zc)
	}
	if zc.CopiedPerReq != 0 || zc.ZCPerReq != 1<<20 || rows[0].CopiedPerReq != 1<<20 {
		t.Fatalf("bytes per request %+v / %+v", zc, rows[0])
	}
	if rows[0].RatioToCopy != 0 {
		t.Fatal("copy has a ratio to itself")
	}
}

func TestMarkdownAndChart(t *testing.T) {
	rows := Summarize(samples())
	var b bytes.Buffer
	Markdown(&b, rows, "tcg")
	if !strings.Contains(b.String(), "TCG") || !strings.Contains(b.String(), "| randread-direct | zero-copy | 3 | 127.0 |") {
		t.Fatalf("markdown:\n%s", b.String())
	}
	p := filepath.Join(t.TempDir(), "bench.png")
	if err := Draw(p, rows, About{Title: "test", Kernel: "debian:7.3-cloud", Accel: "tcg"}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != int(ChartWidth.Dots(96)) {
		t.Fatalf("png: %v", err)
	}
}

func TestParse(t *testing.T) {
	s, err := Parse([]string{`{"mode":"copy","job":"randread-direct","round":1,"mbps":12.5}`})
	if err != nil || len(s) != 1 || s[0].MBps != 12.5 {
		t.Fatalf("%v %+v", err, s)
	}
	if _, err := Parse([]string{"{"}); err == nil {
		t.Fatal("bad JSON parsed")
	}
}
