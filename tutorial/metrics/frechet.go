package metrics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Moments is the mean and sample covariance of a sample of points: what the
// Fréchet distance keeps of each sample. Computing the Moments of a fixed
// reference sample once (the real data, say) and comparing many others
// against it with [FrechetFromMoments] saves recomputing its covariance.
type Moments struct {
	// N is the number of points the moments were computed from (0 when they
	// were set by hand, e.g. a population's).
	N int
	// Mean is the mean μ = (1/N) Σᵢ xᵢ, one value per dimension.
	Mean []float64
	// Cov is the sample covariance Σ = 1/(N−1) Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ, a
	// symmetric d×d matrix with d = len(Mean).
	Cov *mat.SymDense
}

// SampleMoments returns the mean and the sample covariance (divided by
// N − 1) of x. Every point must have the same dimension d ≥ 1 and finite
// coordinates, and there must be at least 2 points. The cost is O(N d²).
func SampleMoments(x [][]float64) (Moments, error) {
	d, err := dimension("SampleMoments", "x", x)
	if err != nil {
		return Moments{}, err
	}
	if err := checkFinite("SampleMoments", "x", x); err != nil {
		return Moments{}, err
	}
	return sampleMoments("SampleMoments", "x", x, d)
}

// sampleMoments is SampleMoments for a checked sample of dimension d.
func sampleMoments(fn, which string, x [][]float64, d int) (Moments, error) {
	n := len(x)
	if n < 2 {
		return Moments{}, fmt.Errorf("metrics: %s: sample %s needs at least 2 points for a sample covariance, got %d", fn, which, n)
	}
	mean := make([]float64, d)
	for _, p := range x {
		for k, v := range p {
			mean[k] += v
		}
	}
	for k := range mean {
		mean[k] /= float64(n)
	}
	centred := mat.NewDense(n, d, nil)
	for i, p := range x {
		row := centred.RawRowView(i)
		for k, v := range p {
			row[k] = v - mean[k]
		}
	}
	cov := mat.NewSymDense(d, nil)
	cov.SymOuterK(1/float64(n-1), centred.T()) // (1/(n−1)) Xcᵀ Xc
	return Moments{N: n, Mean: mean, Cov: cov}, nil
}

// FrechetDistance is the Fréchet distance between the Gaussians fitted to
// the samples x and y (their means and sample covariances, see
// [SampleMoments]):
//
//	FD = ‖μ_x − μ_y‖² + Tr(Σ_x + Σ_y − 2 (Σ_x^{1/2} Σ_y Σ_x^{1/2})^{1/2}),
//
// the squared 2-Wasserstein distance between N(μ_x, Σ_x) and N(μ_y, Σ_y)
// (Dowson & Landau 1982). With Inception-v3 pool features it is the FID of
// Heusel et al. (2017); with other features it is a different number on a
// different scale (see [FrechetFromMoments] for how it is computed).
//
// It is symmetric in x and y (up to rounding), and 0 when they are the
// same sample. As an estimate of the distance between two distributions it
// is biased upwards by O(d/N) for N points in d dimensions (two samples of
// one distribution do not score 0): compare only figures computed from
// samples of the same sizes.
//
// Errors: an empty sample, a sample with fewer than 2 points, points of
// different dimensions, or a NaN or infinite coordinate.
func FrechetDistance(x, y [][]float64) (float64, error) {
	d, err := checkSamples("FrechetDistance", x, y)
	if err != nil {
		return 0, err
	}
	ma, err := sampleMoments("FrechetDistance", "x", x, d)
	if err != nil {
		return 0, err
	}
	mb, err := sampleMoments("FrechetDistance", "y", y, d)
	if err != nil {
		return 0, err
	}
	return FrechetFromMoments(ma, mb)
}

