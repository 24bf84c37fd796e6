package score

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
)

// DefaultLangevinStepSize is ε of Song & Ermon (2019) for σ_L = 0.01.
const DefaultLangevinStepSize = 2e-5

// AnnealedLangevin is annealed Langevin dynamics (Song & Ermon 2019,
// Algorithm 1). Its noise levels are the SDE's at L evenly spaced times
// τ_i from 1 to ε = MinTime, σ_i = σ(τ_i); for the VE SDE,
// σ(t) = σ_min (σ_max/σ_min)^t, so they form NCSN's geometric sequence from
// σ_max to (almost) σ_min, and a noise-conditional score network is a VE
// [ModelFn] evaluated at those τ_i. At each level it runs T steps of
//
//	α_i = ε σ_i²/σ_L²,  x ← x + ½ α_i s_θ(x, τ_i) + √α_i z,  z ~ N(0, I),
//
// starting from the SDE's prior. With another SDE (VP) the same rule runs
// Langevin dynamics on each p_{τ_i} with σ_i the marginal std. [Sample]
// returns the last step without its noise term.
type AnnealedLangevin struct {
	// Process is the forward SDE (VE for NCSN).
	Process SDE
	// Levels is L ≥ 1, the number of noise levels.
	Levels int
	// StepsPerLevel is T ≥ 1, the Langevin steps at each level.
	StepsPerLevel int
	// StepSize is ε > 0; 0 means DefaultLangevinStepSize.
	StepSize float64
}

// SDE implements Sampler.
func (s AnnealedLangevin) SDE() SDE { return s.Process }

// levels returns τ_0 = 1 > … > τ_{L−1} = ε.
func (s AnnealedLangevin) levels() []float64 {
	if s.Levels == 1 {
		return []float64{s.Process.MinTime()}
	}
	return linspace(1, s.Process.MinTime(), s.Levels-1)
}

// Times implements Sampler: each level time τ_i repeated T times (step k
// runs at τ_{⌊k/T⌋}), then τ_{L−1} once more to close the grid.
func (s AnnealedLangevin) Times() ([]float64, error) {
	if s.Process == nil {
		return nil, errorf("AnnealedLangevin needs an SDE")
	}
	if s.Levels < 1 || s.StepsPerLevel < 1 {
		return nil, errorf("AnnealedLangevin needs Levels ≥ 1 and StepsPerLevel ≥ 1, got %d and %d", s.Levels, s.StepsPerLevel)
	}
	if s.StepSize < 0 || math.IsNaN(s.StepSize) {
		return nil, errorf("AnnealedLangevin needs StepSize ≥ 0, got %v", s.StepSize)
	}
	lv := s.levels()
	ts := make([]float64, 0, len(lv)*s.StepsPerLevel+1)
	for _, tau := range lv {
		for range s.StepsPerLevel {
			ts = append(ts, tau)
		}
	}
	return append(ts, lv[len(lv)-1]), nil
}

// Step implements Sampler; it runs at t and ignores tNext.
func (s AnnealedLangevin) Step(scope *model.Scope, fn ModelFn, x, t, tNext, cond, rng *Node) (next, mean, newRNG *Node) {
	eps := s.StepSize
	if eps == 0 {
		eps = DefaultLangevinStepSize
	}
	lv := s.levels()
	_, sigmaL := s.Process.Marginal(lv[len(lv)-1])
	_, st := s.Process.GraphMarginal(t)
	alpha := perExample(MulScalar(Square(st), eps/(sigmaL*sigmaL)), x) // α_i = ε σ_i²/σ_L²
	sc := fn(scope.ResetVisited(), x, t, cond)
	mean = Add(x, Mul(MulScalar(alpha, 0.5), sc))
	newRNG, z := RandomNormal(rng, x.Shape())
	next = Add(mean, Mul(Sqrt(alpha), z))
	return next, mean, newRNG
}
