package plots

import (
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"
)

// legendPixels renders twice, with the legends hidden and shown, and
// returns the pixels that differ (the legends) and the data areas of the
// shown rendering, which must equal those of the hidden one.
func legendPixels(t *testing.T, render func() (raster, error)) ([]image.Point, []image.Rectangle) {
	t.Helper()
	hideLegends = true
	hidden, err := render()
	hideLegends = false
	if err != nil {
		t.Fatal(err)
	}
	shown, err := render()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hidden.data, shown.data) {
		t.Fatalf("data areas %v with hidden legends, %v shown", hidden.data, shown.data)
	}
	var diff []image.Point
	b := shown.img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if shown.img.At(x, y) != hidden.img.At(x, y) {
				diff = append(diff, image.Pt(x, y))
			}
		}
	}
	if len(diff) < 50 {
		t.Fatalf("only %d legend pixels", len(diff))
	}
	return diff, shown.data
}

func TestLegendOutside(t *testing.T) {
	ts := []float64{0, 0.5, 1}
	lines := []Series{{Name: "ᾱ_t", X: ts, Y: []float64{1, 0.5, 0}}, {Name: "β̃_t", X: ts, Y: []float64{0, 0.5, 1}}}
	single := func(o Options) func() (raster, error) {
		return func() (raster, error) {
			img, data, err := renderSingle("LinesPNG", nil, lines, o)
			return raster{img: img, data: data}, err
		}
	}
	_, noLegend, err := renderSingle("LinesPNG", nil, []Series{{X: ts, Y: ts}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		render func() (raster, error)
		where  func(p image.Point, d image.Rectangle) bool
	}{
		{"right", single(Options{}), func(p image.Point, d image.Rectangle) bool { return p.X >= d.Max.X }},
		{"below", single(Options{Legend: LegendBelow, XLabel: "t"}), func(p image.Point, d image.Rectangle) bool { return p.Y >= d.Max.Y }},
		{"grid", func() (raster, error) {
			return renderGrid("GridPNG", []Panel{{Lines: lines}, {Scatter: lines}}, 2, 0, 0, 0)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diff, data := legendPixels(t, tc.render)
			for _, p := range diff {
				for i, d := range data {
					if p.In(d) {
						t.Fatalf("legend pixel %v inside data area %d %v", p, i, d)
					}
				}
				if tc.where != nil && !tc.where(p, data[0]) {
					t.Fatalf("legend pixel %v not on the expected side of %v", p, data[0])
				}
			}
			if tc.name == "right" && data[0].Dx() >= noLegend[0].Dx() {
				t.Errorf("data area %v with a legend on the right, want narrower than %v without", data[0], noLegend[0])
			}
			if tc.name == "below" && data[0].Dy() >= noLegend[0].Dy() {
				t.Errorf("data area %v with a legend below, want shorter than %v without", data[0], noLegend[0])
			}
		})
	}
	// LegendInside keeps the old placement: in the top right corner of
	// the data area.
	diff, data := legendPixels(t, single(Options{Legend: LegendInside}))
	q := quadrants(data[0])["top-right"]
	for _, p := range diff {
		if !p.In(q) {
			t.Fatalf("LegendInside pixel %v outside the top right quarter %v of the data", p, q)
		}
	}
	if _, err := LinesPNG(lines, Options{Legend: LegendPos(7)}); err == nil || !strings.Contains(err.Error(), "Legend") {
		t.Errorf("Legend 7: err = %v, want an error naming Legend", err)
	}
}

func TestLinearTicks(t *testing.T) {
	for _, tc := range []struct {
		min, max float64
		labels   []string
		step     float64 // of the major ticks
		nTicks   int     // all ticks, minor ones included
	}{
		{0, 1, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}, 0.2, 21},            // minor every 0.05
		{0, 1000, []string{"0", "200", "400", "600", "800", "1000"}, 200, 21},          // minor every 50
		{-3, 3, []string{"−3", "−2", "−1", "0", "1", "2", "3"}, 1, 31},                 // minor every 0.2
		{0.1, 0.7, []string{"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"}, 0.1, 31}, // 0.3, not 0.30000000000000004
		{0, 17, []string{"0.0", "2.5", "5.0", "7.5", "10.0", "12.5", "15.0"}, 2.5, 35},
		{0, 2e6, []string{"0", "5×10⁵", "10⁶", "1.5×10⁶", "2×10⁶"}, 5e5, 21},
	} {
		ticks := linearTicks{}.Ticks(tc.min, tc.max)
		var labels []string
		var major []float64
		for _, tk := range ticks {
			if tk.Value < tc.min-1e-9 || tk.Value > tc.max+1e-9 {
				t.Errorf("[%v, %v]: tick %v outside", tc.min, tc.max, tk.Value)
			}
			if tk.Label != "" {
				labels = append(labels, tk.Label)
				major = append(major, tk.Value)
			}
		}
		if !slices.Equal(labels, tc.labels) {
			t.Errorf("[%v, %v]: labels %q, want %q", tc.min, tc.max, labels, tc.labels)
		}
		for i := 1; i < len(major); i++ {
			if d := major[i] - major[i-1]; math.Abs(d-tc.step) > 1e-9*tc.step {
				t.Errorf("[%v, %v]: major step %v, want %v", tc.min, tc.max, d, tc.step)
			}
		}
		if len(ticks) != tc.nTicks {
			t.Errorf("[%v, %v]: %d ticks, want %d", tc.min, tc.max, len(ticks), tc.nTicks)
		}
	}
}

