package plots

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestHistogramEdges(t *testing.T) {
	tests := []struct {
		lo, hi float64
		bins   int
		want   []float64
	}{
		{0, 1, 4, []float64{0, 0.25, 0.5, 0.75, 1}},
		{-1, 2, 3, []float64{-1, 0, 1, 2}},
		{2, 3, 1, []float64{2, 3}},
		{-6, 6, 6, []float64{-6, -4, -2, 0, 2, 4, 6}},
	}
	for _, tc := range tests {
		h, err := NewHistogram(nil, tc.bins, tc.lo, tc.hi)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Edges(); !slices.Equal(got, tc.want) {
			t.Errorf("Edges of %d bins over [%v, %v] = %v, want %v", tc.bins, tc.lo, tc.hi, got, tc.want)
		}
	}
	// With awkward edges the last one is still exactly hi.
	h, _ := NewHistogram(nil, 7, 0.1, 0.7)
	if e := h.Edges(); e[0] != 0.1 || e[7] != 0.7 || len(e) != 8 {
		t.Errorf("Edges over [0.1, 0.7] = %v, want 8 edges from exactly 0.1 to exactly 0.7", e)
	}
}

// TestHistogramCounts checks hand-placed values: on the edges (a value
// on an inner edge goes to the bin on its right, hi goes to the last bin),
// outside the range, and NaN.
func TestHistogramCounts(t *testing.T) {
	inf := math.Inf(1)
	values := []float64{0, 0.2499, 0.25, 0.5, 0.74, 0.99, 1, -0.1, 1.1, math.NaN(), inf, -inf}
	h, err := NewHistogram(values, 4, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 1, 2, 2}; !slices.Equal(h.Counts, want) {
		t.Errorf("Counts = %v, want %v", h.Counts, want)
	}
	if h.Below != 2 || h.Above != 2 || h.NaN != 1 {
		t.Errorf("Below, Above, NaN = %d, %d, %d; want 2, 2, 1", h.Below, h.Above, h.NaN)
	}
	if h.InRange() != 7 {
		t.Errorf("InRange = %d, want 7", h.InRange())
	}
}

// TestHistogramMatchesEdges bins random values, many of them exactly on
// edges, and compares every count with a brute-force count against
// Edges(); it also checks that every value is accounted for once.
func TestHistogramMatchesEdges(t *testing.T) {
	tests := []struct {
		lo, hi float64
		bins   int
	}{
		{0, 1, 10}, {0.1, 0.7, 7}, {-3, 5, 13}, {1e-3, 2e-3, 9}, {-1e6, 1e6, 3},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d bins over [%v, %v]", tc.bins, tc.lo, tc.hi), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, uint64(tc.bins)))
			h0, _ := NewHistogram(nil, tc.bins, tc.lo, tc.hi)
			edges := h0.Edges()
			span := tc.hi - tc.lo
			values := make([]float64, 3000)
			for i := range values {
				if i%5 == 0 {
					values[i] = edges[r.IntN(len(edges))] // exactly on an edge
				} else {
					values[i] = tc.lo - 0.2*span + 1.4*span*r.Float64()
				}
			}
			h, err := NewHistogram(values, tc.bins, tc.lo, tc.hi)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int, tc.bins)
			below, above := 0, 0
			for _, v := range values {
				switch {
				case v < tc.lo:
					below++
				case v > tc.hi:
					above++
				case v == tc.hi:
					want[tc.bins-1]++
				default:
					for k := range tc.bins {
						if edges[k] <= v && v < edges[k+1] {
							want[k]++
						}
					}
				}
			}
			if !slices.Equal(h.Counts, want) {
				t.Errorf("Counts = %v, brute force over Edges gives %v", h.Counts, want)
			}
			if h.Below != below || h.Above != above {
				t.Errorf("Below, Above = %d, %d; want %d, %d", h.Below, h.Above, below, above)
			}
			if n := h.InRange() + h.Below + h.Above + h.NaN; n != len(values) {
				t.Errorf("InRange + Below + Above + NaN = %d, want %d values", n, len(values))
			}
		})
	}
}

