package captions

import (
	"math"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// blank returns an h×w image of background (−1).
func blank(h, w int) []float32 {
	p := make([]float32, h*w)
	for i := range p {
		p[i] = -1
	}
	return p
}

// fromArt builds an image from rows of text: '#' is ink (1), anything else
// background.
func fromArt(rows ...string) ([]float32, int, int) {
	h, w := len(rows), len(rows[0])
	p := blank(h, w)
	for r, row := range rows {
		for c, ch := range row {
			if ch == '#' {
				p[r*w+c] = 1
			}
		}
	}
	return p, h, w
}

// shearedBar returns a 28×28 image whose row at height y (counted upwards
// from the bottom row) holds ink centred exactly at x = 14 + s·(y − 12) for
// y = 2…21, three pixels wide where the centre is a whole number and two
// where it is a half: every row centroid lies on the line x = 14 + s·(y − 12), so
// the Slant is s exactly, whatever the row widths.
func shearedBar(s float64) []float32 {
	const h, w = 28, 28
	p := blank(h, w)
	for y := 2; y <= 21; y++ {
		c := 14 + s*float64(y-12)
		r := h - 1 - y
		if c == math.Floor(c) {
			for x := int(c) - 1; x <= int(c)+1; x++ {
				p[r*w+x] = 1
			}
		} else {
			p[r*w+int(math.Floor(c))] = 1
			p[r*w+int(math.Ceil(c))] = 1
		}
	}
	return p
}

func TestMeasure(t *testing.T) {
	// A vertical bar 3 wide and 20 tall: A = 60, P = 2·20 + 2·3 = 46.
	bar := blank(28, 28)
	for r := 4; r < 24; r++ {
		for c := 12; c < 15; c++ {
			bar[r*28+c] = 0.5
		}
	}
	// The same bar against the top-left corner: outside counts as background.
	corner := blank(28, 28)
	for r := range 20 {
		for c := range 3 {
			corner[r*28+c] = 1
		}
	}
	dot, _, _ := fromArt("...", ".#.", "...")
	right, rh, rw := fromArt( // the top is to the right of the bottom
		"....##",
		"...##.",
		"..##..",
		".##...",
		"##....",
	)
	left, lh, lw := fromArt(
		"##....",
		".##...",
		"..##..",
		"...##.",
		"....##",
	)
	barSize := math.Sqrt(2.0/3 + 399.0/12) // var x of 3 columns, var y of 20 rows
	tests := []struct {
		name   string
		pixels []float32
		h, w   int
		want   Attributes
		tol    float64
	}{
		{"vertical bar 3×20", bar, 28, 28, Attributes{Thickness: 120.0 / 46, Slant: 0, Size: barSize}, 1e-12},
		{"bar at the corner", corner, 28, 28, Attributes{Thickness: 120.0 / 46, Slant: 0, Size: barSize}, 1e-12},
		{"one pixel", dot, 3, 3, Attributes{Thickness: 0.5}, 0},
		{"empty", blank(5, 7), 5, 7, Attributes{}, 0},
		{"pixel exactly 0 is background", make([]float32, 4), 2, 2, Attributes{}, 0},
		{"sheared bar +0.5", shearedBar(0.5), 28, 28, Attributes{Slant: 0.5}, 1e-12},
		{"sheared bar −0.5", shearedBar(-0.5), 28, 28, Attributes{Slant: -0.5}, 1e-12},
		{"sheared bar +1", shearedBar(1), 28, 28, Attributes{Slant: 1}, 1e-12},
		{"diagonal leaning right", right, rh, rw, Attributes{Slant: 1}, 1e-12},
		{"diagonal leaning left", left, lh, lw, Attributes{Slant: -1}, 1e-12},
	}
	for _, tc := range tests {
		got, err := Measure(tc.pixels, tc.h, tc.w)
		if err != nil {
			t.Errorf("%s: Measure: %v", tc.name, err)
			continue
		}
		if strings.HasPrefix(tc.name, "sheared") || strings.HasPrefix(tc.name, "diagonal") {
			// Only the slant has a closed form here.
			got.Thickness, got.Size = tc.want.Thickness, tc.want.Size
		}
		if math.Abs(got.Thickness-tc.want.Thickness) > tc.tol || math.Abs(got.Slant-tc.want.Slant) > tc.tol ||
			math.Abs(got.Size-tc.want.Size) > tc.tol {
			t.Errorf("%s: Measure = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestMeasureSizeGrows(t *testing.T) {
	// A square ring of side 2k+1 has a radius of gyration that grows with k.
	prev := 0.0
	for k := 2; k <= 12; k += 2 {
		p := blank(28, 28)
		for i := -k; i <= k; i++ {
			for _, rc := range [][2]int{{14 - k, 14 + i}, {14 + k, 14 + i}, {14 + i, 14 - k}, {14 + i, 14 + k}} {
				p[rc[0]*28+rc[1]] = 1
			}
		}
		a, err := Measure(p, 28, 28)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size <= prev {
			t.Errorf("ring of half-side %d: Size %.3f, not above %.3f of the smaller ring", k, a.Size, prev)
		}
		if math.Abs(a.Thickness-1) > 0.1 {
			// A ring of one-pixel lines: 2A/P = 2·8k/(2·8k + 8) → 1.
			t.Errorf("ring of half-side %d: Thickness %.3f, want about 1", k, a.Thickness)
		}
		prev = a.Size
	}
}

func TestMeasureErrors(t *testing.T) {
	tests := []struct {
		name   string
		pixels []float32
		h, w   int
		want   string
	}{
		{"short", make([]float32, 10), 4, 3, "10 pixels for a 4×3 image"},
		{"zero height", nil, 0, 3, "image size 0×3"},
		{"negative", make([]float32, 6), -2, -3, "image size -2×-3"},
	}
	for _, tc := range tests {
		_, err := Measure(tc.pixels, tc.h, tc.w)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Measure error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := MeasureSet(make([]float32, 10), 2, 2, 2); err == nil || !strings.Contains(err.Error(), "10 pixels for 2 images of 2×2, want 8") {
		t.Errorf("MeasureSet with a wrong length: error %v", err)
	}
}

func TestMeasureSet(t *testing.T) {
	right, h, w := fromArt("..#", ".#.", "#..")
	left, _, _ := fromArt("#..", ".#.", "..#")
	all := append(append(append([]float32{}, right...), blank(h, w)...), left...)
	got, err := MeasureSet(all, 3, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range [][]float32{right, blank(h, w), left} {
		want, _ := Measure(img, h, w)
		if got[i] != want {
			t.Errorf("MeasureSet image %d = %+v, Measure gives %+v", i, got[i], want)
		}
	}
	if got[0].Slant != 1 || got[2].Slant != -1 {
		t.Errorf("slants %v and %v, want 1 and −1", got[0].Slant, got[2].Slant)
	}
	if got, err := MeasureSet(nil, 0, 28, 28); err != nil || len(got) != 0 {
		t.Errorf("MeasureSet of no images = %v, %v", got, err)
	}
}

func TestQuantiles(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	tests := []struct {
		p, want float64
	}{{0, 1}, {0.25, 2}, {0.5, 3}, {0.1, 1.4}, {0.9, 4.6}, {1, 5}}
	for _, tc := range tests {
		if got := Quantiles(xs, tc.p)[0]; math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Quantiles(%v, %v) = %v, want %v", xs, tc.p, got, tc.want)
		}
	}
	if xs[0] != 5 {
		t.Errorf("Quantiles sorted its input: %v", xs)
	}
	if q := Quantiles(xs, -0.1, 1.1, math.NaN()); !math.IsNaN(q[0]) || !math.IsNaN(q[1]) || !math.IsNaN(q[2]) {
		t.Errorf("Quantiles outside [0, 1] = %v, want NaNs", q)
	}
	if q := Quantiles(nil, 0.5); q != nil {
		t.Errorf("Quantiles of nothing = %v, want nil", q)
	}
}

func TestThresholdsLevels(t *testing.T) {
	th := DefaultThresholds
	tests := []struct {
		a    Attributes
		want Levels
	}{
		{Attributes{Thickness: 1.5, Slant: -0.2, Size: 6}, Levels{Thin, LeanLeft, Small}},
		{Attributes{Thickness: 2, Slant: 0.1, Size: 6.7}, Levels{Medium, Upright, Medium}},
		{Attributes{Thickness: 2.5, Slant: 0.4, Size: 7.5}, Levels{Thick, LeanRight, Large}},
		{Attributes{Thickness: th.ThinBelow, Slant: th.LeftBelow, Size: th.SmallBelow}, Levels{Medium, Upright, Medium}},
		{Attributes{Thickness: th.ThickAbove, Slant: th.RightAbove, Size: th.LargeAbove}, Levels{Medium, Upright, Medium}},
		{Attributes{}, Levels{Thin, Upright, Small}},
	}
	for _, tc := range tests {
		if got := th.Levels(tc.a); got != tc.want {
			t.Errorf("Levels(%+v) = %v, want %v", tc.a, got, tc.want)
		}
	}
}

func TestLevelStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Unspecified.String(), "unspecified"},
		{High.String(), "high"},
		{Level(7).String(), "Level(7)"},
		{Levels{Thick, Upright, Small}.String(), "thick, upright, small"},
		{Levels{Slant: LeanLeft}.String(), "leaning left"},
		{Levels{Thickness: Medium, Size: Medium}.String(), "medium thickness, medium size"},
		{Levels{}.String(), ""},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestDefaultThresholdsOnMNIST checks the quantiles and shares written in
// DefaultThresholds' comment against the MNIST training set.
func TestDefaultThresholdsOnMNIST(t *testing.T) {
	s, err := mnist.Load("mnist", "train")
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	attrs, err := MeasureSet(s.Pixels, s.N, s.H, s.W)
	if err != nil {
		t.Fatal(err)
	}
	var thick, slant, size []float64
	var shares [3][4]float64
	for _, a := range attrs {
		thick, slant, size = append(thick, a.Thickness), append(slant, a.Slant), append(size, a.Size)
		lv := DefaultThresholds.Levels(a)
		shares[0][lv.Thickness]++
		shares[1][lv.Slant]++
		shares[2][lv.Size]++
	}
	ps := []float64{0.05, 0.20, 0.25, 1.0 / 3, 0.50, 2.0 / 3, 0.75, 0.80, 0.95}
	quantiles := []struct {
		name string
		xs   []float64
		want []float64
	}{
		{"Thickness", thick, []float64{1.277, 1.577, 1.647, 1.754, 1.960, 2.190, 2.333, 2.433, 3.020}},
		{"Slant", slant, []float64{-0.337, -0.116, -0.073, -0.010, 0.104, 0.224, 0.295, 0.342, 0.576}},
		{"Size", size, []float64{5.620, 6.047, 6.169, 6.357, 6.702, 7.044, 7.223, 7.341, 7.860}},
	}
	for _, q := range quantiles {
		got := Quantiles(q.xs, ps...)
		for i := range ps {
			if math.Abs(got[i]-q.want[i]) > 0.0006 {
				t.Errorf("%s quantile %.3f = %.4f, documented %.3f", q.name, ps[i], got[i], q.want[i])
			}
		}
	}
	// Documented shares (%), low, medium, high; each checked to ±0.1 point.
	want := [3][3]float64{{32.8, 34.6, 32.6}, {21.8, 53.7, 24.5}, {30.8, 38.5, 30.7}}
	for a, name := range []string{"thickness", "slant", "size"} {
		for l := Low; l <= High; l++ {
			got := 100 * shares[a][l] / float64(s.N)
			if math.Abs(got-want[a][l-1]) > 0.1 {
				t.Errorf("%s level %v: %.2f%% of MNIST train, documented %.1f%%", name, l, got, want[a][l-1])
			}
			if l != Medium && (got < 20 || got > 40) {
				t.Errorf("%s level %v: %.2f%% of MNIST train, want an extreme level to hold 20–40%%", name, l, got)
			}
		}
	}
}
