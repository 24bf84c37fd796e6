package diffusion

import (
	"fmt"
	"math"
)

// DefaultFastSteps is the number of levels of the fast solvers (DPM-Solver++
// and EDM) when none is given.
const DefaultFastSteps = 20

// DPMSolverPP2M is DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++",
// Algorithm 2): a second-order multistep solver of the probability-flow ODE
// written with the data prediction x̂₀ and the half log-SNR λ = log(α/σ).
// From level t_{k−1} to t_k, with h_k = λ_k − λ_{k−1},
//
//	x_k = (σ_k/σ_{k−1}) x_{k−1} − α_k (e^{−h_k} − 1) D_k,
//	D_k = (1 + 1/(2r_k)) x̂₀(k−1) − 1/(2r_k) x̂₀(k−2),   r_k = h_{k−1}/h_k,
//
// reusing the previous step's x̂₀, so every step costs one model evaluation;
// the first step (no previous x̂₀) is first order, D_1 = x̂₀(0), which is
// DDIM's η = 0 update. The last step, to the data (λ = ∞), is x = x̂₀.
// The grid has Steps levels evenly spaced in λ (or by Spacing), so a solve
// takes Steps model evaluations.
type DPMSolverPP2M struct {
	// Steps is the number of levels, and of model evaluations (0:
	// DefaultFastSteps).
	Steps int
	// Spacing is "" or "lambda" (even in λ, DPM-Solver's choice for small
	// images), "karras" (σ/α spaced as EDM's [KarrasGrid], ρ = 7) or any
	// spacing of [StepGrid] ("linspace": even in time).
	Spacing string
	// ClipX0 clips x̂₀ to [−1, 1] (pixel data).
	ClipX0 bool
	// StopAtMinTime ends at the last level (MinTime) instead of stepping to
	// the data.
	StopAtMinTime bool
}

// Start implements Solver.
func (s DPMSolverPP2M) Start(b *Batch) (Stepper, error) {
	grid, err := fastGrid(b.Levels, s.Steps, s.Spacing)
	if err != nil {
		return nil, err
	}
	return &dpm2mStepper{s: s, grid: gridWithData(grid, s.StopAtMinTime), x: b.X}, nil
}

// fastGrid returns the levels of the fast solvers: steps (default
// DefaultFastSteps) levels spaced by spacing ("", "lambda", "karras" or a
// StepGrid spacing).
func fastGrid(levels NoiseLevels, steps int, spacing string) ([]Level, error) {
	if steps < 0 {
		return nil, fmt.Errorf("diffusion: the number of steps must be ≥ 0, got %d", steps)
	}
	if steps == 0 {
		steps = DefaultFastSteps
	}
	switch spacing {
	case "", "lambda":
		return LambdaGrid(levels, steps)
	case "karras":
		return KarrasGrid(levels, steps, 0)
	}
	return StepGrid(levels, steps, spacing)
}

type dpm2mStepper struct {
	s      DPMSolverPP2M
	grid   []Level
	k      int
	x      []float64
	prevX0 []float64 // x̂₀ of the previous level (nil at the first step)
	prevH  float64
}

func (st *dpm2mStepper) Len() int { return len(st.grid) - 1 }

func (st *dpm2mStepper) Next() (Query, bool) {
	if st.k >= len(st.grid)-1 {
		return Query{}, false
	}
	return Query{X: st.x, Level: st.grid[st.k]}, true
}

func (st *dpm2mStepper) Tell(out Output) (*StepInfo, error) {
	from, to := st.grid[st.k], st.grid[st.k+1]
	x0 := out.X0
	if st.s.ClipX0 {
		x0 = clip(x0)
	}
	h := to.Lambda() - from.Lambda()
	d := x0
	if !to.IsData() {
		if st.prevX0 != nil {
			r := st.prevH / h
			a, b := 1+1/(2*r), -1/(2*r)
			d = make([]float64, len(x0))
			for i := range d {
				d[i] = a*x0[i] + b*st.prevX0[i]
			}
		}
		st.prevH = h
	}
	next := dpmUpdate(st.x, from, to, h, d)
	st.prevX0 = x0
	st.x = next
	info := &StepInfo{K: st.k, T: to.T, X: next, X0: x0}
	st.k++
	return info, nil
}

func (st *dpm2mStepper) Result() []float64 { return st.x }

// dpmUpdate returns DPM-Solver++'s first-order (exponential-integrator) step
// of x from level from to level to with the data estimate d held fixed
// (math/README.md §7.9; DDIM's η = 0 update when d = x̂₀):
//
//	x_to = (σ_to/σ_from) x − α_to (e^{−h} − 1) d,   h = λ_to − λ_from,
//
// and a copy of d when to is the data (σ_to = 0, λ = ∞). The caller passes h
// (DPM-Solver++(2S)'s midpoint passes its r·h); it is not read at the data.
// DPMSolverPP2M's steps and DPMSolverPP2S's two stages are all this update.
func dpmUpdate(x []float64, from, to Level, h float64, d []float64) []float64 {
	next := make([]float64, len(x))
	if to.IsData() {
		copy(next, d)
		return next
	}
	ratio, coef := to.Sigma/from.Sigma, -to.Alpha*math.Expm1(-h)
	for i := range next {
		next[i] = ratio*x[i] + coef*d[i]
	}
	return next
}
