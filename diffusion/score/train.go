package score

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// TimeScale multiplies the continuous time t ∈ [0, 1] before it reaches a
// network built for DDPM's step indices ([NoisePredictorModel]): the network
// then sees τ = 999 t ∈ [0, 999], the range of the indices 0…T−1 with
// T = 1000 for which its sinusoidal embedding (frequencies 1 … 10⁻⁴) was
// designed, and for which the UNet's linear embedding τ/T is set. The same
// scaling serves every SDE: t is monotone in σ(t), so a network of t is a
// network of the noise level. (NCSN++ embeds log σ(t) instead for VE; with a
// learned time MLP after the embedding both work.)
const TimeScale = 999

// NoisePredictorModel turns a noise-prediction network ε_θ(x̃, τ, cond) (the
// signature of unet.MLP and unet.UNet) into a score model under sde:
//
//	s_θ(x, t) = −ε_θ(c_in(t) x, 999 t, cond) / σ(t),   c_in(t) = 1/√(m(t)² + σ(t)²).
//
// Why this parametrisation: the target of [DenoisingScoreMatching] is
// −z/σ(t), whose size grows as 1/σ(t) → 1/σ(ε) near t = 0 (about 22 for VP
// at ε = 10⁻³); a network that output the score directly would have to span
// that range. Written this way the loss becomes ‖z − ε_θ‖²/D, an O(1)
// regression at every t (DDPM's ε-prediction), and the score's 1/σ(t) is
// exact. c_in(t) gives the network an input of about unit variance for data
// of unit variance: it is 1 for VP (m² + σ² = 1), between 1 and 2/√3 for
// sub-VP, and 1/√(1 + σ(t)²) for VE, whose x_t would otherwise reach
// σ_max = 50.
//
// The returned ScoreFn may be called more than once in a graph (multi-stage
// ODE solvers): every call uses the same variables of scope.
func NoisePredictorModel(sde SDE, net diffusion.ModelFn) ScoreFn {
	return func(scope *model.Scope, x, t *Node, c cond.Nodes) *Node {
		mean, std := sde.GraphMarginal(t)
		scale := Sqrt(Add(Square(mean), Square(std))) // 1/c_in(t)
		// ResetVisited: the returned ModelFn may be called several times in
		// one graph (Heun and RK4 steps, predictor–corrector, divergence
		// probes), each call reusing the same weights.
		eps := net(scope.ResetVisited(), Div(x, dsmPerExample(scale, x)), MulScalar(t, TimeScale), c)
		if !eps.Shape().Equal(x.Shape()) {
			exceptions.Panicf("score: the noise-prediction network returned %s for x shaped %s", eps.Shape(), x.Shape())
		}
		return Neg(Div(eps, dsmPerExample(std, x)))
	}
}

// NewTrainer returns a [diffusion.Trainer] that trains the score model fn
// under sde by denoising score matching ([DSMLoss]), with all of that
// trainer's machinery: Adam(W), warm-up, gradient clipping, EMA weights,
// checkpoints and exact resumption (the random state that draws t and z is
// part of the store). cfg.Loss and cfg.TimestepSampler must be left zero:
// the loss is DSM and t is continuous, drawn uniformly on [ε, 1].
// The model's variables live under diffusion.ModelScope.
func NewTrainer(backend compute.Backend, sde SDE, fn ScoreFn, cfg diffusion.TrainConfig) (*diffusion.Trainer, error) {
	if sde == nil || fn == nil {
		return nil, fmt.Errorf("score: NewTrainer needs an SDE and a model function (got SDE %v, model nil: %v)", sde, fn == nil)
	}
	return diffusion.NewTrainerWithLoss(backend, DSMLoss(sde, fn), cfg)
}
