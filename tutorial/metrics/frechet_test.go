package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// sampleMeanCov2D is the mean and the sample covariance (n − 1) of 2-D
// points, written out by hand as an independent reference.
func sampleMeanCov2D(p [][]float64) (m [2]float64, c [2][2]float64) {
	n := float64(len(p))
	for _, q := range p {
		m[0] += q[0] / n
		m[1] += q[1] / n
	}
	for _, q := range p {
		for i := range 2 {
			for j := range 2 {
				c[i][j] += (q[i] - m[i]) * (q[j] - m[j]) / (n - 1)
			}
		}
	}
	return m, c
}

// frechet2D is the Fréchet distance between 2-D Gaussians by a closed form
// that needs no matrix square root: for a 2×2 symmetric PSD matrix M with
// eigenvalues ν₁, ν₂, (√ν₁ + √ν₂)² = tr M + 2√det M, so
// Tr M^{1/2} = √(tr M + 2√det M). With M = Σa^{1/2} Σb Σa^{1/2},
// tr M = tr(Σa Σb) and det M = det Σa · det Σb.
func frechet2D(ma, mb [2]float64, a, b [2][2]float64) float64 {
	trAB := a[0][0]*b[0][0] + a[0][1]*b[1][0] + a[1][0]*b[0][1] + a[1][1]*b[1][1]
	detA := a[0][0]*a[1][1] - a[0][1]*a[1][0]
	detB := b[0][0]*b[1][1] - b[0][1]*b[1][0]
	trSqrt := math.Sqrt(trAB + 2*math.Sqrt(detA*detB))
	dm := (ma[0]-mb[0])*(ma[0]-mb[0]) + (ma[1]-mb[1])*(ma[1]-mb[1])
	return dm + a[0][0] + a[1][1] + b[0][0] + b[1][1] - 2*trSqrt
}

// gaussian2D draws n points from N(mu, cov) with the Cholesky factor of cov
// written out by hand.
func gaussian2D(rng *rand.Rand, n int, mu [2]float64, cov [2][2]float64) [][]float64 {
	l00 := math.Sqrt(cov[0][0])
	l10 := cov[1][0] / l00
	l11 := math.Sqrt(cov[1][1] - l10*l10)
	pts := make([][]float64, n)
	for i := range pts {
		z0, z1 := rng.NormFloat64(), rng.NormFloat64()
		pts[i] = []float64{mu[0] + l00*z0, mu[1] + l10*z0 + l11*z1}
	}
	return pts
}

// correlated draws n points in d dimensions whose coordinates are linear
// mixtures of k ≤ d standard normals (so the covariance is non-diagonal,
// and singular when k < d), shifted by offset.
func correlated(rng *rand.Rand, n, d, k int, offset float64) [][]float64 {
	mix := make([][]float64, d)
	for i := range mix {
		mix[i] = make([]float64, k)
		for j := range mix[i] {
			mix[i][j] = rng.NormFloat64()
		}
	}
	pts := make([][]float64, n)
	z := make([]float64, k)
	for p := range pts {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		pts[p] = make([]float64, d)
		for i := range d {
			pts[p][i] = offset + float64(i)
			for j := range k {
				pts[p][i] += mix[i][j] * z[j]
			}
		}
	}
	return pts
}

// traceCov is the trace of the sample covariance, Σ_k var_k, by hand.
func traceCov(p [][]float64) float64 {
	n, d := float64(len(p)), len(p[0])
	tr := 0.0
	for k := range d {
		m := 0.0
		for _, q := range p {
			m += q[k] / n
		}
		for _, q := range p {
			tr += (q[k] - m) * (q[k] - m) / (n - 1)
		}
	}
	return tr
}

