// Package metrics measures how far apart two samples of points are: the
// squared maximum mean discrepancy with a Gaussian (RBF) kernel ([MMD2RBF],
// with the median heuristic for its bandwidth, [MedianBandwidth]), the
// sliced 2-Wasserstein distance ([SlicedWasserstein]), and, for feature
// vectors of images, the Fréchet distance between Gaussian fits
// ([FrechetDistance]) and the kernel inception distance's unbiased MMD² with
// a cubic polynomial kernel ([KID]). Computed on the features of this
// project's own classifiers (package tutorial/classifier), the last two are
// classifier-based figures, not comparable with published FID or KID.
//
// Points are [][]float64, one slice per point, all of the same dimension;
// [Points2D] adapts the [2]float64 points of package toy2d. Both metrics are
// zero (in expectation for MMD², exactly for sliced Wasserstein on equal
// samples) when the two samples come from the same distribution, and grow as
// the distributions move apart, so they judge generated samples against data.
package metrics
