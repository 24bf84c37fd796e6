package score

import (
	"fmt"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// Solver is an integration rule of the probability-flow ODE.
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
	// control (see [Tolerance]).
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

// Evaluations returns the model evaluations per step of a fixed-step
// solver (1, 2 or 4), 0 for RK45, whose count depends on the tolerances.
func (s Solver) Evaluations() int {
	return len(tableaus[s].b)
}

// ODE samples by integrating the probability-flow ODE (Song et al. 2021,
// eq. 13), whose solutions have the same marginals p_t as the SDE,
//
//	dx/dt = f̃(x, t) = f(t) x − ½ g(t)² s_θ(x, t),
//
// from t = 1 to ε = MinTime: Steps equal steps of a fixed-step Solver
// (Euler, Heun or RK4), or the adaptive RK45 within Tolerance (Song et al.'s
// "ODE sampler"; Steps is then ignored and must be 0). It is deterministic
// given the starting noise. The state is integrated in float64; each
// derivative is one model evaluation. The model's noise levels must be an
// [SDE].
type ODE struct {
	// Steps is N ≥ 1, the number of steps of a fixed-step solver.
	Steps int
	// Solver is the integration rule (zero value: Euler).
	Solver Solver
	// Tolerance controls RK45's steps.
	Tolerance Tolerance
}

// Start implements diffusion.Solver.
func (s ODE) Start(b *diffusion.Batch) (diffusion.Stepper, error) {
	sde, err := sdeOf(b.Levels, "the probability-flow ODE")
	if err != nil {
		return nil, err
	}
	if s.Solver == RK45 && s.Steps != 0 {
		return nil, errorf("the ODE sampler with RK45 chooses its own steps; Steps must be 0, got %d", s.Steps)
	}
	it, err := newIntegrator(s.Solver, s.Steps, s.Tolerance, 1, sde.MinTime(), b.X)
	if err != nil {
		return nil, err
	}
	return &odeStepper{sde: sde, it: it, fixed: s.Solver != RK45}, nil
}

type odeStepper struct {
	sde   SDE
	it    *integrator
	fixed bool
	t     float64 // time of the pending query
	x     []float64
}

func (st *odeStepper) Len() int {
	if st.fixed {
		return st.it.steps
	}
	return 0
}

func (st *odeStepper) Next() (diffusion.Query, bool) {
	t, x, ok := st.it.next()
	if !ok {
		return diffusion.Query{}, false
	}
	st.t, st.x = t, x
	return diffusion.Query{X: x, Level: st.sde.At(t)}, true
}

func (st *odeStepper) Tell(out diffusion.Output) (*diffusion.StepInfo, error) {
	stepped, err := st.it.feed(probabilityFlow(st.sde, st.t, st.x, out))
	if err != nil || !stepped {
		return nil, err
	}
	k := st.it.k - 1
	if !st.fixed {
		k = st.it.accepted - 1
	}
	return &diffusion.StepInfo{K: k, T: st.it.t, X: st.it.y}, nil
}

func (st *odeStepper) Result() []float64 { return st.it.y }

// probabilityFlow returns the velocity f̃ = f(t) x − ½ g(t)² s of the
// probability-flow ODE at x, with the score s = −ε̂/σ(t) of the model's output.
func probabilityFlow(sde SDE, t float64, x []float64, out diffusion.Output) []float64 {
	f, g := sde.DriftDiffusion(t)
	sigma := sde.At(t).Sigma
	v := make([]float64, len(x))
	for i, xi := range x {
		v[i] = f*xi + 0.5*g*g*out.Eps[i]/sigma // −½ g² s = ½ g² ε̂/σ
	}
	return v
}
