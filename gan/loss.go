package gan

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Names of the terms that [Config.Loss] reports, per example.
const (
	// TermDiscriminator is the discriminator's loss
	// softplus(−D(x)) + softplus(D(G(z))), in nats.
	TermDiscriminator = "discriminator"
	// TermGenerator is the generator's non-saturating loss softplus(−D(G(z))), in nats.
	TermGenerator = "generator"
	// TermR1 is the R1 penalty γ/2·‖∇_x D(x)‖² on the real example (0 when γ = 0).
	TermR1 = "r1"
)

// TermNames returns the names of the terms [Config.Loss] reports, in order.
func TermNames() []string { return []string{TermDiscriminator, TermGenerator, TermR1} }

// DiscriminatorLoss returns, per example, the discriminator's loss for the
// logits of a real example r and of a generated one f (each [B]):
//
//	L_D = −log σ(r) − log(1 − σ(f)) = softplus(−r) + softplus(f),
//
// the cross-entropy of classifying real as 1 and generated as 0
// (Goodfellow et al. 2014, eq. 1, written with logits).
func DiscriminatorLoss(realLogits, fakeLogits *Node) *Node {
	return Add(Softplus(Neg(realLogits)), Softplus(fakeLogits))
}

// GeneratorLoss returns, per example, the generator's non-saturating loss
// for the logits f of its samples:
//
//	L_G = −log σ(f) = softplus(−f)
//
// (Goodfellow et al. 2014, §3: its gradient is largest where D rejects the
// sample, unlike that of the minimax log(1 − σ(f)), which vanishes there).
func GeneratorLoss(fakeLogits *Node) *Node {
	return Softplus(Neg(fakeLogits))
}

// R1Penalty returns the discriminator's logits d(x) ([B]) for a batch of
// real examples x [B, ...] and, per example, the R1 penalty (Mescheder et
// al. 2018, eq. 9)
//
//	R1(x) = γ/2 · ‖∇_x d(x)‖²,
//
// the gradient taken inside the graph (graph.Gradient of Σ_b d(x_b): each
// logit depends on its own example only, so its gradient with respect to
// x_b is ∇ d(x_b)). The penalty is differentiable with respect to d's
// weights (double back-propagation), which is how it trains d.
func R1Penalty(x *Node, d func(x *Node) *Node, gamma float64) (logits, penalty *Node) {
	logits = d(x)
	b := x.Shape().Dimensions[0]
	if logits.Rank() != 1 || logits.Shape().Dimensions[0] != b {
		exceptions.Panicf("gan: R1Penalty needs logits shaped [%d], got %s", b, logits.Shape())
	}
	grad := Gradient(ReduceAllSum(logits), x)[0]
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return logits, MulScalar(ReduceSum(Square(grad), axes...), gamma/2)
}

// Loss returns both players' objectives as one per-example loss for
// diffusion.NewTrainerWithTerms (with [TermNames]), so that one optimiser
// step is a simultaneous gradient step of both players:
//
//	loss = L_D(D(x), D(sg[G(z)])) + γ/2‖∇_x D(x)‖² + L_G(sg[D](G(z))),   z ~ N(0, I),
//
// where sg[G(z)] stops the gradient at the generator's output (L_D trains D
// only) and sg[D] is the discriminator with its weights behind StopGradient
// (L_G trains G only, through D's input). The gradient of the sum with
// respect to D's weights is therefore ∇_D(L_D + R1) and with respect to G's
// weights ∇_G L_G. z comes from scope's generator, which checkpoints save.
// Scopes: generator and discriminator under scope. The condition is ignored.
func (c Config) Loss() diffusion.TermsFn {
	return func(scope *model.Scope, x0 *Node, _ cond.Nodes) (*Node, []*Node) {
		cc := c.mustValid()
		g := x0.Graph()
		b := x0.Shape().Dimensions[0]
		z := scope.RandomNormal(g, shapes.Make(x0.DType(), b, cc.NoiseDim))
		fake := cc.Generator(scope.In("generator"), z)
		ds := scope.In("discriminator")
		d := func(frozen bool) func(*Node) *Node {
			return func(x *Node) *Node { return cc.Discriminator(ds, x, frozen) }
		}
		var realLogits, r1 *Node
		if cc.R1Gamma > 0 {
			realLogits, r1 = R1Penalty(x0, d(false), cc.R1Gamma)
		} else {
			realLogits = d(false)(x0)
			r1 = ZerosLike(realLogits)
		}
		lossD := DiscriminatorLoss(realLogits, d(false)(StopGradient(fake)))
		lossG := GeneratorLoss(d(true)(fake))
		return Add(Add(lossD, r1), lossG), []*Node{lossD, lossG, r1}
	}
}
