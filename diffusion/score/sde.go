package score

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/schedules"
)

// levelAt is the diffusion.Level of an SDE at time t (the data for t ≤ 0).
func levelAt(s SDE, t float64) diffusion.Level {
	if t <= 0 {
		return diffusion.DataLevel
	}
	m, sd := s.Marginal(t)
	return diffusion.Level{T: t, Alpha: m, Sigma: sd}
}

// SDE is a linear SDE dx = f(t) x dt + g(t) dw on t ∈ [0, 1] (Song et al.
// 2021) whose perturbation kernel is Gaussian: x_t | x₀ ~ N(m(t) x₀, σ(t)² I).
// The float64 methods delegate to package schedules, which owns the
// formulas; GraphMarginal computes Marginal's coefficients in a graph.
//
// Every SDE is also the noise levels of its models (diffusion.NoiseLevels):
// At(t) is the level α = m(t), σ = σ(t) at time t, so that every sampler of
// package diffusion (DDIM, DPM-Solver++, EDM) samples score models too.
// PriorStd is σ_p of the prior p_1 = N(0, σ_p² I) that sampling starts
// from, and MinTime is ε, the smallest t used: training samples
// t ~ U(ε, 1) and samplers stop at ε.
type SDE interface {
	diffusion.NoiseLevels
	// Name returns "vp", "subvp" or "ve".
	Name() string
	// DriftDiffusion returns the drift coefficient f(t) (the drift is f(t)·x)
	// and the diffusion g(t).
	DriftDiffusion(t float64) (f, g float64)
	// Marginal returns m(t) and σ(t) of x_t | x₀ ~ N(m(t) x₀, σ(t)² I).
	Marginal(t float64) (mean, std float64)
	// GraphMarginal is Marginal element-wise on a float tensor t of any shape.
	GraphMarginal(t *Node) (mean, std *Node)
}

// Default minimum times of Song et al.'s code: ε = 1e-3 for VP and sub-VP
// (whose σ(t) → 0 as t → 0 makes the score blow up) and 1e-5 for VE (whose
// σ(0) = σ_min > 0 already).
const (
	vpMinTime = 1e-3
	veMinTime = 1e-5
)

// NewSDE returns the SDE called name with Song et al.'s default parameters:
// "vp" (β_min = 0.1, β_max = 20), "subvp" (same β) or "ve" (σ_min = 0.01,
// σ_max = 50).
func NewSDE(name string) (SDE, error) {
	switch name {
	case "vp":
		return VP(schedules.DefaultVPSDE()), nil
	case "subvp", "sub-vp":
		return SubVP(schedules.DefaultSubVPSDE()), nil
	case "ve":
		return VE(schedules.DefaultVESDE()), nil
	}
	return nil, fmt.Errorf("score: unknown SDE %q (want vp, subvp or ve)", name)
}

// VP wraps the variance-preserving SDE s, dx = −½ β(t) x dt + √β(t) dw with
// β(t) = β_min + t (β_max − β_min): m(t) = e^{−½B(t)}, σ(t) = √(1 − e^{−B(t)}),
// B(t) = β_min t + ½ t² (β_max − β_min); prior N(0, I); ε = 1e-3.
func VP(s schedules.VPSDE) SDE { return vpSDE{s} }

// SubVP wraps the sub-VP SDE s, dx = −½ β(t) x dt + √(β(t)(1 − e^{−2B(t)})) dw:
// m(t) = e^{−½B(t)}, σ(t) = 1 − e^{−B(t)}; prior N(0, I); ε = 1e-3.
func SubVP(s schedules.SubVPSDE) SDE { return subVPSDE{s} }

// VE wraps the variance-exploding SDE s, dx = σ(t) √(2 ln(σ_max/σ_min)) dw with
// σ(t) = σ_min (σ_max/σ_min)^t: m(t) = 1, std σ(t); prior N(0, σ_max² I);
// ε = 1e-5.
func VE(s schedules.VESDE) SDE { return veSDE{s} }

// graphIntegratedBeta returns B(t) = ∫₀ᵗ β = β_min t + ½ t² (β_max − β_min)
// on a tensor t, computed as t (½ t (β_max − β_min) + β_min).
func graphIntegratedBeta(t *Node, betaMin, betaMax float64) *Node {
	return Mul(t, AddScalar(MulScalar(t, 0.5*(betaMax-betaMin)), betaMin))
}

type vpSDE struct{ s schedules.VPSDE }

func (v vpSDE) Name() string                            { return "vp" }
func (v vpSDE) DriftDiffusion(t float64) (f, g float64) { return v.s.DriftDiffusion(t) }
func (v vpSDE) Marginal(t float64) (mean, std float64)  { return v.s.Marginal(t) }
func (v vpSDE) PriorStd() float64                       { return 1 }
func (v vpSDE) At(t float64) diffusion.Level            { return levelAt(v, t) }
func (v vpSDE) Discrete() int                           { return 0 }
func (v vpSDE) MinTime() float64                        { return vpMinTime }

// GraphMarginal: m = e^{−½B}, σ = √(−expm1(−B)).
func (v vpSDE) GraphMarginal(t *Node) (mean, std *Node) {
	B := graphIntegratedBeta(t, v.s.BetaMin, v.s.BetaMax)
	return Exp(MulScalar(B, -0.5)), Sqrt(Neg(Expm1(Neg(B))))
}

type subVPSDE struct{ s schedules.SubVPSDE }

func (v subVPSDE) Name() string                            { return "subvp" }
func (v subVPSDE) DriftDiffusion(t float64) (f, g float64) { return v.s.DriftDiffusion(t) }
func (v subVPSDE) Marginal(t float64) (mean, std float64)  { return v.s.Marginal(t) }
func (v subVPSDE) PriorStd() float64                       { return 1 }
func (v subVPSDE) At(t float64) diffusion.Level            { return levelAt(v, t) }
func (v subVPSDE) Discrete() int                           { return 0 }
func (v subVPSDE) MinTime() float64                        { return vpMinTime }

// GraphMarginal: m = e^{−½B}, σ = −expm1(−B).
func (v subVPSDE) GraphMarginal(t *Node) (mean, std *Node) {
	B := graphIntegratedBeta(t, v.s.BetaMin, v.s.BetaMax)
	return Exp(MulScalar(B, -0.5)), Neg(Expm1(Neg(B)))
}

type veSDE struct{ s schedules.VESDE }

func (v veSDE) Name() string                            { return "ve" }
func (v veSDE) DriftDiffusion(t float64) (f, g float64) { return v.s.DriftDiffusion(t) }
func (v veSDE) Marginal(t float64) (mean, std float64)  { return v.s.Marginal(t) }
func (v veSDE) PriorStd() float64                       { return v.s.SigmaMax }
func (v veSDE) At(t float64) diffusion.Level            { return levelAt(v, t) }
func (v veSDE) Discrete() int                           { return 0 }
func (v veSDE) MinTime() float64                        { return veMinTime }

// graphSigma returns σ(t) = σ_min exp(t ln(σ_max/σ_min)).
func (v veSDE) graphSigma(t *Node) *Node {
	return MulScalar(Exp(MulScalar(t, math.Log(v.s.SigmaMax/v.s.SigmaMin))), v.s.SigmaMin)
}

// GraphMarginal: m = 1, std = σ(t).
func (v veSDE) GraphMarginal(t *Node) (mean, std *Node) {
	return OnesLike(t), v.graphSigma(t)
}
