package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d6d64)) }

// gaussian draws n points from N(mu, s² I).
func gaussian(rng *rand.Rand, n int, mu []float64, s float64) [][]float64 {
	pts := make([][]float64, n)
	for i := range pts {
		pts[i] = make([]float64, len(mu))
		for k, m := range mu {
			pts[i][k] = m + s*rng.NormFloat64()
		}
	}
	return pts
}

// meanSD returns the mean and the sample standard deviation of v.
func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// TestMMD2RBFByHand: x = {0, 1}, y = {0, 2} in 1-D, h = 1. The three terms:
// within x, 2·k(0,1)/2 = e^−½; within y, e^−2; across,
// 2/4·(k(0,0) + k(0,2) + k(1,0) + k(1,2)) = ½(1 + e^−2 + 2e^−½). So
// MMD²_u = (e^−2 − 1)/2, negative although the samples differ.
func TestMMD2RBFByHand(t *testing.T) {
	got, err := MMD2RBF([][]float64{{0}, {1}}, [][]float64{{0}, {2}}, 1)
	if want := (math.Exp(-2) - 1) / 2; err != nil || math.Abs(got-want) > 1e-15 {
		t.Errorf("MMD2RBF = %.17g, %v; want %.17g", got, err, want)
	}
}

// TestMMD2RBFBruteForce compares with the definition evaluated on the full
// kernel matrices, in 3-D with samples of different sizes.
func TestMMD2RBFBruteForce(t *testing.T) {
	rng := newRNG(1)
	x, y := gaussian(rng, 7, []float64{0, 0, 0}, 1), gaussian(rng, 5, []float64{0.5, 0, -1}, 2)
	const h = 1.3
	k := func(a, b []float64) float64 {
		return math.Exp(-(math.Pow(a[0]-b[0], 2) + math.Pow(a[1]-b[1], 2) + math.Pow(a[2]-b[2], 2)) / (2 * h * h))
	}
	var kxx, kyy, kxy float64
	for i := range x {
		for j := range x {
			if i != j {
				kxx += k(x[i], x[j])
			}
		}
		for j := range y {
			kxy += k(x[i], y[j])
		}
	}
	for i := range y {
		for j := range y {
			if i != j {
				kyy += k(y[i], y[j])
			}
		}
	}
	want := kxx/(7*6) + kyy/(5*4) - 2*kxy/(7*5)
	if got, err := MMD2RBF(x, y, h); err != nil || math.Abs(got-want) > 1e-14 {
		t.Errorf("MMD2RBF = %.17g, %v; want %.17g", got, err, want)
	}
	// Symmetric in its two samples.
	if a, b := must(MMD2RBF(x, y, h)), must(MMD2RBF(y, x, h)); math.Abs(a-b) > 1e-15 {
		t.Errorf("MMD2RBF(x, y) = %.17g, MMD2RBF(y, x) = %.17g", a, b)
	}
}

func must(v float64, err error) float64 {
	if err != nil {
		panic(err)
	}
	return v
}

// populationMMD2 is the RBF-kernel MMD² between N(μ₁, s²I_d) and N(μ₂, s²I_d).
//
// Derivation. For z ~ N(m, v) in one dimension,
//
//	E exp(−z²/(2h²)) = ∫ exp(−z²/(2h²) − (z − m)²/(2v)) dz / √(2πv)
//	                 = √(h²/(h² + v)) · exp(−m²/(2(h² + v)))
//
// (complete the square: the exponent is −(h² + v)/(2h²v)·(z − m h²/(h² + v))²
// − m²/(2(h² + v))). The kernel factorises over coordinates, so for
// z ∈ ℝ^d with independent N(m_k, v) coordinates
// E exp(−|z|²/(2h²)) = (h²/(h² + v))^{d/2} exp(−|m|²/(2(h² + v))).
// For x, x′ independent from N(μ₁, s²I), x − x′ ~ N(0, 2s²I): E k(x, x′) =
// (h²/(h² + 2s²))^{d/2}, and the same for y, y′; x − y ~ N(μ₁ − μ₂, 2s²I):
// E k(x, y) = (h²/(h² + 2s²))^{d/2} exp(−|μ₁ − μ₂|²/(2(h² + 2s²))). Hence
//
//	MMD² = E k(x,x′) + E k(y,y′) − 2 E k(x,y)
//	     = 2 (h²/(h² + 2s²))^{d/2} (1 − exp(−|μ₁ − μ₂|²/(2(h² + 2s²)))).
func populationMMD2(d int, s, h, dmu2 float64) float64 {
	c := math.Pow(h*h/(h*h+2*s*s), float64(d)/2)
	return 2 * c * (1 - math.Exp(-dmu2/(2*(h*h+2*s*s))))
}

