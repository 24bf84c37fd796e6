package plots

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// hmDecode decodes PNG bytes with image.Decode (the PNG decoder is
// registered by plots.go's import of image/png).
func hmDecode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("image.Decode: %v", err)
	}
	if format != "png" {
		t.Fatalf("image.Decode: format %q, want png", format)
	}
	return img
}

// rgb8 returns the 8-bit channels of c.
func rgb8(c color.Color) [3]int {
	r, g, b, _ := c.RGBA()
	return [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
}

// colorDist is the largest channel difference of two colours, 0..255.
func colorDist(a, b color.Color) int {
	x, y := rgb8(a), rgb8(b)
	d := 0
	for k := range x {
		d = max(d, x[k]-y[k], y[k]-x[k])
	}
	return d
}

// relLum is the WCAG relative luminance of c, written independently of
// contrastText.
func relLum(c color.Color) float64 {
	ch := rgb8(c)
	var l [3]float64
	for k, v := range ch {
		s := float64(v) / 255
		if s <= 0.04045 {
			l[k] = s / 12.92
		} else {
			l[k] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}

// cellCenter returns the pixel at the centre of cell (i, j) of a grid of
// nr×nc cells drawn in the pixel rectangle g, row 0 at the top.
func cellCenter(g image.Rectangle, nr, nc, i, j int) image.Point {
	cw := float64(g.Dx()) / float64(nc)
	ch := float64(g.Dy()) / float64(nr)
	return image.Pt(g.Min.X+int((float64(j)+0.5)*cw), g.Min.Y+int((float64(i)+0.5)*ch))
}

func TestHeatmapPNGSize(t *testing.T) {
	m := [][]float64{{0, 1}, {2, 3}}
	tests := []struct {
		name         string
		opts         HeatmapOptions
		wantW, wantH int
	}{
		{"defaults 6x5in at 120 DPI", HeatmapOptions{}, 720, 600},
		{"4x3in at 100 DPI", HeatmapOptions{Width: 4 * vg.Inch, Height: 3 * vg.Inch, DPI: 100}, 400, 300},
		{"300x200pt at default DPI", HeatmapOptions{Width: 300, Height: 200}, 500, 333}, // 200/72·120 = 333.3
		{"only DPI", HeatmapOptions{DPI: 60}, 360, 300},
		{"annotated with labels", HeatmapOptions{Annotate: true, Title: "t", XLabel: "x", YLabel: "y", RowLabels: []string{"a", "b"}, ColLabels: []string{"c", "d"}}, 720, 600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := HeatmapPNG(m, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := hmDecode(t, b).Bounds()
			if got.Dx() != tc.wantW || got.Dy() != tc.wantH {
				t.Errorf("image is %d×%d, want %d×%d", got.Dx(), got.Dy(), tc.wantW, tc.wantH)
			}
		})
	}
}

// TestHeatmapCellColors samples the centre of every cell and compares it
// with the colour scale at the cell's value: it checks row 0 at the top,
// column 0 on the left, and the value range (data, or Min/Max with
// clipping).
func TestHeatmapCellColors(t *testing.T) {
	m := [][]float64{ // increasing down the rows, so row order matters
		{-2, -1, 0, 1},
		{2, 3, 4, 5},
		{6, 7, 8, 10},
	}
	tests := []struct {
		name     string
		opts     HeatmapOptions
		fraction func(v float64) float64 // position of v on the scale
	}{
		{"data range", HeatmapOptions{}, func(v float64) float64 { return (v + 2) / 12 }},
		{"Min and Max", HeatmapOptions{Min: ptrF(0), Max: ptrF(5)}, func(v float64) float64 { return math.Max(0, math.Min(1, v/5)) }},
		{"only Max", HeatmapOptions{Max: ptrF(4)}, func(v float64) float64 { return math.Min(1, (v+2)/6) }},
		{"labels and title", HeatmapOptions{Title: "T", XLabel: "X", YLabel: "Y", RowLabels: []string{"r0", "r1", "r2"}, ColLabels: []string{"c0", "c1", "c2", "a long column label"}},
			func(v float64) float64 { return (v + 2) / 12 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := renderHeatmap("test", m, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			g := r.data[0]
			for i, row := range m {
				for j, v := range row {
					p := cellCenter(g, len(m), len(row), i, j)
					got := r.img.At(p.X, p.Y)
					want := heatColor(tc.fraction(v))
					if d := colorDist(got, want); d > 3 {
						t.Errorf("cell (%d, %d) value %v: pixel %v is %v, want %v (distance %d)", i, j, v, p, rgb8(got), rgb8(want), d)
					}
				}
			}
			// Independently of heatColor: the first row (low values) is
			// darker than the last row (high values), left to right too.
			top := relLum(r.img.At(cellCenter(g, 3, 4, 0, 0).X, cellCenter(g, 3, 4, 0, 0).Y))
			bot := relLum(r.img.At(cellCenter(g, 3, 4, 2, 3).X, cellCenter(g, 3, 4, 2, 3).Y))
			if !(top < bot) {
				t.Errorf("luminance of top-left cell %.3f ≥ bottom-right cell %.3f; row 0 should be at the top", top, bot)
			}
		})
	}
}

func ptrF(v float64) *float64 { return &v }

// TestHeatmapColorBar checks that the colour bar runs from the low colour
// at the bottom to the high colour at the top, with rising luminance.
func TestHeatmapColorBar(t *testing.T) {
	r, err := renderHeatmap("test", [][]float64{{0, 1}, {2, 3}}, HeatmapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bar := r.data[1]
	if bar.Min.X <= r.data[0].Max.X {
		t.Fatalf("colour bar %v is not right of the cells %v", bar, r.data[0])
	}
	x := (bar.Min.X + bar.Max.X) / 2
	prev := -1.0
	for k := 1; k <= 9; k++ { // from the bottom (k = 1) up
		f := float64(k) / 10
		y := bar.Max.Y - int(math.Round(f*float64(bar.Dy())))
		c := r.img.At(x, y)
		if d := colorDist(c, heatColor(f)); d > 4 {
			t.Errorf("bar at %.0f%% height: %v, want %v", 100*f, rgb8(c), rgb8(heatColor(f)))
		}
		if l := relLum(c); !(l > prev) {
			t.Errorf("bar luminance at %.0f%% height %.4f is not above %.4f below it", 100*f, l, prev)
		} else {
			prev = l
		}
	}
}

// TestHeatmapAnnotate checks that annotations appear only when asked, in
// white on the dark cell and in black on the bright one.
func TestHeatmapAnnotate(t *testing.T) {
	m := [][]float64{{0}, {1}} // row 0 darkest, row 1 brightest
	white := func(c color.Color) bool { ch := rgb8(c); return min(ch[0], ch[1], ch[2]) > 200 }
	black := func(c color.Color) bool { ch := rgb8(c); return max(ch[0], ch[1], ch[2]) < 60 }
	count := func(img image.Image, r image.Rectangle, f func(color.Color) bool) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if f(img.At(x, y)) {
					n++
				}
			}
		}
		return n
	}
	for _, annotate := range []bool{false, true} {
		t.Run(fmt.Sprintf("Annotate=%v", annotate), func(t *testing.T) {
			r, err := renderHeatmap("test", m, HeatmapOptions{Annotate: annotate})
			if err != nil {
				t.Fatal(err)
			}
			g := r.data[0]
			mid := g.Min.Y + g.Dy()/2
			// Stay 3 pixels inside each cell, away from the frame.
			dark := image.Rect(g.Min.X+3, g.Min.Y+3, g.Max.X-3, mid-3)
			bright := image.Rect(g.Min.X+3, mid+3, g.Max.X-3, g.Max.Y-3)
			nw, nb := count(r.img, dark, white), count(r.img, bright, black)
			if annotate && (nw < 20 || nb < 20) {
				t.Errorf("annotation pixels: %d white in the dark cell, %d black in the bright cell; want ≥ 20 each", nw, nb)
			}
			if !annotate && (nw != 0 || nb != 0) {
				t.Errorf("without Annotate: %d white pixels in the dark cell, %d black in the bright cell; want 0", nw, nb)
			}
			if nd, nbw := count(r.img, dark, black), count(r.img, bright, white); nd != 0 || nbw != 0 {
				t.Errorf("low-contrast text: %d black pixels in the dark cell, %d white in the bright cell; want 0", nd, nbw)
			}
		})
	}
}

func TestHeatmapPNGErrors(t *testing.T) {
	ok := [][]float64{{1, 2}, {3, 4}}
	tests := []struct {
		name   string
		values [][]float64
		opts   HeatmapOptions
		want   string // substring of the error
	}{
		{"nil matrix", nil, HeatmapOptions{}, "no rows"},
		{"empty row", [][]float64{{}}, HeatmapOptions{}, "no columns"},
		{"ragged", [][]float64{{1, 2}, {3}}, HeatmapOptions{}, "row 1 has 1 values, row 0 has 2"},
		{"NaN", [][]float64{{1, 2}, {3, math.NaN()}}, HeatmapOptions{}, "values[1][1] is NaN"},
		{"+Inf", [][]float64{{1, math.Inf(1)}, {3, 4}}, HeatmapOptions{}, "values[0][1] is +Inf"},
		{"row labels", ok, HeatmapOptions{RowLabels: []string{"a"}}, "len(RowLabels) = 1, want one label per row (2)"},
		{"col labels", ok, HeatmapOptions{ColLabels: []string{"a", "b", "c"}}, "len(ColLabels) = 3, want one label per column (2)"},
		{"Min = Max", ok, HeatmapOptions{Min: ptrF(1), Max: ptrF(1)}, "Min (1) must be < Max (1)"},
		{"Min > Max", ok, HeatmapOptions{Min: ptrF(2), Max: ptrF(1)}, "Min (2) must be < Max (1)"},
		{"Min NaN", ok, HeatmapOptions{Min: ptrF(math.NaN())}, "Min must be finite"},
		{"Max Inf", ok, HeatmapOptions{Max: ptrF(math.Inf(1))}, "Max must be finite"},
		{"negative width", ok, HeatmapOptions{Width: -1}, "Width and Height must be ≥ 0"},
		{"negative DPI", ok, HeatmapOptions{DPI: -3}, "DPI must be ≥ 0"},
		{"huge image", ok, HeatmapOptions{DPI: 100000}, "each side must be in [1, 16384]"},
		{"bad format", ok, HeatmapOptions{Annotate: true, Format: "%d"}, `Format "%d" does not format one float64`},
		{"no room", ok, HeatmapOptions{Width: vg.Inch, Height: vg.Inch}, "leave only"},
		{"range overflows", [][]float64{{-math.MaxFloat64, math.MaxFloat64}}, HeatmapOptions{}, "too wide"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := HeatmapPNG(tc.values, tc.opts)
			if err == nil {
				t.Fatalf("got %d bytes and no error, want an error containing %q", len(b), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "plots: HeatmapPNG: ") {
				t.Errorf("error %q, want prefix %q and %q in it", err, "plots: HeatmapPNG: ", tc.want)
			}
		})
	}
}

// TestHeatmapRange checks the value range chosen when Min or Max is
// missing, including the one-sided and constant cases.
func TestHeatmapRange(t *testing.T) {
	tests := []struct {
		name           string
		values         [][]float64
		opts           HeatmapOptions
		wantLo, wantHi float64
	}{
		{"data", [][]float64{{-0.5, 2}, {1, 0}}, HeatmapOptions{}, -0.5, 2},
		{"Min only", [][]float64{{1, 2}}, HeatmapOptions{Min: ptrF(0)}, 0, 2},
		{"Min above data", [][]float64{{-3, -2}}, HeatmapOptions{Min: ptrF(0)}, 0, 1},
		{"Max below data", [][]float64{{3, 4}}, HeatmapOptions{Max: ptrF(1)}, 0, 1},
		{"constant", [][]float64{{5, 5}}, HeatmapOptions{}, 4, 6},
		{"zeros with Min 0", [][]float64{{0, 0}}, HeatmapOptions{Min: ptrF(0)}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi, _, _, err := checkHeatmap("test", tc.values, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if lo != tc.wantLo || hi != tc.wantHi {
				t.Errorf("range [%v, %v], want [%v, %v]", lo, hi, tc.wantLo, tc.wantHi)
			}
		})
	}
}

// TestColorbarTicks checks the ticks of the colour bar: both ends
// labelled with their value, increasing, spaced for the text, 3 to 6
// labels on a bar of usual height.
func TestColorbarTicks(t *testing.T) {
	tests := []struct {
		lo, hi       float64
		barH, lineH  vg.Length
		minN, maxN   int
		wantLoLabel  string
		wantHiLabel  string
		labelsParsed bool // every label parses as its value
	}{
		{0, 1, 400, 10, 3, 6, "0", "1", true},
		{-1, 1, 400, 10, 3, 6, "-1", "1", true},
		{-0.0956, 0.877, 400, 10, 3, 6, "-0.0956", "0.877", true},
		{0, 97, 400, 10, 3, 6, "0", "97", true},
		{1234.5, 98765.4, 300, 10, 3, 6, "1234", "98765", false},
		{0, 1, 20, 10, 2, 2, "0", "1", true}, // room for the ends only
		{0, 1, 5, 10, 1, 1, "0", "", true},   // too short for two labels
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("[%v,%v] bar %v", tc.lo, tc.hi, tc.barH), func(t *testing.T) {
			ticks := colorbarTicks(tc.lo, tc.hi, tc.barH, tc.lineH)
			if len(ticks) < tc.minN || len(ticks) > tc.maxN {
				t.Fatalf("%d ticks %v, want %d to %d", len(ticks), ticks, tc.minN, tc.maxN)
			}
			if ticks[0].Value != tc.lo || !numEqual(ticks[0].Label, tc.wantLoLabel) {
				t.Errorf("first tick %v %q, want %v %q", ticks[0].Value, ticks[0].Label, tc.lo, tc.wantLoLabel)
			}
			if tc.wantHiLabel != "" {
				last := ticks[len(ticks)-1]
				if last.Value != tc.hi || !numEqual(last.Label, tc.wantHiLabel) {
					t.Errorf("last tick %v %q, want %v %q", last.Value, last.Label, tc.hi, tc.wantHiLabel)
				}
			}
			span := tc.hi - tc.lo
			for k, tk := range ticks {
				if k > 0 {
					gap := vg.Length((tk.Value-ticks[k-1].Value)/span) * tc.barH
					if gap < 1.2*tc.lineH {
						t.Errorf("ticks %v and %v are %.1f points apart, want ≥ %.1f", ticks[k-1].Value, tk.Value, gap, 1.2*tc.lineH)
					}
				}
				if tc.labelsParsed {
					v, err := strconv.ParseFloat(tk.Label, 64)
					if err != nil || math.Abs(v-tk.Value) > 0.005*math.Abs(tk.Value)+1e-12 {
						t.Errorf("tick %v has label %q", tk.Value, tk.Label)
					}
				}
			}
		})
	}
}

// numEqual reports whether two tick labels name the same number ("0.0"
// and "0" do).
func numEqual(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x == y
}

// TestHeatmapLabelLayout checks how column labels are placed: flat when
// they fit, slanted when long, vertical when the columns are narrow, and
// that long labels still leave most of the figure to the cells.
func TestHeatmapLabelLayout(t *testing.T) {
	long := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("caption %d: a digit %s", i, strings.Repeat("x", 10)) // ~30 characters
		}
		return s
	}
	square := func(r, c int) [][]float64 {
		m := make([][]float64, r)
		for i := range m {
			m[i] = make([]float64, c)
			m[i][0] = float64(i)
		}
		return m
	}
	tests := []struct {
		name    string
		values  [][]float64
		opts    HeatmapOptions
		wantRot float64
	}{
		{"short labels", square(10, 10), HeatmapOptions{}, 0},
		{"long labels", square(10, 10), HeatmapOptions{RowLabels: long(10), ColLabels: long(10), Annotate: true}, math.Pi / 4},
		{"long labels small figure", square(10, 10), HeatmapOptions{RowLabels: long(10), ColLabels: long(10), Width: 4 * vg.Inch, Height: 3.5 * vg.Inch}, math.Pi / 4},
		{"many narrow columns", square(3, 60), HeatmapOptions{ColLabels: long(60)}, math.Pi / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			w, h := opts.Width, opts.Height
			if w == 0 {
				w = DefaultWidth
			}
			if h == 0 {
				h = DefaultHeatmapHeight
			}
			lo, hi, rows, cols, err := checkHeatmap("test", tc.values, opts)
			if err != nil {
				t.Fatal(err)
			}
			area := vg.Rectangle{Min: vg.Point{X: 6, Y: 6}, Max: vg.Point{X: w - 6, Y: h - 6}}
			L, err := layoutHeatmap("test", area, tc.values, lo, hi, rows, cols, opts)
			if err != nil {
				t.Fatal(err)
			}
			if L.colRot != tc.wantRot {
				t.Errorf("column labels rotated by %.3f, want %.3f", L.colRot, tc.wantRot)
			}
			gw, gh := L.grid.Max.X-L.grid.Min.X, L.grid.Max.Y-L.grid.Min.Y
			if gw < 0.4*w || gh < 0.3*h {
				t.Errorf("cells get %.0f × %.0f of a %.0f × %.0f point figure, want ≥ 40%% × 30%%", gw, gh, w, h)
			}
			if !(L.grid.Min.X >= area.Min.X && L.bar.Max.X <= area.Max.X && L.grid.Min.Y >= area.Min.Y && L.grid.Max.Y <= area.Max.Y) {
				t.Errorf("cells %v or bar %v leave the area %v", L.grid, L.bar, area)
			}
			if opts.Annotate && L.annotSize < heatMinText {
				t.Errorf("annotation size %v, want ≥ %v", L.annotSize, heatMinText)
			}
			if _, err := HeatmapPNG(tc.values, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHeatColorScale checks that the colour scale is sequential: its
// luminance strictly increases from indigo to yellow.
func TestHeatColorScale(t *testing.T) {
	prev := -1.0
	for k := 0; k <= 50; k++ {
		l := relLum(heatColor(float64(k) / 50))
		if !(l > prev) {
			t.Fatalf("luminance at %v is %.4f, not above %.4f", float64(k)/50, l, prev)
		}
		prev = l
	}
	if heatColor(-1) != heatColor(0) || heatColor(2) != heatColor(1) {
		t.Errorf("values outside [0, 1] are not clipped to the ends")
	}
}

func TestContrastText(t *testing.T) {
	tests := []struct {
		bg   color.Color
		want color.Color
	}{
		{color.White, color.Black},
		{color.Black, color.White},
		{heatColor(0), color.White},
		{heatColor(1), color.Black},
		{color.NRGBA{R: 255, G: 255, A: 255}, color.Black}, // yellow
		{color.NRGBA{B: 160, A: 255}, color.White},         // dark blue
	}
	for _, tc := range tests {
		if got := contrastText(tc.bg); got != tc.want {
			t.Errorf("contrastText(%v) = %v, want %v", rgb8(tc.bg), got, tc.want)
		}
	}
}

func TestShorten(t *testing.T) {
	sty := mathStyle(9, 0, 0)
	long := "a rather long caption of a handwritten digit"
	tests := []struct {
		s    string
		maxW vg.Length
	}{
		{"short", 100}, {long, 60}, {long, 20}, {"ééééééééééééééé", 20}, {long, 1},
	}
	for _, tc := range tests {
		got := shorten(sty, tc.s, tc.maxW)
		switch {
		case sty.Width(tc.s) <= tc.maxW:
			if got != tc.s {
				t.Errorf("shorten(%q, %v) = %q, want it unchanged", tc.s, tc.maxW, got)
			}
		case got == "…":
		default:
			prefix, ok := strings.CutSuffix(got, "…")
			if !ok || !strings.HasPrefix(tc.s, prefix) || sty.Width(got) > tc.maxW {
				t.Errorf("shorten(%q, %v) = %q (width %v), want a prefix + \"…\" within the width", tc.s, tc.maxW, got, sty.Width(got))
			}
		}
	}
}
