package math

import (
	gomath "math"
	"testing"
)

// TestStdNormalCDFPublishedValues compares with published values of Φ (the
// last two from a 40-digit mpmath evaluation of ½ erfc(−x/√2)).
func TestStdNormalCDFPublishedValues(t *testing.T) {
	tests := []struct {
		x, want, relTol float64
	}{
		{0, 0.5, 0},
		{1, 0.8413447460685429, 1e-15},
		{-1, 1 - 0.8413447460685429, 1e-15},
		{1.96, 0.9750021048517795, 1e-15},
		{-3, 0.0013498980316301, 1e-13},
		{-8, 6.22096057427178e-16, 1e-13},
		{-20, 2.7536241186062337e-89, 1e-13},
		{-37, 5.7255712225245768e-300, 1e-12},
		{40, 1, 0},
	}
	for _, tc := range tests {
		if got := StdNormalCDF(tc.x); !closeTo(got, tc.want, tc.relTol, 0) {
			t.Errorf("StdNormalCDF(%v) = %.17g, want %.17g", tc.x, got, tc.want)
		}
	}
}

// TestStdNormalCDFSymmetry: Φ(−x) = 1 − Φ(x).
func TestStdNormalCDFSymmetry(t *testing.T) {
	for x := 0.0; x <= 10; x += 0.125 {
		if got, want := StdNormalCDF(-x), 1-StdNormalCDF(x); !closeTo(got, want, 0, 1.2e-16) {
			t.Errorf("Φ(%v) = %.17g, 1 − Φ(%v) = %.17g", -x, got, x, want)
		}
	}
}

// TestStdNormalCDFMatchesIntegral compares Φ with the Simpson integral of the
// density (no erf), in log form so that the lower tail is compared in
// relative terms.
func TestStdNormalCDFMatchesIntegral(t *testing.T) {
	for _, x := range []float64{-30, -12, -6, -2.5, -1, -0.3, 0, 0.7, 2, 4} {
		want := logGaussianMass(gomath.Inf(-1), x)
		if got := gomath.Log(StdNormalCDF(x)); !closeTo(got, want, 1e-11, 1e-12) {
			t.Errorf("ln Φ(%v) = %.17g, integral gives %.17g", x, got, want)
		}
	}
}

// TestLogUpperTail checks ln Q(z) (Q = 1 − Φ) in every branch against the
// Simpson integral of the density (of the smaller side, for z < 0) and, where erfc has not underflowed,
// against ln(½ erfc(z/√2)); it also checks that the switch to the asymptotic
// series at z = 37 is continuous.
func TestLogUpperTail(t *testing.T) {
	for _, z := range []float64{-40, -8, -3, -1.0001, -1, -0.5, 0, 1, 5, 20, 36.99, 37, 37.01, 50, 300, 1e4} {
		got := logUpperTail(z)
		want := logGaussianMass(z, gomath.Inf(1))
		if z < 0 {
			// Q(z) = 1 − Q(−z) by symmetry; integrating the small side keeps
			// the reference's relative precision.
			want = gomath.Log1p(-gomath.Exp(logGaussianMass(-z, gomath.Inf(1))))
		}
		if !closeTo(got, want, 1e-11, 1e-16) {
			t.Errorf("logUpperTail(%v) = %.17g, integral gives %.17g", z, got, want)
		}
		if z < 37 {
			if direct := gomath.Log(0.5 * gomath.Erfc(z/gomath.Sqrt2)); !closeTo(got, direct, 1e-13, 1e-16) {
				t.Errorf("logUpperTail(%v) = %.17g, ln(½ erfc(z/√2)) = %.17g", z, got, direct)
			}
		}
	}
	below, above := logUpperTail(gomath.Nextafter(asymptoticFrom, 0)), logUpperTail(asymptoticFrom)
	if !closeTo(below, above, 1e-14, 0) {
		t.Errorf("logUpperTail jumps at %v: %.17g below, %.17g at", asymptoticFrom, below, above)
	}
	// ln Q(−40) = ln(1 − 3.7e-350): too small for float64, exactly 0.
	if got := logUpperTail(-40); got != 0 {
		t.Errorf("logUpperTail(-40) = %g, want 0", got)
	}
	// ln Q(−10) = −Q(10) to first order, Q(10) = 7.6198530241605260e-24 (mpmath).
	if got := logUpperTail(-10); !closeTo(got, -7.6198530241605260e-24, 1e-12, 0) {
		t.Errorf("logUpperTail(-10) = %.17g, want %.17g", got, -7.6198530241605260e-24)
	}
}
