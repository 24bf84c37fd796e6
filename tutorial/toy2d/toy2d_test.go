package toy2d

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x70792d32)) }

// allDatasets are the datasets every generic test runs on: the defaults and a
// non-default setting of each parametrised one.
var allDatasets = []Dataset{
	Gaussians8{}, Gaussians8{Std: 0.3, Radius: 1},
	Moons{}, Moons{Noise: 0.15},
	SwissRoll{},
	Checkerboard{},
}

func TestNamesAndByName(t *testing.T) {
	want := []string{"gaussians8", "moons", "swissroll", "checkerboard"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	Names()[0] = "changed"
	if Names()[0] != "gaussians8" {
		t.Errorf("Names() returned the package's own slice: a caller changed it")
	}
	for _, name := range want {
		ds, err := ByName(name)
		if err != nil {
			t.Errorf("ByName(%q): %v", name, err)
			continue
		}
		if ds.Name() != name {
			t.Errorf("ByName(%q).Name() = %q", name, ds.Name())
		}
	}
	for _, bad := range []string{"", "Moons", "circles", "gaussians8 "} {
		ds, err := ByName(bad)
		if err == nil {
			t.Errorf("ByName(%q) = %v, want an error", bad, ds)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+bad+`"`) {
			t.Errorf("ByName(%q) error %q does not name the bad input", bad, msg)
		}
		for _, name := range want {
			if !strings.Contains(msg, name) {
				t.Errorf("ByName(%q) error %q does not list %q", bad, msg, name)
			}
		}
	}
}

func TestSampleDeterministic(t *testing.T) {
	for _, ds := range allDatasets {
		a := ds.Sample(newRNG(7), 500)
		b := ds.Sample(newRNG(7), 500)
		c := ds.Sample(newRNG(8), 500)
		if len(a) != 500 {
			t.Errorf("%s %+v: Sample(500) returned %d points", ds.Name(), ds, len(a))
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s %+v: two generators with the same seed gave different samples", ds.Name(), ds)
		}
		if slices.Equal(a, c) {
			t.Errorf("%s %+v: different seeds gave identical samples", ds.Name(), ds)
		}
		if got := ds.Sample(newRNG(7), 0); len(got) != 0 {
			t.Errorf("%s: Sample(0) returned %d points", ds.Name(), len(got))
		}
	}
}

// mustPanic runs f and reports an error unless it panics with a message
// containing want.
func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if r == nil || !strings.Contains(msg, want) {
			t.Errorf("%s: panic %v, want a panic mentioning %q", what, r, want)
		}
	}()
	f()
}

func TestInvalidParametersPanic(t *testing.T) {
	rng := newRNG(1)
	mustPanic(t, "Sample(-1)", "n must be ≥ 0, got -1", func() { Moons{}.Sample(rng, -1) })
	mustPanic(t, "Moons{Noise: -0.1}", "Moons.Noise", func() { Moons{Noise: -0.1}.LogDensity(Point{}) })
	mustPanic(t, "SwissRoll{Noise: NaN}", "SwissRoll.Noise", func() { SwissRoll{Noise: math.NaN()}.Sample(rng, 1) })
	mustPanic(t, "Gaussians8{Std: -1}", "Gaussians8.Std", func() { Gaussians8{Std: -1}.Sample(rng, 1) })
	mustPanic(t, "Gaussians8{Radius: +Inf}", "Gaussians8.Radius", func() { Gaussians8{Radius: math.Inf(1)}.Centres() })
}

// gridIntegrals integrates p and −p log p over the box [x0, x1] × [y0, y1]
// with the midpoint rule of step h. For the smooth densities (everything
// convolved with a Gaussian of standard deviation σ) the midpoint rule on a
// box holding all but e^−70 of the mass is spectrally accurate: its error is
// about exp(−2π²σ²/h²), below 1e-15 for h ≤ σ/1.5. For the checkerboard the
// cell edges fall on the squares' edges and the rule is exact.
func gridIntegrals(ds Dataset, x0, x1, y0, y1, h float64) (mass, entropy float64) {
	nx, ny := int(math.Round((x1-x0)/h)), int(math.Round((y1-y0)/h))
	hx, hy := (x1-x0)/float64(nx), (y1-y0)/float64(ny)
	for i := range nx {
		for j := range ny {
			lp := ds.LogDensity(Point{x0 + (float64(i)+0.5)*hx, y0 + (float64(j)+0.5)*hy})
			if math.IsInf(lp, -1) {
				continue
			}
			p := math.Exp(lp)
			mass += p * hx * hy
			entropy -= p * lp * hx * hy
		}
	}
	return mass, entropy
}

