package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// ReportEntry is the Ginkgo report entry name that carries one Sample as
// JSON.
const ReportEntry = vmevent.BenchEntry

// Sample is one fio job run against one mode (the guest's wire type).
type Sample = vmevent.BenchSample

// Modes in the order tables list them; Copy is the baseline of the ratios.
const (
	ModeCopy     = "copy"
	ModePool     = "pool"
	ModeZeroCopy = "zero-copy"
)

// Published are the seed patch's ratios (zero copy / copy, bs=1M, fio
// sync engine, 2 jobs) from its commit message.
var Published = map[string]float64{
	"randread-direct":    2600.0 / 2100.0,
	"randread-buffered":  2400.0 / 1900.0,
	"randwrite-direct":   1.0,
	"randwrite-buffered": 1050.0 / 950.0,
}

// Row summarises one (job, mode).
type Row struct {
	Job, Mode                 string
	N                         int
	Median, Min, Max          float64
	CPUPerGB                  float64 // server CPU seconds per GiB moved
	CopiedPerReq, ZCPerReq    float64 // payload bytes per request
	RatioToCopy, PublishedRat float64 // 0 when not applicable
}

// Parse decodes samples from report-entry JSON strings.
func Parse(entries []string) ([]Sample, error) {
	var out []Sample
	for _, e := range entries {
		var s Sample
		if err := json.Unmarshal([]byte(e), &s); err != nil {
			return nil, fmt.Errorf("bench: sample %q: %w", e, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Summarize groups samples by job and mode.
func Summarize(samples []Sample) []Row {
	type key struct{ job, mode string }
	groups := map[key][]Sample{}
	for _, s := range samples {
		k := key{s.Job, s.Mode}
		groups[k] = append(groups[k], s)
	}
	var rows []Row
	medians := map[key]float64{}
	for k, ss := range groups {
		var mb []float64
		var cpu, bytes, copied, zc, reqs float64
		for _, s := range ss {
			mb = append(mb, s.MBps)
			cpu += s.ServerCPUSec
			bytes += float64(s.CopiedBytes + s.ZeroCopyBytes)
			copied += float64(s.CopiedBytes)
			zc += float64(s.ZeroCopyBytes)
			reqs += float64(s.Requests)
		}
		sort.Float64s(mb)
		r := Row{Job: k.job, Mode: k.mode, N: len(mb), Median: median(mb), Min: mb[0], Max: mb[len(mb)-1]}
		if bytes > 0 {
			r.CPUPerGB = cpu / (bytes / (1 << 30))
		}
		if reqs > 0 {
			r.CopiedPerReq, r.ZCPerReq = copied/reqs, zc/reqs
		}
		medians[k] = r.Median
		rows = append(rows, r)
	}
	for i := range rows {
		r := &rows[i]
		if base := medians[key{r.Job, ModeCopy}]; base > 0 && r.Mode != ModeCopy {
			r.RatioToCopy = r.Median / base
			if r.Mode == ModeZeroCopy {
				r.PublishedRat = Published[r.Job]
			}
		}
	}
	order := map[string]int{ModeCopy: 0, ModePool: 1, ModeZeroCopy: 2}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Job != rows[j].Job {
			return rows[i].Job < rows[j].Job
		}
		oi, oki := order[rows[i].Mode]
		oj, okj := order[rows[j].Mode]
		if oki && okj {
			return oi < oj
		}
		return rows[i].Mode < rows[j].Mode
	})
	return rows
}

func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Markdown writes the table.
func Markdown(w io.Writer, rows []Row, accel string) {
	fmt.Fprintf(w, "# zcsuite benchmark: zcserver modes under fio\n\n")
	if strings.HasPrefix(accel, "tcg") {
		fmt.Fprintf(w, "> Measured under QEMU **TCG** (no KVM): absolute MB/s are emulation speeds and say little; compare the **ratios**.\n\n")
	} else {
		fmt.Fprintf(w, "> Accelerator: %s.\n\n", accel)
	}
	fmt.Fprintf(w, "| job | mode | rounds | median MB/s | min–max MB/s | ratio to copy | published ZC/copy | server CPU s/GiB | copied B/req | zero-copy B/req |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		ratio, pub := "—", "—"
		if r.RatioToCopy > 0 {
			ratio = fmt.Sprintf("%.2f", r.RatioToCopy)
		}
		if r.PublishedRat > 0 {
			pub = fmt.Sprintf("%.2f", r.PublishedRat)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f–%.1f | %s | %s | %.2f | %.0f | %.0f |\n",
			r.Job, r.Mode, r.N, r.Median, r.Min, r.Max, ratio, pub, r.CPUPerGB, r.CopiedPerReq, r.ZCPerReq)
	}
	fmt.Fprintf(w, "\nPublished ratios: the seed patch's fio numbers (randread direct ~1.24, buffered ~1.26; randwrite direct ~1.0, buffered ~1.1).\n")
}
