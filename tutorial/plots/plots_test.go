package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

func ptr(v float64) *float64 { return &v }

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	return img
}

// chroma is max(R,G,B) − min(R,G,B) in 0..255: 0 for white, black and the
// greys of axes and text, large for the coloured data.
func chroma(c color.Color) int {
	r, g, b, _ := c.RGBA()
	hi := max(r, g, b) >> 8
	lo := min(r, g, b) >> 8
	return int(hi - lo)
}

// isColored reports whether a pixel belongs to plotted data (not to the
// white background or the black/grey axes, ticks and text).
func isColored(c color.Color) bool { return chroma(c) > 40 }

// countColored counts coloured pixels of img inside r.
func countColored(img image.Image, r image.Rectangle) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if isColored(img.At(x, y)) {
				n++
			}
		}
	}
	return n
}

// quadrants splits r into its four quarters, in image coordinates
// (y grows downwards): bottom-left, bottom-right, top-left, top-right.
func quadrants(r image.Rectangle) map[string]image.Rectangle {
	mx, my := (r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2
	return map[string]image.Rectangle{
		"bottom-left":  image.Rect(r.Min.X, my, mx, r.Max.Y),
		"bottom-right": image.Rect(mx, my, r.Max.X, r.Max.Y),
		"top-left":     image.Rect(r.Min.X, r.Min.Y, mx, my),
		"top-right":    image.Rect(mx, r.Min.Y, r.Max.X, my),
	}
}

// cornerPoints returns n points uniform in [x0, x0+0.2]×[y0, y0+0.2].
func cornerPoints(n int, x0, y0 float64, seed uint64) Series {
	r := rand.New(rand.NewPCG(seed, 7))
	s := Series{X: make([]float64, n), Y: make([]float64, n)}
	for i := range n {
		s.X[i] = x0 + 0.2*r.Float64()
		s.Y[i] = y0 + 0.2*r.Float64()
	}
	return s
}

var corners = []struct {
	name   string
	x0, y0 float64 // lower-left corner of the point cloud in data units, axes [0,1]²
}{
	{"bottom-left", 0.03, 0.03},
	{"bottom-right", 0.77, 0.03},
	{"top-left", 0.03, 0.77},
	{"top-right", 0.77, 0.77},
}

// TestPNGSize checks that the decoded PNG is round(inches·DPI) pixels on
// each side, with inches computed by the test from the requested length.
func TestPNGSize(t *testing.T) {
	line := []Series{{X: []float64{0, 1, 2}, Y: []float64{1, 3, 2}}}
	tests := []struct {
		name              string
		opts              Options
		wantW, wantH      int
		widthIn, heightIn float64 // used when wantW == 0
		dpi               int
	}{
		{name: "defaults 6x4in at 120 DPI", wantW: 720, wantH: 480},
		{name: "2x1.5in at 50 DPI", opts: Options{Width: 2 * vg.Inch, Height: 1.5 * vg.Inch, DPI: 50}, wantW: 100, wantH: 75},
		{name: "5x3cm at 100 DPI", opts: Options{Width: 5 * vg.Centimeter, Height: 3 * vg.Centimeter, DPI: 100}, widthIn: 5 / 2.54, heightIn: 3 / 2.54, dpi: 100},
		{name: "only DPI set", opts: Options{DPI: 72}, wantW: 432, wantH: 288},
		{name: "only width set", opts: Options{Width: 300}, widthIn: 300.0 / 72, heightIn: 4, dpi: 120},
	}
	for _, tc := range tests {
		if tc.wantW == 0 {
			tc.wantW = int(math.Round(tc.widthIn * float64(tc.dpi)))
			tc.wantH = int(math.Round(tc.heightIn * float64(tc.dpi)))
		}
		for _, f := range []struct {
			name string
			fn   func([]Series, Options) ([]byte, error)
		}{{"LinesPNG", LinesPNG}, {"ScatterPNG", ScatterPNG}} {
			t.Run(tc.name+"/"+f.name, func(t *testing.T) {
				b, err := f.fn(line, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				got := decodePNG(t, b).Bounds()
				if got.Dx() != tc.wantW || got.Dy() != tc.wantH {
					t.Errorf("size %d×%d, want %d×%d", got.Dx(), got.Dy(), tc.wantW, tc.wantH)
				}
			})
		}
	}
}

// TestScatterCorner puts all points in one corner of fixed [0,1]² axes and
// checks that coloured pixels appear in that quarter of the data area and in
// no other quarter. With automatic ranges the cloud would fill the whole
// area, and with a flipped axis it would land in the wrong quarter.
func TestScatterCorner(t *testing.T) {
	for _, c := range corners {
		t.Run(c.name, func(t *testing.T) {
			s := cornerPoints(300, c.x0, c.y0, 1)
			opts := Options{XMin: ptr(0), XMax: ptr(1), YMin: ptr(0), YMax: ptr(1), Title: "corner", XLabel: "x", YLabel: "y"}
			img, areas, err := renderSingle("ScatterPNG", []Series{s}, nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			for q, r := range quadrants(areas[0]) {
				n := countColored(img, r)
				if q == c.name && n < 200 {
					t.Errorf("quarter %s has %d coloured pixels, want ≥ 200", q, n)
				}
				if q != c.name && n != 0 {
					t.Errorf("quarter %s has %d coloured pixels, want 0", q, n)
				}
			}

			// The same through the public function and a decoded PNG: the
			// data area fills most of the image, so the cloud must lie in
			// the corresponding half of the whole image on both axes.
			b, err := ScatterPNG([]Series{s}, opts)
			if err != nil {
				t.Fatal(err)
			}
			im := decodePNG(t, b)
			bb := im.Bounds()
			var want image.Rectangle
			switch c.name {
			case "bottom-left":
				want = image.Rect(0, bb.Dy()/2, bb.Dx()/2, bb.Dy())
			case "bottom-right":
				want = image.Rect(bb.Dx()/2, bb.Dy()/2, bb.Dx(), bb.Dy())
			case "top-left":
				want = image.Rect(0, 0, bb.Dx()/2, bb.Dy()/2)
			case "top-right":
				want = image.Rect(bb.Dx()/2, 0, bb.Dx(), bb.Dy()/2)
			}
			total, inside := countColored(im, bb), countColored(im, want)
			if total < 200 || inside != total {
				t.Errorf("decoded PNG: %d coloured pixels, %d of them in the %s half-corner; want all (≥ 200)", total, inside, c.name)
			}
		})
	}
}

// rowCentroid returns the mean row of coloured pixels in r.
func rowCentroid(img image.Image, r image.Rectangle) (float64, int) {
	sum, n := 0.0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if isColored(img.At(x, y)) {
				sum += float64(y)
				n++
			}
		}
	}
	return sum / float64(n), n
}

// TestLogYPlacement checks the logarithmic axis against log₁₀ arithmetic: on
// an axis from 0.1 to 1000 (4 decades), y = 1 sits 1/4 and y = 100 sits 3/4
// of the way up. Points with y = 0 and y < 0 are in the data and must be
// skipped without error.
func TestLogYPlacement(t *testing.T) {
	s := Series{}
	for i := range 40 {
		x := 0.1 + 0.8*float64(i)/39
		s.X = append(s.X, x, x, x, x)
		s.Y = append(s.Y, 1, 100, 0, -5)
	}
	opts := Options{LogY: true, XMin: ptr(0), XMax: ptr(1), YMin: ptr(0.1), YMax: ptr(1000)}
	img, areas, err := renderSingle("ScatterPNG", []Series{s}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := areas[0]
	mid := (a.Min.Y + a.Max.Y) / 2
	for _, tc := range []struct {
		name string
		r    image.Rectangle
		frac float64 // (log10 y − log10 0.1) / (log10 1000 − log10 0.1)
	}{
		{"y=1", image.Rect(a.Min.X, mid, a.Max.X, a.Max.Y), (0 - -1) / 4.0},
		{"y=100", image.Rect(a.Min.X, a.Min.Y, a.Max.X, mid), (2 - -1) / 4.0},
	} {
		row, n := rowCentroid(img, tc.r)
		if n == 0 {
			t.Errorf("%s: no coloured pixels", tc.name)
			continue
		}
		want := float64(a.Max.Y) - tc.frac*float64(a.Dy())
		if math.Abs(row-want) > 1.5 {
			t.Errorf("%s: dots centred on row %.2f, want %.2f (fraction %.2f of the height)", tc.name, row, want, tc.frac)
		}
	}
}

// TestLogYNonPositive checks that LogY skips zero and negative values in
// both plot kinds, with and without automatic ranges, and only fails when
// no positive value is left.
func TestLogYNonPositive(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4, 5}
	mixed := []float64{0, -1, 0.5, 0.01, 0, 2}
	if _, err := LinesPNG([]Series{{Name: "loss", X: xs, Y: mixed}}, Options{LogY: true}); err != nil {
		t.Errorf("LinesPNG with zeros and negatives: %v", err)
	}
	if _, err := ScatterPNG([]Series{{X: xs, Y: mixed}}, Options{LogY: true, YMax: ptr(10)}); err != nil {
		t.Errorf("ScatterPNG with zeros and negatives: %v", err)
	}
	// One positive value: a degenerate range that must still be valid.
	if _, err := LinesPNG([]Series{{X: xs, Y: []float64{0, 0, 3, 0, -2, 0}}}, Options{LogY: true}); err != nil {
		t.Errorf("LinesPNG with a single positive value: %v", err)
	}
	// A series with no positive value next to one with some.
	if _, err := LinesPNG([]Series{{X: xs, Y: []float64{0, 0, 0, 0, 0, 0}}, {X: xs, Y: mixed}}, Options{LogY: true}); err != nil {
		t.Errorf("LinesPNG with an all-zero series: %v", err)
	}
	_, err := LinesPNG([]Series{{X: xs, Y: []float64{0, -1, 0, -3, 0, 0}}}, Options{LogY: true})
	if err == nil || !strings.Contains(err.Error(), "log") {
		t.Errorf("LinesPNG with no positive value: err = %v, want an error about the log axis", err)
	}
}

// nearColor reports whether c is within 40 per channel of want.
func nearColor(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) int { return int(a>>8) - int(b) }
	abs := func(v int) int { return max(v, -v) }
	return abs(d(r, want.R)) < 40 && abs(d(g, want.G)) < 40 && abs(d(b, want.B)) < 40
}