// TestNormalisationAndEntropy checks, for every dataset, that the density
// integrates to 1 on a grid covering the support (tolerance 1e-7: quadrature
// error of LogDensity ≤ 1e-9 relative, grid error and mass outside the box
// far below), and that MeanNLL of fresh samples, a Monte-Carlo estimate of the
// entropy −∫ p log p, agrees with that integral on the grid (and with the
// closed form where there is one) within 4 standard errors, the standard error
// being the samples' standard deviation of −log p over √n. This is the check
// that Sample and LogDensity describe the same distribution.
func TestNormalisationAndEntropy(t *testing.T) {
	const sd, r = 0.1, 2.0 // Gaussians8 defaults, written out
	tests := []struct {
		ds             Dataset
		x0, x1, y0, y1 float64 // core of the support ± 12σ
		h              float64
		closed         float64 // closed-form entropy, or NaN
		n              int
	}{
		// Eight well-separated Gaussians (centres 15σ apart, overlap below
		// e^−28): entropy log 8 + log(2πeσ²).
		{Gaussians8{}, -r - 12*sd, r + 12*sd, -r - 12*sd, r + 12*sd, sd / 1.5,
			math.Log(8) + math.Log(2*math.Pi*math.E*sd*sd), 50000},
		{Gaussians8{Std: 0.3, Radius: 1}, -4.6, 4.6, -4.6, 4.6, 0.3 / 1.5, math.NaN(), 50000},
		{Moons{}, -1.6, 2.6, -1.1, 1.6, 0.05 / 1.5, math.NaN(), 20000},
		{Moons{Noise: 0.15}, -2.8, 3.8, -2.3, 2.8, 0.15 / 1.5, math.NaN(), 20000},
		{SwissRoll{}, -2.6, 2.6, -2.6, 2.6, 0.05 / 1.5, math.NaN(), 20000},
		// Uniform on area 8: entropy log 8, and −log p = log 8 at every sample.
		{Checkerboard{}, -2.5, 2.5, -2.5, 2.5, 0.25, math.Log(8), 20000},
	}
	for i, tc := range tests {
		mass, gridH := gridIntegrals(tc.ds, tc.x0, tc.x1, tc.y0, tc.y1, tc.h)
		if math.Abs(mass-1) > 1e-7 {
			t.Errorf("%s %+v: ∫p over the grid = %.10f, want 1 ± 1e-7", tc.ds.Name(), tc.ds, mass)
		}
		if !math.IsNaN(tc.closed) && math.Abs(gridH-tc.closed) > 1e-6 {
			t.Errorf("%s %+v: −∫p log p on the grid = %.9f, closed form %.9f", tc.ds.Name(), tc.ds, gridH, tc.closed)
		}
		samples := tc.ds.Sample(newRNG(uint64(100+i)), tc.n)
		nll := MeanNLL(tc.ds, samples)
		// The standard deviation of −log p, estimated on the first 2000
		// samples (to within a few per cent, which the factor 4 absorbs).
		var sum, ss float64
		for _, p := range samples[:2000] {
			v := -tc.ds.LogDensity(p)
			sum, ss = sum+v, ss+v*v
		}
		se := math.Sqrt(math.Max(0, ss-sum*sum/2000)/1999) / math.Sqrt(float64(tc.n))
		tol := 4*se + 1e-6
		if math.Abs(nll-gridH) > tol {
			t.Errorf("%s %+v: MeanNLL of %d samples %.5f, entropy on the grid %.5f (tolerance %.2g = 4 SE)", tc.ds.Name(), tc.ds, tc.n, nll, gridH, tol)
		}
		t.Logf("%-12s ∫p−1 = %+.1e  H(grid) = %.5f  MeanNLL = %.5f ± %.5f", tc.ds.Name(), mass-1, gridH, nll, se)
	}
}

// normalCDF is Φ(z) = ½ erfc(−z/√2).
func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// cellIntegral integrates exp(LogDensity) over a rectangle with composite
// 8-point Gauss–Legendre rules (the nodes are checked in TestGaussLegendre)
// on sub-panels at most maxPanel wide. For a density smooth on the scale σ
// (a Gaussian of standard deviation σ being the sharpest feature), sub-panels
// of 4σ give a relative error of order 1e-7, far below the 1e-2 relative
// standard error of a count of 200,000 samples in a 5% cell.
func cellIntegral(ds Dataset, x0, x1, y0, y1, maxPanel float64) float64 {
	nx, ny := int(math.Ceil((x1-x0)/maxPanel)), int(math.Ceil((y1-y0)/maxPanel))
	hx, hy := (x1-x0)/float64(nx)/2, (y1-y0)/float64(ny)/2
	sum := 0.0
	for a := range nx {
		mx := x0 + float64(2*a+1)*hx
		for b := range ny {
			my := y0 + float64(2*b+1)*hy
			for i := range glOrder {
				for j := range glOrder {
					p := Point{mx + hx*glNodes[i], my + hy*glNodes[j]}
					sum += glWeights[i] * glWeights[j] * math.Exp(ds.LogDensity(p))
				}
			}
		}
	}
	return sum * hx * hy
}

