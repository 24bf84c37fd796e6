package math

import (
	gomath "math"

	"github.com/gomlx/gomlx/core/graph"
)

// BinHalfWidth is the half-width of one bin of 8-bit data scaled to [−1, 1]:
// the 256 levels −1 + 2k/255 (k = 0…255) are 2/255 apart, so the bin of level
// x is [x − 1/255, x + 1/255].
const BinHalfWidth = 1.0 / 255

// ProbFloor is the smallest bin probability the graph version of the
// discretized log-likelihood reports, as in improved DDPM: log(max(p, 1e-12)).
const ProbFloor = 1e-12

// LogProbFloor is ln(ProbFloor) = −12 ln 10 ≈ −27.631 nats: the floor of
// [DiscretizedGaussianLogLikelihoodGraph] per dimension. A dimension whose bin
// probability is below 1e-12 adds at most 27.631 nats (39.86 bits) to the
// negative log-likelihood, however improbable its value is, and gives no
// gradient.
const LogProbFloor = -27.631021115928548

// lowestBinTop and highestBinBottom classify a level as the lowest (x < −0.999)
// or the highest (x > 0.999) bin, as DDPM does; they lie inside the half
// gaps between level ∓1 and its neighbour ∓(1 − 2/255) ≈ ∓0.99216.
const (
	lowestBinTop     = -0.999
	highestBinBottom = 0.999
)

// bodyToTail is the standardized lower bin edge u above which the interior bin
// probability is taken from the upper tail, Q(u) − Q(v), in log form, rather
// than from ½(erf(v/√2) − erf(u/√2)): above it Q(u) ≤ 0.31, below it the erf
// values are at most 0.38, so either form loses little to cancellation.
const bodyToTail = 0.5

// Quantize8Bit snaps x to the nearest of the 256 levels −1 + 2k/255,
// k = 0…255, that 8-bit data takes once scaled to [−1, 1]:
//
//	k = round((x + 1)·255/2), clamped to [0, 255];  result −1 + 2k/255.
//
// Values outside [−1, 1] map to the end levels ∓1; NaN stays NaN.
func Quantize8Bit(x float64) float64 {
	if gomath.IsNaN(x) {
		return x
	}
	k := gomath.Round((x + 1) * 255 / 2)
	k = gomath.Max(0, gomath.Min(255, k))
	return -1 + 2*k/255
}

// DiscretizedGaussianLogLikelihood returns the log-probability, in nats, of
// the 8-bit bin that the level x ∈ [−1, 1] stands for, under N(mean, e^{logVar})
// (the decoder term L₀ of DDPM, one dimension). With σ = e^{logVar/2},
// h = 1/255 ([BinHalfWidth]) and Φ the standard normal CDF:
//
//	P(x) = Φ((x + h − μ)/σ)                          if x < −0.999 (lowest bin, open below),
//	P(x) = 1 − Φ((x − h − μ)/σ)                      if x > 0.999  (highest bin, open above),
//	P(x) = Φ((x + h − μ)/σ) − Φ((x − h − μ)/σ)       otherwise.
//
// Over the 256 levels these probabilities sum to 1. x should be one of the
// levels (see [Quantize8Bit]); other x are treated as the centre of a bin of
// the same width.
//
// The log is computed without cancellation and without underflow. With the
// standardized bin edges a < b, the interior bin is reflected to the side of
// the mean where it lies, (u, v) = (a, b) or (−b, −a), so that P = Q(u) − Q(v)
// with Q = 1 − Φ; then
//
//   - bins much narrower than σ (standardized width w = 2h/σ ≤ 0.1 and
//     centre m = (x − μ)/σ with |m|·w ≤ 0.25) use the midpoint expansion
//     P = φ(m)·w·Σⱼ He₂ⱼ(m) q^j/(2j+1)!, q = (w/2)², j = 0…4 (see
//     [DiscretizedGaussianLogLikelihoodGraph]), since the difference of two
//     nearly equal rounded edges would lose digits;
//   - bins far from the mean (u > ½) use ln P = ln Q(u) + ln(1 − e^{ln Q(v) − ln Q(u)}),
//     with ln Q from erfc or, beyond erfc's range, the asymptotic series of
//     the Mills ratio;
//   - bins near the mean use ln(½(erf(v/√2) − erf(u/√2))).
//
// The two open bins are ln Q(−b) and ln Q(a). The result is not floored. It
// is finite unless the bin lies more than about 5e7 standard deviations from
// the mean (ln P below about −1e15), where its two edges, not narrow enough
// for the midpoint expansion, can round to the same float64.
func DiscretizedGaussianLogLikelihood(x, mean, logVar float64) float64 {
	invStd := gomath.Exp(-0.5 * logVar)
	centered := x - mean
	a := (centered - BinHalfWidth) * invStd
	b := (centered + BinHalfWidth) * invStd
	switch {
	case x < lowestBinTop:
		return logUpperTail(-b)
	case x > highestBinBottom:
		return logUpperTail(a)
	}
	if m, w := centered*invStd, 2*BinHalfWidth*invStd; w <= narrowWidth && gomath.Abs(m)*w <= narrowSpread {
		return narrowBinLogProb(m, w)
	}
	u, v := a, b
	if a+b < 0 {
		u, v = -b, -a
	}
	if u > bodyToTail {
		lu := logUpperTail(u)
		return lu + log1MinusExp(gomath.Min(logUpperTail(v)-lu, 0))
	}
	return gomath.Log(0.5 * (gomath.Erf(v/gomath.Sqrt2) - gomath.Erf(u/gomath.Sqrt2)))
}

