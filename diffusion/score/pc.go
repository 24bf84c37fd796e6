package score

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
)

// Default signal-to-noise ratios r of the Langevin corrector (Song et al.
// 2021, Appendix G): 0.16 for the VE SDE and 0.01 for VP and sub-VP.
const (
	DefaultSNRVE = 0.16
	DefaultSNRVP = 0.01
)

// PredictorCorrector is predictor–corrector sampling (Song et al. 2021,
// Algorithms 2 and 3), in the order of Song et al.'s code: every step runs
// Corrector Langevin steps at t_k, then a reverse-diffusion predictor from
// t_k to t_{k+1}.
//
// Corrector (Langevin, Algorithms 4 and 5), at t = t_k, repeated M times:
//
//	g = s_θ(x, t),  z ~ N(0, I),  ε = 2 (r ‖z‖/‖g‖)²,  x ← x + ε g + √(2ε) z,
//
// where ‖z‖ and ‖g‖ are the per-example norms averaged over the batch (as in
// Song et al.'s code, so ε is one scalar per batch) and r is the SNR. The
// α_i factor of Algorithm 5 (VP) is left out: it is 1 − O(1/N).
//
// Predictor: the forward transition from t' = t_{k+1} to t = t_k is
// x_t = a x_{t'} + √v z with a = m(t)/m(t') and v = σ(t)² − a² σ(t')²;
// reversing it with the score at t gives
//
//	x' = (x + v s_θ(x, t))/a + √v z.
//
// For the VE SDE (a = 1, v = σ_t² − σ_{t'}²) this is Algorithm 2's predictor;
// for the VP SDE (a = √α_i, v ≈ β_i) it is DDPM's ancestral step with σ² = β
// (Song et al.'s reverse-diffusion predictor to first order). The noise-free
// part of a step is the predictor's (x + v s_θ)/a.
type PredictorCorrector struct {
	// Process is the forward SDE.
	Process SDE
	// Steps is N ≥ 1, the number of predictor steps.
	Steps int
	// Corrector is M ≥ 0, the number of Langevin corrector steps after each
	// predictor step (0: predictor only; Song et al. use 1).
	Corrector int
	// SNR is r > 0; 0 means DefaultSNRVE for the VE SDE and DefaultSNRVP otherwise.
	SNR float64
}

// SDE implements Sampler.
func (s PredictorCorrector) SDE() SDE { return s.Process }

// Times implements Sampler: N+1 times evenly spaced from 1 to ε.
func (s PredictorCorrector) Times() ([]float64, error) {
	if s.Corrector < 0 {
		return nil, errorf("PredictorCorrector needs Corrector ≥ 0, got %d", s.Corrector)
	}
	if s.SNR < 0 {
		return nil, errorf("PredictorCorrector needs SNR ≥ 0, got %v", s.SNR)
	}
	return timeGrid("PredictorCorrector", s.Process, s.Steps)
}

// snr returns r, resolving the zero value.
func (s PredictorCorrector) snr() float64 {
	if s.SNR > 0 {
		return s.SNR
	}
	if s.Process.Name() == "ve" {
		return DefaultSNRVE
	}
	return DefaultSNRVP
}

// Step implements Sampler.
func (s PredictorCorrector) Step(scope *model.Scope, fn ModelFn, x, t, tNext, cond, rng *Node) (next, mean, newRNG *Node) {
	newRNG = rng
	for range s.Corrector {
		x, _, newRNG = LangevinCorrectorStep(scope, fn, x, t, cond, newRNG, s.snr())
	}
	a, v := transition(s.Process, tNext, t)
	a, v = perExample(ConvertDType(a, x.DType()), x), perExample(ConvertDType(v, x.DType()), x)
	sc := fn(scope.ResetVisited(), x, t, cond)
	mean = Div(Add(x, Mul(v, sc)), a)
	newRNG, z := RandomNormal(newRNG, x.Shape())
	next = Add(mean, Mul(Sqrt(v), z))
	return next, mean, newRNG
}

// transition returns, in float64, a = m(t)/m(t') and v = σ(t)² − a² σ(t')² of
// the forward transition x_t = a x_{t'} + √v z from t' = from to t = to.
func transition(sde SDE, from, to *Node) (a, v *Node) {
	mFrom, sFrom := sde.GraphMarginal(ConvertDType(from, dtypes.Float64))
	mTo, sTo := sde.GraphMarginal(ConvertDType(to, dtypes.Float64))
	a = Div(mTo, mFrom)
	v = Max(Sub(Square(sTo), Square(Mul(a, sFrom))), ZerosLike(a))
	return a, v
}

// LangevinCorrectorStep is one step of the Langevin corrector at time t with
// signal-to-noise ratio r (see [PredictorCorrector]):
//
//	g = s_θ(x, t),  ε = 2 (r ‖z‖/‖g‖)²,  mean = x + ε g,  next = mean + √(2ε) z,
//
// with ‖·‖ the per-example norm averaged over the batch.
func LangevinCorrectorStep(scope *model.Scope, fn ModelFn, x, t, cond, rng *Node, snr float64) (next, mean, newRNG *Node) {
	g := fn(scope.ResetVisited(), x, t, cond)
	newRNG, z := RandomNormal(rng, x.Shape())
	eps := MulScalar(Square(Div(meanNorm(z), meanNorm(g))), 2*snr*snr)
	mean = Add(x, Mul(eps, g))
	next = Add(mean, Mul(Sqrt(MulScalar(eps, 2)), z))
	return next, mean, newRNG
}

// meanNorm returns the batch mean of the per-example Euclidean norms of x, a scalar.
func meanNorm(x *Node) *Node {
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	if len(axes) == 0 { // [B]: each example is a scalar
		return ReduceAllMean(Abs(x))
	}
	return ReduceAllMean(Sqrt(ReduceSum(Square(x), axes...)))
}
