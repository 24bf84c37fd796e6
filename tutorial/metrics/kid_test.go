package metrics

import (
	"math"
	"strings"
	"testing"
)

// TestKIDByHand: x = {0, 1}, y = {0, 2} in 1-D (d = 1), k(a, b) = (ab + 1)³.
// Within x: k(0, 1) = 1 for both ordered pairs, /(2·1) → 1; within y:
// k(0, 2) = 1 → 1; across: k(0,0) + k(0,2) + k(1,0) + k(1,2) = 1 + 1 + 1 + 27
// = 30, times 2/4 → 15. MMD²_u = 1 + 1 − 15 = −13. Subsets of the whole
// samples all give it, so the standard deviation is 0.
func TestKIDByHand(t *testing.T) {
	mean, std, err := KID([][]float64{{0}, {1}}, [][]float64{{0}, {2}}, 5, 2, newRNG(1))
	if err != nil || mean != -13 || std != 0 {
		t.Errorf("KID = %g ± %g, %v; want −13 ± 0", mean, std, err)
	}
}

// TestKIDBruteForce evaluates the definition with explicit loops and
// math.Pow on whole samples (subsets of the full sample size, which only
// permute the points if drawn without replacement), in 3-D.
func TestKIDBruteForce(t *testing.T) {
	rng := newRNG(2)
	x := gaussian(rng, 9, []float64{0, 0, 0}, 1)
	y := gaussian(rng, 9, []float64{0.5, -1, 0}, 1.5)
	k := func(a, b []float64) float64 { return math.Pow((a[0]*b[0]+a[1]*b[1]+a[2]*b[2])/3+1, 3) }
	var kxx, kyy, kxy float64
	for i := range 9 {
		for j := range 9 {
			if i != j {
				kxx += k(x[i], x[j])
				kyy += k(y[i], y[j])
			}
			kxy += k(x[i], y[j])
		}
	}
	want := (kxx+kyy)/(9*8) - 2*kxy/81
	mean, std, err := KID(x, y, 4, 9, newRNG(3))
	if err != nil || math.Abs(mean-want) > 1e-12*math.Abs(want) || std > 1e-12*math.Abs(want) {
		t.Errorf("KID = %.17g ± %g, %v; want %.17g ± 0", mean, std, err, want)
	}
	// Symmetric in x and y.
	if m2, _, _ := KID(y, x, 4, 9, newRNG(3)); math.Abs(m2-mean) > 1e-12*math.Abs(want) {
		t.Errorf("KID(y, x) = %.17g, KID(x, y) = %.17g", m2, mean)
	}
}

// cubicKernelMean is E k(x, y) = E (xᵀy/d + 1)³ for independent
// x ~ N(μ₁, σ₁² I) and y ~ N(μ₂, σ₂² I) in d dimensions, from
// E(s+1)³ = E s³ + 3 E s² + 3 E s + 1, s = xᵀy/d, with (c = μ₁ᵀμ₂,
// a₁ = |μ₁|², a₂ = |μ₂|²):
//
//	E xᵀy      = c
//	E (xᵀy)²   = c² + σ₂² a₁ + σ₁² (a₂ + d σ₂²)
//	E (xᵀy)³   = c³ + 3c σ₂² a₁ + 3σ₁² (c (a₂ + d σ₂²) + 2σ₂² c)
//
// (condition on y: xᵀy ~ N(μ₁ᵀy, σ₁²|y|²), and E Z³ = m³ + 3mv for
// Z ~ N(m, v); then take the moments of μ₁ᵀy and |y|² under y).
func cubicKernelMean(mu1 []float64, s1 float64, mu2 []float64, s2 float64) float64 {
	d := float64(len(mu1))
	var c, a1, a2 float64
	for k := range mu1 {
		c += mu1[k] * mu2[k]
		a1 += mu1[k] * mu1[k]
		a2 += mu2[k] * mu2[k]
	}
	v1, v2 := s1*s1, s2*s2
	e1 := c
	e2 := c*c + v2*a1 + v1*(a2+d*v2)
	e3 := c*c*c + 3*c*v2*a1 + 3*v1*(c*(a2+d*v2)+2*v2*c)
	return e3/(d*d*d) + 3*e2/(d*d) + 3*e1/d + 1
}