// narrowWidth and narrowSpread bound the standardized bin width w = 2h/σ and
// |m|·w (m the standardized bin centre) under which the bin probability comes
// from the midpoint series (see [narrowBinLogProb]). Within them the first
// omitted term, of order ((|m| + 3)·w/2)¹⁰/11!, is below 1e-13 relative.
const (
	narrowWidth  = 0.1
	narrowSpread = 0.25
)

// narrowBinLogProb returns ln ∫ φ over [m − w/2, m + w/2] from the midpoint
// expansion
//
//	ln φ(m) + ln w + log1p(He₂(m) q/3! + He₄(m) q²/5! + He₆(m) q³/7! + He₈(m) q⁴/9!),  q = (w/2)²,
//
// with the Hermite polynomials He₂ = m² − 1, He₄ = m⁴ − 6m² + 3,
// He₆ = m⁶ − 15m⁴ + 45m² − 15, He₈ = m⁸ − 28m⁶ + 210m⁴ − 420m² + 105. It
// follows from φ(m+t)/φ(m) = e^{−mt − t²/2} = Σₖ Heₖ(m)(−t)ᵏ/k!, whose odd
// terms vanish when averaged over t ∈ [−w/2, w/2] and whose even terms
// average to Heₖ(m)(w/2)ᵏ/(k+1)!. Each Heₖ(m) qᵏᐟ² is evaluated as a
// polynomial in y = m²q = (mw/2)² and q, both small where the expansion is
// used, so that no power of a large m is formed.
func narrowBinLogProb(m, w float64) float64 {
	q := w * w / 4
	y := m * m * q
	t1 := y - q
	t2 := y*(y-6*q) + 3*q*q
	t3 := y*(y*(y-15*q)+45*q*q) - 15*q*q*q
	t4 := y*(y*(y*(y-28*q)+210*q*q)-420*q*q*q) + 105*q*q*q*q
	series := t1/6 + t2/120 + t3/5040 + t4/362880
	return -0.5*m*m - halfLog2Pi + gomath.Log(w) + gomath.Log1p(series)
}

// maxInvStd bounds 1/σ = e^{−logVar/2} in the graph (logVar ≥ −138), so that
// the standardized bin edges stay finite; any such σ is far narrower than a bin.
const maxInvStd = 1e30

