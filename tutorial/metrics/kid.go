package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// KID is the kernel distance of Bińkowski et al. ("Demystifying MMD GANs",
// ICLR 2018): the unbiased estimate of the squared maximum mean discrepancy
// with the cubic polynomial kernel
//
//	k(a, b) = (aᵀb/d + 1)³,   d the dimension of the points,
//
// averaged over random subsets. Each of the subsets draws subsetSize = m
// points of x and m points of y, each without replacement (independently
// across subsets), and computes
//
//	MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(m(m−1)) Σ_{i≠j} k(yᵢ, yⱼ)
//	         − 2/m² Σ_{i,j} k(xᵢ, yⱼ).
//
// KID returns the mean of the subsets' estimates and their standard
// deviation (population form, dividing by the number of subsets, as the
// authors' reference code does; 0 for one subset). With Inception-v3 pool
// features this is the published KID; with other features it is a different
// number on a different scale.
//
// Unlike the Fréchet distance the estimate is unbiased: its expectation is
// the population MMD², which is 0 exactly when the two distributions agree
// in their moments up to order 3 (what this kernel sees), so samples of one
// distribution score about 0 and often slightly negative. The usual setting
// is 100 subsets of 1000 points; the cost is O(subsets · m² · d).
//
// A nil rng means a generator seeded with fixed constants, so repeated calls
// give the same figure; pass one to choose the subsets yourself.
//
// Errors: an empty sample, points of different dimensions, a NaN or infinite
// coordinate, subsets < 1, subsetSize < 2, or subsetSize larger than either
// sample.
func KID(x, y [][]float64, subsets, subsetSize int, rng *rand.Rand) (mean, std float64, err error) {
	d, err := checkSamples("KID", x, y)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case subsets < 1:
		return 0, 0, fmt.Errorf("metrics: KID: subsets must be ≥ 1, got %d", subsets)
	case subsetSize < 2:
		return 0, 0, fmt.Errorf("metrics: KID: subset size must be ≥ 2 for the unbiased estimate, got %d", subsetSize)
	case subsetSize > len(x) || subsetSize > len(y):
		return 0, 0, fmt.Errorf("metrics: KID: subset size %d is larger than a sample (x has %d points, y has %d)", subsetSize, len(x), len(y))
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(0x4b4944, 0x62696e6b))
	}
	m := subsetSize
	xs, ys := mat.NewDense(m, d, nil), mat.NewDense(m, d, nil)
	idxX, idxY := identity(len(x)), identity(len(y))
	kxx, kyy := mat.NewSymDense(m, nil), mat.NewSymDense(m, nil)
	var kxy mat.Dense
	estimates := make([]float64, subsets)
	for s := range estimates {
		fillSubset(xs, x, idxX, m, rng)
		fillSubset(ys, y, idxY, m, rng)
		kxx.SymOuterK(1, xs) // XXᵀ: half the work of a general product
		kyy.SymOuterK(1, ys)
		kxy.Mul(xs, ys.T())
		withinX := sumCubicKernelOffDiagonal(kxx, d)
		withinY := sumCubicKernelOffDiagonal(kyy, d)
		across := sumCubicKernel(&kxy, d)
		fm := float64(m)
		estimates[s] = (withinX+withinY)/(fm*(fm-1)) - 2*across/(fm*fm)
	}
	for _, e := range estimates {
		mean += e
	}
	mean /= float64(subsets)
	for _, e := range estimates {
		std += (e - mean) * (e - mean)
	}
	std = math.Sqrt(std / float64(subsets))
	return mean, std, nil
}

// identity returns [0, 1, …, n−1].
func identity(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// fillSubset copies m points of pts, drawn without replacement, into the
// rows of dst. It shuffles the first m entries of idx (a permutation of the
// point indices, kept between calls) by a partial Fisher–Yates shuffle.
func fillSubset(dst *mat.Dense, pts [][]float64, idx []int, m int, rng *rand.Rand) {
	for i := range m {
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
		copy(dst.RawRowView(i), pts[idx[i]])
	}
}

// cubic is the kernel (g/d + 1)³ of an inner product g = aᵀb, with invD = 1/d.
func cubic(g, invD float64) float64 {
	v := g*invD + 1
	return v * v * v
}

// sumCubicKernel turns a matrix of inner products aᵀb into kernel values
// (aᵀb/d + 1)³ and returns their sum.
func sumCubicKernel(gram *mat.Dense, d int) float64 {
	r, _ := gram.Dims()
	inv := 1 / float64(d)
	s := 0.0
	for i := range r {
		for _, g := range gram.RawRowView(i) {
			s += cubic(g, inv)
		}
	}
	return s
}

// sumCubicKernelOffDiagonal is Σ_{i≠j} (aᵢᵀaⱼ/d + 1)³ for a symmetric matrix
// of inner products: twice the sum over the upper triangle.
func sumCubicKernelOffDiagonal(gram *mat.SymDense, d int) float64 {
	n := gram.SymmetricDim()
	raw := gram.RawSymmetric() // upper triangle, row-major with stride
	inv := 1 / float64(d)
	s := 0.0
	for i := range n {
		row := raw.Data[i*raw.Stride : i*raw.Stride+n]
		for j := i + 1; j < n; j++ {
			s += cubic(row[j], inv)
		}
	}
	return 2 * s
}