// TestFrechetOneDimensional: in 1-D the covariances are variances and the
// matrix square root is the plain one, so FD = (μ₁ − μ₂)² + (s₁ − s₂)²
// with the sample means and sample standard deviations (n − 1), which the
// test computes with meanSD, independently of gonum.
func TestFrechetOneDimensional(t *testing.T) {
	rng := newRNG(11)
	for _, tc := range []struct {
		name    string
		n, m    int
		mu, s   float64
		mu2, s2 float64
	}{
		{"same law", 500, 700, 0, 1, 0, 1},
		{"shift", 300, 300, 0, 1, 2.5, 1},
		{"shift and scale", 50, 2000, -1, 0.5, 3, 4},
		{"tiny samples", 2, 3, 0, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := gaussian(rng, tc.n, []float64{tc.mu}, tc.s)
			y := gaussian(rng, tc.m, []float64{tc.mu2}, tc.s2)
			col := func(p [][]float64) []float64 {
				v := make([]float64, len(p))
				for i, q := range p {
					v[i] = q[0]
				}
				return v
			}
			m1, s1 := meanSD(col(x))
			m2, s2 := meanSD(col(y))
			want := (m1-m2)*(m1-m2) + (s1-s2)*(s1-s2)
			got, err := FrechetDistance(x, y)
			if err != nil || math.Abs(got-want) > 1e-12*(1+want) {
				t.Errorf("FrechetDistance = %.17g, %v; want %.17g", got, err, want)
			}
		})
	}
}

// TestFrechetTwoDimensionalClosedForm compares with the 2×2 closed form of
// frechet2D on the samples' own moments (computed by hand), for covariances
// that do not commute, so that the order of the square roots matters.
func TestFrechetTwoDimensionalClosedForm(t *testing.T) {
	rng := newRNG(12)
	x := gaussian2D(rng, 400, [2]float64{0, 1}, [2][2]float64{{2, 1.2}, {1.2, 1}})
	y := gaussian2D(rng, 250, [2]float64{1, -1}, [2][2]float64{{0.5, -0.3}, {-0.3, 3}})
	ma, ca := sampleMeanCov2D(x)
	mb, cb := sampleMeanCov2D(y)
	want := frechet2D(ma, mb, ca, cb)
	got, err := FrechetDistance(x, y)
	if err != nil || math.Abs(got-want) > 1e-11*(1+want) {
		t.Errorf("FrechetDistance = %.17g, %v; want %.17g", got, err, want)
	}
}