// TestMMD2RBFGaussians checks the estimate against populationMMD2. The
// estimator is unbiased, so the mean of R = 20 independent estimates must be
// within 4 standard errors of the population value, the standard error being
// the observed spread of the estimates over √R (a t statistic with 19 degrees
// of freedom exceeds 4 with probability below 0.001). With equal
// distributions the population value is 0 and some estimates must be
// negative (a biased V-statistic, which adds about 2(1 − c)/m > 0, would fail
// both checks: 8 to 18 standard errors off here).
func TestMMD2RBFGaussians(t *testing.T) {
	const reps, n = 20, 300
	for _, tc := range []struct {
		d       int
		s, h    float64
		mu1     []float64
		mu2     []float64
		samples int
	}{
		{2, 1, 1, []float64{0, 0}, []float64{1, 0.5}, n},
		{5, 0.5, 2, []float64{0, 0, 0, 0, 0}, []float64{0.8, 0, 0, 0, 0}, n},
		{2, 1, 0.5, []float64{1, -1}, []float64{1, -1}, n},
		{3, 1, 1.5, []float64{0, 0, 0}, []float64{0, 0, 0}, n},
	} {
		dmu2 := 0.0
		for k := range tc.mu1 {
			dmu2 += (tc.mu1[k] - tc.mu2[k]) * (tc.mu1[k] - tc.mu2[k])
		}
		want := populationMMD2(tc.d, tc.s, tc.h, dmu2)
		est := make([]float64, reps)
		negative := 0
		for r := range est {
			rng := newRNG(uint64(1000*tc.d + r))
			x, y := gaussian(rng, tc.samples, tc.mu1, tc.s), gaussian(rng, tc.samples, tc.mu2, tc.s)
			var err error
			if est[r], err = MMD2RBF(x, y, tc.h); err != nil {
				t.Fatal(err)
			}
			if est[r] < 0 {
				negative++
			}
		}
		mean, sd := meanSD(est)
		se := sd / math.Sqrt(reps)
		if math.Abs(mean-want) > 4*se {
			t.Errorf("d=%d s=%g h=%g |Δμ|²=%g: mean MMD² over %d runs %.5f ± %.5f, population value %.5f", tc.d, tc.s, tc.h, dmu2, reps, mean, se, want)
		}
		if dmu2 == 0 && negative == 0 {
			t.Errorf("d=%d: equal distributions gave no negative estimate in %d runs: the estimate looks biased", tc.d, reps)
		}
		t.Logf("d=%d s=%g h=%g |Δμ|²=%g: population %.5f, mean estimate %.5f ± %.5f, %d/%d negative", tc.d, tc.s, tc.h, dmu2, want, mean, se, negative, reps)
	}
}

