package math

import (
	gomath "math"

	"github.com/gomlx/gomlx/core/graph"
)

// NormalKL returns the Kullback–Leibler divergence between two univariate
// Gaussians, in nats, given their means and log-variances:
//
//	KL(N(μ₁, e^{v₁}) ‖ N(μ₂, e^{v₂})) = ½ (−1 + v₂ − v₁ + e^{v₁−v₂} + (μ₁ − μ₂)² e^{−v₂}).
//
// For diagonal Gaussians it is the contribution of one dimension; sum it over
// dimensions. It is evaluated as ½ (f(d) + (μ₁ − μ₂)² e^{−v₂}) with d = v₁ − v₂
// and f(d) = e^d − 1 − d ≥ 0, where f comes from its Taylor series when
// |d| < ½ (see [expMinusOneMinusIdentity]): the direct form would cancel when
// the variances are close, the usual case for a good model. The result is
// exactly 0 for equal distributions and never negative.
func NormalKL(mean1, logVar1, mean2, logVar2 float64) float64 {
	dm := mean1 - mean2
	return 0.5 * (expMinusOneMinusIdentity(logVar1-logVar2) + dm*dm*gomath.Exp(-logVar2))
}

// expSeriesBound is the |d| below which e^d − 1 − d is summed from its Taylor
// series; above it the direct form loses at most about one digit.
const expSeriesBound = 0.5

// expSeriesTerms is the number of Taylor terms summed: the first omitted term,
// d^(n+2)/(n+2)!, is below 1e-19 relative at |d| = ½.
const expSeriesTerms = 15

// expMinusOneMinusIdentity returns f(d) = e^d − 1 − d without cancellation:
//
//	f(d) = d² Σₖ dᵏ/(k+2)!,  k = 0…14, for |d| < ½;  expm1(d) − d otherwise.
func expMinusOneMinusIdentity(d float64) float64 {
	if gomath.Abs(d) >= expSeriesBound {
		return gomath.Expm1(d) - d
	}
	// Horner from the highest term: coefficient of dᵏ is 1/(k+2)!.
	sum := 0.0
	for k := expSeriesTerms - 1; k >= 0; k-- {
		sum = sum*d + 1/factorial(k+2)
	}
	return d * d * sum
}

// factorial returns n! as a float64 (exact for n ≤ 22).
func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}

// NormalKLGraph is the graph version of [NormalKL]: the element-wise
//
//	KL = ½ (f(v₁ − v₂) + (μ₁ − μ₂)² e^{−v₂}),  f(d) = e^d − 1 − d,
//
// with the operands broadcast together and f, as in NormalKL, from its Taylor
// series for |d| < ½ and from Exp(d) − 1 − d otherwise.
func NormalKLGraph(mean1, logVar1, mean2, logVar2 *graph.Node) *graph.Node {
	ops, _, dtype := operands("NormalKLGraph", mean1, logVar1, mean2, logVar2)
	mean1, logVar1, mean2, logVar2 = ops[0], ops[1], ops[2], ops[3]
	dm := graph.Sub(mean1, mean2)
	kl := graph.Add(
		expMinusOneMinusIdentityGraph(graph.Sub(logVar1, logVar2)),
		graph.Mul(graph.Square(dm), graph.Exp(graph.Neg(logVar2))))
	return asDType(graph.MulScalar(kl, 0.5), dtype)
}

// expMinusOneMinusIdentityGraph is expMinusOneMinusIdentity element-wise. The
// series gets d clipped to ±½, so that the branch Where drops stays finite.
func expMinusOneMinusIdentityGraph(d *graph.Node) *graph.Node {
	g := d.Graph()
	dNear := graph.ClipScalar(d, -expSeriesBound, expSeriesBound)
	sum := graph.Scalar(g, d.DType(), 1/factorial(expSeriesTerms+1))
	for k := expSeriesTerms - 2; k >= 0; k-- {
		sum = graph.AddScalar(graph.Mul(sum, dNear), 1/factorial(k+2))
	}
	near := graph.Mul(graph.Square(dNear), sum)
	far := graph.Sub(graph.SubScalar(graph.Exp(d), 1), d)
	isNear := graph.LessThan(graph.Abs(d), graph.Scalar(g, d.DType(), expSeriesBound))
	return graph.Where(isNear, near, far)
}
