package score

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Denoising score matching (Vincent 2011) in continuous time (Song et al.
// 2021, eq. 7). The perturbation kernel x_t = m(t) x₀ + σ(t) z, z ~ N(0, I),
// has the conditional score ∇ log p_{0t}(x_t | x₀) = −(x_t − m(t) x₀)/σ(t)² =
// −z/σ(t), and
//
//	θ* = argmin_θ E_{t ~ U(ε,1)} E_{x₀} E_z [ λ(t) ‖s_θ(x_t, t) + z/σ(t)‖² ]
//
// is minimised by the score of the marginal, s_θ* = ∇ log p_t, for any
// positive weighting λ(t). With Song et al.'s λ(t) = σ(t)² the loss reads
// ‖σ(t) s_θ(x_t, t) + z‖², every t contributes on the same scale, and a model
// written as s_θ = −ε_θ/σ(t) (see [NoisePredictorModel]) is trained exactly as
// DDPM's ε-prediction with L_simple.
//
// Reduction: like the diffusion losses (diffusion.MeanFlat), the per-example
// loss is the mean over the D data dimensions, (1/D) ‖σ s_θ + z‖², not the
// sum; the trainer then averages over the batch. Multiply by D for the sum.
//
// Annealed-Langevin (NCSN) training is this loss under the VE SDE: its
// σ(t) = σ_min (σ_max/σ_min)^t runs through NCSN's geometric noise levels.

// DenoisingScoreMatching returns the per-example DSM loss, shape [B], at
// given times t ([B], x₀'s dtype) and noise z (shaped like x₀):
//
//	x_t = m(t) x₀ + σ(t) z,   ℓ = (1/D) Σ_d (σ(t) s_θ(x_t, t)_d + z_d)²,
//
// which is (σ(t)²/D) ‖s_θ(x_t, t) − ∇ log p_{0t}(x_t | x₀)‖². fn is called
// with scope, x_t, t and the condition c (zero when unconditioned).
func DenoisingScoreMatching(scope *model.Scope, sde SDE, fn ScoreFn, x0, t, noise *Node, c cond.Nodes) *Node {
	if x0.Rank() < 2 {
		exceptions.Panicf("score: DenoisingScoreMatching needs x₀ shaped [B, ...], got %s", x0.Shape())
	}
	b := x0.Shape().Dimensions[0]
	if t.Rank() != 1 || t.Shape().Dimensions[0] != b {
		exceptions.Panicf("score: DenoisingScoreMatching needs t shaped [%d], got %s", b, t.Shape())
	}
	if !noise.Shape().Equal(x0.Shape()) {
		exceptions.Panicf("score: DenoisingScoreMatching needs noise shaped like x₀ %s, got %s", x0.Shape(), noise.Shape())
	}
	mean, std := sde.GraphMarginal(t)
	mean, std = dsmPerExample(mean, x0), dsmPerExample(std, x0)
	xt := Add(Mul(mean, x0), Mul(std, noise))
	s := fn(scope, xt, t, c)
	if !s.Shape().Equal(x0.Shape()) {
		exceptions.Panicf("score: the score model returned %s for x_t shaped %s", s.Shape(), x0.Shape())
	}
	return diffusion.MeanFlat(Square(Add(Mul(std, s), noise)))
}

// DSMLoss returns denoising score matching of fn under sde as a training
// objective for [diffusion.NewTrainerWithLoss]: for every example it draws
// t = ε + (1 − ε) u with u ~ U(0, 1) and ε = sde.MinTime(), and z ~ N(0, I),
// from the store's generator, and returns [DenoisingScoreMatching]'s
// per-example losses.
func DSMLoss(sde SDE, fn ScoreFn) diffusion.LossFn {
	return func(scope *model.Scope, x0 *Node, c cond.Nodes) *Node {
		g := x0.Graph()
		b := x0.Shape().Dimensions[0]
		eps := sde.MinTime()
		u := scope.RandomUniform(g, shapes.Make(x0.DType(), b))
		t := AddScalar(MulScalar(u, 1-eps), eps)
		z := scope.RandomNormal(g, x0.Shape())
		return DenoisingScoreMatching(scope, sde, fn, x0, t, z, c)
	}
}

// dsmPerExample reshapes a [B] coefficient to [B, 1, …, 1] with like's rank, so
// that it broadcasts against like.
func dsmPerExample(v, like *Node) *Node {
	dims := make([]int, like.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = like.Shape().Dimensions[0]
	return Reshape(v, dims...)
}