// TestLinesColorsAndGaps draws two horizontal lines, y = 0.25 and y = 0.75,
// and checks that each appears in its half of the plot in its own colour,
// and that a run of NaN values breaks a third line instead of being
// bridged.
func TestLinesColorsAndGaps(t *testing.T) {
	var xs, low, high, gappy []float64
	for i := 0; i <= 100; i++ {
		x := float64(i) / 100
		xs = append(xs, x)
		low = append(low, 0.25)
		high = append(high, 0.75)
		if x > 0.4 && x < 0.6 {
			gappy = append(gappy, math.NaN())
		} else {
			gappy = append(gappy, 0.5)
		}
	}
	opts := Options{XMin: ptr(0), XMax: ptr(1), YMin: ptr(0), YMax: ptr(1)}
	img, areas, err := renderSingle("LinesPNG", nil, []Series{{X: xs, Y: low}, {X: xs, Y: high}, {X: xs, Y: gappy}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := areas[0]
	c0, c1 := seriesColor(0), seriesColor(1)
	if c0 == c1 {
		t.Fatalf("series 0 and 1 share colour %v", c0)
	}
	count := func(r image.Rectangle, c color.RGBA) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if nearColor(img.At(x, y), c) {
					n++
				}
			}
		}
		return n
	}
	rowOf := func(v float64) int { return a.Max.Y - int(math.Round(v*float64(a.Dy()))) }
	colOf := func(v float64) int { return a.Min.X + int(math.Round(v*float64(a.Dx()))) }
	band := func(v float64) image.Rectangle { // ±4 px around the line y = v
		return image.Rect(a.Min.X, rowOf(v)-4, a.Max.X, rowOf(v)+5)
	}
	if n := count(band(0.25), c0); n < a.Dx() {
		t.Errorf("line 0 (y=0.25): %d pixels of its colour near its row, want ≥ %d (solid line)", n, a.Dx())
	}
	if n := count(band(0.75), c1); n < a.Dx()/2 {
		t.Errorf("line 1 (y=0.75): %d pixels of its colour near its row, want ≥ %d (dashed line)", n, a.Dx()/2)
	}
	if n := count(band(0.75), c0) + count(band(0.25), c1); n != 0 {
		t.Errorf("%d pixels with the colour of the other line", n)
	}
	left := image.Rect(colOf(0.1), rowOf(0.5)-4, colOf(0.3), rowOf(0.5)+5)
	gap := image.Rect(colOf(0.45), rowOf(0.5)-4, colOf(0.55), rowOf(0.5)+5)
	if n := countColored(img, left); n == 0 {
		t.Errorf("line 2 missing left of its NaN gap")
	}
	if n := countColored(img, gap); n != 0 {
		t.Errorf("line 2 has %d coloured pixels inside its NaN gap, want 0", n)
	}
}