// TestMedianBandwidth checks small cases by hand and the Gaussian case: for
// x, x′ from N(0, s²I₂), |x − x′| is Rayleigh with scale √2·s, whose median
// is √2·s·√(2 ln 2) = 2s√(ln 2). With the 1000 points used, the sample
// median of the ~500,000 dependent distances has a standard error of about
// 1.8% (a U-statistic: √(4ζ₁/N)/f(median) with ζ₁ ≈ 0.04, f = 0.42); the
// tolerance is 7%, about 4 standard errors.
func TestMedianBandwidth(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y [][]float64
		want float64
	}{
		// Distances 1, 3, 2: median 2.
		{"three points", [][]float64{{0}, {1}}, [][]float64{{3}}, 2},
		// Distances 1, 3, 7, 2, 6, 4: sorted 1 2 3 4 6 7, median (3 + 4)/2.
		{"four points", [][]float64{{0}, {1}}, [][]float64{{3}, {7}}, 3.5},
		// Distances 5, 1, 4.1231 (√17), median 4.1231.
		{"2-D", [][]float64{{0, 0}, {3, 4}}, [][]float64{{4, 1}}, math.Sqrt(17)},
		// Pairs: (0,0)-(0,0) 0, twice 1 from the third point: median 1.
		{"duplicates", [][]float64{{0}, {0}}, [][]float64{{1}}, 1},
		{"all equal", [][]float64{{2}, {2}}, [][]float64{{2}}, 0},
		{"one point", [][]float64{{1, 2}}, nil, math.NaN()},
		{"ragged", [][]float64{{1, 2}, {1}}, nil, math.NaN()},
		{"NaN", [][]float64{{1}, {math.NaN()}}, [][]float64{{0}}, math.NaN()},
	} {
		got := MedianBandwidth(tc.x, tc.y)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-15) {
			t.Errorf("%s: MedianBandwidth = %g, want %g", tc.name, got, tc.want)
		}
	}
	rng := newRNG(5)
	const s = 0.7
	x, y := gaussian(rng, 1800, []float64{0, 0}, s), gaussian(rng, 1200, []float64{0, 0}, s)
	got := MedianBandwidth(x, y)
	if want := 2 * s * math.Sqrt(math.Ln2); math.Abs(got/want-1) > 0.07 {
		t.Errorf("MedianBandwidth of 3000 N(0, %g²I₂) points = %.4f, want %.4f ± 7%%", s, got, want)
	}
	if again := MedianBandwidth(x, y); again != got {
		t.Errorf("MedianBandwidth is not deterministic: %g then %g", got, again)
	}
}

// TestSlicedWassersteinExact covers cases with exact answers. In 1-D every
// direction is ±1 and W₂ is sign-invariant, so SW₂ is W₂ between the two
// samples. x = {0, 1}, y = {0, 1, 2}: the quantile functions differ by 1 on
// (1/3, 1/2] and (2/3, 1], so W₂² = 1/6 + 1/3 = 1/2.
func TestSlicedWassersteinExact(t *testing.T) {
	rng := newRNG(9)
	x3 := gaussian(rng, 50, []float64{0, 1, 2}, 1)
	doubled := append(append([][]float64{}, x3...), x3...)
	for _, tc := range []struct {
		name string
		x, y [][]float64
		want float64
	}{
		{"hand 1-D", [][]float64{{0}, {1}}, [][]float64{{0}, {1}, {2}}, math.Sqrt(0.5)},
		{"hand 1-D reversed", [][]float64{{2}, {0}, {1}}, [][]float64{{1}, {0}}, math.Sqrt(0.5)},
		{"shift 1-D", [][]float64{{0}, {5}, {-1}}, [][]float64{{1.5}, {6.5}, {0.5}}, 1.5},
		{"itself", x3, x3, 0},
		{"each point twice", x3, doubled, 0},
	} {
		got, err := SlicedWasserstein(tc.x, tc.y, 20, newRNG(3))
		if err != nil || math.Abs(got-tc.want) > 1e-14 {
			t.Errorf("%s: SlicedWasserstein = %.17g, %v; want %.17g", tc.name, got, err, tc.want)
		}
	}
}