// TestHistogramDensity checks that the density integrates to 1 over
// [lo, hi], that Outline traces the bars, and that HistogramSeries is the
// density outline.
func TestHistogramDensity(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	values := make([]float64, 5001)
	for i := range values {
		values[i] = 3 + r.NormFloat64()
	}
	for _, bins := range []int{1, 7, 40} {
		t.Run(fmt.Sprint(bins, " bins"), func(t *testing.T) {
			h, err := NewHistogram(values, bins, 0.3, 5.9)
			if err != nil {
				t.Fatal(err)
			}
			if h.Below == 0 || h.Above == 0 {
				t.Fatalf("test data should fall on both sides of the range: Below %d, Above %d", h.Below, h.Above)
			}
			d, e := h.Density(), h.Edges()
			integral := 0.0
			for k := range d {
				integral += d[k] * (e[k+1] - e[k])
			}
			if math.Abs(integral-1) > 1e-12 {
				t.Errorf("density integrates to %.15f, want 1 within 1e-12", integral)
			}

			for _, density := range []bool{false, true} {
				s := h.Outline("thickness", density)
				heights := d
				if !density {
					heights = make([]float64, bins)
					for k, c := range h.Counts {
						heights[k] = float64(c)
					}
				}
				wantX := []float64{e[0]}
				wantY := []float64{0}
				for k, y := range heights {
					wantX = append(wantX, e[k], e[k+1])
					wantY = append(wantY, y, y)
				}
				wantX, wantY = append(wantX, e[bins]), append(wantY, 0)
				if s.Name != "thickness" || !slices.Equal(s.X, wantX) || !slices.Equal(s.Y, wantY) {
					t.Errorf("Outline(density=%v) = %+v, want X %v Y %v", density, s, wantX, wantY)
				}
			}

			s, err := HistogramSeries(values, bins, 0.3, 5.9)
			if err != nil {
				t.Fatal(err)
			}
			if want := h.Outline("", true); !slices.Equal(s.X, want.X) || !slices.Equal(s.Y, want.Y) || s.Name != "" {
				t.Errorf("HistogramSeries differs from Outline(\"\", true)")
			}
		})
	}
}

func TestHistogramErrors(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		bins   int
		lo, hi float64
		want   string
	}{
		{"zero bins", []float64{1}, 0, 0, 1, "bins must be ≥ 1, got 0"},
		{"lo = hi", []float64{1}, 3, 1, 1, "need lo < hi"},
		{"lo > hi", []float64{1}, 3, 2, 1, "need lo < hi"},
		{"NaN lo", []float64{1}, 3, math.NaN(), 1, "lo and hi must be finite"},
		{"Inf hi", []float64{1}, 3, 0, math.Inf(1), "lo and hi must be finite"},
		{"span overflows", []float64{1}, 3, -math.MaxFloat64, math.MaxFloat64, "finite hi − lo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []struct {
				name string
				call func() error
			}{
				{"NewHistogram", func() error { _, err := NewHistogram(tc.values, tc.bins, tc.lo, tc.hi); return err }},
				{"HistogramSeries", func() error { _, err := HistogramSeries(tc.values, tc.bins, tc.lo, tc.hi); return err }},
			} {
				err := f.call()
				if err == nil || !strings.HasPrefix(err.Error(), "plots: "+f.name+": ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: error %v, want %q in it", f.name, err, tc.want)
				}
			}
		})
	}
	_, err := HistogramSeries([]float64{-1, 7, math.NaN()}, 4, 0, 1)
	if err == nil || !strings.Contains(err.Error(), "none of the 3 values lies in [0, 1] (1 below, 1 above, 1 NaN)") {
		t.Errorf("no value in range: error %v", err)
	}
}

func TestVLine(t *testing.T) {
	s := VLine(2.5, 0, 0.4, "threshold")
	if s.Name != "threshold" || !slices.Equal(s.X, []float64{2.5, 2.5}) || !slices.Equal(s.Y, []float64{0, 0.4}) {
		t.Errorf("VLine = %+v", s)
	}
}

// TestHistogramPlot draws a histogram with two threshold lines, as the
// stroke-thickness figure does, and checks that the image decodes.
func TestHistogramPlot(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	values := make([]float64, 2000)
	for i := range values {
		values[i] = 3 + 0.7*r.NormFloat64()
	}
	s, err := HistogramSeries(values, 30, 0, 6)
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "stroke thickness"
	top := slices.Max(s.Y)
	b, err := LinesPNG([]Series{s, VLine(2.2, 0, top, "thin"), VLine(3.8, 0, top, "thick")}, Options{XLabel: "pixels", YLabel: "density"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hmDecode(t, b).Bounds(); got.Dx() != 720 || got.Dy() != 480 {
		t.Errorf("image %v, want 720×480", got)
	}
}