// TestEqualAspect checks that with Equal one data unit spans the same
// number of pixels on both axes: the data area's width/height equals the
// ratio of the axis ranges.
func TestEqualAspect(t *testing.T) {
	tests := []struct {
		name                   string
		xmin, xmax, ymin, ymax float64
	}{
		{"wide data", 0, 4, 0, 1},
		{"square data", 0, 1, 0, 1},
		{"tall data", -1, 1, -3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := cornerPoints(100, tc.xmin, tc.ymin, 2)
			opts := Options{Equal: true, XMin: &tc.xmin, XMax: &tc.xmax, YMin: &tc.ymin, YMax: &tc.ymax, Title: "equal", XLabel: "x", YLabel: "y"}
			_, areas, err := renderSingle("ScatterPNG", []Series{s}, nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			a := areas[0]
			pxPerX := float64(a.Dx()) / (tc.xmax - tc.xmin)
			pxPerY := float64(a.Dy()) / (tc.ymax - tc.ymin)
			// Rounding the area to whole pixels allows ±1 px per side.
			tol := 2/float64(a.Dx()) + 2/float64(a.Dy())
			if math.Abs(pxPerX/pxPerY-1) > tol {
				t.Errorf("data area %v: %.2f px per x unit, %.2f px per y unit", a, pxPerX, pxPerY)
			}
		})
	}
}