// FrechetFromMoments is the Fréchet distance between N(μ_a, Σ_a) and
// N(μ_b, Σ_b):
//
//	FD = ‖μ_a − μ_b‖² + Tr Σ_a + Tr Σ_b − 2 Tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}.
//
// Both covariances must be symmetric positive semi-definite (sample
// covariances are). It computes the last trace with two symmetric
// eigendecompositions instead of a general matrix square root:
//
//  1. Σ_a = U Λ Uᵀ, and Σ_a^{1/2} = U Λ^{1/2} Uᵀ;
//  2. M = Σ_a^{1/2} Σ_b Σ_a^{1/2}, symmetric positive semi-definite, so
//     Tr M^{1/2} = Σᵢ √νᵢ over the eigenvalues νᵢ of M.
//
// Rounding leaves the eigenvalues of a singular or nearly singular PSD
// matrix (any covariance of fewer points than dimensions, or of features
// that are constant or linearly dependent) at tiny negative values of order
// ε·λ_max instead of 0; they are clamped to 0 before the square roots. This
// is exact for PSD input; a genuinely indefinite matrix would be projected
// onto the PSD cone silently, so pass covariances only. For the same reason
// the result, ≥ 0 in exact arithmetic, can round to a tiny negative number
// when the two distributions nearly coincide; it is clamped to 0 as well.
//
// Errors: means of different lengths, a covariance whose size differs from
// its mean's, an empty mean, a non-finite value, or an eigendecomposition
// that fails to converge.
func FrechetFromMoments(a, b Moments) (float64, error) {
	d := len(a.Mean)
	switch {
	case d == 0:
		return 0, fmt.Errorf("metrics: FrechetFromMoments: empty mean")
	case len(b.Mean) != d:
		return 0, fmt.Errorf("metrics: FrechetFromMoments: mean a has dimension %d, mean b has dimension %d", d, len(b.Mean))
	case a.Cov == nil || a.Cov.SymmetricDim() != d:
		return 0, fmt.Errorf("metrics: FrechetFromMoments: covariance a is not %d×%d", d, d)
	case b.Cov == nil || b.Cov.SymmetricDim() != d:
		return 0, fmt.Errorf("metrics: FrechetFromMoments: covariance b is not %d×%d", d, d)
	}
	for _, m := range []Moments{a, b} {
		for _, v := range m.Mean {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("metrics: FrechetFromMoments: mean has a non-finite value %g", v)
			}
		}
		for i := range d {
			for j := i; j < d; j++ {
				if v := m.Cov.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
					return 0, fmt.Errorf("metrics: FrechetFromMoments: covariance entry (%d, %d) is %g", i, j, v)
				}
			}
		}
	}

	meanTerm := 0.0
	for k := range d {
		diff := a.Mean[k] - b.Mean[k]
		meanTerm += diff * diff
	}
	trSqrt, err := traceSqrtProduct(a.Cov, b.Cov)
	if err != nil {
		return 0, err
	}
	fd := meanTerm + mat.Trace(a.Cov) + mat.Trace(b.Cov) - 2*trSqrt
	return max(fd, 0), nil
}

// traceSqrtProduct is Tr (A^{1/2} B A^{1/2})^{1/2} for symmetric PSD A and B
// of the same size, computed as FrechetFromMoments describes.
func traceSqrtProduct(a, b *mat.SymDense) (float64, error) {
	d := a.SymmetricDim()
	var eig mat.EigenSym
	if !eig.Factorize(a, true) {
		return 0, fmt.Errorf("metrics: FrechetFromMoments: the eigendecomposition of covariance a did not converge")
	}
	lambda := eig.Values(nil)
	var u mat.Dense
	eig.VectorsTo(&u)
	// Σ_a^{1/2} = U diag(√λ) Uᵀ, built as (U diag(λ^{1/4}))(U diag(λ^{1/4}))ᵀ
	// so that the result is symmetric by construction.
	scaled := mat.DenseCopyOf(&u)
	for j, l := range lambda {
		s := math.Sqrt(math.Sqrt(max(l, 0)))
		for i := range d {
			scaled.Set(i, j, scaled.At(i, j)*s)
		}
	}
	sqrtA := mat.NewSymDense(d, nil)
	sqrtA.SymOuterK(1, scaled)
	// M = Σ_a^{1/2} Σ_b Σ_a^{1/2}, symmetrised against rounding.
	var tmp, m mat.Dense
	tmp.Mul(sqrtA, b)
	m.Mul(&tmp, sqrtA)
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	if !eig.Factorize(sym, false) {
		return 0, fmt.Errorf("metrics: FrechetFromMoments: the eigendecomposition of Σ_a^{1/2} Σ_b Σ_a^{1/2} did not converge")
	}
	tr := 0.0
	for _, nu := range eig.Values(nil) {
		tr += math.Sqrt(max(nu, 0))
	}
	return tr, nil
}
