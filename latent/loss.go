package latent

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Names of the terms that [Config.Loss] reports.
const (
	// TermMSE is the reconstruction error: the mean squared error per pixel.
	TermMSE = "mse"
	// TermKL is KL(N(μ, σ²) ‖ N(0, I)) in nats per image.
	TermKL = "kl"
)

// TermNames returns the names of the terms [Config.Loss] returns, in order:
// mse and kl, or mse alone for a plain autoencoder.
func (c Config) TermNames() []string {
	if c.Plain {
		return []string{TermMSE}
	}
	return []string{TermMSE, TermKL}
}

// Loss returns the autoencoder's training objective, for
// diffusion.NewTrainerWithTerms with the names [Config.TermNames]: for each
// image x₀,
//
//	loss = MSE(decoder(z), x₀) + KLWeight · KL,   z = μ + σ·ε
//
// (see the package documentation; the plain autoencoder's loss is the MSE
// of decoder(μ)). The noise ε comes from scope's generator, saved in
// checkpoints, so a resumed run draws the same. The condition is ignored.
func (c Config) Loss() diffusion.TermsFn {
	c = c.WithDefaults()
	return func(scope *model.Scope, x0 *Node, _ cond.Nodes) (*Node, []*Node) {
		mu, logVar := c.Encoder(scope.In("encoder"), x0)
		z := mu
		if !c.Plain {
			eps := scope.RandomNormal(x0.Graph(), mu.Shape())
			z = Add(mu, Mul(Exp(MulScalar(logVar, 0.5)), eps))
		}
		xHat := c.Decoder(scope.In("decoder"), z)
		mse := ReduceMean(Square(Sub(xHat, x0)), 1, 2, 3)
		if c.Plain {
			return mse, []*Node{mse}
		}
		kl := KL(mu, logVar)
		return Add(mse, MulScalar(kl, c.KLWeight)), []*Node{mse, kl}
	}
}

// KL returns, per example, KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1
// − log σ_j²), summed over every axis but the first, in nats.
func KL(mu, logVar *Node) *Node {
	axes := make([]int, mu.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	terms := Sub(Add(Square(mu), Exp(logVar)), AddScalar(logVar, 1))
	return MulScalar(ReduceSum(terms, axes...), 0.5)
}