// TestSlicedWassersteinQuantiles compares unequal sample sizes in 1-D with
// the definition ∫_0^1 (F⁻¹(u) − G⁻¹(u))² du evaluated by the midpoint rule on
// m·n cells, on which both quantile functions are constant (so the rule is
// exact); F⁻¹(u) is the ⌈u m⌉-th smallest value.
func TestSlicedWassersteinQuantiles(t *testing.T) {
	rng := newRNG(11)
	for _, size := range [][2]int{{7, 5}, {4, 6}, {9, 3}, {1, 8}, {12, 12}} {
		m, n := size[0], size[1]
		x, y := gaussian(rng, m, []float64{0}, 1), gaussian(rng, n, []float64{0.3}, 2)
		sx, sy := sorted1D(x), sorted1D(y)
		want := 0.0
		for k := range m * n {
			u := (float64(k) + 0.5) / float64(m*n)
			d := sx[int(math.Ceil(u*float64(m)))-1] - sy[int(math.Ceil(u*float64(n)))-1]
			want += d * d / float64(m*n)
		}
		got, err := SlicedWasserstein(x, y, 3, newRNG(1))
		if err != nil || math.Abs(got*got-want) > 1e-12 {
			t.Errorf("m=%d n=%d: SW² = %.15g, %v; want %.15g", m, n, got*got, err, want)
		}
	}
}

// sorted1D returns the coordinates of 1-D points in increasing order
// (insertion sort, to stay independent of the code under test).
func sorted1D(p [][]float64) []float64 {
	v := make([]float64, len(p))
	for i, q := range p {
		j := i
		for ; j > 0 && v[j-1] > q[0]; j-- {
			v[j] = v[j-1]
		}
		v[j] = q[0]
	}
	return v
}

// TestSlicedWassersteinShift: y = x + δ translates every projection by θ·δ,
// so W₂²(θ) = (θ·δ)² exactly and SW₂² is the mean of (θ·δ)² over the K
// directions. For θ uniform on the sphere in d dimensions, (θ·δ)²/|δ|² is
// Beta(1/2, (d − 1)/2): mean 1/d, variance 2(d − 1)/(d²(d + 2)). So SW₂² must
// be within 4 standard errors |δ|²·√(2(d − 1)/(d²(d + 2))/K) of |δ|²/d.
func TestSlicedWassersteinShift(t *testing.T) {
	const k = 2000
	for _, delta := range [][]float64{{1, 0}, {0.6, -0.8, 2}, {1, 1, 1, 1, 1, 1}} {
		d := float64(len(delta))
		x := gaussian(newRNG(21), 100, make([]float64, len(delta)), 1)
		y := make([][]float64, len(x))
		norm2 := 0.0
		for _, v := range delta {
			norm2 += v * v
		}
		for i, p := range x {
			y[i] = make([]float64, len(p))
			for j := range p {
				y[i][j] = p[j] + delta[j]
			}
		}
		sw, err := SlicedWasserstein(x, y, k, newRNG(22))
		if err != nil {
			t.Fatal(err)
		}
		want := norm2 / d
		se := norm2 * math.Sqrt(2*(d-1)/(d*d*(d+2))/k)
		if math.Abs(sw*sw-want) > 4*se+1e-12 {
			t.Errorf("δ=%v: SW² = %.5f, want |δ|²/d = %.5f ± %.5f", delta, sw*sw, want, 4*se)
		}
	}
}

// TestSlicedWassersteinDirections checks that the directions are uniform on
// the sphere, with samples whose W₂² is not quadratic in θ (a quadratic one
// only sees second moments, which any symmetric direction law gets right).
// x = {e₁, −e₁}, y = {e₂, −e₂}: the sorted projections are ±|θ₁| and ±|θ₂|,
// so W₂²(θ) = (|θ₁| − |θ₂|)² = θ₁² + θ₂² − 2|θ₁θ₂|. For θ uniform on the
// circle (d = 2), E|θ₁θ₂| = E|sin 2φ|/2 = 1/π, so E SW₂² = 1 − 2/π; on the
// sphere (d = 3), E|θ₁θ₂| = (1/4π) ∫ sin³ϑ dϑ ∫ |cos φ sin φ| dφ
// = (1/4π)(4/3)(2) = 2/(3π), so E SW₂² = 2/3 − 4/(3π). W₂² lies in [0, 1], so
// its variance is at most 1/4 and 4 standard errors are at most 2/√K. (Unit
// vectors from normalised uniform-cube draws give 1 − ln 2 in 2-D: 0.056 off,
// 4 times that tolerance.)
func TestSlicedWassersteinDirections(t *testing.T) {
	const k = 20000
	for _, tc := range []struct {
		x, y [][]float64
		want float64
	}{
		{[][]float64{{1, 0}, {-1, 0}}, [][]float64{{0, 1}, {0, -1}}, 1 - 2/math.Pi},
		{[][]float64{{1, 0, 0}, {-1, 0, 0}}, [][]float64{{0, 1, 0}, {0, -1, 0}}, 2.0/3 - 4/(3*math.Pi)},
	} {
		sw, err := SlicedWasserstein(tc.x, tc.y, k, newRNG(41))
		if err != nil {
			t.Fatal(err)
		}
		if tol := 2 / math.Sqrt(k); math.Abs(sw*sw-tc.want) > tol {
			t.Errorf("d=%d: SW² = %.4f, want %.4f ± %.4f", len(tc.x[0]), sw*sw, tc.want, tol)
		}
	}
}

