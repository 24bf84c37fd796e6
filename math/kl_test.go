package math

import (
	gomath "math"
	"testing"
)

// logNormalDensity is ln N(x; mean, e^logVar), written out directly.
func logNormalDensity(x, mean, logVar float64) float64 {
	d := x - mean
	return -0.5*gomath.Log(2*gomath.Pi) - 0.5*logVar - d*d/(2*gomath.Exp(logVar))
}

// TestNormalKLMatchesNumericIntegral compares the closed form with
// ∫ p ln(p/q) dx integrated by Simpson's rule over μ₁ ± 14σ₁ (the mass outside
// is below 1e-44): the reference uses only the two densities.
func TestNormalKLMatchesNumericIntegral(t *testing.T) {
	tests := []struct {
		mean1, logVar1, mean2, logVar2 float64
	}{
		{0, 0, 0, 0},
		{0, 0, 1, 0},
		{0.3, -1, -0.4, 0.5},
		{2, 1.5, -1, -2},
		{-0.1, -6, 0.05, -5.5},
		{5, 0, 0, 3},
		{0, -9.2, 0.01, -9.1},
		{1, 2, 1, 2.001},
	}
	for _, tc := range tests {
		sigma1 := gomath.Exp(0.5 * tc.logVar1)
		integrand := func(x float64) float64 {
			lp := logNormalDensity(x, tc.mean1, tc.logVar1)
			lq := logNormalDensity(x, tc.mean2, tc.logVar2)
			return gomath.Exp(lp) * (lp - lq)
		}
		want := simpson(integrand, tc.mean1-14*sigma1, tc.mean1+14*sigma1, 4000)
		got := NormalKL(tc.mean1, tc.logVar1, tc.mean2, tc.logVar2)
		if !closeTo(got, want, 1e-9, 1e-12) {
			t.Errorf("NormalKL(%v, %v, %v, %v) = %.17g, numeric integral %.17g",
				tc.mean1, tc.logVar1, tc.mean2, tc.logVar2, got, want)
		}
	}
}

// TestNormalKLOfEqualDistributionsIsZero: KL(p‖p) = 0 exactly.
func TestNormalKLOfEqualDistributionsIsZero(t *testing.T) {
	for _, mean := range []float64{-3, 0, 0.25, 1e3} {
		for _, logVar := range []float64{-20, -1, 0, 0.7, 10} {
			if got := NormalKL(mean, logVar, mean, logVar); got != 0 {
				t.Errorf("NormalKL(p, p) with mean %v, logVar %v = %g, want 0", mean, logVar, got)
			}
		}
	}
}

// TestNormalKLIsPositive: Gibbs' inequality, KL > 0 whenever the two
// Gaussians differ, down to small differences.
func TestNormalKLIsPositive(t *testing.T) {
	means := []float64{-3, -0.1, 0, 1e-4, 2}
	logVars := []float64{-10, -1, 0, 1e-3, 3}
	for _, m1 := range means {
		for _, v1 := range logVars {
			for _, m2 := range means {
				for _, v2 := range logVars {
					got := NormalKL(m1, v1, m2, v2)
					if m1 == m2 && v1 == v2 {
						continue
					}
					if !(got > 0) {
						t.Errorf("NormalKL(%v, %v, %v, %v) = %g, want > 0", m1, v1, m2, v2, got)
					}
				}
			}
		}
	}
}

// TestNormalKLCloseVariances checks equal means and log-variances d apart,
// KL = ½(e^d − 1 − d), against 40-digit mpmath values: for small d the terms
// cancel to d²/4, which a naive float64 evaluation gets wrong from the 7th
// digit (d = 1e-6) on.
func TestNormalKLCloseVariances(t *testing.T) {
	tests := []struct{ d, want float64 }{
		{1e-6, 2.5000008333335414404e-13},
		{-1e-6, 2.4999991666668747737e-13},
		{1e-3, 2.5008335417083403829e-7},
		{-2e-3, 9.9933366653337780667e-7},
		{0.3, 0.02492940378800155005},
		{-0.49, 0.051313197092208032774},
		{0.5, 0.074360635350064073424},
		{3, 8.0427684615938338705},
	}
	for _, tc := range tests {
		for _, base := range []float64{0, -2.5} {
			// logVar2 = 0 makes d exact; with base −2.5 it is rounded once.
			logVar1, logVar2 := base+tc.d, base
			relTol := 1e-15
			if base != 0 {
				relTol = 4e-16 * 2.5 / gomath.Abs(tc.d) // rounding of base+d, relative to d
			}
			if got := NormalKL(0.4, logVar1, 0.4, logVar2); !closeTo(got, tc.want, gomath.Max(relTol, 1e-15), 0) {
				t.Errorf("NormalKL with logVar1 − logVar2 = %v (logVar2 = %v) = %.17g, want %.17g", tc.d, base, got, tc.want)
			}
		}
	}
}

// TestNormalKLClosedFormSpecialCases checks cases derived by hand from
// standard deviations (not log-variances): equal variances give
// (μ₁−μ₂)²/(2σ²); equal means give ½(r − 1 − ln r) with r = σ₁²/σ₂².
func TestNormalKLClosedFormSpecialCases(t *testing.T) {
	tests := []struct {
		name                   string
		mean1, sd1, mean2, sd2 float64
		want                   float64
	}{
		{"unit variances, means 1 apart", 0, 1, 1, 1, 0.5},
		{"sd 0.5, means 3 apart", 1, 0.5, -2, 0.5, 9 / (2 * 0.25)},
		{"N(0,1) vs N(0,4)", 0, 1, 0, 2, 0.5 * (0.25 - 1 + gomath.Log(4))},
		{"N(0,4) vs N(0,1)", 0, 2, 0, 1, 0.5 * (4 - 1 - gomath.Log(4))},
		{"sd 2 vs sd 0.5", 7, 2, 7, 0.5, 0.5 * (16 - 1 - gomath.Log(16))},
	}
	for _, tc := range tests {
		got := NormalKL(tc.mean1, 2*gomath.Log(tc.sd1), tc.mean2, 2*gomath.Log(tc.sd2))
		if !closeTo(got, tc.want, 1e-12, 1e-16) {
			t.Errorf("%s: NormalKL = %.17g, want %.17g", tc.name, got, tc.want)
		}
	}
}