// TestFrechetExactIdentities checks identities that hold exactly for the
// sample moments, in 12 dimensions with non-diagonal covariances, full rank
// (400 points, 12 mixed normals) and singular (400 points, 3 mixed normals;
// and 5 points in 12 dimensions), where eigenvalues round to tiny negative
// values and must be clamped:
//
//   - FD(x, x) = 0;
//   - FD(x, x + c) = |c|² (equal covariances: the trace term vanishes, since
//     Tr (Σ^{1/2} Σ Σ^{1/2})^{1/2} = Tr Σ);
//   - FD(x, s·x) = (1 − s)² (|μ|² + Tr Σ), since μ_y = s μ, Σ_y = s² Σ and
//     (Σ^{1/2} s²Σ Σ^{1/2})^{1/2} = sΣ;
//   - FD(x, y) = FD(y, x).
//
// Tolerances are relative to the size of the terms (Tr Σ), at 1e-9: the
// eigenvalues carry rounding errors of about 1e-16·λ_max each, and the
// square root of a clamped eigenvalue of 1e-16·λ_max is 1e-8·√λ_max, so
// singular covariances get 1e-6.
func TestFrechetExactIdentities(t *testing.T) {
	rng := newRNG(13)
	for _, tc := range []struct {
		name    string
		n, d, k int
		tol     float64
	}{
		{"full rank", 400, 12, 12, 1e-9},
		{"rank 3", 400, 12, 3, 1e-6},
		{"fewer points than dimensions", 5, 12, 12, 1e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := correlated(rng, tc.n, tc.d, tc.k, 0.5)
			tr := traceCov(x)
			scale := 1 + tr
			check := func(what string, got, want float64, err error) {
				t.Helper()
				if err != nil || math.Abs(got-want) > tc.tol*scale*(1+want) {
					t.Errorf("%s = %.17g, %v; want %.17g (±%.2g)", what, got, err, want, tc.tol*scale*(1+want))
				}
			}
			got, err := FrechetDistance(x, x)
			check("FD(x, x)", got, 0, err)

			c := make([]float64, tc.d)
			shifted := make([][]float64, len(x))
			c2 := 0.0
			for k := range c {
				c[k] = 0.3 * float64(k%4-1)
				c2 += c[k] * c[k]
			}
			for i, p := range x {
				shifted[i] = make([]float64, tc.d)
				for k, v := range p {
					shifted[i][k] = v + c[k]
				}
			}
			got, err = FrechetDistance(x, shifted)
			check("FD(x, x + c)", got, c2, err)

			const s = 1.7
			scaled := make([][]float64, len(x))
			mu2 := 0.0
			for k := range tc.d {
				m := 0.0
				for _, p := range x {
					m += p[k]
				}
				m /= float64(len(x))
				mu2 += m * m
			}
			for i, p := range x {
				scaled[i] = make([]float64, tc.d)
				for k, v := range p {
					scaled[i][k] = s * v
				}
			}
			got, err = FrechetDistance(x, scaled)
			check("FD(x, 1.7x)", got, (1-s)*(1-s)*(mu2+tr), err)

			y := correlated(rng, tc.n+7, tc.d, tc.k, -0.2)
			xy, err1 := FrechetDistance(x, y)
			yx, err2 := FrechetDistance(y, x)
			if err1 != nil || err2 != nil || math.Abs(xy-yx) > tc.tol*scale*(1+xy) || xy <= 0 {
				t.Errorf("FD(x, y) = %.17g (%v), FD(y, x) = %.17g (%v): want equal and > 0", xy, err1, yx, err2)
			}
		})
	}
}

// rotation returns a d×d orthogonal matrix: the product of Givens
// rotations by the given angle in every plane (i, i+1).
func rotation(d int, angle float64) [][]float64 {
	r := make([][]float64, d)
	for i := range r {
		r[i] = make([]float64, d)
		r[i][i] = 1
	}
	c, s := math.Cos(angle), math.Sin(angle)
	for p := 0; p+1 < d; p++ {
		for i := range d { // r ← r·G(p, p+1)
			a, b := r[i][p], r[i][p+1]
			r[i][p], r[i][p+1] = c*a-s*b, s*a+c*b
		}
	}
	return r
}

// population is a Gaussian N(mean, R diag(lambda) Rᵀ) with R orthogonal
// (nil: the identity).
type population struct {
	mean, lambda []float64
	r            [][]float64
}

// cov returns R diag(λ) Rᵀ.
func (p population) cov() *mat.SymDense {
	d := len(p.mean)
	c := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			v := 0.0
			for k := range d {
				v += p.rot(i, k) * p.lambda[k] * p.rot(j, k)
			}
			c.SetSym(i, j, v)
		}
	}
	return c
}

func (p population) rot(i, k int) float64 {
	if p.r == nil {
		if i == k {
			return 1
		}
		return 0
	}
	return p.r[i][k]
}

// sample draws n points μ + R diag(√λ) z.
func (p population) sample(rng *rand.Rand, n int) [][]float64 {
	d := len(p.mean)
	pts := make([][]float64, n)
	z := make([]float64, d)
	for i := range pts {
		for k := range z {
			z[k] = math.Sqrt(p.lambda[k]) * rng.NormFloat64()
		}
		pts[i] = make([]float64, d)
		for a := range d {
			pts[i][a] = p.mean[a]
			for k := range d {
				pts[i][a] += p.rot(a, k) * z[k]
			}
		}
	}
	return pts
}

