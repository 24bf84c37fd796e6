package diffusion

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	dmath "github.com/godiffusion/diffusion-models/math"
)

// LossKind selects the training objective.
type LossKind int

const (
	// LossSimple is L_simple: the mean squared error between the model output
	// and its target (ε, x₀ or v, by the denoiser's Prediction).
	LossSimple LossKind = iota
	// LossHybrid is improved DDPM's L_hybrid = L_simple + λ L_vlb, where the
	// L_vlb term sees the predicted mean through a stop-gradient, so that it
	// trains only the learned variance.
	LossHybrid
	// LossVLB is the variational bound alone, estimated as T·L_{t−1} at a
	// random step (an unbiased estimate of Σ_t L_{t−1}, in bits/dim).
	LossVLB
)

// DefaultHybridLambda is improved DDPM's λ = 0.001.
const DefaultHybridLambda = 0.001

// String returns "simple", "hybrid" or "vlb".
func (k LossKind) String() string {
	switch k {
	case LossSimple:
		return "simple"
	case LossHybrid:
		return "hybrid"
	case LossVLB:
		return "vlb"
	}
	return fmt.Sprintf("LossKind(%d)", int(k))
}

// ParseLossKind parses "simple", "hybrid" or "vlb".
func ParseLossKind(s string) (LossKind, error) {
	switch s {
	case "simple", "mse":
		return LossSimple, nil
	case "hybrid":
		return LossHybrid, nil
	case "vlb", "kl":
		return LossVLB, nil
	}
	return 0, fmt.Errorf("diffusion: unknown loss %q (want simple, hybrid or vlb)", s)
}

// MeanFlat averages x over every axis but the first: [B, ...] → [B].
func MeanFlat(x *Node) *Node {
	if x.Rank() == 1 {
		return x
	}
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return ReduceMean(x, axes...)
}

// Target returns what a denoiser of the given prediction type is trained to
// output at x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε: ε, x₀ or v = √ᾱ_t ε − √(1−ᾱ_t) x₀.
func (p *Process) Target(pred Prediction, x0, t, noise *Node) *Node {
	switch pred {
	case PredictEpsilon:
		return noise
	case PredictX0:
		return x0
	case PredictV:
		return p.VFromX0Eps(x0, t, noise)
	}
	exceptions.Panicf("diffusion: unknown prediction %v", pred)
	return nil
}

// Decoder is the last reverse step's likelihood p_θ(x₀ | x₁), the L₀ term of
// the bound.
type Decoder int

const (
	// DiscretizedDecoder is DDPM's decoder for 8-bit data scaled to [−1, 1]:
	// the Gaussian's mass over x₀'s bin (width 2/255, open tails). L₀ is then
	// a negative log-probability and the bound bounds −log P(x₀) of discrete data.
	DiscretizedDecoder Decoder = iota
	// GaussianDecoder is the Gaussian density N(x₀; μ_θ(x₁, 1), σ₁²) for
	// continuous data (2-D toy sets): the bound then bounds the negative
	// log-density −log p_θ(x₀), comparable with a true density.
	GaussianDecoder
)

// String returns "discretized" or "gaussian".
func (d Decoder) String() string {
	if d == GaussianDecoder {
		return "gaussian"
	}
	return "discretized"
}

// VBTerm returns the term of the variational bound at steps t, in bits per
// dimension, shape [B]:
//
//	t = 1 (index 0): L₀ = −log p_θ(x₀ | x₁), the decoder;
//	t > 1:           L_{t−1} = KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)).
//
// pm is p_θ(x_{t−1} | x_t) from [Process.PMeanVariance] (never clipped here).
func (p *Process) VBTerm(pm PMean, x0, xt, t *Node, dec Decoder) *Node {
	trueMean, _, trueLogVar := p.QPosterior(x0, xt, t)
	kl := MeanFlat(dmath.NormalKLGraph(trueMean, trueLogVar, pm.Mean, pm.LogVariance))
	var logLik *Node
	if dec == GaussianDecoder {
		logLik = gaussianLogDensity(x0, pm.Mean, pm.LogVariance)
	} else {
		logLik = dmath.DiscretizedGaussianLogLikelihoodGraph(x0, pm.Mean, pm.LogVariance)
	}
	nll := MeanFlat(Neg(logLik))
	isFirst := Equal(t, ScalarZero(t.Graph(), t.DType()))
	return MulScalar(Where(isFirst, nll, kl), 1/math.Ln2)
}