// TestHistogramMatchesDensity draws 200,000 samples, counts them on an 8×8
// grid of cells and compares each count with n ∫_cell p. The cell masses are
// closed forms for gaussians8 (products of normal CDF differences) and the
// checkerboard (overlap areas with the dark squares / 8), and Gauss–Legendre
// integrals of the density for the curve datasets. Cells expecting fewer than
// 5 samples are pooled with the outside of the grid. Every bin's count must be
// within 5 binomial standard errors √(n p (1 − p)) of n p, and the chi-square
// statistic Σ (O − E)²/E must stay below df + 5√(2 df); either fails for a
// correct sampler with probability below about 1e-5.
func TestHistogramMatchesDensity(t *testing.T) {
	const n, cells = 200000, 8
	gaussMass := func(g Gaussians8) func(x0, x1, y0, y1 float64) float64 {
		sd, r := g.Std, g.Radius
		return func(x0, x1, y0, y1 float64) float64 {
			m := 0.0
			for k := range 8 {
				cx, cy := r*math.Cos(float64(k)*math.Pi/4), r*math.Sin(float64(k)*math.Pi/4)
				m += (normalCDF((x1-cx)/sd) - normalCDF((x0-cx)/sd)) * (normalCDF((y1-cy)/sd) - normalCDF((y0-cy)/sd))
			}
			return m / 8
		}
	}
	checkerMass := func(x0, x1, y0, y1 float64) float64 {
		area := 0.0
		for i := range 4 {
			for j := range 4 {
				if (i+j)%2 == 1 {
					continue
				}
				sx0, sy0 := float64(i)-2, float64(j)-2
				w := math.Max(0, math.Min(x1, sx0+1)-math.Max(x0, sx0))
				h := math.Max(0, math.Min(y1, sy0+1)-math.Max(y0, sy0))
				area += w * h
			}
		}
		return area / 8
	}
	numeric := func(ds Dataset, sigma float64) func(x0, x1, y0, y1 float64) float64 {
		return func(x0, x1, y0, y1 float64) float64 { return cellIntegral(ds, x0, x1, y0, y1, 4*sigma) }
	}
	tests := []struct {
		ds             Dataset
		x0, x1, y0, y1 float64
		mass           func(x0, x1, y0, y1 float64) float64
	}{
		{Gaussians8{}, -2.4, 2.4, -2.4, 2.4, gaussMass(Gaussians8{Std: 0.1, Radius: 2})},
		{Gaussians8{Std: 0.3, Radius: 1}, -2, 2, -2, 2, gaussMass(Gaussians8{Std: 0.3, Radius: 1})},
		{Moons{}, -1.2, 2.2, -0.7, 1.2, numeric(Moons{}, 0.05)},
		{Moons{Noise: 0.15}, -1.5, 2.5, -1, 1.5, numeric(Moons{Noise: 0.15}, 0.15)},
		{SwissRoll{}, -2.2, 2.2, -2.2, 2.2, numeric(SwissRoll{}, 0.05)},
		{Checkerboard{}, -2, 2, -2, 2, checkerMass},
	}
	for i, tc := range tests {
		samples := tc.ds.Sample(newRNG(uint64(200+i)), n)
		wx, wy := (tc.x1-tc.x0)/cells, (tc.y1-tc.y0)/cells
		var counts [cells * cells]int
		for _, p := range samples {
			a, b := math.Floor((p[0]-tc.x0)/wx), math.Floor((p[1]-tc.y0)/wy)
			if a >= 0 && a < cells && b >= 0 && b < cells {
				counts[int(a)*cells+int(b)]++
			}
		}
		var obs, exp []float64
		restObs, restExp := float64(n), float64(n)
		for a := range cells {
			for b := range cells {
				x0, y0 := tc.x0+float64(a)*wx, tc.y0+float64(b)*wy
				e := n * tc.mass(x0, x0+wx, y0, y0+wy)
				if e >= 5 {
					obs, exp = append(obs, float64(counts[a*cells+b])), append(exp, e)
					restObs -= float64(counts[a*cells+b])
					restExp -= e
				}
			}
		}
		if restExp >= 5 {
			obs, exp = append(obs, restObs), append(exp, restExp)
		} else if restObs > restExp+5*math.Sqrt(restExp)+5 {
			t.Errorf("%s %+v: %g samples in cells expecting %.3g in all", tc.ds.Name(), tc.ds, restObs, restExp)
		}
		chi2, maxZ := 0.0, 0.0
		for k := range obs {
			d := obs[k] - exp[k]
			chi2 += d * d / exp[k]
			maxZ = math.Max(maxZ, math.Abs(d)/math.Sqrt(exp[k]*(1-exp[k]/n)))
		}
		df := float64(len(obs) - 1)
		if maxZ > 5 {
			t.Errorf("%s %+v: a bin is %.1f binomial standard errors off", tc.ds.Name(), tc.ds, maxZ)
		}
		if lim := df + 5*math.Sqrt(2*df); chi2 > lim {
			t.Errorf("%s %+v: chi-square %.1f over %g degrees of freedom exceeds %.1f", tc.ds.Name(), tc.ds, chi2, df, lim)
		}
		t.Logf("%-12s %2d bins, chi-square %.1f (df %g), max |z| %.2f", tc.ds.Name(), len(obs), chi2, df, maxZ)
	}
}

