package diffusion

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// DDIM is the sampler of Song et al. (2021): from level t to the next level
// s of its grid (the data after the last), with x̂₀ and ε̂ predicted at x_t,
//
//	x_s = α_s x̂₀ + √(σ_s² − σ²) ε̂ + σ z,
//	σ = η (σ_s/σ_t) √(σ_t² − (α_t/α_s)² σ_s²),
//
// which is η √((1−ᾱ_s)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_s) in DDPM's notation (α² + σ² = 1),
// η times the square root of DDPM's posterior variance β̃. η = 0 is
// deterministic (the first-order solver of the probability-flow ODE in λ,
// DPM-Solver-1); η = 1 gives DDPM's β̃ variance on the same steps. η > 1
// makes σ² exceed σ_s² at some steps; the direction term is then dropped
// (its coefficient clamped at 0) and the marginals are no longer those of
// the forward process, so commands accept η ∈ [0, 1] only.
type DDIM struct {
	// Steps is the number of steps (see [StepGrid]; 0: every step of a
	// discrete process).
	Steps int
	// Spacing spreads the kept steps of a discrete process (see [StepGrid]).
	Spacing string
	// Eta is η ≥ 0.
	Eta float64
	// ClipX0 clips x̂₀ to [−1, 1] (ε̂ is then recomputed from the clipped x̂₀).
	ClipX0 bool
	// StopAtMinTime ends at the grid's last level (MinTime) instead of
	// stepping to the data.
	StopAtMinTime bool
}

// Start implements Solver.
func (s DDIM) Start(b *Batch) (Stepper, error) {
	grid, err := StepGrid(b.Levels, s.Steps, s.Spacing)
	if err != nil {
		return nil, err
	}
	return &ddimStepper{s: s, b: b, grid: gridWithData(grid, s.StopAtMinTime), x: b.X}, nil
}

type ddimStepper struct {
	s    DDIM
	b    *Batch
	grid []Level
	k    int
	x    []float64
}

func (st *ddimStepper) Len() int { return len(st.grid) - 1 }

func (st *ddimStepper) Next() (Query, bool) {
	if st.k >= len(st.grid)-1 {
		return Query{}, false
	}
	return Query{X: st.x, Level: st.grid[st.k]}, true
}

func (st *ddimStepper) Tell(out Output) (*StepInfo, error) {
	t, s := st.grid[st.k], st.grid[st.k+1]
	x0, eps := out.X0, out.Eps
	if st.s.ClipX0 { // ε̂ = (x − α x̂₀)/σ from the clipped x̂₀
		o, err := ConvertOutput(PredictX0, st.x, clip(x0), t)
		if err != nil {
			return nil, err
		}
		x0, eps = o.X0, o.Eps
	}
	a := t.Alpha / s.Alpha
	sigma := st.s.Eta * (s.Sigma / t.Sigma) * math.Sqrt(max(t.Sigma*t.Sigma-a*a*s.Sigma*s.Sigma, 0))
	dir := math.Sqrt(max(s.Sigma*s.Sigma-sigma*sigma, 0))
	next := make([]float64, len(st.x))
	for i := range next {
		next[i] = s.Alpha*x0[i] + dir*eps[i]
	}
	if sigma != 0 {
		z := st.b.Noise.Normal(len(next))
		for i := range next {
			next[i] += sigma * z[i]
		}
	}
	st.x = next
	info := &StepInfo{K: st.k, T: s.T, X: next, X0: x0}
	st.k++
	return info, nil
}

func (st *ddimStepper) Result() []float64 { return st.x }

// DDIMEncoder runs the deterministic DDIM update forwards in time, mapping
// data towards noise (Song et al. 2021, §4.3): over the levels of DDIM's
// grid in reverse, from the data (or the previous level c) to the next
// level g,
//
//	ε̂ = ε_θ(x, g),  x̂₀ = (x − σ_c ε̂)/α_c,  x_g = α_g x̂₀ + σ_g ε̂.
//
// The model is evaluated at the point already known (x) with the target
// level, the usual first-order approximation of the probability-flow ODE.
// Decoding the result with [DDIM] (η = 0, the same Steps and Spacing, the
// latents as SampleOptions.Start) approximately returns the data; the error
// shrinks with the number of steps. Start must be the data.
type DDIMEncoder struct {
	// Steps and Spacing choose the grid as for [DDIM].
	Steps   int
	Spacing string
}

// Label names the progress bar.
func (DDIMEncoder) Label() string { return "encoding" }

// Start implements Solver.
func (s DDIMEncoder) Start(b *Batch) (Stepper, error) {
	grid, err := StepGrid(b.Levels, s.Steps, s.Spacing)
	if err != nil {
		return nil, err
	}
	up := []Level{DataLevel}
	for i := len(grid) - 1; i >= 0; i-- {
		up = append(up, grid[i])
	}
	return &encodeStepper{grid: up, x: b.X}, nil
}

type encodeStepper struct {
	grid []Level // from the data up to the noisiest level
	k    int
	x    []float64
}

func (st *encodeStepper) Len() int { return len(st.grid) - 1 }

func (st *encodeStepper) Next() (Query, bool) {
	if st.k >= len(st.grid)-1 {
		return Query{}, false
	}
	return Query{X: st.x, Level: st.grid[st.k+1]}, true
}

func (st *encodeStepper) Tell(out Output) (*StepInfo, error) {
	c, g := st.grid[st.k], st.grid[st.k+1]
	next := make([]float64, len(st.x))
	for i, e := range out.Eps {
		x0 := (st.x[i] - c.Sigma*e) / c.Alpha
		next[i] = g.Alpha*x0 + g.Sigma*e
	}
	st.x = next
	info := &StepInfo{K: st.k, T: g.T, X: next}
	st.k++
	return info, nil
}

func (st *encodeStepper) Result() []float64 { return st.x }

// Encode maps data x₀ ([N, ...]) to DDIM latents with the encoder s: a
// [Run] of s from the data (opts.Start is set to x₀).
func Encode(backend compute.Backend, store *model.Store, m Model, s DDIMEncoder, x0 *tensors.Tensor, opts SampleOptions) (*tensors.Tensor, error) {
	if x0 == nil || x0.Shape().Rank() < 2 {
		return nil, fmt.Errorf("diffusion: Encode needs data shaped [N, ...], got %v", x0)
	}
	opts.Start = x0
	dims := x0.Shape().Dimensions
	return Sample(backend, store, m, s, dims[0], dims[1:], opts)
}
