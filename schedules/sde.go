package schedules

import (
	"fmt"
	"math"
)

// The continuous-time processes of Song et al. (2021), "Score-based generative
// modeling through stochastic differential equations", on t ∈ [0, 1]. Each is
// a linear SDE dx = f(t) x dt + g(t) dw, so x_t given x₀ is Gaussian with
// mean m(t) x₀ and variance v(t) I, where
//
//	dm/dt = f(t) m,           m(0) = 1,
//	dv/dt = 2 f(t) v + g(t)²,  v(0) = 0 (VP, sub-VP) or σ_min² (VE, see VESDE).
//
// The methods do not check their arguments: t outside [0, 1] extrapolates the
// formulas and NaN propagates. Validate reports bad parameters.

// VPSDE is the variance-preserving SDE, the continuous limit of DDPM:
//
//	dx = −½ β(t) x dt + √β(t) dw,  β(t) = β_min + t (β_max − β_min).
//
// Its zero value is the trivial process with β ≡ 0 (x_t = x₀, no noise); use
// [DefaultVPSDE] for Song et al.'s values.
type VPSDE struct {
	// BetaMin is β(0), 0.1 in Song et al.
	BetaMin float64
	// BetaMax is β(1), 20 in Song et al.
	BetaMax float64
}

// DefaultVPSDE returns the VP SDE of Song et al. (2021): β_min = 0.1,
// β_max = 20.
func DefaultVPSDE() VPSDE { return VPSDE{BetaMin: 0.1, BetaMax: 20} }

// checkBetaRange validates the β(t) endpoints of the VP and sub-VP SDEs.
func checkBetaRange(typ string, betaMin, betaMax float64) error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"BetaMin", betaMin}, {"BetaMax", betaMax}} {
		if math.IsNaN(p.v) || math.IsInf(p.v, 0) || p.v < 0 {
			return fmt.Errorf("schedules: %s.Validate: %s = %v, want finite and ≥ 0", typ, p.name, p.v)
		}
	}
	return nil
}

// Validate reports an error when BetaMin or BetaMax is negative, NaN or
// infinite (β(t) must stay ≥ 0 on [0, 1]).
func (v VPSDE) Validate() error { return checkBetaRange("VPSDE", v.BetaMin, v.BetaMax) }

// Beta returns β(t) = β_min + t (β_max − β_min).
func (v VPSDE) Beta(t float64) float64 { return v.BetaMin + t*(v.BetaMax-v.BetaMin) }

// BetaIntegral returns B(t) = ∫₀ᵗ β(s) ds = β_min t + ½ t² (β_max − β_min).
func (v VPSDE) BetaIntegral(t float64) float64 {
	return v.BetaMin*t + 0.5*t*t*(v.BetaMax-v.BetaMin)
}

// DriftDiffusion returns f(t) = −½ β(t) and g(t) = √β(t), the coefficients
// of dx = f(t) x dt + g(t) dw.
func (v VPSDE) DriftDiffusion(t float64) (f, g float64) {
	b := v.Beta(t)
	return -0.5 * b, math.Sqrt(b)
}

// Marginal returns the mean coefficient and standard deviation of
// x_t | x₀ ~ N(mean · x₀, std² I):
//
//	mean = exp(−½ B(t)) = exp(−¼ t² (β_max − β_min) − ½ t β_min),
//	std  = √(1 − mean²) = √(1 − e^{−B(t)}),
//
// the continuous counterparts of √ᾱ_t and √(1 − ᾱ_t). They solve dm/dt = −½βm
// and dv/dt = β(1 − v) with m(0) = 1, v(0) = 0.
func (v VPSDE) Marginal(t float64) (mean, std float64) {
	B := v.BetaIntegral(t)
	return math.Exp(-0.5 * B), math.Sqrt(-math.Expm1(-B))
}

// SubVPSDE is the sub-VP SDE of Song et al. (2021), with the same β(t) as
// [VPSDE] and a smaller diffusion:
//
//	dx = −½ β(t) x dt + √(β(t) (1 − e^{−2B(t)})) dw,  B(t) = ∫₀ᵗ β(s) ds.
//
// Its zero value is the trivial process with β ≡ 0; use [DefaultSubVPSDE].
type SubVPSDE struct {
	// BetaMin is β(0), 0.1 in Song et al.
	BetaMin float64
	// BetaMax is β(1), 20 in Song et al.
	BetaMax float64
}

// DefaultSubVPSDE returns the sub-VP SDE of Song et al. (2021): β_min = 0.1,
// β_max = 20.
func DefaultSubVPSDE() SubVPSDE { return SubVPSDE{BetaMin: 0.1, BetaMax: 20} }