// TestFrechetPopulationClosedForm checks the distance between known
// Gaussians, first exactly from their moments (FrechetFromMoments), then as
// the limit of the sample estimate (FrechetDistance on samples drawn from
// them). The closed forms:
//
//   - covariances with the same eigenvectors R (diagonal when R = I):
//     FD = |μ_a − μ_b|² + Σ_k (√λ_ak − √λ_bk)², because both square roots
//     share R;
//   - 2-D covariances that do not commute: frechet2D's determinant formula.
//
// The Monte Carlo part draws 12 independent pairs of samples of n = 20,000
// points and compares the mean of their 12 estimates with the closed form,
// with a tolerance of 4 standard errors of that mean (from the 12 estimates'
// spread) plus an allowance for the estimator's O(1/n) bias: the mean term's
// bias is exactly Tr(Σ_a + Σ_b)/n, and we allow (d + 1) times that for the
// whole estimate.
func TestFrechetPopulationClosedForm(t *testing.T) {
	type pair struct {
		name string
		a, b population
		want float64
	}
	sqDiff := func(u, v []float64) float64 { return sqDist(u, v) }
	sqrtDiff := func(u, v []float64) float64 {
		s := 0.0
		for k := range u {
			d := math.Sqrt(u[k]) - math.Sqrt(v[k])
			s += d * d
		}
		return s
	}
	cases := []pair{}
	add := func(name string, a, b population) {
		cases = append(cases, pair{name, a, b, sqDiff(a.mean, b.mean) + sqrtDiff(a.lambda, b.lambda)})
	}
	add("diagonal", population{mean: []float64{0, 1, -1}, lambda: []float64{1, 4, 9}},
		population{mean: []float64{0.5, 1, 0}, lambda: []float64{4, 1, 1}})
	rot := rotation(5, 0.6)
	add("shared eigenvectors", population{mean: []float64{1, 0, 0, 0, 2}, lambda: []float64{3, 1, 0.5, 2, 0.1}, r: rot},
		population{mean: []float64{0, 0, 1, 0, 2}, lambda: []float64{1, 1, 2, 0.2, 0.4}, r: rot})
	// Non-commuting 2-D covariances: a rotated by 0.4, b by −0.9 radians.
	a2 := population{mean: []float64{0, 1}, lambda: []float64{3, 0.5}, r: rotation(2, 0.4)}
	b2 := population{mean: []float64{1, -1}, lambda: []float64{0.2, 2}, r: rotation(2, -0.9)}
	ca, cb := a2.cov(), b2.cov()
	cases = append(cases, pair{"non-commuting 2-D", a2, b2, frechet2D(
		[2]float64{0, 1}, [2]float64{1, -1},
		[2][2]float64{{ca.At(0, 0), ca.At(0, 1)}, {ca.At(1, 0), ca.At(1, 1)}},
		[2][2]float64{{cb.At(0, 0), cb.At(0, 1)}, {cb.At(1, 0), cb.At(1, 1)}})})

	rng := newRNG(14)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FrechetFromMoments(Moments{Mean: tc.a.mean, Cov: tc.a.cov()}, Moments{Mean: tc.b.mean, Cov: tc.b.cov()})
			if err != nil || math.Abs(got-tc.want) > 1e-12*(1+tc.want) {
				t.Errorf("FrechetFromMoments = %.17g, %v; want %.17g", got, err, tc.want)
			}

			const reps, n = 12, 20000
			est := make([]float64, reps)
			for r := range est {
				if est[r], err = FrechetDistance(tc.a.sample(rng, n), tc.b.sample(rng, n)); err != nil {
					t.Fatal(err)
				}
			}
			mean, sd := meanSD(est)
			d := float64(len(tc.a.mean))
			trSum := mat.Trace(tc.a.cov()) + mat.Trace(tc.b.cov())
			tol := 4*sd/math.Sqrt(reps) + (d+1)*trSum/n
			t.Logf("closed form %.5f, sample estimate %.5f ± %.5f (standard error), tolerance %.5f", tc.want, mean, sd/math.Sqrt(reps), tol)
			if math.Abs(mean-tc.want) > tol {
				t.Errorf("mean of %d estimates from n = %d: %.5f, closed form %.5f (tolerance %.5f)", reps, n, mean, tc.want, tol)
			}
		})
	}
}

