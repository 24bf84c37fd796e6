package nb

import (
	"fmt"
	"math"
)

// Helpers of notebook 4 (DDIM): mixing two DDIM latents for interpolation
// (Slerp, Lerp, Norm) and measuring an encode → decode round trip
// (MeanAbsError, MeanStd; PSNR is in nb.go).

// Slerp interpolates spherically between the vectors a and b (two DDIM
// latents x_T, say), at mixing weight u ∈ [0, 1] (0 gives a, 1 gives b):
//
//	slerp(a, b; u) = sin((1−u)θ)/sin θ · a + sin(uθ)/sin θ · b,  cos θ = a·b / (|a| |b|).
//
// When a and b have the same norm, so does every interpolant: the path runs
// along the great circle between them. Latents of Gaussian noise in many
// dimensions all have about the same norm (√d) and are nearly orthogonal, and
// slerp keeps the interpolants at that norm where the straight line ([Lerp])
// would shrink them (by √2 at u = ½). For (nearly) parallel vectors, where
// sin θ vanishes, it is the straight line. a and b must have the same length.
func Slerp[F ~float32 | ~float64](a, b []F, u float64) []F {
	if len(a) != len(b) {
		panic(fmt.Sprintf("nb.Slerp: %d values against %d", len(a), len(b)))
	}
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab, aa, bb = ab+x*y, aa+x*x, bb+y*y
	}
	theta := math.Acos(math.Max(-1, math.Min(1, ab/math.Sqrt(aa*bb))))
	if !(math.Sin(theta) > 1e-6) { // parallel (or a zero vector): the straight line
		return Lerp(a, b, u)
	}
	wa, wb := math.Sin((1-u)*theta)/math.Sin(theta), math.Sin(u*theta)/math.Sin(theta)
	out := make([]F, len(a))
	for i := range a {
		out[i] = F(wa*float64(a[i]) + wb*float64(b[i]))
	}
	return out
}

// Lerp is the straight line between a and b at weight u: (1−u)·a + u·b.
// a and b must have the same length.
func Lerp[F ~float32 | ~float64](a, b []F, u float64) []F {
	if len(a) != len(b) {
		panic(fmt.Sprintf("nb.Lerp: %d values against %d", len(a), len(b)))
	}
	out := make([]F, len(a))
	for i := range a {
		out[i] = F((1-u)*float64(a[i]) + u*float64(b[i]))
	}
	return out
}

// Norm is the Euclidean norm √(Σ vᵢ²) of v.
func Norm[F ~float32 | ~float64](v []F) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// MeanAbsError is the mean absolute error per value, Σ|rᵢ − xᵢ| / n, of the
// reconstruction r of images x with pixels in [−1, 1]; r is clipped to
// [−1, 1] first, as for [PSNR].
func MeanAbsError(x, r []float32) float64 {
	if len(x) != len(r) || len(x) == 0 {
		panic(fmt.Sprintf("nb.MeanAbsError: %d pixels against %d reconstructed", len(x), len(r)))
	}
	var s float64
	for i, v := range x {
		s += math.Abs(math.Max(-1, math.Min(1, float64(r[i]))) - float64(v))
	}
	return s / float64(len(x))
}

// MeanStd is the mean of the values of v and their standard deviation
// (population: the root of the mean squared deviation); NaN for an empty v.
func MeanStd[F ~float32 | ~float64](v []F) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}
