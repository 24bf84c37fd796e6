package math

import (
	gomath "math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// halfLog2Pi is ½ ln(2π), the log-normalizer of the standard normal density.
const halfLog2Pi = 0.91893853320467274178032973640561763986139747363778

// asymptoticFrom is the z from which logUpperTail uses the asymptotic series:
// below it ½ erfc(z/√2) is a normal (not subnormal) float64.
const asymptoticFrom = 37.0

// StdNormalCDF returns the standard normal cumulative distribution function
//
//	Φ(x) = ½ (1 + erf(x/√2)) = ½ erfc(−x/√2).
//
// The two forms are equal; the erfc form is evaluated because it keeps full
// relative precision in the lower tail (Φ(−8) ≈ 6.2e-16, Φ(−30) ≈ 4.9e-198),
// where 1 + erf(x/√2) cancels.
func StdNormalCDF(x float64) float64 {
	return 0.5 * gomath.Erfc(-x/gomath.Sqrt2)
}

// logUpperTail returns ln Q(z), where Q(z) = 1 − Φ(z) = ½ erfc(z/√2) is the
// upper tail probability of the standard normal, with full relative precision
// for every z:
//
//   - z < −1: ln Q(z) = log1p(−Q(−z)), since Q(z) is close to 1;
//   - −1 ≤ z < 37: ln(½ erfc(z/√2));
//   - z ≥ 37, where erfc underflows: the asymptotic series of the Mills ratio,
//     ln Q(z) = −z²/2 − ln z − ½ ln 2π + ln Σₖ (−1)ᵏ (2k−1)!! / z²ᵏ,
//     summed while its terms exceed 1e-18 (at most 8 terms at z = 37).
func logUpperTail(z float64) float64 {
	switch {
	case z < -1:
		return gomath.Log1p(-0.5 * gomath.Erfc(-z/gomath.Sqrt2))
	case z < asymptoticFrom:
		return gomath.Log(0.5 * gomath.Erfc(z/gomath.Sqrt2))
	}
	invZ2 := 1 / (z * z)
	sum, term := 1.0, 1.0
	for k := 1; k <= 20; k++ {
		term *= -float64(2*k-1) * invZ2
		sum += term
		if gomath.Abs(term) < 1e-18 {
			break
		}
	}
	return -0.5*z*z - gomath.Log(z) - halfLog2Pi + gomath.Log(sum)
}

// log1MinusExp returns ln(1 − eᵈ) for d ≤ 0 without cancellation: through
// expm1 near 0 and log1p far from it (the switch at −ln 2 balances the two).
func log1MinusExp(d float64) float64 {
	if d > -gomath.Ln2 {
		return gomath.Log(-gomath.Expm1(d))
	}
	return gomath.Log1p(-gomath.Exp(d))
}

// StdNormalCDFGraph is the graph version of [StdNormalCDF], Φ(x) = Q(−x) with
// Q the upper tail probability. For −x ≤ z₀ it evaluates ½(1 − erf(−x/√2)) with
// graph.Erf, which is accurate there; for −x > z₀ (the lower tail, where
// 1 + erf cancels) it evaluates Q(z) = φ(z)·R(z) with φ the standard normal
// density and R the Mills ratio from Laplace's continued fraction. z₀ is 3 for
// float64 and 2 for float32 (see the package documentation). Inputs beyond
// ±1000 are clamped there, which does not change Φ in any float dtype.
func StdNormalCDFGraph(x *graph.Node) *graph.Node {
	return inComputeDType("StdNormalCDFGraph", x, func(x *graph.Node) *graph.Node {
		return upperTailGraph(graph.Neg(x))
	})
}

// tailParams returns, for a graph dtype, the switch point z₀ between Erf and
// the continued fraction, and the depth of the continued fraction.
//
// The depths make the truncation error of the continued fraction at z₀ smaller
// than the rounding error of the dtype (measured against math.Erfc: at z = 3,
// 48 levels give 4e-16; at z = 2, 24 levels give 7e-8). Below z₀ the relative
// error of ½(1 − erf(z/√2)) is about ε/(2Q(z₀)): 4e-14 for float64 (z₀ = 3,
// Q = 1.3e-3), 1.3e-6 for float32 (z₀ = 2, Q = 0.023).
func tailParams(dtype dtypes.DType) (z0 float64, depth int) {
	if dtype == dtypes.Float64 {
		return 3, 48
	}
	return 2, 24
}

// millsRatioGraph returns R(z) = Q(z)/φ(z) by Laplace's continued fraction
//
//	R(z) = 1/(z + 1/(z + 2/(z + 3/(z + …)))),
//
// evaluated bottom-up from depth levels. It is meant for z ≥ z₀ > 0.
func millsRatioGraph(z *graph.Node, depth int) *graph.Node {
	g := z.Graph()
	dtype := z.DType()
	r := graph.ZerosLike(z)
	for k := depth; k >= 1; k-- {
		r = graph.Div(graph.Scalar(g, dtype, k), graph.Add(z, r))
	}
	return graph.Reciprocal(graph.Add(z, r))
}

// tailMagnitudeClamp bounds standardized arguments before squaring: Q(1000) and
// 1 − Q(−1000) are 0 and 1 in every float dtype, and 1000² cannot overflow.
const tailMagnitudeClamp = 1000.0

// upperTailGraph returns Q(z) = P(Z > z) element-wise: ½(1 − erf(z/√2)) for
// z ≤ z₀, and φ(z)·R(z) for z > z₀, where both are accurate.
func upperTailGraph(z *graph.Node) *graph.Node {
	g := z.Graph()
	z0, depth := tailParams(z.DType())
	z = graph.ClipScalar(z, -tailMagnitudeClamp, tailMagnitudeClamp)
	// Each branch gets an input clamped into its own domain, so that the
	// branch not taken by Where has finite values and finite gradients.
	zBody := graph.MinScalar(z, z0)
	body := graph.MulScalar(graph.OneMinus(graph.Erf(graph.MulScalar(zBody, 1/gomath.Sqrt2))), 0.5)
	zTail := graph.MaxScalar(z, z0)
	logDensity := graph.SubScalar(graph.MulScalar(graph.Square(zTail), -0.5), halfLog2Pi)
	tail := graph.Mul(graph.Exp(logDensity), millsRatioGraph(zTail, depth))
	return graph.Where(graph.GreaterThan(z, graph.Scalar(g, z.DType(), z0)), tail, body)
}

// logUpperTailGraph returns ln Q(z) element-wise, with full relative precision
// for all z (compare logUpperTail):
//
//   - z > z₀: ln Q(z) = −z²/2 − ½ ln 2π + ln R(z);
//   - z < −z₀: ln Q(z) = log1p(−Q(−z)), Q(−z) = φ(z) R(−z);
//   - otherwise ln(½(1 − erf(z/√2))).
//
// Both tails share one continued fraction, evaluated at max(|z|, z₀).
// Arguments beyond ±1000 are clamped (callers floor the result far above
// ln Q(1000) ≈ −500000).
func logUpperTailGraph(z *graph.Node) *graph.Node {
	g := z.Graph()
	dtype := z.DType()
	z0, depth := tailParams(z.DType())
	z = graph.ClipScalar(z, -tailMagnitudeClamp, tailMagnitudeClamp)
	zBody := graph.ClipScalar(z, -z0, z0)
	body := graph.Log(graph.MulScalar(graph.OneMinus(graph.Erf(graph.MulScalar(zBody, 1/gomath.Sqrt2))), 0.5))
	zTail := graph.MaxScalar(graph.Abs(z), z0)
	logTail := graph.Add(
		graph.SubScalar(graph.MulScalar(graph.Square(zTail), -0.5), halfLog2Pi),
		graph.Log(millsRatioGraph(zTail, depth)))
	lower := graph.Log1p(graph.Neg(graph.Exp(logTail)))
	result := graph.Where(graph.LessThan(z, graph.Scalar(g, dtype, -z0)), lower, body)
	return graph.Where(graph.GreaterThan(z, graph.Scalar(g, dtype, z0)), logTail, result)
}

// log1MinusExpGraph returns ln(1 − eᵈ) element-wise for d ≤ 0, as
// log1MinusExp does. GoMLX's Expm1 has no gradient, so near 0 it uses
// −expm1(d) = −2t/(1 − t) with t = tanh(d/2), which is exact and keeps the
// relative precision of small d. The result is floored at ln(tiny) where
// 1 − eᵈ rounds to 0, so that it stays finite.
func log1MinusExpGraph(d *graph.Node) *graph.Node {
	g := d.Graph()
	dtype := d.DType()
	dFar := graph.MinScalar(d, -gomath.Ln2)
	far := graph.Log1p(graph.Neg(graph.Exp(dFar)))
	dNear := graph.ClipScalar(d, -gomath.Ln2, 0)
	t := graph.Tanh(graph.MulScalar(dNear, 0.5))
	oneMinusExp := graph.Div(graph.MulScalar(t, -2), graph.OneMinus(t))
	near := graph.Log(graph.MaxScalar(oneMinusExp, tinyProbability))
	return graph.Where(graph.LessThan(d, graph.Scalar(g, dtype, -gomath.Ln2)), far, near)
}
