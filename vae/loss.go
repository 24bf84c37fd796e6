package vae

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	dmath "github.com/godiffusion/diffusion-models/math"
)

// Names of the terms that [Config.Loss] reports, both in nats per example.
const (
	// TermReconstruction is −log p(x|z) at one draw z ~ q(z|x).
	TermReconstruction = "reconstruction"
	// TermKL is KL(q(z|x) ‖ N(0, I)).
	TermKL = "kl"
)

// TermNames returns the names of the terms [Config.Loss] reports, in order.
func TermNames() []string { return []string{TermReconstruction, TermKL} }

// Loss returns the negative ELBO as a training objective for
// diffusion.NewTrainerWithTerms (with [TermNames]): for each example x,
//
//	loss = −log p(x|z) + KL(q(z|x) ‖ N(0, I)),   z = μ(x) + σ(x)·ε, ε ~ N(0, I),
//
// in nats, an unbiased one-sample estimate of −ELBO(x) (Kingma & Welling
// 2014, eq. 7). The noise ε comes from scope's generator, which checkpoints
// save, so a resumed run draws the same. The condition is ignored.
func (c Config) Loss() diffusion.TermsFn {
	return func(scope *model.Scope, x0 *Node, _ cond.Nodes) (*Node, []*Node) {
		cc := c.mustValid()
		mu, logVar := cc.Encoder(scope.In("encoder"), x0)
		eps := scope.RandomNormal(x0.Graph(), mu.Shape())
		z := Add(mu, Mul(Exp(MulScalar(logVar, 0.5)), eps))
		mean, decLogVar := cc.Decoder(scope.In("decoder"), z)
		rec := cc.Reconstruction(x0, mean, decLogVar)
		kl := KL(mu, logVar)
		return Add(rec, kl), []*Node{rec, kl}
	}
}

// Reconstruction returns −log p(x|z) per example, in nats, for the data x
// and the decoder's mean and log-variance (all shaped [B, ...]), summed over
// every axis but the first:
//
//	KindMLP:  −log N(x; m, σ²) = ½ Σ_i (log 2π + log σ_i² + (x_i − m_i)²/σ_i²)
//	KindConv: −Σ_i log P(x_i), P the discretised Gaussian of math/README.md §5.7
//	          (bins of half-width 1/255 around the 8-bit levels, open end bins),
//	          floored at 10⁻¹² per pixel as in the diffusion losses
func (c Config) Reconstruction(x, mean, logVar *Node) *Node {
	c = c.mustValid()
	var nll *Node
	if c.Kind == KindConv {
		nll = Neg(dmath.DiscretizedGaussianLogLikelihoodGraph(x, mean, logVar))
	} else {
		sq := Mul(Square(Sub(x, mean)), Exp(Neg(logVar)))
		nll = MulScalar(AddScalar(Add(logVar, sq), math.Log(2*math.Pi)), 0.5)
	}
	return sumButFirst(nll)
}

// KL returns, per example, KL(N(μ, diag σ²) ‖ N(0, I)) in nats, the sum over
// every axis but the first of the element-wise
//
//	½ (σ² − 1 − log σ² + μ²)
//
// (math/README.md §5.6 with the prior's mean 0 and log-variance 0, computed
// by dmath.NormalKLGraph without cancellation when σ² ≈ 1).
func KL(mu, logVar *Node) *Node {
	zero := ZerosLike(mu)
	return sumButFirst(dmath.NormalKLGraph(mu, logVar, zero, zero))
}

// sumButFirst sums x over every axis but the first.
func sumButFirst(x *Node) *Node {
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return ReduceSum(x, axes...)
}
