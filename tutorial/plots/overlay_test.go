package plots

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randGray returns n grey values uniform in [lo, hi).
func randGray(r *rand.Rand, n int, lo, hi float32) []float32 {
	g := make([]float32, n)
	for k := range g {
		g[k] = lo + (hi-lo)*r.Float32()
	}
	return g
}

// TestHeatOverlayNoHeat checks that without heat (all zero, or alpha 0)
// the result is the grey image in all three channels, bit for bit.
func TestHeatOverlayNoHeat(t *testing.T) {
	const h, w = 5, 7
	r := rand.New(rand.NewPCG(3, 4))
	gray := randGray(r, h*w, -1, 1)
	gray[0], gray[1], gray[2] = -1, 1, 0
	someHeat := randGray(r, h*w, 0, 3)
	tests := []struct {
		name  string
		heat  []float32
		alpha float64
	}{
		{"zero heat, alpha 0.6", make([]float32, h*w), 0.6},
		{"zero heat, alpha 1", make([]float32, h*w), 1},
		{"heat, alpha 0", someHeat, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := HeatOverlay(gray, tc.heat, h, w, tc.alpha)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 3*h*w {
				t.Fatalf("len(out) = %d, want %d", len(out), 3*h*w)
			}
			for k, g := range gray {
				for ch := range 3 {
					if out[3*k+ch] != g {
						t.Fatalf("pixel %d channel %d = %v, want the grey value %v", k, ch, out[3*k+ch], g)
					}
				}
			}
		})
	}
}

// TestHeatOverlayValues checks hand-computed pixels: on mid grey (0) with
// alpha 0.5, the hottest pixel (t = 1, a = 0.5) is 0.5·red =
// (0.5, −0.5, −0.5), and a pixel at half heat (t = 0.5, a = 0.25) is
// 0.25·orange = 0.25·(1, 0, −1).
func TestHeatOverlayValues(t *testing.T) {
	gray := []float32{0, 0, 0, 0.5}
	heat := []float32{4, 2, 0, 0}
	out, err := HeatOverlay(gray, heat, 2, 2, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.5, -0.5, -0.5, 0.25, 0, -0.25, 0, 0, 0, 0.5, 0.5, 0.5}
	for k := range want {
		if math.Abs(float64(out[k]-want[k])) > 1e-6 {
			t.Errorf("out = %v, want %v", out, want)
			break
		}
	}
}

// TestHeatOverlayHottestReddest checks on random images that the pixel
// with the most heat has the largest red excess R − (G+B)/2, and that
// every value is in [−1, 1] even for grey values outside it.
func TestHeatOverlayHottestReddest(t *testing.T) {
	const h, w = 28, 28
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			gray := randGray(r, h*w, -1.5, 1.5)
			heat := randGray(r, h*w, 0, 0.9)
			hot := r.IntN(h * w)
			heat[hot] = 1
			for _, alpha := range []float64{0.3, 0.7, 1} {
				out, err := HeatOverlay(gray, heat, h, w, alpha)
				if err != nil {
					t.Fatal(err)
				}
				best, bestK := math.Inf(-1), -1
				for k := range h * w {
					red := float64(out[3*k]) - (float64(out[3*k+1])+float64(out[3*k+2]))/2
					if red > best {
						best, bestK = red, k
					}
				}
				if bestK != hot {
					t.Errorf("alpha %v: reddest pixel is %d (heat %v), want the hottest %d", alpha, bestK, heat[bestK], hot)
				}
				if i := slices.IndexFunc(out, func(v float32) bool { return !(v >= -1 && v <= 1) }); i >= 0 {
					t.Errorf("alpha %v: out[%d] = %v is outside [−1, 1]", alpha, i, out[i])
				}
			}
		})
	}
}