// TestGaussians8Modes checks the mass near each centre of 80,000 samples.
// With maxDist = aσ (far below the 15σ between neighbouring centres), a
// sample is assigned to its own mode with probability 1 − exp(−a²/2), since
// |x − c|²/σ² is χ² with 2 degrees of freedom. Each count must be within 4
// binomial standard errors of n (1 − e^(−a²/2))/8, and the outliers within 4
// of n e^(−a²/2).
func TestGaussians8Modes(t *testing.T) {
	const n = 80000
	for i, tc := range []struct {
		g Gaussians8
		a float64
	}{
		{Gaussians8{}, 7}, // essentially every sample assigned: 1/8 each
		{Gaussians8{}, 2},
		{Gaussians8{Std: 0.05, Radius: 3}, 1},
	} {
		samples := tc.g.Sample(newRNG(uint64(300+i)), n)
		sd := tc.g.Std
		if sd == 0 {
			sd = 0.1
		}
		counts, outliers := tc.g.ModeCounts(samples, tc.a*sd)
		pIn := 1 - math.Exp(-tc.a*tc.a/2)
		pMode := pIn / 8
		seMode := math.Sqrt(n * pMode * (1 - pMode))
		for k, c := range counts {
			if math.Abs(float64(c)-n*pMode) > 4*seMode {
				t.Errorf("%+v a=%g: mode %d has %d samples, want %.0f ± %.0f", tc.g, tc.a, k, c, n*pMode, 4*seMode)
			}
		}
		pOut := 1 - pIn
		if seOut := math.Sqrt(n * pOut * (1 - pOut)); math.Abs(float64(outliers)-n*pOut) > 4*seOut+0.5 {
			t.Errorf("%+v a=%g: %d outliers, want %.0f ± %.0f", tc.g, tc.a, outliers, n*pOut, 4*seOut)
		}
	}
}

func TestGaussians8ModeCountsByHand(t *testing.T) {
	g := Gaussians8{}
	s := math.Sqrt2 // centre 1 is (√2, √2)
	samples := []Point{{2, 0}, {2.05, 0.05}, {s, s}, {0, -2.1}, {0, 0}, {10, 0}, {-2, 0.3}}
	counts, outliers := g.ModeCounts(samples, 0.25)
	want := [8]int{2, 1, 0, 0, 0, 0, 1, 0}
	if counts != want || outliers != 3 {
		t.Errorf("ModeCounts = %v, %d outliers; want %v, 3", counts, outliers, want)
	}
}