// TestSlicedWassersteinGaussians: x ~ N(μ₁, s²I), y ~ N(μ₂, s²I) drawn
// independently, n points each, in d = 3 dimensions.
//
// For equal sizes and one direction θ, writing each projected sample as its
// mean plus centred values, W₂² = (θ·(x̄ − ȳ))² + W₂²(centred projections):
// the cross term vanishes because both centred samples sum to zero. Over
// uniform directions E(θ·v)² = |v|²/d, so
//
//	E_θ SW₂² = |x̄ − ȳ|²/d + b,
//
// b the floor left by the shapes of two samples of one distribution,
// measured here as SW₂²(x, x′) for a fresh x′ ~ N(μ₁, s²I) (itself an
// estimate, of order s²·log n/n, so the tolerance adds b once more). The
// direction average has the standard error of TestSlicedWassersteinShift.
// Against the population, x̄ − ȳ − Δμ ~ N(0, 2s²/n I) moves |x̄ − ȳ|²/d by
// about 2Δμ·e/d, standard deviation 2|Δμ|s√(2/n)/d: the second check uses the
// population value |Δμ|²/d with 4 of those standard errors added.
func TestSlicedWassersteinGaussians(t *testing.T) {
	const n, k, s, d = 500, 2000, 1.0, 3.0
	rng := newRNG(31)
	mu1, mu2 := []float64{0, 0, 0}, []float64{1, -1, 0.5}
	x, y, x2 := gaussian(rng, n, mu1, s), gaussian(rng, n, mu2, s), gaussian(rng, n, mu1, s)
	sw, err := SlicedWasserstein(x, y, k, newRNG(32))
	if err != nil {
		t.Fatal(err)
	}
	floor, err := SlicedWasserstein(x, x2, k, newRNG(33))
	if err != nil {
		t.Fatal(err)
	}
	dmu2, dmuHat2 := 0.0, 0.0
	for c := range mu1 {
		dmu2 += (mu1[c] - mu2[c]) * (mu1[c] - mu2[c])
		var mx, my float64
		for i := range n {
			mx += x[i][c] / n
			my += y[i][c] / n
		}
		dmuHat2 += (mx - my) * (mx - my)
	}
	b := floor * floor
	dirSE := func(v2 float64) float64 { return v2 * math.Sqrt(2*(d-1)/(d*d*(d+2))/k) }
	if want, tol := dmuHat2/d+b, 4*dirSE(dmuHat2)+b; math.Abs(sw*sw-want) > tol {
		t.Errorf("SW² = %.4f, want |x̄ − ȳ|²/d + floor = %.4f ± %.4f", sw*sw, want, tol)
	}
	if want, tol := dmu2/d+b, 4*dirSE(dmu2)+b+4*2*math.Sqrt(dmu2)*s*math.Sqrt(2.0/n)/d; math.Abs(sw*sw-want) > tol {
		t.Errorf("SW² = %.4f, want |Δμ|²/d + floor = %.4f ± %.4f", sw*sw, want, tol)
	}
	t.Logf("SW² = %.4f, |x̄ − ȳ|²/d = %.4f, |Δμ|²/d = %.4f, floor SW²(x, x′) = %.5f", sw*sw, dmuHat2/d, dmu2/d, b)
	if again, _ := SlicedWasserstein(x, y, k, newRNG(32)); again != sw {
		t.Errorf("SlicedWasserstein is not deterministic for a seed: %g then %g", sw, again)
	}
}

