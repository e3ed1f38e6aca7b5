package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var modeColors = map[string]color.RGBA{
	ModeCopy:     {0x4c, 0x72, 0xb0, 0xff},
	ModePool:     {0xdd, 0x84, 0x52, 0xff},
	ModeZeroCopy: {0x55, 0xa8, 0x68, 0xff},
}

// Chart draws grouped bars (median MB/s per mode, min–max whiskers) per
// job into a PNG at path.
func Chart(path string, rows []Row, title string) error {
	var jobs []string
	byJob := map[string][]Row{}
	maxV := 0.0
	for _, r := range rows {
		if _, ok := byJob[r.Job]; !ok {
			jobs = append(jobs, r.Job)
		}
		byJob[r.Job] = append(byJob[r.Job], r)
		if r.Max > maxV {
			maxV = r.Max
		}
	}
	if len(jobs) == 0 || maxV <= 0 {
		return fmt.Errorf("bench: nothing to chart")
	}
	const (
		w, h          = 900, 480
		left, bottom  = 70, 70
		top, right    = 50, 20
		barW, groupGp = 40, 40
	)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	black := color.RGBA{0, 0, 0, 0xff}
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	plotH := h - top - bottom
	y := func(v float64) int { return h - bottom - int(v/maxV/1.1*float64(plotH)) }
	// Grid and axis labels.
	for i := 0; i <= 5; i++ {
		v := maxV * 1.1 * float64(i) / 5
		yy := y(v)
		hline(img, left, w-right, yy, grey)
		text(img, 5, yy+4, fmt.Sprintf("%.0f", v), black)
	}
	text(img, 5, top-25, title, black)
	text(img, 5, top-10, "MB/s (median, min-max)", black)
	x := left + 20
	for _, j := range jobs {
		gx := x
		for _, r := range byJob[j] {
			c, ok := modeColors[r.Mode]
			if !ok {
				c = color.RGBA{0x88, 0x88, 0x88, 0xff}
			}
			fill(img, image.Rect(x, y(r.Median), x+barW, h-bottom), c)
			vline(img, x+barW/2, y(r.Max), y(r.Min), black)
			hline(img, x+barW/2-5, x+barW/2+5, y(r.Max), black)
			hline(img, x+barW/2-5, x+barW/2+5, y(r.Min), black)
			x += barW + 4
		}
		text(img, gx, h-bottom+18, j, black)
		x += groupGp
	}
	// Legend.
	lx := w - right - 150
	for i, m := range []string{ModeCopy, ModePool, ModeZeroCopy} {
		fill(img, image.Rect(lx, top+i*18, lx+12, top+i*18+12), modeColors[m])
		text(img, lx+18, top+i*18+11, m, black)
	}
	hline(img, left, w-right, h-bottom, black)
	vline(img, left, top, h-bottom, black)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return f.Close()
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
