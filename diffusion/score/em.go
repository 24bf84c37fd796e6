package score

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
)

// EulerMaruyama integrates the reverse-time SDE
//
//	dx = [f(t) x − g(t)² s_θ(x, t)] dt + g(t) dw̄
//
// with the Euler–Maruyama scheme over Steps equal steps from t = 1 to
// ε = MinTime: with Δt = t_k − t_{k+1} > 0 and z ~ N(0, I),
//
//	x_{k+1} = x_k − [f x_k − g² s_θ(x_k, t_k)] Δt + g(t_k) √Δt z.
//
// [Sample] returns the last step without its noise term (Song et al.'s
// code does the same).
type EulerMaruyama struct {
	// Process is the forward SDE.
	Process SDE
	// Steps is N ≥ 1, the number of steps.
	Steps int
}

// SDE implements Sampler.
func (s EulerMaruyama) SDE() SDE { return s.Process }

// Times implements Sampler: N+1 times evenly spaced from 1 to ε.
func (s EulerMaruyama) Times() ([]float64, error) {
	return timeGrid("EulerMaruyama", s.Process, s.Steps)
}

// Step implements Sampler.
func (s EulerMaruyama) Step(scope *model.Scope, fn ModelFn, x, t, tNext, cond, rng *Node) (next, mean, newRNG *Node) {
	drift, g := ReverseDrift(scope, fn, s.Process, x, t, cond)
	dt := perExample(Sub(t, tNext), x) // Δt > 0
	mean = Sub(x, Mul(drift, dt))
	newRNG, z := RandomNormal(rng, x.Shape())
	next = Add(mean, Mul(Mul(g, Sqrt(dt)), z))
	return next, mean, newRNG
}
