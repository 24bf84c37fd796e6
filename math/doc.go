// Package math holds the Gaussian mathematics of diffusion models: the KL
// divergence between two Gaussians, the standard normal CDF, the discretized
// Gaussian log-likelihood of 8-bit data, and the conversion from nats to bits
// per dimension.
//
// The package is named math after its folder. Importers alias it dmath so that
// it does not shadow the standard library:
//
//	import dmath "github.com/godiffusion/diffusion-models/math"
//
// Inside this package the standard library is imported as gomath "math".
//
// Every quantity comes twice: a float64 function, written for accuracy and used
// as the reference, and a GoMLX graph function (suffix Graph) for training and
// evaluation. Graph functions are element-wise and broadcast like GoMLX binary
// ops: each operand is either a scalar or has the common rank, with every
// dimension equal to the others or 1 (shapes [4,3] and [4,1] combine to [4,3]).
// They accept float32 and float64 nodes and return the input dtype; float16
// and bfloat16 inputs are computed in float32 and converted back. All operands
// of one call must share one dtype. Graph functions panic, as GoMLX ops do,
// when shapes or dtypes do not fit.
//
// Conventions: variances are passed as log-variances (logVar = ln σ²), as
// diffusion models predict them; all log-probabilities and divergences are in
// nats, per dimension; [NatsToBitsPerDim] converts a sum over D dimensions to
// bits per dimension.
//
// # Accuracy
//
// GoMLX has graph.Erf but no Erfc. Erf is accurate in absolute terms (the pure
// Go backend evaluates it with the standard library in float64 and rounds the
// result), but ½(1 + erf(x/√2)) loses the relative precision of Φ(x) once it is
// small: in float32 it is exactly 0 below x ≈ −5.5; in float64 its relative
// error is 2e-6 at x = −7, 2% at x = −8, and it is 0 below x ≈ −8.3. The graph
// functions therefore use Erf only where |z| ≤ 3 (float64) or |z| ≤ 2
// (float32), and beyond that Laplace's continued fraction for the Mills ratio,
// R(z) = Q(z)/φ(z) = 1/(z+1/(z+2/(z+3/(z+…)))), with Q = 1 − Φ and φ the
// standard normal density, cut at a fixed depth chosen so that its truncation
// error is below the dtype's rounding error (48 levels for float64, 24 for
// float32). Small Gaussian tail probabilities, and their logarithms, thus keep
// their relative precision in the graph too. GoMLX's Expm1 has no gradient;
// where expm1 is needed the graph uses the exact identity eᵈ − 1 = 2t/(1 − t),
// t = tanh(d/2).
//
// As tested on the pure Go backend, the graph functions agree with the float64
// functions to 1e-12 relative in float64, and to 1e-5 relative (plus 1e-6
// absolute, for values near 0) in float32; the float64 functions agree with
// numerical integration of the Gaussian density to 1e-11 relative or better.
package math
