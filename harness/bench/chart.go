package bench

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var modeColors = map[string]color.RGBA{
	ModeCopy:     {0x4c, 0x72, 0xb0, 0xff},
	ModePool:     {0xdd, 0x84, 0x52, 0xff},
	ModeZeroCopy: {0x55, 0xa8, 0x68, 0xff},
}

// modeOrder is the order of the bars in a job's group.
var modeOrder = []string{ModeCopy, ModePool, ModeZeroCopy}

// About says what a chart measured, so that it stands on its own when
// pasted into a mail: the title, the kernel and the accelerator.
type About struct {
	Title  string
	Kernel string // e.g. "debian:7.3-cloud (7.3.0-1-cloud-amd64)"
	Accel  string // "kvm" or "tcg"
}

// ChartSize is the size of the PNG Draw writes.
const (
	ChartWidth  = 9 * vg.Inch
	ChartHeight = 5 * vg.Inch
)

// Draw draws grouped bars into a PNG at path: per job, one bar per mode
// at its median MB/s with a min–max whisker, and above each bar that has
// one its ratio to the copy mode ("×1.8"); the title names the kernel and
// the accelerator when about gives them.
func Draw(path string, rows []Row, about About) error {
	var jobs []string
	jobIdx := map[string]int{}
	maxV := 0.0
	for _, r := range rows {
		if _, ok := jobIdx[r.Job]; !ok {
			jobIdx[r.Job] = len(jobs)
			jobs = append(jobs, r.Job)
		}
		maxV = max(maxV, r.Max)
	}
	if len(jobs) == 0 || maxV <= 0 {
		return fmt.Errorf("bench: nothing to chart")
	}
	p := plot.New()
	p.Title.Text = about.Title
	if s := subtitle(about); s != "" {
		p.Title.Text += "\n" + s
	}
	p.Y.Label.Text = "MB/s (bar: median; whisker: min–max)"
	p.Y.Min, p.Y.Max = 0, maxV*1.2 // room for the ratio labels
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true

	const barW = 0.28 // in job units: three bars fill 0.84 of a group
	var ratios plotter.XYLabels
	for m, mode := range modeOrder {
		var whisk whiskers
		var legend *plotter.Polygon
		for _, r := range rows {
			if r.Mode != mode {
				continue
			}
			x := float64(jobIdx[r.Job]) + (float64(m)-1)*barW
			bar, err := plotter.NewPolygon(plotter.XYs{
				{X: x - barW/2, Y: 0}, {X: x + barW/2, Y: 0},
				{X: x + barW/2, Y: r.Median}, {X: x - barW/2, Y: r.Median},
			})
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			bar.Color = modeColors[mode]
			bar.LineStyle.Width = 0
			p.Add(bar)
			legend = bar
			whisk.XYs = append(whisk.XYs, plotter.XY{X: x, Y: r.Median})
			whisk.YErrors = append(whisk.YErrors, struct{ Low, High float64 }{r.Median - r.Min, r.Max - r.Median})
			if r.RatioToCopy > 0 {
				ratios.XYs = append(ratios.XYs, plotter.XY{X: x, Y: r.Max})
				ratios.Labels = append(ratios.Labels, fmt.Sprintf("×%.2f", r.RatioToCopy))
			}
		}
		if legend == nil {
			continue
		}
		eb, err := plotter.NewYErrorBars(whisk)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		p.Add(eb)
		p.Legend.Add(mode, legend)
	}
	if len(ratios.XYs) > 0 {
		l, err := plotter.NewLabels(ratios)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = -0.5 // centred on the bar
		}
		l.Offset = vg.Point{Y: vg.Points(4)}
		p.Add(l)
	}
	p.NominalX(jobs...)
	p.X.Min, p.X.Max = -0.6, float64(len(jobs))-0.4
	if err := p.Save(ChartWidth, ChartHeight, path); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// subtitle names the kernel and the accelerator, when known.
func subtitle(a About) string {
	switch {
	case a.Kernel != "" && a.Accel != "":
		return fmt.Sprintf("kernel %s, %s; ratios to copy above the bars", a.Kernel, accelName(a.Accel))
	case a.Kernel != "":
		return fmt.Sprintf("kernel %s; ratios to copy above the bars", a.Kernel)
	case a.Accel != "":
		return fmt.Sprintf("%s; ratios to copy above the bars", accelName(a.Accel))
	}
	return "ratios to copy above the bars"
}

// accelName spells the accelerator for a reader: TCG is emulation, so its
// absolute numbers say little.
func accelName(a string) string {
	switch a {
	case "kvm":
		return "KVM"
	case "tcg":
		return "TCG (emulated: compare ratios, not MB/s)"
	}
	return a
}

// whiskers are the min–max error bars of one mode's bars.
type whiskers struct {
	plotter.XYs
	plotter.YErrors
}