// TestFrechetErrors: bad samples and moments are refused with errors that
// name the problem.
func TestFrechetErrors(t *testing.T) {
	ok := [][]float64{{0, 1}, {1, 0}, {2, 2}}
	for _, tc := range []struct {
		name string
		x, y [][]float64
		want string
	}{
		{"empty x", nil, ok, "sample x is empty"},
		{"empty y", ok, [][]float64{}, "sample y is empty"},
		{"ragged", [][]float64{{0, 1}, {1}}, ok, "point 1 of sample x has dimension 1"},
		{"dimension mismatch", ok, [][]float64{{0, 1, 2}, {1, 0, 2}}, "x has dimension 2, y has dimension 3"},
		{"one point", ok, [][]float64{{0, 1}}, "at least 2 points"},
		{"zero dimension", [][]float64{{}, {}}, ok, "dimension 0"},
		{"NaN", ok, [][]float64{{0, 1}, {math.NaN(), 0}}, "is NaN"},
		{"infinite", [][]float64{{0, math.Inf(1)}, {0, 0}}, ok, "is +Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FrechetDistance(tc.x, tc.y)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "FrechetDistance") {
				t.Errorf("err = %v; want one naming FrechetDistance and containing %q", err, tc.want)
			}
		})
	}
	if _, err := SampleMoments([][]float64{{1}}); err == nil || !strings.Contains(err.Error(), "at least 2 points") {
		t.Errorf("SampleMoments of one point: err = %v", err)
	}
	m2 := Moments{Mean: []float64{0, 0}, Cov: mat.NewSymDense(2, []float64{1, 0, 0, 1})}
	for _, tc := range []struct {
		name string
		a, b Moments
		want string
	}{
		{"empty mean", Moments{}, m2, "empty mean"},
		{"mean lengths", m2, Moments{Mean: []float64{0}, Cov: mat.NewSymDense(1, []float64{1})}, "dimension 2, mean b has dimension 1"},
		{"nil covariance", m2, Moments{Mean: []float64{0, 0}}, "covariance b is not 2×2"},
		{"covariance size", Moments{Mean: []float64{0, 0}, Cov: mat.NewSymDense(3, nil)}, m2, "covariance a is not 2×2"},
		{"NaN covariance", m2, Moments{Mean: []float64{0, 0}, Cov: mat.NewSymDense(2, []float64{1, math.NaN(), math.NaN(), 1})}, "covariance entry (0, 1) is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FrechetFromMoments(tc.a, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// TestSampleMoments compares with the 2-D moments computed by hand.
func TestSampleMoments(t *testing.T) {
	x := gaussian2D(newRNG(15), 37, [2]float64{1, 2}, [2][2]float64{{1, 0.5}, {0.5, 2}})
	m, err := SampleMoments(x)
	if err != nil {
		t.Fatal(err)
	}
	wm, wc := sampleMeanCov2D(x)
	if m.N != 37 {
		t.Errorf("N = %d, want 37", m.N)
	}
	for i := range 2 {
		if math.Abs(m.Mean[i]-wm[i]) > 1e-14 {
			t.Errorf("mean[%d] = %.17g, want %.17g", i, m.Mean[i], wm[i])
		}
		for j := range 2 {
			if math.Abs(m.Cov.At(i, j)-wc[i][j]) > 1e-14 {
				t.Errorf("cov[%d][%d] = %.17g, want %.17g", i, j, m.Cov.At(i, j), wc[i][j])
			}
		}
	}
}
