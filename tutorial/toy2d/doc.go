// Package toy2d provides two-dimensional toy datasets whose probability
// densities are known exactly, for training and judging small diffusion models.
//
// Every dataset implements [Dataset]: it draws independent samples from a
// seeded math/rand/v2 generator and evaluates the true log-density of the
// distribution those samples come from. That makes exact quality figures
// possible for 2-D models: the mean negative log-likelihood of generated
// samples under the true density ([MeanNLL]), the mass found near each mode
// ([Gaussians8.ModeCounts]), and histogram comparisons.
//
// The datasets, by the names [ByName] accepts:
//
//   - "gaussians8": [Gaussians8], eight isotropic Gaussians on a circle;
//   - "moons": [Moons], scikit-learn's two interleaved half circles plus noise;
//   - "swissroll": [SwissRoll], a planar spiral plus noise;
//   - "checkerboard": [Checkerboard], uniform on the dark squares of a 4×4 board.
//
// For the two curve datasets the density is the convolution of a uniform
// distribution on a curve c(t), t ∈ [a, b], with isotropic Gaussian noise:
//
//	p(x) = 1/(b−a) ∫_a^b φ_σ(x − c(t)) dt,   φ_σ(z) = exp(−|z|²/(2σ²)) / (2πσ²).
//
// It has no closed form and is computed by composite 8-point Gauss–Legendre
// quadrature in log space, with a panel width chosen from σ and the geometry of
// the curve (see [Moons.LogDensity]); its relative error is below 1e-9 (the
// tests check that against an independent Simpson-rule integration).
//
// The datasets are plain values, usable from several goroutines at once; a
// Sample call draws only from the generator it is given.
package toy2d