// TestKIDPopulation compares KID between samples of N(μ₁, σ₁² I) and
// N(μ₂, σ₂² I) in 4-D with the population MMD² of the cubic kernel,
// E k(x, x') + E k(y, y') − 2 E k(x, y) from cubicKernelMean: 0 for equal
// laws, growing with the mean shift. KID is unbiased, so the mean over 16
// independent pairs of samples (800 points each, KID over 10 subsets of
// 400) must be within 4 standard errors of the closed form, the standard
// error taken from the 16 replicates' spread.
func TestKIDPopulation(t *testing.T) {
	rng := newRNG(4)
	zero := []float64{0, 0, 0, 0}
	prev := math.Inf(-1)
	for _, tc := range []struct {
		name  string
		shift float64
		s2    float64
	}{
		{"same law", 0, 1},
		{"shift 0.25", 0.25, 1},
		{"shift 0.5", 0.5, 1},
		{"shift 1", 1, 1},
		{"scale 1.5", 0, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu2 := []float64{tc.shift, -tc.shift, tc.shift, 0}
			want := cubicKernelMean(zero, 1, zero, 1) + cubicKernelMean(mu2, tc.s2, mu2, tc.s2) - 2*cubicKernelMean(zero, 1, mu2, tc.s2)
			const reps = 16
			est := make([]float64, reps)
			for r := range est {
				var err error
				if est[r], _, err = KID(gaussian(rng, 800, zero, 1), gaussian(rng, 800, mu2, tc.s2), 10, 400, rng); err != nil {
					t.Fatal(err)
				}
			}
			mean, sd := meanSD(est)
			se := sd / math.Sqrt(reps)
			t.Logf("population MMD² %.5f, KID %.5f ± %.5f (standard error)", want, mean, se)
			if math.Abs(mean-want) > 4*se {
				t.Errorf("KID mean %.5f, population %.5f: off by %.1f standard errors", mean, want, math.Abs(mean-want)/se)
			}
			if tc.s2 == 1 {
				if want <= prev {
					t.Errorf("population MMD² %.5f does not grow with the shift (previous %.5f)", want, prev)
				}
				prev = want
			}
		})
	}
}

// TestKIDSameLawAroundZero: two large samples of one law score a KID
// within a few standard errors of 0, and a shifted law scores far above.
func TestKIDSameLawAroundZero(t *testing.T) {
	rng := newRNG(5)
	mu := []float64{0.3, 0, -0.2, 1, 0, 0, 0, 0}
	x, y := gaussian(rng, 3000, mu, 1), gaussian(rng, 3000, mu, 1)
	same, sameSD, err := KID(x, y, 20, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	shifted := make([][]float64, len(y))
	for i, p := range y {
		shifted[i] = append([]float64(nil), p...)
		shifted[i][0] += 0.5
	}
	far, farSD, err := KID(x, shifted, 20, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same law: KID %.5f ± %.5f; mean shifted by 0.5: %.5f ± %.5f", same, sameSD, far, farSD)
	// The subsets overlap, so sameSD (the spread of one subset's estimate)
	// bounds the error of the mean from above.
	if math.Abs(same) > 2*sameSD {
		t.Errorf("same law: KID %.5f, more than 2 subset standard deviations (%.5f) from 0", same, sameSD)
	}
	if far < 10*sameSD || far < same+5*farSD {
		t.Errorf("shifted: KID %.5f ± %.5f is not clearly above the same-law KID %.5f ± %.5f", far, farSD, same, sameSD)
	}
	// nil rng: a fixed seed, so the same figure twice.
	if again, _, _ := KID(x, y, 20, 1000, nil); again != same {
		t.Errorf("KID with a nil rng is not reproducible: %.17g then %.17g", same, again)
	}
}

// TestKIDErrors: bad samples and settings are refused with errors that name
// the problem.
func TestKIDErrors(t *testing.T) {
	ok := [][]float64{{0, 1}, {1, 0}, {2, 2}}
	for _, tc := range []struct {
		name          string
		x, y          [][]float64
		subsets, size int
		want          string
	}{
		{"empty x", nil, ok, 1, 2, "sample x is empty"},
		{"empty y", ok, [][]float64{}, 1, 2, "sample y is empty"},
		{"ragged", ok, [][]float64{{0, 1}, {1}}, 1, 2, "point 1 of sample y has dimension 1"},
		{"dimension mismatch", ok, [][]float64{{0}, {1}}, 1, 2, "x has dimension 2, y has dimension 1"},
		{"NaN", [][]float64{{0, math.NaN()}, {0, 0}}, ok, 1, 2, "is NaN"},
		{"no subsets", ok, ok, 0, 2, "subsets must be ≥ 1, got 0"},
		{"subset of one", ok, ok, 1, 1, "subset size must be ≥ 2"},
		{"subset too large", ok, [][]float64{{0, 1}, {1, 1}}, 1, 3, "subset size 3 is larger than a sample (x has 3 points, y has 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := KID(tc.x, tc.y, tc.subsets, tc.size, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "KID") {
				t.Errorf("err = %v; want one naming KID and containing %q", err, tc.want)
			}
		})
	}
}