// DiscretizedGaussianLogLikelihoodGraph is the graph version of
// [DiscretizedGaussianLogLikelihood], element-wise with the operands broadcast
// together, floored as improved DDPM does:
//
//	result = max(ln P(x), ln 1e-12) = max(ln P(x), −27.631).
//
// The floor ([LogProbFloor]) means that a dimension whose observed bin has
// probability below 1e-12 costs 27.631 nats and contributes no gradient.
//
// Above the floor ln P is computed as in the float64 version (midpoint series
// for bins much narrower than σ, reflection, ln Q of the far edge,
// ln(1 − e^{…}) for the difference of tails, erf near the mean), with ln Q
// from graph.Erf near 0 and Laplace's continued fraction in the tails (see the
// package documentation). The midpoint series matters more here than in
// float64: in float32 the two edges (x ± h − μ)/σ of a bin narrow against σ
// are each rounded, which moves their small difference by up to 1e-4
// relative.
//
// The result is finite, with finite gradients, for every finite input in
// float32 and float64: 1/σ is capped at 1e30 and the standardized edges at
// ±1000, which only moves values that are floored anyway.
func DiscretizedGaussianLogLikelihoodGraph(x, mean, logVar *graph.Node) *graph.Node {
	ops, dims, dtype := operands("DiscretizedGaussianLogLikelihoodGraph", x, mean, logVar)
	broadcastAll(dims, ops...)
	x, mean, logVar = ops[0], ops[1], ops[2]
	g := x.Graph()
	cdtype := x.DType()
	scalar := func(v float64) *graph.Node { return graph.Scalar(g, cdtype, v) }
	clampEdge := func(z *graph.Node) *graph.Node {
		return graph.ClipScalar(z, -tailMagnitudeClamp, tailMagnitudeClamp)
	}

	invStd := graph.MinScalar(graph.Exp(graph.MulScalar(logVar, -0.5)), maxInvStd)
	centered := graph.Sub(x, mean)
	a := clampEdge(graph.Mul(graph.SubScalar(centered, BinHalfWidth), invStd))
	b := clampEdge(graph.Mul(graph.AddScalar(centered, BinHalfWidth), invStd))

	isLowest := graph.LessThan(x, scalar(lowestBinTop))
	isHighest := graph.GreaterThan(x, scalar(highestBinBottom))
	flip := graph.LessThan(graph.Add(a, b), scalar(0))
	u := graph.Where(flip, graph.Neg(b), a)
	v := graph.Where(flip, graph.Neg(a), b)

	// ln Q at the edge that bounds the probability: −b (lowest bin), a
	// (highest bin) or u (interior), and ln Q(v) for interior tails.
	edge := graph.Where(isLowest, graph.Neg(b), graph.Where(isHighest, a, u))
	logQEdge := logUpperTailGraph(edge)
	logQv := logUpperTailGraph(v)
	tail := graph.Add(logQEdge, log1MinusExpGraph(graph.MinScalar(graph.Sub(logQv, logQEdge), 0)))

	erfDiff := graph.Sub(
		graph.Erf(graph.MulScalar(v, 1/gomath.Sqrt2)),
		graph.Erf(graph.MulScalar(u, 1/gomath.Sqrt2)))
	body := graph.Log(graph.MaxScalar(graph.MulScalar(erfDiff, 0.5), tinyProbability))

	m := clampEdge(graph.Mul(centered, invStd))
	w := graph.MulScalar(invStd, 2*BinHalfWidth)
	isNarrow := graph.LogicalAnd(
		graph.LessOrEqual(w, scalar(narrowWidth)),
		graph.LessOrEqual(graph.Mul(graph.Abs(m), w), scalar(narrowSpread)))
	narrow := narrowBinLogProbGraph(m, graph.ClipScalar(w, tinyProbability, narrowWidth))

	interior := graph.Where(graph.GreaterThan(u, scalar(bodyToTail)), tail, body)
	interior = graph.Where(isNarrow, narrow, interior)
	logP := graph.Where(graph.LogicalOr(isLowest, isHighest), logQEdge, interior)
	return asDType(graph.MaxScalar(logP, LogProbFloor), dtype)
}

// narrowBinLogProbGraph is [narrowBinLogProb] element-wise. w must be
// positive; m is clamped to ±40 (beyond, the result is floored).
func narrowBinLogProbGraph(m, w *graph.Node) *graph.Node {
	m = graph.ClipScalar(m, -40, 40)
	q := graph.MulScalar(graph.Square(w), 0.25)
	y := graph.Mul(graph.Square(m), q)
	// Heₖ(m) q^(k/2) as polynomials in y and q: p(c₀, c₁, …) = Σᵢ cᵢ y^(n−i) qⁱ
	// by Horner in y, the q powers folded into the coefficients.
	poly := func(coefficients ...float64) *graph.Node {
		n := len(coefficients) - 1
		p := graph.MulScalar(graph.OnesLike(y), coefficients[0])
		qPow := graph.OnesLike(q)
		for i := 1; i <= n; i++ {
			qPow = graph.Mul(qPow, q)
			p = graph.Add(graph.Mul(p, y), graph.MulScalar(qPow, coefficients[i]))
		}
		return p
	}
	series := graph.MulScalar(poly(1, -1), 1.0/6)
	series = graph.Add(series, graph.MulScalar(poly(1, -6, 3), 1.0/120))
	series = graph.Add(series, graph.MulScalar(poly(1, -15, 45, -15), 1.0/5040))
	series = graph.Add(series, graph.MulScalar(poly(1, -28, 210, -420, 105), 1.0/362880))
	logDensity := graph.SubScalar(graph.MulScalar(graph.Square(m), -0.5), halfLog2Pi)
	return graph.Add(graph.Add(logDensity, graph.Log(w)), graph.Log1p(series))
}