// TestAutoRangeCoversData checks automatic ranges: every point of a cloud
// with a far-out point lands inside the data area, so the far point's
// corner of the data area gets coloured pixels.
func TestAutoRangeCoversData(t *testing.T) {
	s := cornerPoints(200, 0, 0, 3)
	s.X = append(s.X, 10)
	s.Y = append(s.Y, 10)
	img, areas, err := renderSingle("ScatterPNG", []Series{s}, nil, Options{PointAlpha: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := areas[0]
	topRight := image.Rect(a.Max.X-10, a.Min.Y-3, a.Max.X+3, a.Min.Y+10)
	if countColored(img, topRight) == 0 {
		t.Errorf("the point (10, 10) is not drawn at the top-right corner of the data area %v", a)
	}
}

// TestErrors checks that invalid input gives an error naming the function
// and the problem.
func TestErrors(t *testing.T) {
	good := []Series{{X: []float64{0, 1}, Y: []float64{0, 1}}}
	nan := math.NaN()
	tests := []struct {
		name string
		call func() error
		want []string
	}{
		{"lines: no series", func() error { _, err := LinesPNG(nil, Options{}); return err }, []string{"LinesPNG", "no series"}},
		{"scatter: no groups", func() error { _, err := ScatterPNG(nil, Options{}); return err }, []string{"ScatterPNG", "no groups"}},
		{"lines: length mismatch", func() error {
			_, err := LinesPNG([]Series{good[0], {Name: "bad", X: []float64{1, 2, 3}, Y: []float64{1}}}, Options{})
			return err
		}, []string{"LinesPNG", "series 1", `"bad"`, "len(X) = 3", "len(Y) = 1"}},
		{"scatter: empty group", func() error {
			_, err := ScatterPNG([]Series{{Name: "e"}}, Options{})
			return err
		}, []string{"ScatterPNG", "group 0", "no points"}},
		{"lines: only NaN and Inf", func() error {
			_, err := LinesPNG([]Series{{X: []float64{nan, 1}, Y: []float64{1, math.Inf(1)}}}, Options{})
			return err
		}, []string{"LinesPNG", "no point"}},
		{"negative width", func() error { _, err := LinesPNG(good, Options{Width: -1}); return err }, []string{"LinesPNG", "Width"}},
		{"negative DPI", func() error { _, err := ScatterPNG(good, Options{DPI: -3}); return err }, []string{"ScatterPNG", "DPI", "-3"}},
		{"huge image", func() error { _, err := LinesPNG(good, Options{DPI: 100000}); return err }, []string{"LinesPNG", "pixels"}},
		{"XMin ≥ XMax", func() error { _, err := LinesPNG(good, Options{XMin: ptr(2), XMax: ptr(1)}); return err }, []string{"LinesPNG", "XMin", "XMax"}},
		{"NaN YMax", func() error { _, err := LinesPNG(good, Options{YMax: ptr(nan)}); return err }, []string{"LinesPNG", "YMax", "finite"}},
		{"LogY with YMin 0", func() error { _, err := LinesPNG(good, Options{LogY: true, YMin: ptr(0)}); return err }, []string{"LinesPNG", "LogY", "YMin"}},
		{"Equal with LogY", func() error { _, err := ScatterPNG(good, Options{LogY: true, Equal: true}); return err }, []string{"ScatterPNG", "Equal", "LogY"}},
		{"PointAlpha > 1", func() error { _, err := ScatterPNG(good, Options{PointAlpha: 2}); return err }, []string{"ScatterPNG", "PointAlpha"}},
		{"range overflows float64", func() error {
			_, err := ScatterPNG([]Series{{X: []float64{-1e308, 1e308}, Y: []float64{0, 1}}}, Options{})
			return err
		}, []string{"ScatterPNG", "X range", "too wide"}},
		{"fixed range overflows float64", func() error {
			_, err := LinesPNG(good, Options{YMin: ptr(-math.MaxFloat64), YMax: ptr(math.MaxFloat64)})
			return err
		}, []string{"LinesPNG", "Y range", "too wide"}},
		{"grid: no panels", func() error { _, err := GridPNG(nil, 2, 0, 0, 0); return err }, []string{"GridPNG", "no panels"}},
		{"grid: negative cols", func() error { _, err := GridPNG([]Panel{{Lines: good}}, -1, 0, 0, 0); return err }, []string{"GridPNG", "cols", "-1"}},
		{"grid: negative size", func() error { _, err := GridPNG([]Panel{{Lines: good}}, 1, -vg.Inch, 0, 0); return err }, []string{"GridPNG", "panel size"}},
		{"grid: negative dpi", func() error { _, err := GridPNG([]Panel{{Lines: good}}, 1, 0, 0, -1); return err }, []string{"GridPNG", "dpi"}},
		{"grid: empty panel", func() error {
			_, err := GridPNG([]Panel{{Lines: good}, {Title: "blank"}}, 2, 0, 0, 0)
			return err
		}, []string{"GridPNG", "panel 1", `"blank"`}},
		{"grid: bad series in a panel", func() error {
			_, err := GridPNG([]Panel{{Lines: good}, {Scatter: []Series{{X: []float64{1}, Y: nil}}}}, 2, 0, 0, 0)
			return err
		}, []string{"GridPNG", "panel 1 group 0", "len(X) = 1"}},
		{"grid: bad options in a panel", func() error {
			_, err := GridPNG([]Panel{{Lines: good, Opts: Options{YMin: ptr(1), YMax: ptr(0)}}}, 1, 0, 0, 0)
			return err
		}, []string{"GridPNG", "YMin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestNaNSkipped checks that NaN and Inf points are skipped, not fatal, and
// do not stretch automatic ranges (an Inf would otherwise make the range
// infinite and every finite point vanish).
func TestNaNSkipped(t *testing.T) {
	s := cornerPoints(200, 0, 0, 4)
	s.X = append(s.X, math.NaN(), math.Inf(1), 0.5)
	s.Y = append(s.Y, 0.5, 0.5, math.Inf(-1))
	img, areas, err := renderSingle("ScatterPNG", []Series{s}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The finite points span the automatic range, so they fill the data
	// area: every quarter has dots.
	for q, r := range quadrants(areas[0]) {
		if countColored(img, r) == 0 {
			t.Errorf("quarter %s is empty; non-finite points distorted the range", q)
		}
	}
}

// TestGridLayout checks the grid size (rows = ⌈n/cols⌉), the placement of
// panels in row-major order, the alignment of their data areas, and that
// each panel's data stays in its own data area.
func TestGridLayout(t *testing.T) {
	var panels []Panel
	for i := range 5 {
		c := corners[i%4]
		panels = append(panels, Panel{
			Title:   c.name,
			Scatter: []Series{cornerPoints(150, c.x0, c.y0, uint64(i))},
			Opts:    Options{XMin: ptr(0), XMax: ptr(1), YMin: ptr(0), YMax: ptr(1)},
		})
	}
	const dpi = 80
	r, err := renderGrid("GridPNG", panels, 2, 2*vg.Inch, 1.5*vg.Inch, dpi)
	if err != nil {
		t.Fatal(err)
	}
	// 5 panels in 2 columns: 3 rows.
	if b := r.img.Bounds(); b.Dx() != 2*2*dpi || b.Dy() != 3*1.5*dpi {
		t.Errorf("grid is %d×%d, want %d×%d", b.Dx(), b.Dy(), 2*2*dpi, 3*3*dpi/2)
	}
	if len(r.data) != 5 {
		t.Fatalf("got %d data areas, want 5", len(r.data))
	}
	for i, a := range r.data {
		row, col := i/2, i%2
		// Row-major order: panel i is right of panel i−1 in the same row,
		// and below the panel above it.
		if col == 1 && a.Min.X <= r.data[i-1].Max.X {
			t.Errorf("panel %d %v is not right of panel %d %v", i, a, i-1, r.data[i-1])
		}
		if row > 0 && a.Min.Y <= r.data[i-2].Max.Y {
			t.Errorf("panel %d %v is not below panel %d %v", i, a, i-2, r.data[i-2])
		}
		// Aligned: all data areas have the same size.
		if d := a.Size().Sub(r.data[0].Size()); max(d.X, -d.X) > 1 || max(d.Y, -d.Y) > 1 {
			t.Errorf("panel %d data area %v differs in size from panel 0 %v", i, a.Size(), r.data[0].Size())
		}
		want := corners[i%4].name
		for q, qr := range quadrants(a) {
			n := countColored(r.img, qr)
			if q == want && n < 50 {
				t.Errorf("panel %d quarter %s has %d coloured pixels, want ≥ 50", i, q, n)
			}
			if q != want && n != 0 {
				t.Errorf("panel %d quarter %s has %d coloured pixels, want 0", i, q, n)
			}
		}
	}
	// The sixth cell (row 2, column 1) is blank.
	empty := image.Rect(r.data[4].Max.X+20, r.data[4].Min.Y, r.img.Bounds().Max.X, r.data[4].Max.Y)
	for y := empty.Min.Y; y < empty.Max.Y; y++ {
		for x := empty.Min.X; x < empty.Max.X; x++ {
			if c := color.GrayModel.Convert(r.img.At(x, y)).(color.Gray); c.Y != 255 {
				t.Fatalf("blank cell has pixel %v at (%d, %d)", r.img.At(x, y), x, y)
			}
		}
	}

	// The public function: size of the decoded PNG, cols = 0 is one row.
	b, err := GridPNG(panels, 0, 1*vg.Inch, 1*vg.Inch, 60)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodePNG(t, b).Bounds(); got.Dx() != 5*60 || got.Dy() != 60 {
		t.Errorf("one-row grid is %d×%d, want %d×%d", got.Dx(), got.Dy(), 5*60, 60)
	}
}

// TestGridLegendAndLines checks a panel mixing scatter groups and lines:
// the two groups and the line get three different colours.
func TestGridLegendAndLines(t *testing.T) {
	p := Panel{
		Scatter: []Series{{Name: "a", X: []float64{0.2}, Y: []float64{0.2}}, {Name: "b", X: []float64{0.8}, Y: []float64{0.2}}},
		Lines:   []Series{{Name: "mean", X: []float64{0, 1}, Y: []float64{0.7, 0.7}}},
		Opts:    Options{XMin: ptr(0), XMax: ptr(1), YMin: ptr(0), YMax: ptr(1), PointAlpha: 1, PointRadius: 4},
	}
	r, err := renderGrid("GridPNG", []Panel{p}, 1, 3*vg.Inch, 3*vg.Inch, 100)
	if err != nil {
		t.Fatal(err)
	}
	a := r.data[0]
	// found reports whether a pixel of colour c lies within ±4 px of the
	// data point (x, y); the line is dashed, so a single pixel may fall
	// into a gap.
	found := func(x, y float64, c color.RGBA) bool {
		px, py := a.Min.X+int(x*float64(a.Dx())), a.Max.Y-int(y*float64(a.Dy()))
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				if nearColor(r.img.At(px+dx, py+dy), c) {
					return true
				}
			}
		}
		return false
	}
	pts := []struct{ x, y float64 }{{0.2, 0.2}, {0.8, 0.2}, {0.3, 0.7}}
	for i, pt := range pts {
		for j := range pts {
			if got := found(pt.x, pt.y, seriesColor(j)); got != (i == j) {
				t.Errorf("colour of series %d near series %d at (%v, %v): found = %v, want %v", j, i, pt.x, pt.y, got, i == j)
			}
		}
	}
}

// TestStylesDistinct checks that the first 49 series get pairwise
// different (colour, dash pattern) pairs, and the first 10 different colours.
func TestStylesDistinct(t *testing.T) {
	seen := map[string]int{}
	colours := map[color.RGBA]int{}
	for i := range 49 {
		key := fmt.Sprint(seriesColor(i), seriesDashes(i))
		if j, ok := seen[key]; ok {
			t.Errorf("series %d and %d share colour and dashes %s", j, i, key)
		}
		seen[key] = i
		if i < 10 {
			if j, ok := colours[seriesColor(i)]; ok {
				t.Errorf("series %d and %d share colour %v", j, i, seriesColor(i))
			}
			colours[seriesColor(i)] = i
			// Distinct is not enough: two reds side by side read as one
			// class. Every pair stays 60 apart in RGB.
			for j := range i {
				a, b := seriesColor(i), seriesColor(j)
				dr, dg, db := float64(a.R)-float64(b.R), float64(a.G)-float64(b.G), float64(a.B)-float64(b.B)
				if d := math.Sqrt(dr*dr + dg*dg + db*db); d < 60 {
					t.Errorf("series %d and %d have colours only %.0f apart: %v, %v", j, i, d, b, a)
				}
			}
		}
	}
}