func TestLogX(t *testing.T) {
	xs := []float64{-1, 0, 0.001, 0.01, 0.1, 1, 10}
	ys := []float64{1, 1, 0, 0.25, 0.5, 0.75, 1}
	img, data, err := renderSingle("LinesPNG", nil, []Series{{X: xs, Y: ys}}, Options{LogX: true, XLabel: "σ", YMin: ptr(0), YMax: ptr(1)})
	if err != nil {
		t.Fatal(err)
	}
	// x = 0.1 is half way along a 0.001..10 log axis (log₁₀: −3..1), at
	// y = 0.5: a coloured pixel must be near there.
	d := data[0]
	px, py := d.Min.X+int(0.5*float64(d.Dx())), d.Max.Y-int(0.5*float64(d.Dy()))
	if countColored(img, image.Rect(px-3, py-3, px+4, py+4)) == 0 {
		t.Errorf("no line pixel near (%d, %d), where log placement puts (0.1, 0.5)", px, py)
	}
	if _, err := LinesPNG([]Series{{X: xs, Y: ys}}, Options{LogX: true, XMin: ptr(-1)}); err == nil || !strings.Contains(err.Error(), "XMin") {
		t.Errorf("LogX with XMin −1: err = %v, want an error naming XMin", err)
	}
}

func TestLabelledImageGrid(t *testing.T) {
	const h, w, c, cols, scale, pad = 4, 5, 3, 3, 3, 2
	var images [][]float32
	for i := range 7 { // 3 rows: 3, 3, 1
		im := make([]float32, h*w*c)
		for j := range im {
			im[j] = float32(math.Sin(float64(i*100 + j))) // not grey: RGB differ
		}
		images = append(images, im)
	}
	labels := GridLabels{Rows: []string{"t = 10^3", "", "x̂₀"}, Cols: []string{"ᾱ_t", "", "three"}, Scale: scale}
	g, err := renderLabelledGrid("LabelledImageGrid", images, h, w, c, cols, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.cells) != 7 {
		t.Fatalf("%d cells, want 7", len(g.cells))
	}
	for i, cell := range g.cells {
		if cell.Dx() != w*scale || cell.Dy() != h*scale {
			t.Fatalf("cell %d is %v, want %d×%d", i, cell, w*scale, h*scale)
		}
		if i%cols > 0 && cell.Min.X != g.cells[i-1].Max.X+pad {
			t.Errorf("cell %d starts at x %d, want %d px after cell %d", i, cell.Min.X, pad, i-1)
		}
		for y := range cell.Dy() {
			for x := range cell.Dx() {
				k := ((y/scale)*w + x/scale) * c
				want := color.RGBA{PixelByte(images[i][k]), PixelByte(images[i][k+1]), PixelByte(images[i][k+2]), 255}
				if got := g.img.RGBAAt(cell.Min.X+x, cell.Min.Y+y); got != want {
					t.Fatalf("image %d pixel (%d, %d) = %v, want %v", i, x, y, got, want)
				}
			}
		}
	}
	dark := func(r image.Rectangle) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if color.GrayModel.Convert(g.img.At(x, y)).(color.Gray).Y < 100 {
					n++
				}
			}
		}
		return n
	}
	for r, s := range labels.Rows {
		cell := g.cells[r*cols]
		strip := image.Rect(0, cell.Min.Y, cell.Min.X-pad, cell.Max.Y)
		if n := dark(strip); (s != "") != (n > 5) {
			t.Errorf("row %d (%q): %d dark pixels left of the row in %v", r, s, n, strip)
		}
	}
	for j, s := range labels.Cols {
		cell := g.cells[j]
		strip := image.Rect(cell.Min.X-pad/2, 0, cell.Max.X+pad/2, cell.Min.Y-pad)
		if n := dark(strip); (s != "") != (n > 5) {
			t.Errorf("column %d (%q): %d dark pixels above the column in %v", j, s, n, strip)
		}
	}
	// The public function returns a PNG of the same image.
	b, err := LabelledImageGrid(images, h, w, c, cols, labels)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodePNG(t, b).Bounds(); got != g.img.Bounds() {
		t.Errorf("PNG is %v, want %v", got, g.img.Bounds())
	}
	// Errors.
	nan := slices.Clone(images)
	nan[5] = slices.Clone(images[5])
	nan[5][2] = float32(math.NaN())
	for _, tc := range []struct {
		name   string
		images [][]float32
		labels GridLabels
		want   []string
	}{
		{"rows", images, GridLabels{Rows: []string{"a", "b"}}, []string{"LabelledImageGrid", "2 row titles", "3 rows"}},
		{"cols", images, GridLabels{Cols: []string{"a"}}, []string{"LabelledImageGrid", "1 column titles", "3 columns"}},
		{"scale", images, GridLabels{Scale: -1}, []string{"Scale"}},
		{"pad", images, GridLabels{Pad: -2}, []string{"Pad"}},
		{"nan", nan, GridLabels{}, []string{"LabelledImageGrid", "image 5", "NaN"}},
		{"huge", images, GridLabels{Scale: 5000}, []string{"pixels"}},
	} {
		_, err := LabelledImageGrid(tc.images, h, w, c, cols, tc.labels)
		for _, s := range tc.want {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, s)
			}
		}
	}
}