func TestErrors(t *testing.T) {
	ok2 := [][]float64{{0, 1}, {2, 3}}
	for _, tc := range []struct {
		name string
		x, y [][]float64
		h    float64
		k    int
		nilR bool
		want string // in both functions' errors unless only is set
		only string // "mmd" or "sw"
	}{
		{"empty x", nil, ok2, 1, 5, false, "sample x is empty", ""},
		{"empty y", ok2, [][]float64{}, 1, 5, false, "sample y is empty", ""},
		{"ragged x", [][]float64{{0, 1}, {2}}, ok2, 1, 5, false, "point 1 of sample x has dimension 1, point 0 has 2", ""},
		{"ragged y", ok2, [][]float64{{0, 1}, {2, 3, 4}}, 1, 5, false, "point 1 of sample y has dimension 3", ""},
		{"dimension mismatch", ok2, [][]float64{{1}, {2}}, 1, 5, false, "x has dimension 2, y has dimension 1", ""},
		{"zero dimension", [][]float64{{}, {}}, ok2, 1, 5, false, "dimension 0", ""},
		{"NaN", ok2, [][]float64{{0, 1}, {math.NaN(), 0}}, 1, 5, false, "coordinate 0 of point 1 of sample y is NaN", ""},
		{"Inf", [][]float64{{0, math.Inf(-1)}, {0, 0}}, ok2, 1, 5, false, "is -Inf", ""},
		{"one point", [][]float64{{0, 1}}, ok2, 1, 5, false, "at least 2 points per sample, got 1 in x and 2 in y", "mmd"},
		{"h = 0", ok2, ok2, 0, 5, false, "bandwidth must be a finite number > 0, got 0", "mmd"},
		{"h < 0", ok2, ok2, -2, 5, false, "got -2", "mmd"},
		{"h NaN", ok2, ok2, math.NaN(), 5, false, "got NaN", "mmd"},
		{"h Inf", ok2, ok2, math.Inf(1), 5, false, "got +Inf", "mmd"},
		{"no projections", ok2, ok2, 1, 0, false, "nProjections must be ≥ 1, got 0", "sw"},
		{"nil rng", ok2, ok2, 1, 5, true, "rng is nil", "sw"},
	} {
		if tc.only != "sw" {
			_, err := MMD2RBF(tc.x, tc.y, tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "metrics: MMD2RBF: ") {
				t.Errorf("%s: MMD2RBF error %v, want one containing %q", tc.name, err, tc.want)
			}
		}
		if tc.only != "mmd" {
			rng := newRNG(1)
			if tc.nilR {
				rng = nil
			}
			_, err := SlicedWasserstein(tc.x, tc.y, tc.k, rng)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "metrics: SlicedWasserstein: ") {
				t.Errorf("%s: SlicedWasserstein error %v, want one containing %q", tc.name, err, tc.want)
			}
		}
	}
}

func TestPoints2D(t *testing.T) {
	in := [][2]float64{{1, 2}, {-3, 4.5}}
	out := Points2D(in)
	if len(out) != 2 || len(out[0]) != 2 || out[0][0] != 1 || out[0][1] != 2 || out[1][0] != -3 || out[1][1] != 4.5 {
		t.Fatalf("Points2D(%v) = %v", in, out)
	}
	out[0] = append(out[0], 9) // capacity is capped: must not spill into out[1]
	if out[1][0] != -3 {
		t.Errorf("appending to one converted point changed the next: %v", out)
	}
	if got := Points2D(nil); len(got) != 0 {
		t.Errorf("Points2D(nil) = %v, want empty", got)
	}
}
