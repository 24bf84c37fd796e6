package nb

import (
	"math"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// vpScoreByHand is the score of gaussians8 (8 modes of std 0.1 on the
// circle of radius 2, the first at angle 0) under the VP SDE with β_min =
// 0.1, β_max = 20, written out here from the formulas, independently of
// package score: B(t) = β_min t + (β_max − β_min) t²/2, m = e^{−B/2},
// σ² = 1 − e^{−B}, v = m²·0.1² + σ², and
// ∇ log p_t(x) = Σ_k r_k (m μ_k − x)/v with r_k ∝ exp(−|x − m μ_k|²/2v).
func vpScoreByHand(x [2]float64, t float64) [2]float64 {
	b := 0.1*t + 19.9*t*t/2
	m, s2 := math.Exp(-b/2), 1-math.Exp(-b)
	v := m*m*0.01 + s2
	var logits [8]float64
	var mus [8][2]float64
	top := math.Inf(-1)
	for k := range 8 {
		a := 2 * math.Pi * float64(k) / 8
		mus[k] = [2]float64{m * 2 * math.Cos(a), m * 2 * math.Sin(a)}
		dx, dy := x[0]-mus[k][0], x[1]-mus[k][1]
		logits[k] = -(dx*dx + dy*dy) / (2 * v)
		top = math.Max(top, logits[k])
	}
	var z float64
	var out [2]float64
	for k := range 8 {
		r := math.Exp(logits[k] - top)
		z += r
		out[0] += r * (mus[k][0] - x[0]) / v
		out[1] += r * (mus[k][1] - x[1]) / v
	}
	return [2]float64{out[0] / z, out[1] / z}
}

func TestExactScoreMatchesHandComputedMixtureScore(t *testing.T) {
	m := ExactScore(NamedSDE("vp"))
	pts := []toy2d.Point{{3, 0}, {1, -0.5}, {0.3, 0.2}, {-1.4, 1.5}, {0, 0}}
	for _, tt := range []float64{0.02, 0.1, 0.3, 1} {
		got := ScoreAt(m, pts, tt)
		for i, p := range pts {
			want := vpScoreByHand([2]float64{p[0], p[1]}, tt)
			scale := math.Max(1, math.Hypot(want[0], want[1]))
			if d := math.Hypot(got[i][0]-want[0], got[i][1]-want[1]); d > 1e-5*scale {
				t.Errorf("t = %g, x = %v: exact score %v, by hand %v (off by %.2g)", tt, p, got[i], want, d)
			}
		}
	}
}

// At t = 1 the VP marginal is almost N(0, I) (m(1) = e^{−5.025} ≈ 0.0066), so
// the score is almost −x: at (1, −2) it is (−1, 2) to within 0.02.
func TestExactScoreAtTimeOneIsMinusX(t *testing.T) {
	got := ScoreAt(ExactScore(NamedSDE("vp")), []toy2d.Point{{1, -2}}, 1)[0]
	if math.Abs(got[0]+1) > 0.02 || math.Abs(got[1]-2) > 0.02 {
		t.Errorf("score at (1, −2), t = 1: %v, want about (−1, 2)", got)
	}
}

// Near a mode at small t the score pulls straight at it with strength
// (m μ₀ − x)/v: at x = (3, 0), t = 0.02 (B = 0.00598, m = 0.997014,
// σ² = 0.0059622, v = 0.0159025; the next mode's responsibility is e^{−110})
// it is ((1.994029 − 3)/0.0159025, 0) = (−63.259, 0).
func TestExactScoreNearAModeByHand(t *testing.T) {
	got := ScoreAt(ExactScore(NamedSDE("vp")), []toy2d.Point{{3, 0}}, 0.02)[0]
	if math.Abs(got[0]+63.259) > 0.01 || math.Abs(got[1]) > 1e-3 {
		t.Errorf("score at (3, 0), t = 0.02: %v, want (−63.259, 0)", got)
	}
}

func TestDrawScoreSamplesTheModes(t *testing.T) {
	pts := DrawScore(ExactScore(NamedSDE("vp")), score.ODE{Steps: 50, Solver: score.Heun}, 200, 1)
	_, off := toy2d.Gaussians8{}.ModeCounts(pts, 0.5)
	if len(pts) != 200 || off > 4 {
		t.Errorf("%d points, %d off every mode; want 200 and at most 4", len(pts), off)
	}
}

func TestArrowsGeometry(t *testing.T) {
	// (1, 0) at the origin, maxLen 1, limit 2: an arrow of length 0.5 to
	// (0.5, 0), barbs of 0.35·0.5 at ±150°: (0.5 − 0.1516, ±0.0875).
	s := Arrows([]toy2d.Point{{0, 0}, {5, 5}}, []toy2d.Point{{1, 0}, {0, 0}}, 1, 2)
	if len(s.X) != 7 || len(s.Y) != 7 {
		t.Fatalf("one arrow (the zero vector draws nothing) has 7 vertices, got %d, %d", len(s.X), len(s.Y))
	}
	bx, by := 0.5-0.175*math.Cos(math.Pi/6), 0.175*math.Sin(math.Pi/6)
	want := [][2]float64{{0, 0}, {0.5, 0}, {bx, by}, {math.NaN(), math.NaN()}, {0.5, 0}, {bx, -by}, {math.NaN(), math.NaN()}}
	for i, w := range want {
		if math.IsNaN(w[0]) {
			if !math.IsNaN(s.X[i]) || !math.IsNaN(s.Y[i]) {
				t.Errorf("vertex %d = (%g, %g), want a NaN break", i, s.X[i], s.Y[i])
			}
			continue
		}
		if math.Abs(s.X[i]-w[0]) > 1e-12 || math.Abs(s.Y[i]-w[1]) > 1e-12 {
			t.Errorf("vertex %d = (%g, %g), want (%g, %g)", i, s.X[i], s.Y[i], w[0], w[1])
		}
	}
	// Longer than the limit: capped at maxLen, direction kept.
	c := Arrows([]toy2d.Point{{1, 1}}, []toy2d.Point{{0, -10}}, 0.3, 2)
	if math.Abs(c.X[1]-1) > 1e-12 || math.Abs(c.Y[1]-0.7) > 1e-12 {
		t.Errorf("capped arrow ends at (%g, %g), want (1, 0.7)", c.X[1], c.Y[1])
	}
}

func TestGridPoints(t *testing.T) {
	pts, h := GridPoints(3, 1)
	if h != 1 || len(pts) != 9 {
		t.Fatalf("GridPoints(3, 1): %d points, spacing %g; want 9 and 1", len(pts), h)
	}
	if pts[0] != (toy2d.Point{-1, -1}) || pts[1] != (toy2d.Point{-1, 0}) || pts[8] != (toy2d.Point{1, 1}) {
		t.Errorf("GridPoints(3, 1) = %v", pts)
	}
}

func TestCirclesAndFromRows(t *testing.T) {
	m := Gaussians8Mixture()
	s := Circles(m)
	if len(s.X) != 8*50 {
		t.Fatalf("8 circles of 49 vertices and a break: %d vertices", len(s.X))
	}
	for i := range s.X {
		if math.IsNaN(s.X[i]) {
			continue
		}
		k := i / 50
		if r := math.Hypot(s.X[i]-m.Means[k][0], s.Y[i]-m.Means[k][1]); math.Abs(r-0.1) > 1e-12 {
			t.Fatalf("vertex %d is %g from mode %d, want 0.1", i, r, k)
		}
	}
	if p := FromRows([][]float64{{1, 2}, {3, 4}}); len(p) != 2 || p[1] != (toy2d.Point{3, 4}) {
		t.Errorf("FromRows: %v", p)
	}
	if Length(toy2d.Point{3, 4}) != 5 {
		t.Errorf("Length(3, 4) = %g", Length(toy2d.Point{3, 4}))
	}
}
