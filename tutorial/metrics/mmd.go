package metrics

import (
	"fmt"
	"math"
	"slices"
)

// MMD2RBF is the unbiased estimate of the squared maximum mean discrepancy
// between the distributions of the samples x (m points) and y (n points),
// with the Gaussian kernel k(a, b) = exp(−|a − b|²/(2h²)), h the bandwidth:
//
//	MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j)
//	         − 2/(mn) Σ_{i,j} k(x_i, y_j)
//
// (Gretton et al., "A Kernel Two-Sample Test", JMLR 2012). Its expectation
// is the population MMD², which is 0 exactly when the distributions are
// equal; being unbiased, the estimate then often comes out negative.
// The cost is O((m + n)² d).
//
// Errors: a sample with fewer than 2 points, points of different dimensions,
// a coordinate that is NaN or infinite, or h not a finite positive number.
func MMD2RBF(x, y [][]float64, bandwidth float64) (float64, error) {
	if _, err := checkSamples("MMD2RBF", x, y); err != nil {
		return 0, err
	}
	if len(x) < 2 || len(y) < 2 {
		return 0, fmt.Errorf("metrics: MMD2RBF: the unbiased estimate needs at least 2 points per sample, got %d in x and %d in y", len(x), len(y))
	}
	if !(bandwidth > 0) || math.IsInf(bandwidth, 1) {
		return 0, fmt.Errorf("metrics: MMD2RBF: bandwidth must be a finite number > 0, got %g", bandwidth)
	}
	scale := -1 / (2 * bandwidth * bandwidth)
	// within returns Σ_{i≠j} k(p_i, p_j) = 2 Σ_{i<j} k(p_i, p_j).
	within := func(p [][]float64) float64 {
		s := 0.0
		for i := range p {
			for j := i + 1; j < len(p); j++ {
				s += math.Exp(scale * sqDist(p[i], p[j]))
			}
		}
		return 2 * s
	}
	cross := 0.0
	for _, a := range x {
		for _, b := range y {
			cross += math.Exp(scale * sqDist(a, b))
		}
	}
	m, n := float64(len(x)), float64(len(y))
	return within(x)/(m*(m-1)) + within(y)/(n*(n-1)) - 2*cross/(m*n), nil
}

// maxMedianPoints is the largest pooled sample MedianBandwidth uses whole.
const maxMedianPoints = 1000

// MedianBandwidth is the median heuristic for the bandwidth of [MMD2RBF]: the
// median of the distances |p_i − p_j|, i < j, over the pooled points of x and
// y (x first). With more than 1000 pooled points it uses the 1000 at indices
// ⌊i·N/1000⌋, i = 0…999, of the pooled list (N points), so the result is
// deterministic and costs about 500,000 distances. For an even number of
// distances the median is the mean of the two middle ones.
//
// It returns NaN when there are fewer than 2 points, when the points do not
// all have the same dimension, or when a coordinate is NaN; MMD2RBF then
// rejects the bandwidth. It returns 0 when more than half the pairs coincide.
func MedianBandwidth(x, y [][]float64) float64 {
	pooled := make([][]float64, 0, len(x)+len(y))
	pooled = append(append(pooled, x...), y...)
	if len(pooled) < 2 {
		return math.NaN()
	}
	if n := len(pooled); n > maxMedianPoints {
		sub := make([][]float64, maxMedianPoints)
		for i := range sub {
			sub[i] = pooled[i*n/maxMedianPoints]
		}
		pooled = sub
	}
	for _, p := range pooled {
		if len(p) != len(pooled[0]) {
			return math.NaN()
		}
	}
	dists := make([]float64, 0, len(pooled)*(len(pooled)-1)/2)
	for i, a := range pooled {
		for _, b := range pooled[i+1:] {
			dists = append(dists, math.Sqrt(sqDist(a, b)))
		}
	}
	for _, v := range dists {
		if math.IsNaN(v) {
			return math.NaN()
		}
	}
	slices.Sort(dists)
	k := len(dists)
	if k%2 == 1 {
		return dists[k/2]
	}
	return (dists[k/2-1] + dists[k/2]) / 2
}
