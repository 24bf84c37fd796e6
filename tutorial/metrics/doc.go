// Package metrics measures how far apart two samples of points are: the
// squared maximum mean discrepancy with a Gaussian (RBF) kernel ([MMD2RBF],
// with the median heuristic for its bandwidth, [MedianBandwidth]) and the
// sliced 2-Wasserstein distance ([SlicedWasserstein]).
//
// Points are [][]float64, one slice per point, all of the same dimension;
// [Points2D] adapts the [2]float64 points of package toy2d. Both metrics are
// zero (in expectation for MMD², exactly for sliced Wasserstein on equal
// samples) when the two samples come from the same distribution, and grow as
// the distributions move apart, so they judge generated samples against data.
package metrics