// Validate reports an error when BetaMin or BetaMax is negative, NaN or
// infinite.
func (v SubVPSDE) Validate() error { return checkBetaRange("SubVPSDE", v.BetaMin, v.BetaMax) }

// Beta returns β(t) = β_min + t (β_max − β_min).
func (v SubVPSDE) Beta(t float64) float64 { return v.BetaMin + t*(v.BetaMax-v.BetaMin) }

// BetaIntegral returns B(t) = ∫₀ᵗ β(s) ds = β_min t + ½ t² (β_max − β_min).
func (v SubVPSDE) BetaIntegral(t float64) float64 {
	return v.BetaMin*t + 0.5*t*t*(v.BetaMax-v.BetaMin)
}

// DriftDiffusion returns f(t) = −½ β(t) and g(t) = √(β(t) (1 − e^{−2B(t)})).
func (v SubVPSDE) DriftDiffusion(t float64) (f, g float64) {
	b := v.Beta(t)
	return -0.5 * b, math.Sqrt(b * -math.Expm1(-2*v.BetaIntegral(t)))
}

// Marginal returns the mean coefficient and standard deviation of
// x_t | x₀ ~ N(mean · x₀, std² I):
//
//	mean = exp(−½ B(t)),   std = 1 − e^{−B(t)} = 1 − mean²   (not its square root).
//
// Derivation: the mean obeys dm/dt = −½βm as for VP. The variance obeys
// dv/dt = −βv + β(1 − e^{−2B}), v(0) = 0. Try v = (1 − e^{−B})²:
// dv/dt = 2(1 − e^{−B}) e^{−B} β, and the right side is
// −β(1 − 2e^{−B} + e^{−2B}) + β − βe^{−2B} = 2β e^{−B}(1 − e^{−B}): equal,
// with v(0) = 0, so by uniqueness v = (1 − e^{−B})² and std = 1 − e^{−B}.
// It is below the VP std √(1 − e^{−B}) at every t > 0, hence "sub-VP".
func (v SubVPSDE) Marginal(t float64) (mean, std float64) {
	B := v.BetaIntegral(t)
	return math.Exp(-0.5 * B), -math.Expm1(-B)
}

// VESDE is the variance-exploding SDE of Song et al. (2021), the continuous
// limit of NCSN/SMLD:
//
//	dx = √(d[σ²(t)]/dt) dw = σ(t) √(2 ln(σ_max/σ_min)) dw,  σ(t) = σ_min (σ_max/σ_min)^t.
//
// Its zero value is invalid (σ_min must be > 0); use [DefaultVESDE].
type VESDE struct {
	// SigmaMin is σ(0), 0.01 in Song et al.
	SigmaMin float64
	// SigmaMax is σ(1), 50 in Song et al. for CIFAR-10 (it should be about
	// the largest distance between data points).
	SigmaMax float64
}

// DefaultVESDE returns the VE SDE of Song et al. (2021): σ_min = 0.01,
// σ_max = 50.
func DefaultVESDE() VESDE { return VESDE{SigmaMin: 0.01, SigmaMax: 50} }

// Validate reports an error unless 0 < σ_min < σ_max < ∞.
func (v VESDE) Validate() error {
	if math.IsNaN(v.SigmaMin) || math.IsNaN(v.SigmaMax) || math.IsInf(v.SigmaMax, 0) ||
		v.SigmaMin <= 0 || v.SigmaMax <= v.SigmaMin {
		return fmt.Errorf("schedules: VESDE.Validate: SigmaMin = %v, SigmaMax = %v, want 0 < SigmaMin < SigmaMax < ∞", v.SigmaMin, v.SigmaMax)
	}
	return nil
}

// Sigma returns σ(t) = σ_min (σ_max/σ_min)^t, geometric in t: σ(0) = σ_min,
// σ(1) = σ_max.
func (v VESDE) Sigma(t float64) float64 {
	return v.SigmaMin * math.Pow(v.SigmaMax/v.SigmaMin, t)
}

// DriftDiffusion returns f(t) = 0 and g(t) = σ(t) √(2 ln(σ_max/σ_min)), so
// that g² = d[σ²]/dt.
func (v VESDE) DriftDiffusion(t float64) (f, g float64) {
	return 0, v.Sigma(t) * math.Sqrt(2*math.Log(v.SigmaMax/v.SigmaMin))
}

// Marginal returns mean = 1 and std = σ(t), Song et al.'s perturbation
// kernel. That convention treats p₀ as the data already perturbed with σ_min
// noise (v(0) = σ_min²). Started from an exact data point instead
// (v(0) = 0), the SDE gives std √(σ(t)² − σ_min²), which differs appreciably
// only near t = 0; this package, like Song et al.'s code, uses σ(t).
func (v VESDE) Marginal(t float64) (mean, std float64) {
	return 1, v.Sigma(t)
}
