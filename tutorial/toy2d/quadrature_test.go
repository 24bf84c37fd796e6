package toy2d

import (
	"math"
	"testing"
)

// TestGaussLegendre checks the 8-point rule against exact polynomial
// integrals: ∫_{−1}^{1} ξ^k dξ = 2/(k+1) for even k, 0 for odd k, exact up to
// degree 15, and not exact at degree 16.
func TestGaussLegendre(t *testing.T) {
	for k := 0; k <= 16; k++ {
		got := 0.0
		for j := range glOrder {
			got += glWeights[j] * math.Pow(glNodes[j], float64(k))
		}
		want := 0.0
		if k%2 == 0 {
			want = 2 / float64(k+1)
		}
		if k < 2*glOrder && math.Abs(got-want) > 1e-14 {
			t.Errorf("∫ξ^%d: got %.17g, want %.17g", k, got, want)
		}
		if k == 2*glOrder && math.Abs(got-want) < 1e-6 {
			t.Errorf("∫ξ^%d: an 8-point rule cannot be exact at degree 16, got %.17g = %.17g", k, got, want)
		}
	}
}

// simpsonNodes evaluates the curve c at the n + 1 points of a composite
// Simpson rule on [a, b] (n even).
func simpsonNodes(a, b float64, c func(t float64) (float64, float64), n int) []Point {
	nodes := make([]Point, n+1)
	for i := range nodes {
		nodes[i][0], nodes[i][1] = c(a + (b-a)*float64(i)/float64(n))
	}
	return nodes
}

// simpsonLogDensity is an independent reference for the curve datasets:
// log of (1/(b−a)) ∫_a^b exp(−|x − c(t)|²/(2σ²))/(2πσ²) dt by composite
// Simpson's rule on the nodes from simpsonNodes, (1/(b−a))∫ ≈ (1/(3n)) Σ w_i f_i
// with weights 1, 4, 2, 4, …, 2, 4, 1, the exponentials scaled by their
// maximum so that nothing underflows. Terms below e^−60 times the largest are
// left out: all of them together weigh less than 2^21·e^−60 < 1e-19 of it.
func simpsonLogDensity(x Point, sigma float64, nodes []Point) float64 {
	n := len(nodes) - 1
	exponent := func(c Point) float64 {
		return -((x[0]-c[0])*(x[0]-c[0]) + (x[1]-c[1])*(x[1]-c[1])) / (2 * sigma * sigma)
	}
	m := math.Inf(-1)
	for _, c := range nodes {
		m = math.Max(m, exponent(c))
	}
	s := 0.0
	for i, c := range nodes {
		v := exponent(c)
		if v < m-60 {
			continue
		}
		w := 2.0
		switch {
		case i == 0 || i == n:
			w = 1
		case i%2 == 1:
			w = 4
		}
		s += w * math.Exp(v-m)
	}
	return m + math.Log(s/float64(3*n)) - math.Log(2*math.Pi*sigma*sigma)
}

func logAddExp(a, b float64) float64 {
	m := math.Max(a, b)
	return m + math.Log(math.Exp(a-m)+math.Exp(b-m))
}

// TestCurveQuadratureAccuracy compares LogDensity of the curve datasets with
// composite Simpson's rule on 2^18–2^21 intervals, the curves written out
// afresh from their definitions. Simpson's error is about (step/ℓ)⁴/180 for
// ℓ the narrowest feature of the integrand: σ/√(|x|S·A) for a peak, σ²/(|x|S)
// for the exponential fall-off from an end; the step is chosen so that this is
// below 1e-10 at every point used. Points: on the curves, between arms, beyond
// the ends (where the end dominates), and far away, where the density
// underflows float64 and only log space works. σ = 0.001 on the spiral needs
// more panels than are cached, which exercises that path.
func TestCurveQuadratureAccuracy(t *testing.T) {
	outer := func(t float64) (float64, float64) { return math.Cos(t), math.Sin(t) }
	inner := func(t float64) (float64, float64) { return 1 - math.Cos(t), 1 - math.Sin(t) - 0.5 }
	spiral := func(t float64) (float64, float64) {
		s := 2 / (4.5 * math.Pi)
		return s * t * math.Cos(t), s * t * math.Sin(t)
	}
	near := []Point{{0, 1}, {1, 0}, {0.5, 0.25}, {-1.05, 0.02}, {2.1, 0.4}, {1, -0.5}, {0.3, 0.9}, {0, 0}, {-0.9, -0.6}}
	far := []Point{{3, 3}, {-6, 4}, {40, -25}}
	tests := []struct {
		sigma  float64
		moons  bool
		n      int
		points []Point
	}{
		{0.2, true, 1 << 18, append(near, far...)},
		{0.05, true, 1 << 18, append(near, far[0])},
		{0.02, true, 1 << 21, []Point{{0, 1}, {1, 0}, {2.1, 0.4}, {3, 3}}},
		{0.05, false, 1 << 18, near},
		{0.02, false, 1 << 19, append(near, far[1:]...)},
		{0.001, false, 1 << 21, []Point{{0, 1.2}, {0.3, 0.4}}},
	}
	for _, tc := range tests {
		var outerNodes, innerNodes, spiralNodes []Point
		if tc.moons {
			outerNodes = simpsonNodes(0, math.Pi, outer, tc.n)
			innerNodes = simpsonNodes(0, math.Pi, inner, tc.n)
		} else {
			spiralNodes = simpsonNodes(1.5*math.Pi, 4.5*math.Pi, spiral, tc.n)
		}
		worst := 0.0
		for _, p := range tc.points {
			var name string
			var got, want float64
			if tc.moons {
				name, got = "moons", Moons{Noise: tc.sigma}.LogDensity(p)
				want = logAddExp(
					simpsonLogDensity(p, tc.sigma, outerNodes),
					simpsonLogDensity(p, tc.sigma, innerNodes)) - math.Log(2)
			} else {
				name, got = "swissroll", SwissRoll{Noise: tc.sigma}.LogDensity(p)
				want = simpsonLogDensity(p, tc.sigma, spiralNodes)
			}
			// |Δ log p| is the relative error of p; far from the curve log p
			// is large and its own float64 rounding (~1e-16·|log p|) adds.
			tol := 1e-9 + 1e-15*math.Abs(want)
			if d := math.Abs(got - want); !(d <= tol) {
				t.Errorf("%s σ=%g at %v: log p = %.12g, Simpson reference %.12g (|Δ| %.2g > %.2g)", name, tc.sigma, p, got, want, d, tol)
			} else {
				worst = math.Max(worst, d)
			}
		}
		t.Logf("moons=%v σ=%g: worst |Δ log p| %.2g", tc.moons, tc.sigma, worst)
	}
}
