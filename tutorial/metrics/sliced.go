package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// SlicedWasserstein is the sliced 2-Wasserstein distance between the
// empirical distributions of x (m points) and y (n points):
//
//	SW₂(x, y) = √( (1/K) Σ_{k=1}^{K} W₂²(⟨θ_k, x⟩, ⟨θ_k, y⟩) ),
//
// with K = nProjections directions θ_k drawn uniformly on the unit sphere
// (normalised vectors of d standard normals, from rng), and W₂² the squared
// 2-Wasserstein distance between the two 1-D projected samples, computed
// exactly from their quantile functions F⁻¹ and G⁻¹:
//
//	W₂² = ∫_0^1 (F⁻¹(u) − G⁻¹(u))² du.
//
// The quantile functions are step functions, with steps at multiples of 1/m
// and 1/n; the integral is summed over the intervals between all those steps
// (the common grid of both). With m = n it reduces to the mean of
// (x_(i) − y_(i))² over the sorted projections.
//
// The average over directions is a Monte-Carlo estimate of the sliced
// distance's expectation over θ, with a relative error that shrinks like
// 1/√K. For two Gaussians with equal covariance s²I and means μ₁, μ₂ in d
// dimensions, E_θ W₂² = E(θ·(μ₁ − μ₂))² = |μ₁ − μ₂|²/d.
//
// Errors: an empty sample, points of different dimensions, a coordinate that
// is NaN or infinite, nProjections < 1, or a nil rng.
func SlicedWasserstein(x, y [][]float64, nProjections int, rng *rand.Rand) (float64, error) {
	d, err := checkSamples("SlicedWasserstein", x, y)
	if err != nil {
		return 0, err
	}
	if nProjections < 1 {
		return 0, fmt.Errorf("metrics: SlicedWasserstein: nProjections must be ≥ 1, got %d", nProjections)
	}
	if rng == nil {
		return 0, fmt.Errorf("metrics: SlicedWasserstein: rng is nil")
	}
	theta := make([]float64, d)
	px, py := make([]float64, len(x)), make([]float64, len(y))
	sum := 0.0
	for range nProjections {
		randomDirection(rng, theta)
		project(px, x, theta)
		project(py, y, theta)
		slices.Sort(px)
		slices.Sort(py)
		sum += w2Squared1D(px, py)
	}
	return math.Sqrt(sum / float64(nProjections)), nil
}

// randomDirection fills theta with a uniformly distributed unit vector.
func randomDirection(rng *rand.Rand, theta []float64) {
	for {
		norm := 0.0
		for k := range theta {
			theta[k] = rng.NormFloat64()
			norm += theta[k] * theta[k]
		}
		if norm > 0 {
			norm = math.Sqrt(norm)
			for k := range theta {
				theta[k] /= norm
			}
			return
		}
	}
}

// project sets dst[i] = ⟨pts[i], theta⟩.
func project(dst []float64, pts [][]float64, theta []float64) {
	for i, p := range pts {
		s := 0.0
		for k, t := range theta {
			s += p[k] * t
		}
		dst[i] = s
	}
}

// w2Squared1D is ∫_0^1 (F⁻¹(u) − G⁻¹(u))² du for the empirical quantile
// functions of the sorted samples a (m values) and b (n values):
// F⁻¹(u) = a_i on (i/m, (i+1)/m], G⁻¹(u) = b_j on (j/n, (j+1)/n]. Positions
// are counted in units of 1/(mn), so the breakpoints i/m = i·n/(mn) and
// j/n = j·m/(mn) are compared exactly as integers.
func w2Squared1D(a, b []float64) float64 {
	m, n := len(a), len(b)
	if m == n {
		s := 0.0
		for i := range a {
			d := a[i] - b[i]
			s += d * d
		}
		return s / float64(m)
	}
	var s float64
	pos, i, j := 0, 0, 0
	for i < m && j < n {
		endA, endB := (i+1)*n, (j+1)*m // ends of the current steps
		next := min(endA, endB)
		d := a[i] - b[j]
		s += d * d * float64(next-pos)
		pos = next
		if endA == next {
			i++
		}
		if endB == next {
			j++
		}
	}
	return s / (float64(m) * float64(n))
}
