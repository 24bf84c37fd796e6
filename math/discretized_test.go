package math

import (
	gomath "math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// discretizedReference returns ln P(bin of x) under N(mean, e^logVar) by
// Simpson integration of the density over the bin, with the open tails of the
// two end bins: an independent re-derivation that uses neither erf nor erfc.
// Interior bins are integrated around their centre m = (x − mean)/σ,
//
//	ln P = ln φ(m) + ln ∫ e^{−mt − t²/2} dt over t ∈ [−w/2, w/2], w = 2h/σ,
//
// (cut to −m ± 40 if its peak t = −m is inside, where the integrand is below
// e^-800 of the peak), so that a
// bin far narrower than σ is not computed from two nearly equal rounded edges;
// where |m|·w > 30 that integrand would span too many orders of magnitude and
// the edges are used, their rounding then being harmless.
func discretizedReference(x, mean, logVar float64) float64 {
	sigma := gomath.Exp(0.5 * logVar)
	lo := (x - BinHalfWidth - mean) / sigma
	hi := (x + BinHalfWidth - mean) / sigma
	switch {
	case x < -0.999:
		return logGaussianMass(gomath.Inf(-1), hi)
	case x > 0.999:
		return logGaussianMass(lo, gomath.Inf(1))
	}
	m, w := (x-mean)/sigma, 2*BinHalfWidth/sigma
	if gomath.Abs(m)*w > 30 {
		return logGaussianMass(lo, hi)
	}
	from, to := -w/2, w/2
	if gomath.Abs(m) < w/2 { // the peak t = −m is inside: cut the far tails
		from, to = gomath.Max(from, -m-40), gomath.Min(to, -m+40)
	}
	integral := simpson(func(t float64) float64 { return gomath.Exp(-m*t - t*t/2) }, from, to, 20000)
	return -0.5*m*m - 0.5*gomath.Log(2*gomath.Pi) + gomath.Log(integral)
}

// discretizedCases spans the bins (both open end bins, their neighbours and
// interior levels), means inside and outside [−1, 1] and standard deviations
// from 0.0025 to 12, so that bins lie in the body and far in both tails.
var (
	discretizedLevels  = []float64{level(0), level(1), level(64), level(127), level(128), level(200), level(254), level(255)}
	discretizedMeans   = []float64{-1.3, -1, -0.51, 0, 0.3, 0.99, 1.2}
	discretizedLogVars = []float64{-12, -8, -5, -2, 0, 2, 5}
)

// TestDiscretizedMatchesIntegral: exp(ln P) equals the integral of the
// density over the bin, compared in log space (so relative in P, including
// probabilities of 1e-300 and below).
func TestDiscretizedMatchesIntegral(t *testing.T) {
	for _, x := range discretizedLevels {
		for _, mean := range discretizedMeans {
			for _, logVar := range discretizedLogVars {
				got := DiscretizedGaussianLogLikelihood(x, mean, logVar)
				want := discretizedReference(x, mean, logVar)
				if !closeTo(got, want, 1e-11, 1e-11) {
					t.Errorf("DiscretizedGaussianLogLikelihood(%v, %v, %v) = %.15g, integral gives %.15g",
						x, mean, logVar, got, want)
				}
			}
		}
	}
}

// TestDiscretizedWideFarGaussian: a Gaussian 10⁴ wide whose mean lies
// 0.6σ–0.9σ from the data makes bins 1e-6σ wide on the tail side of the mean;
// computing P from the two rounded bin edges (x ∓ h − μ)/σ would lose about
// four digits. Compared with the centre-based Simpson integral to 1e-12.
func TestDiscretizedWideFarGaussian(t *testing.T) {
	logVar := 2 * gomath.Log(1e4)
	tests := []struct{ x, mean float64 }{
		{0, -6000}, {level(3), 9000}, {level(250), -7000},
	}
	for _, tc := range tests {
		got := DiscretizedGaussianLogLikelihood(tc.x, tc.mean, logVar)
		if want := discretizedReference(tc.x, tc.mean, logVar); !closeTo(got, want, 1e-12, 0) {
			t.Errorf("DiscretizedGaussianLogLikelihood(%v, %v, %v) = %.17g, integral gives %.17g",
				tc.x, tc.mean, logVar, got, want)
		}
	}
}

// TestNarrowBinLogProb checks the midpoint series against 60-digit mpmath
// values of ln(Q(m − w/2) − Q(m + w/2)) at the edges of its domain
// (w = 0.1, |m|·w = 0.25), where its last term (He₈) is still 1e-13.
func TestNarrowBinLogProb(t *testing.T) {
	tests := []struct{ m, w, want float64 }{
		{12.5, 0.02, -82.95337542818498448682},
		{-10, 0.025, -54.60524127121261320377},
		{2.5, 0.1, -6.344338278415541568868},
		{0, 0.1, -3.221940223426452745125},
		{-1.7, 0.05, -5.359473970623355144525},
		{30, 0.008, -455.7448560932316596193},
	}
	var ms, ws []float64
	for _, tc := range tests {
		if got := narrowBinLogProb(tc.m, tc.w); !closeTo(got, tc.want, 5e-16, 2e-14) {
			t.Errorf("narrowBinLogProb(%v, %v) = %.17g, want %.17g", tc.m, tc.w, got, tc.want)
		}
		ms, ws = append(ms, tc.m), append(ws, tc.w)
	}
	outs, _ := runGraph(t, dtypes.Float64, func(ops []*graph.Node) []*graph.Node {
		return []*graph.Node{narrowBinLogProbGraph(ops[0], ops[1])}
	}, vector(ms), vector(ws))
	for i, tc := range tests {
		if got := outs[0][i]; !closeTo(got, tc.want, 5e-16, 2e-14) {
			t.Errorf("narrowBinLogProbGraph(%v, %v) = %.17g, want %.17g", tc.m, tc.w, got, tc.want)
		}
	}
}

// TestDiscretizedSumsToOne: the 256 bin probabilities of any Gaussian sum to 1
// (the open end bins take the mass outside [−1, 1]).
func TestDiscretizedSumsToOne(t *testing.T) {
	tests := []struct{ mean, logVar float64 }{
		{0, 0}, {0.5, -2}, {-0.9, -7}, {level(100) + 0.3*BinHalfWidth, -14},
		{1, -20}, {-1, -20}, {3, 1}, {-5, 0.5}, {0.2, 6}, {40, -3}, {0.77, -30},
	}
	for _, tc := range tests {
		sum := 0.0
		for k := range 256 {
			sum += gomath.Exp(DiscretizedGaussianLogLikelihood(level(k), tc.mean, tc.logVar))
		}
		if gomath.Abs(sum-1) > 1e-9 {
			t.Errorf("mean %v, logVar %v: bin probabilities sum to %.15g, want 1", tc.mean, tc.logVar, sum)
		}
	}
}

// TestDiscretizedNarrowGaussianOnLevel: a Gaussian far narrower than a bin,
// centred on a level, puts all its mass in that bin (ln P → 0) and next to
// none in the neighbours.
func TestDiscretizedNarrowGaussianOnLevel(t *testing.T) {
	for _, k := range []int{0, 1, 127, 128, 254, 255} {
		x := level(k)
		// σ = e^-10 = 4.5e-5; the bin edges are 87σ away: 1 − P ≈ 2Q(87) ≈ 1e-1600.
		if got := DiscretizedGaussianLogLikelihood(x, x, -20); !(got <= 0 && got > -1e-15) {
			t.Errorf("level %d, mean on it, logVar -20: ln P = %g, want 0", k, got)
		}
		if k < 255 {
			// The next bin starts 87σ above the mean: ln Q(87) ≈ −3789.
			if got := DiscretizedGaussianLogLikelihood(level(k+1), x, -20); got > -3000 {
				t.Errorf("level %d, mean on level %d, logVar -20: ln P = %g, want < -3000", k+1, k, got)
			}
		}
	}
}

// TestDiscretizedFarTails: far from the mean the log-probability is finite and
// matches independent references: the Simpson integral, and, for the open end
// bins, the asymptotic expansion ln Q(z) = −z²/2 − ln z − ½ ln 2π +
// ln(1 − z⁻² + 3z⁻⁴ − 15z⁻⁶) (error below 105 z⁻⁸) or ln(½ erfc(z/√2)).
func TestDiscretizedFarTails(t *testing.T) {
	asymptotic := func(z float64) float64 {
		iz2 := 1 / (z * z)
		return -0.5*z*z - gomath.Log(z) - 0.5*gomath.Log(2*gomath.Pi) + gomath.Log1p(-iz2+3*iz2*iz2-15*iz2*iz2*iz2)
	}
	erfcRef := func(z float64) float64 { return gomath.Log(0.5 * gomath.Erfc(z/gomath.Sqrt2)) }
	tests := []struct {
		name            string
		x, mean, logVar float64
		// z is the standardized edge of the open bin for the asymptotic or erfc
		// references (0: integral only); useErfc picks erfc.
		z       float64
		useErfc bool
	}{
		{"top bin, mean -50, logVar -30", 1, -50, -30, (1 - BinHalfWidth + 50) * gomath.Exp(15), false},
		{"bottom bin, mean 50, logVar -30", -1, 50, -30, (50 - (-1 + BinHalfWidth)) * gomath.Exp(15), false},
		{"top bin, mean 0, logVar -6", 1, 0, -6, (1 - BinHalfWidth) * gomath.Exp(3), false},
		{"bottom bin, mean 0.4, logVar -3", -1, 0.4, -3, (0.4 + 1 - BinHalfWidth) * gomath.Exp(1.5), true},
		{"top bin, mean -1, logVar 0", 1, -1, 0, 2 - BinHalfWidth, true},
		{"interior bin, mean 50, logVar -30", 0, 50, -30, 0, false},
		{"interior bin, mean -3, logVar -4", level(200), -3, -4, 0, false},
		{"interior bin below, mean 1, logVar -12", level(3), 1, -12, 0, false},
		// m = −1e40, w = 1e-41: narrow, with m⁸ beyond float64's range.
		{"interior bin, σ = 7.84e38, mean 7.84e78", 0, 7.84e78, 2 * gomath.Log(7.84e38), 0, false},
	}
	for _, tc := range tests {
		got := DiscretizedGaussianLogLikelihood(tc.x, tc.mean, tc.logVar)
		if gomath.IsInf(got, 0) || gomath.IsNaN(got) {
			t.Errorf("%s: ln P = %g, want finite", tc.name, got)
			continue
		}
		if want := discretizedReference(tc.x, tc.mean, tc.logVar); !closeTo(got, want, 1e-11, 1e-11) {
			t.Errorf("%s: ln P = %.17g, integral gives %.17g", tc.name, got, want)
		}
		if tc.z == 0 {
			continue
		}
		want, relTol := asymptotic(tc.z), 105/gomath.Pow(tc.z, 8)+1e-14
		if tc.useErfc {
			want, relTol = erfcRef(tc.z), 1e-13
		}
		if !closeTo(got, want, relTol, 0) {
			t.Errorf("%s: ln P = %.17g, reference gives %.17g", tc.name, got, want)
		}
	}
}

// TestQuantize8Bit checks fixed values, that every level is a fixed point, and
// that random x in [−1, 1] go to a level at most half a step (1/255) away.
func TestQuantize8Bit(t *testing.T) {
	tests := []struct{ x, want float64 }{
		{-1, -1}, {1, 1}, {-7, -1}, {3, 1},
		{0, level(128)},   // halfway between levels 127 and 128: rounds up
		{0.5, level(191)}, // (0.5+1)·127.5 = 191.25
		{-1 + 0.9/255, -1}, {-1 + 1.1/255, level(1)},
	}
	for _, tc := range tests {
		if got := Quantize8Bit(tc.x); got != tc.want {
			t.Errorf("Quantize8Bit(%v) = %.17g, want %.17g", tc.x, got, tc.want)
		}
	}
	if got := Quantize8Bit(gomath.NaN()); !gomath.IsNaN(got) {
		t.Errorf("Quantize8Bit(NaN) = %v, want NaN", got)
	}
	for k := range 256 {
		if got := Quantize8Bit(level(k)); got != level(k) {
			t.Errorf("Quantize8Bit(level %d = %.17g) = %.17g", k, level(k), got)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		x := 2*rng.Float64() - 1
		q := Quantize8Bit(x)
		k := (q + 1) * 255 / 2
		if gomath.Abs(k-gomath.Round(k)) > 1e-9 || gomath.Abs(q-x) > BinHalfWidth+1e-15 {
			t.Fatalf("Quantize8Bit(%.17g) = %.17g: not the nearest level", x, q)
		}
	}
}

// TestLogProbFloor: the documented constant is ln(1e-12).
func TestLogProbFloor(t *testing.T) {
	if want := gomath.Log(ProbFloor); !closeTo(LogProbFloor, want, 1e-15, 0) {
		t.Errorf("LogProbFloor = %.17g, ln(%g) = %.17g", LogProbFloor, ProbFloor, want)
	}
}