// TestGaussians8LogDensity compares LogDensity at each centre with the closed
// form. The centres c_j and c_k are 2R sin(|j − k|π/8) apart (chord length),
// so at c_0
//
//	p(c_0) = (1/8) (1/(2πσ²)) Σ_{m=0}^{7} exp(−4R² sin²(mπ/8)/(2σ²)),
//
// the m = 0 term being the centre's own Gaussian. By symmetry every centre has
// the same density. Also one point off the centres, with the sum written out.
func TestGaussians8LogDensity(t *testing.T) {
	for _, tc := range []struct {
		g      Gaussians8
		sd, r  float64
		offPts Point
	}{
		{Gaussians8{}, 0.1, 2, Point{0.3, -1.7}},
		{Gaussians8{Std: 0.5, Radius: 1}, 0.5, 1, Point{0.3, -0.2}},
		{Gaussians8{Std: 1, Radius: 0.5}, 1, 0.5, Point{2, 2}},
	} {
		sum := 0.0
		for m := range 8 {
			chord := 2 * tc.r * math.Sin(float64(m)*math.Pi/8)
			sum += math.Exp(-chord * chord / (2 * tc.sd * tc.sd))
		}
		want := math.Log(sum / 8 / (2 * math.Pi * tc.sd * tc.sd))
		for k, c := range tc.g.Centres() {
			if got := tc.g.LogDensity(c); math.Abs(got-want) > 1e-12 {
				t.Errorf("%+v: LogDensity(centre %d) = %.15g, want %.15g", tc.g, k, got, want)
			}
			if wantC := (Point{tc.r * math.Cos(float64(k)*math.Pi/4), tc.r * math.Sin(float64(k)*math.Pi/4)}); math.Abs(c[0]-wantC[0]) > 1e-15 || math.Abs(c[1]-wantC[1]) > 1e-15 {
				t.Errorf("%+v: centre %d = %v, want %v", tc.g, k, c, wantC)
			}
		}
		p := tc.offPts
		dens := 0.0
		for k := range 8 {
			dx, dy := p[0]-tc.r*math.Cos(float64(k)*math.Pi/4), p[1]-tc.r*math.Sin(float64(k)*math.Pi/4)
			dens += math.Exp(-(dx*dx+dy*dy)/(2*tc.sd*tc.sd)) / (2 * math.Pi * tc.sd * tc.sd) / 8
		}
		if got := tc.g.LogDensity(p); math.Abs(got-math.Log(dens)) > 1e-12*math.Max(1, math.Abs(got)) {
			t.Errorf("%+v: LogDensity(%v) = %.15g, want %.15g", tc.g, p, got, math.Log(dens))
		}
	}
	// Far away the density underflows float64 but its log does not:
	// log p ≈ −d²/(2σ²) − log(8·2πσ²) with d the distance to the nearest centre.
	far := Point{100, 0}
	want := -98.0*98/(2*0.01) - math.Log(8*2*math.Pi*0.01)
	if got := (Gaussians8{}).LogDensity(far); math.Abs(got-want) > 1e-9*math.Abs(want) {
		t.Errorf("LogDensity(%v) = %.12g, want %.12g", far, got, want)
	}
}

func TestCheckerboardLogDensity(t *testing.T) {
	in, out := -math.Log(8), math.Inf(-1)
	below1 := math.Nextafter(1, 0) // 0.9999999999999999: adding 2 to it rounds to 3
	for _, tc := range []struct {
		p    Point
		want float64
	}{
		{Point{-1.5, -1.5}, in},  // square (0, 0): dark
		{Point{-0.5, -1.5}, out}, // (1, 0)
		{Point{-0.5, -0.5}, in},  // (1, 1)
		{Point{1.5, 1.5}, in},    // (3, 3)
		{Point{1.5, -1.5}, out},  // (3, 0)
		{Point{0.5, -1.5}, in},   // (2, 0)
		{Point{-2, -2}, in},      // the bottom-left corner belongs to the board
		{Point{-1, -2}, out},     // left edge of (1, 0)
		{Point{-1, -1}, in},      // corner of (1, 1)
		{Point{math.Nextafter(-1, -2), -1.5}, in},
		{Point{2, 1.5}, out}, // x = 2 is outside
		{Point{1.5, 2}, out},
		{Point{-2.0001, -1.5}, out},
		{Point{below1, 0.5}, in},  // (2, 2)
		{Point{below1, 1.5}, out}, // (2, 3)
		{Point{1, 1.5}, in},       // (3, 3)
		{Point{math.Inf(1), 0}, out},
	} {
		if got := (Checkerboard{}).LogDensity(tc.p); got != tc.want {
			t.Errorf("LogDensity(%v) = %g, want %g", tc.p, got, tc.want)
		}
	}
	if got := (Checkerboard{}).LogDensity(Point{math.NaN(), 0}); !math.IsNaN(got) {
		t.Errorf("LogDensity(NaN, 0) = %g, want NaN", got)
	}
}

// maxSource always returns the largest uint64, so Float64 returns 1 − 2⁻⁵³,
// the draw for which lo + U rounds up to lo + 1.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return math.MaxUint64 }

