package score

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
)

// Solver is a fixed-step or adaptive ODE integration rule.
type Solver int

const (
	// Euler is the first-order rule x' = x + h f̃(x, t).
	Euler Solver = iota
	// Heun is the second-order trapezoidal predictor–corrector:
	// x̃ = x + h f̃(x, t), x' = x + ½ h (f̃(x, t) + f̃(x̃, t + h)).
	Heun
	// RK4 is the classical fourth-order Runge–Kutta rule:
	// k₁ = f̃(x, t), k₂ = f̃(x + ½hk₁, t + ½h), k₃ = f̃(x + ½hk₂, t + ½h),
	// k₄ = f̃(x + hk₃, t + h), x' = x + h (k₁ + 2k₂ + 2k₃ + k₄)/6.
	RK4
	// RK45 is the adaptive Dormand–Prince 5(4) pair with float64 error
	// control on the host ([SampleAdaptive], [LogLikelihood]); the
	// fixed-step [ODE] sampler does not accept it.
	RK45
)

// String returns "euler", "heun", "rk4" or "rk45".
func (s Solver) String() string {
	switch s {
	case Euler:
		return "euler"
	case Heun:
		return "heun"
	case RK4:
		return "rk4"
	case RK45:
		return "rk45"
	}
	return fmt.Sprintf("Solver(%d)", int(s))
}

// ParseSolver parses "euler", "heun", "rk4" or "rk45".
func ParseSolver(name string) (Solver, error) {
	for _, s := range []Solver{Euler, Heun, RK4, RK45} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("score: unknown ODE solver %q (want euler, heun, rk4 or rk45)", name)
}

// ODE samples by integrating the probability-flow ODE
//
//	dx/dt = f̃(x, t) = f(t) x − ½ g(t)² s_θ(x, t)
//
// (see [ProbabilityFlowDrift]) from t = 1 to ε = MinTime with Steps equal
// steps h = t_{k+1} − t_k < 0 of the fixed-step Solver (Euler, Heun or RK4).
// It is deterministic given the starting noise; Step's mean equals next.
type ODE struct {
	// Process is the forward SDE.
	Process SDE
	// Steps is N ≥ 1, the number of steps.
	Steps int
	// Solver is the integration rule (zero value: Euler).
	Solver Solver
}

// SDE implements Sampler.
func (s ODE) SDE() SDE { return s.Process }

// Times implements Sampler: N+1 times evenly spaced from 1 to ε.
func (s ODE) Times() ([]float64, error) {
	if s.Solver != Euler && s.Solver != Heun && s.Solver != RK4 {
		return nil, errorf("ODE sampler needs a fixed-step solver (euler, heun or rk4), got %v; use SampleAdaptive for rk45", s.Solver)
	}
	return timeGrid("ODE", s.Process, s.Steps)
}

// Step implements Sampler.
func (s ODE) Step(scope *model.Scope, fn ModelFn, x, t, tNext, cond, rng *Node) (next, mean, newRNG *Node) {
	vel := func(x, t *Node) *Node { return ProbabilityFlowDrift(scope, fn, s.Process, x, t, cond) }
	next = odeStep(s.Solver, vel, x, t, tNext)
	return next, next, rng
}

// odeStep advances dx/dt = vel(x, t) from t to tNext ([B] each) with one
// step of the fixed-step solver (see [Solver] for the rules).
func odeStep(solver Solver, vel func(x, t *Node) *Node, x, t, tNext *Node) *Node {
	h := Sub(tNext, t)
	hx := perExample(h, x)
	k1 := vel(x, t)
	switch solver {
	case Heun:
		k2 := vel(Add(x, Mul(hx, k1)), tNext)
		return Add(x, Mul(MulScalar(hx, 0.5), Add(k1, k2)))
	case RK4:
		half := MulScalar(hx, 0.5)
		tMid := Add(t, MulScalar(h, 0.5))
		k2 := vel(Add(x, Mul(half, k1)), tMid)
		k3 := vel(Add(x, Mul(half, k2)), tMid)
		k4 := vel(Add(x, Mul(hx, k3)), tNext)
		sum := Add(Add(k1, k4), MulScalar(Add(k2, k3), 2))
		return Add(x, Mul(DivScalar(hx, 6), sum))
	}
	return Add(x, Mul(hx, k1))
}