// gaussianLogDensity is log N(x; mean, e^{logVar}) = −½(log 2π + logVar + (x−mean)² e^{−logVar}), element-wise.
func gaussianLogDensity(x, mean, logVar *Node) *Node {
	logVar = BroadcastToShape(logVar, x.Shape())
	d := Sub(x, mean)
	return MulScalar(AddScalar(Add(logVar, Mul(Square(d), Exp(Neg(logVar)))), math.Log(2*math.Pi)), -0.5)
}

// PriorBPD returns L_T = KL(q(x_T | x₀) ‖ N(0, I)) in bits per dimension,
// shape [B]. It does not depend on the model; for a good schedule it is ≈ 0.
func (p *Process) PriorBPD(x0 *Node) *Node {
	g := x0.Graph()
	b := x0.Shape().Dimensions[0]
	last := make([]int32, b)
	for i := range last {
		last[i] = int32(p.T() - 1)
	}
	tLast := Const(g, last)
	mean, _, logVar := p.QMeanVariance(x0, tLast)
	zero := ZerosLike(mean)
	kl := dmath.NormalKLGraph(mean, BroadcastToShape(logVar, mean.Shape()), zero, zero)
	return MulScalar(MeanFlat(kl), 1/math.Ln2)
}

// LossTerms are the per-example training losses, each of shape [B].
type LossTerms struct {
	// Loss is the objective that is minimised.
	Loss *Node
	// MSE is the L_simple part (nil for LossVLB).
	MSE *Node
	// VB is the bound term L_{t−1} at the sampled step in bits/dim (nil for LossSimple).
	VB *Node
}

// LossConfig configures [Process.Losses].
type LossConfig struct {
	// Kind is the objective.
	Kind LossKind
	// Lambda weighs L_vlb in LossHybrid; 0 means DefaultHybridLambda.
	Lambda float64
	// Variance is the fixed variance used by the bound when the denoiser does
	// not learn its variance (LossVLB with a fixed variance trains the mean only).
	Variance VarianceType
	// Decoder is the L₀ term's likelihood (discretized for 8-bit images,
	// Gaussian for continuous data).
	Decoder Decoder
}

// Losses computes the training losses at x_t = q_sample(x₀, t, noise).
//
// LossSimple: ‖target − output‖² averaged over dimensions.
// LossHybrid: MSE + λ·T·L_{t−1}, where L_{t−1} is computed with the mean
// through a stop-gradient (T·L_{t−1} estimates L_vlb = Σ_t L_{t−1}).
// LossVLB: T·L_{t−1}.
func (p *Process) Losses(scope *model.Scope, den Denoiser, x0, t, noise *Node, c cond.Nodes, cfg LossConfig) LossTerms {
	xt := p.QSample(x0, t, noise)
	out := p.Predict(scope, den, xt, t, c)
	pred, v := den.Split(out)
	if pred.Shape().Dimensions[pred.Rank()-1] != x0.Shape().Dimensions[x0.Rank()-1] {
		exceptions.Panicf("diffusion: denoiser output %s does not match x₀ %s (LearnedVariance=%v)",
			out.Shape(), x0.Shape(), den.LearnedVariance)
	}
	T := float64(p.T())
	lambda := cfg.Lambda
	if lambda == 0 {
		lambda = DefaultHybridLambda
	}
	var terms LossTerms
	if cfg.Kind == LossSimple || cfg.Kind == LossHybrid {
		terms.MSE = MeanFlat(Square(Sub(p.Target(den.Prediction, x0, t, noise), pred)))
		terms.Loss = terms.MSE
	}
	if cfg.Kind == LossSimple {
		return terms
	}
	vbOut := out
	if cfg.Kind == LossHybrid {
		if !den.LearnedVariance {
			exceptions.Panicf("diffusion: the hybrid loss trains a learned variance; the denoiser has none (use simple or vlb)")
		}
		// The bound only trains the variance: freeze the mean.
		vbOut = Concatenate([]*Node{StopGradient(pred), v}, -1)
	}
	pm := p.PMeanVariance(den, vbOut, xt, t, cfg.Variance, false)
	terms.VB = p.VBTerm(pm, x0, xt, t, cfg.Decoder)
	switch cfg.Kind {
	case LossHybrid:
		terms.Loss = Add(terms.MSE, MulScalar(terms.VB, lambda*T))
	case LossVLB:
		terms.Loss = MulScalar(terms.VB, T)
	default:
		exceptions.Panicf("diffusion: unknown loss kind %v", cfg.Kind)
	}
	return terms
}