func TestCheckerboardSampleStaysInside(t *testing.T) {
	for _, p := range (Checkerboard{}).Sample(rand.New(maxSource{}), 3) {
		if lp := (Checkerboard{}).LogDensity(p); lp != -math.Log(8) {
			t.Errorf("sample %v (from the largest uniform draw) has log-density %g", p, lp)
		}
	}
}

func TestNaNAndInfinitePoints(t *testing.T) {
	for _, ds := range allDatasets {
		if got := ds.LogDensity(Point{math.NaN(), 0}); !math.IsNaN(got) {
			t.Errorf("%s: LogDensity(NaN, 0) = %g, want NaN", ds.Name(), got)
		}
		if got := ds.LogDensity(Point{0, math.Inf(-1)}); !math.IsInf(got, -1) {
			t.Errorf("%s: LogDensity(0, −Inf) = %g, want −Inf", ds.Name(), got)
		}
	}
}

func TestMeanNLL(t *testing.T) {
	g := Gaussians8{}
	pts := []Point{{2, 0}, {0.3, 0.3}, {-1, 1.5}}
	want := -(g.LogDensity(pts[0]) + g.LogDensity(pts[1]) + g.LogDensity(pts[2])) / 3
	if got := MeanNLL(g, pts); math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Errorf("MeanNLL = %.15g, want the mean of −LogDensity %.15g", got, want)
	}
	if got := MeanNLL(Checkerboard{}, []Point{{-1.5, -1.5}, {3, 0}}); !math.IsInf(got, 1) {
		t.Errorf("MeanNLL with a sample off the board = %g, want +Inf", got)
	}
	if got := MeanNLL(Checkerboard{}, []Point{{-1.5, -1.5}, {-0.5, -0.5}}); got != math.Log(8) {
		t.Errorf("MeanNLL on the board = %g, want log 8", got)
	}
	if got := MeanNLL(g, nil); !math.IsNaN(got) {
		t.Errorf("MeanNLL of no samples = %g, want NaN", got)
	}
}

func TestFlatten32(t *testing.T) {
	pts := []Point{{1, -2}, {0.1, 3.5e10}, {-0, 1e-30}}
	flat := Flatten32(pts)
	want := []float32{1, -2, 0.1, 3.5e10, 0, 1e-30}
	if !slices.Equal(flat, want) {
		t.Fatalf("Flatten32 = %v, want %v", flat, want)
	}
	back, err := FromFlat32(flat)
	if err != nil {
		t.Fatalf("FromFlat32: %v", err)
	}
	for i, p := range pts {
		if w := (Point{float64(float32(p[0])), float64(float32(p[1]))}); back[i] != w {
			t.Errorf("FromFlat32 point %d = %v, want %v", i, back[i], w)
		}
	}
	for _, tc := range []struct {
		flat []float32
		n    int
		err  string
	}{
		{nil, 0, ""},
		{[]float32{}, 0, ""},
		{[]float32{1}, 0, "even number of values (n×2), got 1"},
		{[]float32{1, 2, 3}, 0, "got 3"},
		{[]float32{1, 2, 3, 4}, 2, ""},
	} {
		got, err := FromFlat32(tc.flat)
		switch {
		case tc.err == "" && (err != nil || len(got) != tc.n):
			t.Errorf("FromFlat32(%v) = %v, %v; want %d points", tc.flat, got, err, tc.n)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("FromFlat32(%v) error %v, want one containing %q", tc.flat, err, tc.err)
		}
	}
}

// TestLabeled checks the labelled datasets: SampleLabeled gives the same
// points as Sample for the same generator state, every label is in range
// with roughly equal shares (4 binomial standard errors), and each label
// names where its point came from: for gaussians8 the nearest centre is the
// label's (a point 10 σ from its centre would be needed to cross the
// midpoint, so all 20,000 must agree), for moons the nearest moon curve is
// the label's (the moons are 0.5 apart at their closest, 10 σ, so no point
// may cross either).
func TestLabeled(t *testing.T) {
	const n = 20000
	for _, ds := range []Labeled{Gaussians8{}, Moons{}} {
		pts, labels := ds.SampleLabeled(newRNG(4), n)
		plain := ds.Sample(newRNG(4), n)
		if !slices.Equal(pts, plain) {
			t.Errorf("%s: SampleLabeled's points differ from Sample's", ds.Name())
		}
		k := ds.Classes()
		counts := make([]int, k)
		for i, l := range labels {
			if l < 0 || int(l) >= k {
				t.Fatalf("%s: label %d out of [0, %d)", ds.Name(), l, k)
			}
			counts[l]++
			var near int
			switch d := ds.(type) {
			case Gaussians8:
				best := math.Inf(1)
				for c, ctr := range d.Centres() {
					if dd := math.Hypot(pts[i][0]-ctr[0], pts[i][1]-ctr[1]); dd < best {
						best, near = dd, c
					}
				}
			case Moons:
				if moonDistance(moonInner, pts[i]) < moonDistance(moonOuter, pts[i]) {
					near = 1
				}
			}
			if int32(near) != l {
				t.Fatalf("%s: point %v has label %d but lies nearest to %d", ds.Name(), pts[i], l, near)
			}
		}
		p := 1 / float64(k)
		for c, m := range counts {
			if share := float64(m) / n; math.Abs(share-p) > 4*math.Sqrt(p*(1-p)/n) {
				t.Errorf("%s: label %d has share %.4f, want %.4f", ds.Name(), c, share, p)
			}
		}
	}
}