func TestHeatOverlayErrors(t *testing.T) {
	g4, h4 := make([]float32, 4), make([]float32, 4)
	with := func(s []float32, k int, v float32) []float32 { s = slices.Clone(s); s[k] = v; return s }
	tests := []struct {
		name       string
		gray, heat []float32
		h, w       int
		alpha      float64
		want       string
	}{
		{"zero size", g4, h4, 0, 4, 0.5, "image size must be > 0"},
		{"gray length", make([]float32, 3), h4, 2, 2, 0.5, "gray has 3 values, want h·w = 2·2 = 4"},
		{"heat length", g4, make([]float32, 5), 2, 2, 0.5, "heat has 5 values, want h·w = 2·2 = 4"},
		{"alpha > 1", g4, h4, 2, 2, 1.5, "alpha must be in [0, 1]"},
		{"alpha NaN", g4, h4, 2, 2, math.NaN(), "alpha must be in [0, 1]"},
		{"negative heat", g4, with(h4, 3, -0.1), 2, 2, 0.5, "heat[3] (y=1, x=1) is -0.1"},
		{"NaN heat", g4, with(h4, 1, float32(math.NaN())), 2, 2, 0.5, "heat[1] (y=0, x=1) is NaN"},
		{"Inf heat", g4, with(h4, 2, float32(math.Inf(1))), 2, 2, 0.5, "heat[2] (y=1, x=0) is +Inf"},
		{"NaN gray", with(g4, 2, float32(math.NaN())), h4, 2, 2, 0.5, "gray has NaN at index 2 (y=1, x=0)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := HeatOverlay(tc.gray, tc.heat, tc.h, tc.w, tc.alpha)
			if err == nil {
				t.Fatalf("got %d values and no error, want an error containing %q", len(out), tc.want)
			}
			if !strings.HasPrefix(err.Error(), "plots: HeatOverlay: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q in it", err, tc.want)
			}
		})
	}
}

func TestUpsampleNearest(t *testing.T) {
	tests := []struct {
		name         string
		in           []float32
		h, w, factor int
		want         []float32
	}{
		{"2x2 to 4x4", []float32{1, 2, 3, 4}, 2, 2, 2, []float32{
			1, 1, 2, 2,
			1, 1, 2, 2,
			3, 3, 4, 4,
			3, 3, 4, 4,
		}},
		{"2x3 by 2", []float32{1, 2, 3, 4, 5, 6}, 2, 3, 2, []float32{
			1, 1, 2, 2, 3, 3,
			1, 1, 2, 2, 3, 3,
			4, 4, 5, 5, 6, 6,
			4, 4, 5, 5, 6, 6,
		}},
		{"1x2 by 3", []float32{7, 8}, 1, 2, 3, []float32{
			7, 7, 7, 8, 8, 8,
			7, 7, 7, 8, 8, 8,
			7, 7, 7, 8, 8, 8,
		}},
		{"factor 1 copies", []float32{1, 2, 3}, 3, 1, 1, []float32{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := UpsampleNearest(in, tc.h, tc.w, tc.factor)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			got[0] = -99
			if !slices.Equal(in, tc.in) {
				t.Errorf("the result shares memory with the input")
			}
		})
	}
	// 7×7 → 28×28: every output pixel is its block's input pixel.
	att := make([]float32, 49)
	for k := range att {
		att[k] = float32(k)
	}
	up := UpsampleNearest(att, 7, 7, 4)
	if len(up) != 28*28 {
		t.Fatalf("7×7 by 4: %d values, want 784", len(up))
	}
	for y := range 28 {
		for x := range 28 {
			if up[y*28+x] != att[(y/4)*7+x/4] {
				t.Fatalf("7×7 by 4: (%d, %d) = %v, want %v", y, x, up[y*28+x], att[(y/4)*7+x/4])
			}
		}
	}
}

func TestUpsampleNearestPanics(t *testing.T) {
	tests := []struct {
		name         string
		n            int
		h, w, factor int
		want         string
	}{
		{"length", 5, 2, 2, 2, "values has 5 elements, want h·w = 2·2 = 4"},
		{"zero factor", 4, 2, 2, 0, "factor=0"},
		{"negative h", 4, -2, -2, 2, "h=-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.HasPrefix(msg, "plots: UpsampleNearest: ") || !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want a message containing %q", r, tc.want)
				}
			}()
			UpsampleNearest(make([]float32, tc.n), tc.h, tc.w, tc.factor)
		})
	}
}

// TestHeatOverlayImageGrid checks that the result goes straight into
// ImageGrid as a 3-channel image.
func TestHeatOverlayImageGrid(t *testing.T) {
	gray := make([]float32, 28*28)
	att := make([]float32, 49)
	att[10] = 1
	out, err := HeatOverlay(gray, UpsampleNearest(att, 7, 7, 4), 28, 28, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ImageGrid([][]float32{out}, 28, 28, 3, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// att[10] is block (y=1, x=3): pixels y 4..7, x 12..15.
	r, g, _, _ := img.At(13, 5).RGBA()
	r0, g0, _, _ := img.At(0, 0).RGBA()
	if !(r>>8 > 200 && g>>8 < 60) || r0 != g0 {
		t.Errorf("hot pixel (13, 5) has R=%d G=%d, want red; cold pixel R=%d G=%d, want grey", r>>8, g>>8, r0>>8, g0>>8)
	}
}