func TestShareAxes(t *testing.T) {
	panels := []Panel{
		{Lines: []Series{{X: []float64{0, 1}, Y: []float64{0, 10}}}},
		// XMax fixed beyond the data; a point at x = 3 lies outside the
		// fixed range and is not drawn, so it does not count.
		{Scatter: []Series{{X: []float64{-1, 0.5, 3}, Y: []float64{5, 20, 100}}}, Opts: Options{XMax: ptr(2)}},
		// Log Y: only the positive values count for its own range.
		{Lines: []Series{{X: []float64{0.5, 0.7}, Y: []float64{0.1, 4}}}, Opts: Options{LogY: true}},
	}
	ShareAxes(panels, true, false)
	for i, p := range panels {
		if p.Opts.XMin == nil || p.Opts.XMax == nil || *p.Opts.XMin != -1 || *p.Opts.XMax != 2 {
			t.Errorf("panel %d: X range %v..%v, want −1..2", i, deref(p.Opts.XMin), deref(p.Opts.XMax))
		}
		if p.Opts.YMin != nil || p.Opts.YMax != nil {
			t.Errorf("panel %d: Y range set with y = false", i)
		}
	}
	ShareAxes(panels, false, true)
	for i, want := range [][2]float64{{0, 20}, {0, 20}, {0.1, 20}} {
		o := panels[i].Opts
		if o.YMin == nil || o.YMax == nil || *o.YMin != want[0] || *o.YMax != want[1] {
			t.Errorf("panel %d: Y range %v..%v, want %v..%v", i, deref(o.YMin), deref(o.YMax), want[0], want[1])
		}
	}
	// The panels still draw, with equal data areas side by side.
	r, err := renderGrid("GridPNG", panels[:2], 2, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.data[0].Size() != r.data[1].Size() {
		t.Errorf("data areas %v and %v differ in size", r.data[0], r.data[1])
	}
}

// deref returns *p, or NaN for nil.
func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestTitleInsideImage draws a title wider than an Equal plot's narrowed
// data area, with a legend on the right: the title must stay whole inside
// the image (gonum would centre it on the narrowed plot and cut its start
// off).
func TestTitleInsideImage(t *testing.T) {
	pts := []Series{{Name: "samples", X: []float64{-3, 3, 0}, Y: []float64{-3, 3, 0}}, {Name: "data", X: []float64{1}, Y: []float64{1}}}
	opts := Options{Equal: true, XMin: ptrTo(-3.0), XMax: ptrTo(3.0), YMin: ptrTo(-3.0), YMax: ptrTo(3.0)}
	// A title 90–97% as wide as the image: centred on the plot, which the
	// legend strip pushes left, it would start left of the image.
	fig, err := buildFigure("ScatterPNG", "", pts, nil, opts, singleFonts)
	if err != nil {
		t.Fatal(err)
	}
	imageW := DefaultWidth
	long := "gaussians8 samples"
	for w := fig.p.Title.TextStyle.Width(long); w < 0.9*imageW; w = fig.p.Title.TextStyle.Width(long) {
		long += " ab"
	}
	if w := fig.p.Title.TextStyle.Width(long); w > 0.97*imageW {
		t.Fatalf("test title %.0f pt wide in a %.0f pt image", w, imageW)
	}
	for _, tc := range []struct {
		name, title string
	}{
		{"long", long},
		{"short", "samples"},
	} {
		opts.Title = tc.title
		img, data, err := renderSingle("ScatterPNG", pts, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		ink := func(x, y int) bool {
			r, g, bl, _ := img.At(x, y).RGBA()
			return r < 0x8000 && g < 0x8000 && bl < 0x8000
		}
		// The title is the topmost band of rows with ink, above the data area.
		minX, maxX := b.Max.X, b.Min.X
		inBand := false
		for y := b.Min.Y; y < data[0].Min.Y; y++ {
			rowInk := false
			for x := b.Min.X; x < b.Max.X; x++ {
				if ink(x, y) {
					rowInk = true
					minX, maxX = min(minX, x), max(maxX, x)
				}
			}
			if inBand && !rowInk {
				break
			}
			inBand = inBand || rowInk
		}
		if minX > maxX {
			t.Fatalf("%s: no title drawn above the data area", tc.name)
		}
		if minX <= b.Min.X || maxX >= b.Max.X-1 {
			t.Errorf("%s title: ink from x = %d to %d in an image %d wide: cut off at an edge", tc.name, minX, maxX, b.Dx())
		}
	}
}

func ptrTo(v float64) *float64 { return &v }