// moonDistance is the distance from q to the nearest point of curve c (by
// a scan of its parameter in steps of π/400, within 0.004 of the truth:
// far below the moons' 0.25 margin).
func moonDistance(c *curve, q Point) float64 {
	best := math.Inf(1)
	for i := range 401 {
		x, y := c.at(c.lo + (c.hi-c.lo)*float64(i)/400)
		best = math.Min(best, math.Hypot(q[0]-x, q[1]-y))
	}
	return best
}

// TestModeAgreesWithLabels checks Mode against the labels SampleLabeled
// gives. A sample's mode differs from its label only when its noise moves
// it 5σ or more from its curve or centre (beyond Gaussians8.Mode's radius,
// or halfway across the 0.5 between the moons), which has probability
// p = e^(−25/2) for the 2-D Gaussian noise; the disagreements must be within
// 4 binomial standard errors of n p (+0.5, as in TestGaussians8Modes), that
// is none or one of 20,000. Mode stays in [−1, K), and for gaussians8
// tallying Mode gives ModeCounts with maxDist 5σ.
func TestModeAgreesWithLabels(t *testing.T) {
	const n = 20000
	p := math.Exp(-25.0 / 2)
	lim := n*p + 4*math.Sqrt(n*p*(1-p)) + 0.5
	for _, ds := range []Labeled{Gaussians8{}, Gaussians8{Std: 0.05, Radius: 3}, Moons{}} {
		pts, labels := ds.SampleLabeled(newRNG(5), n)
		k := ds.Classes()
		tally := make([]int, k)
		off, wrong := 0, 0
		for i, q := range pts {
			m := ds.Mode(q)
			if m < -1 || m >= k {
				t.Fatalf("%s %+v: Mode(%v) = %d, out of [−1, %d)", ds.Name(), ds, q, m, k)
			}
			if m < 0 {
				off++
			} else {
				tally[m]++
			}
			if m != int(labels[i]) {
				wrong++
			}
		}
		if float64(wrong) > lim {
			t.Errorf("%s %+v: Mode disagrees with the label of %d of %d samples, want at most %.2f", ds.Name(), ds, wrong, n, lim)
		}
		if g, ok := ds.(Gaussians8); ok {
			counts, outliers := g.ModeCounts(pts, 5*g.std())
			if !slices.Equal(counts[:], tally) || outliers != off {
				t.Errorf("%+v: tallying Mode gives %v, %d off; ModeCounts(5σ) %v, %d outliers", g, tally, off, counts, outliers)
			}
		}
	}
}

