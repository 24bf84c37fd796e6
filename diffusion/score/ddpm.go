package score

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

// The link between DDPM and the VP SDE (Song et al. 2021, Appendix B).
// Discretise t ∈ [0, 1] with N steps and write β̄(t) = β_min + t (β_max − β_min)
// for the SDE's β(t). The DDPM chain x_i = √(1 − β_i) x_{i−1} + √β_i z with
//
//	β_i = β̄(u_i)/N,  u_i = i/(N − 1),  i = 0, …, N − 1,
//
// is the Euler–Maruyama discretisation of dx = −½ β̄(t) x dt + √β̄(t) dw with
// Δt = 1/N (√(1 − β_i) ≈ 1 − ½ β_i). With β_min = 0.1, β_max = 20 and
// N = 1000 the β_i are exactly DDPM's linear schedule 1e-4 … 0.02, and
//
//	log ᾱ_i = Σ_{j≤i} log(1 − β_j) = −B(u_i) + O(1/N),
//
// where B(t) = ∫₀ᵗ β̄: the leading error, −Σ β_j²/2, reaches ½∫₀¹ β̄(t)² dt / N
// (≈ 67/N for the default β's) at t = 1.

// VPBetas returns the N discrete β's of the VP SDE s, β_i = β̄(i/(N−1))/N,
// i = 0 … N−1 (N ≥ 2). For s = DefaultVPSDE and N = 1000 these are DDPM's
// linear betas.
func VPBetas(s schedules.VPSDE, n int) ([]float64, error) {
	if n < 2 {
		return nil, fmt.Errorf("score: VPBetas needs N ≥ 2 steps, got %d", n)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = s.Beta(float64(i)/float64(n-1)) / float64(n)
	}
	return b, nil
}

// StepTime returns u_i = i/(N−1), the continuous time of step index i of an
// N-step discretisation of the VP SDE (see [VPBetas]).
func StepTime(i, n int) float64 { return float64(i) / float64(n-1) }

// TimeStep returns the step index nearest to time t in an N-step
// discretisation, i = round(t (N−1)) clamped to [0, N−1], the inverse of
// [StepTime] (Song et al.'s code uses the same map).
func TimeStep(t float64, n int) int {
	return int(min(max(math.Round(t*float64(n-1)), 0), float64(n-1)))
}

// DenoiserScore turns a denoiser trained on the discrete schedule of p (a
// DDPM process, not respaced) into a score model of the VP SDE whose
// discretisation matches that schedule (see [VPBetas]): continuous t maps to
// the step index i = round(t (T−1)) (see [TimeStep]), the denoiser's
// prediction becomes ε̂ (for x₀ or v predictions through
// diffusion.Process.X0AndEps), and
//
//	s_θ(x, t) = −ε̂(x, i)/√(1 − ᾱ_i)   (diffusion.Process.ScoreFromEps).
//
// Use it with VP(schedules.DefaultVPSDE()) for a schedule made with
// schedules' linear betas and T = 1000; for other schedules the match holds
// only as far as ᾱ_i ≈ e^{−B(i/(T−1))}. Learned-variance channels are
// dropped. (This map of the VP link, i = round(t (T−1)), is Song et al.'s;
// it is not the time of DDPM's own levels, t_i = (i+1)/T of
// diffusion.Process.Time, which DDPM models sampled on their own levels use.)
func DenoiserScore(p *diffusion.Process, den diffusion.Denoiser) ScoreFn {
	n := p.T()
	return func(scope *model.Scope, x, t *Node, c cond.Nodes) *Node {
		idx := ConvertDType(ClipScalar(Round(MulScalar(ConvertDType(t, dtypes.Float64), float64(n-1))), 0, float64(n-1)), dtypes.Int32)
		out := p.Predict(scope, den, x, idx, c)
		pred, _ := den.Split(out)
		_, eps := p.X0AndEps(den.Prediction, x, idx, pred)
		return p.ScoreFromEps(idx, eps)
	}
}

// DenoiserModel returns a DDPM denoiser trained on p as a score model of the
// SDE sde (see [DenoiserScore]): a diffusion.Model whose noise levels are the
// SDE's, so that the SDE and ODE solvers of this package sample it.
func DenoiserModel(p *diffusion.Process, den diffusion.Denoiser, sde SDE) diffusion.Model {
	return Model(sde, DenoiserScore(p, den))
}