// TestModeCentresAndCurves checks Mode on points whose mode is known: the
// gaussians8 centres (label k at angle kπ/4, radius 2) and points beyond 0.5
// of every centre; points on each moon's curve and beyond its ends. The
// unlabelled datasets have no modes.
func TestModeCentresAndCurves(t *testing.T) {
	g := Gaussians8{}
	for k, c := range g.Centres() {
		for _, d := range []Point{{0, 0}, {0.3, -0.3}, {-0.45, 0}} {
			if m := g.Mode(Point{c[0] + d[0], c[1] + d[1]}); m != k {
				t.Errorf("gaussians8: centre %d offset %v is in mode %d", k, d, m)
			}
		}
		if a := math.Atan2(c[1], c[0]); math.Abs(math.Remainder(a-float64(k)*math.Pi/4, 2*math.Pi)) > 1e-9 {
			t.Errorf("centre %d is at angle %v, want %v", k, a, float64(k)*math.Pi/4)
		}
	}
	for _, p := range []Point{{0, 0}, {0.9, 0.9}, {3, 0}} {
		if m := g.Mode(p); m != -1 {
			t.Errorf("gaussians8: %v is in mode %d, want none", p, m)
		}
	}
	moons := Moons{}
	for i := range 21 {
		th := math.Pi * float64(i) / 20
		outer := Point{math.Cos(th), math.Sin(th)}
		inner := Point{1 - math.Cos(th), 0.5 - math.Sin(th)}
		if m := moons.Mode(outer); m != 0 {
			t.Errorf("moons: outer curve point θ = %.3f is in moon %d", th, m)
		}
		if m := moons.Mode(inner); m != 1 {
			t.Errorf("moons: inner curve point θ = %.3f is in moon %d", th, m)
		}
	}
	for _, c := range []struct {
		p    Point
		want int
	}{{Point{-1.3, -0.2}, 0}, {Point{2.3, 0.7}, 1}, {Point{0, 1.2}, 0}, {Point{1, -0.7}, 1}} {
		if m := moons.Mode(c.p); m != c.want {
			t.Errorf("moons: %v is in moon %d, want %d", c.p, m, c.want)
		}
	}
	for _, ds := range []Dataset{SwissRoll{}, Checkerboard{}} {
		if _, ok := ds.(Labeled); ok {
			t.Errorf("%s has modes", ds.Name())
		}
	}
}

// TestModeByHand checks Mode on points whose modes are plain: gaussians8's
// centres and points just inside and outside 0.5 of one, the origin and a
// NaN (no mode); the moons' curve points and ends, and points beside them.
func TestModeByHand(t *testing.T) {
	s := math.Sqrt2 // centre 1 of gaussians8 is (√2, √2)
	nan := math.NaN()
	for _, tc := range []struct {
		ds   Labeled
		p    Point
		want int
	}{
		{Gaussians8{}, Point{2, 0}, 0},
		{Gaussians8{}, Point{s, s}, 1},
		{Gaussians8{}, Point{0, -2}, 6},
		{Gaussians8{}, Point{2.49, 0}, 0},
		{Gaussians8{}, Point{2.51, 0}, -1},
		{Gaussians8{}, Point{0, 0}, -1},
		{Gaussians8{}, Point{nan, 2}, -1},
		{Gaussians8{Std: 0.2}, Point{2.9, 0}, 0}, // 5σ = 1
		{Moons{}, Point{0, 1}, 0},
		{Moons{}, Point{1, 0}, 0},    // the outer moon's end, 0.5 from the inner curve
		{Moons{}, Point{0, 0.5}, 1},  // the inner moon's end, 0.5 from the outer curve
		{Moons{}, Point{1, -0.5}, 1}, // the inner moon's bottom
		{Moons{}, Point{-1, -1}, 0},  // 1 from the outer end (−1, 0), 1.5 from the inner curve
		{Moons{}, Point{2.5, 1}, 1},  // 0.71 from the inner end (2, 0.5), 1.69 from the outer curve
	} {
		if got := tc.ds.Mode(tc.p); got != tc.want {
			t.Errorf("%s %+v: Mode(%v) = %d, want %d", tc.ds.Name(), tc.ds, tc.p, got, tc.want)
		}
	}
}

// TestMoonArcs checks the moons' half circles against the curves of the
// Moons documentation, c_out(θ) = (cos θ, sin θ) and c_in(θ) = (1 − cos θ,
// 1 − sin θ − 0.5), exactly, and their closed-form distance against a scan
// of the curve (moonDistance, within 0.004) at random points.
func TestMoonArcs(t *testing.T) {
	for i := range 101 {
		th := math.Pi * float64(i) / 100
		if x, y := moonOuter.at(th); x != math.Cos(th) || y != math.Sin(th) {
			t.Errorf("outer moon at θ = %g: (%g, %g), want (cos θ, sin θ)", th, x, y)
		}
		if x, y := moonInner.at(th); x != 1-math.Cos(th) || y != 0.5-math.Sin(th) {
			t.Errorf("inner moon at θ = %g: (%g, %g), want (1 − cos θ, 0.5 − sin θ)", th, x, y)
		}
	}
	rng := newRNG(6)
	for range 2000 {
		q := Point{-3 + 6*rng.Float64(), -3 + 6*rng.Float64()}
		for _, c := range []struct {
			arc   halfCircle
			curve *curve
		}{{moonOuterArc, moonOuter}, {moonInnerArc, moonInner}} {
			if d, scan := c.arc.distance(q), moonDistance(c.curve, q); d > scan+1e-12 || d < scan-0.004 {
				t.Fatalf("%s: distance from %v is %g, the scan gives %g", c.curve.key, q, d, scan)
			}
		}
	}
}
