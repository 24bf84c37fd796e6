package diffusion

import (
	"fmt"
	"math"
)

// DDPM is ancestral sampling (Ho et al. 2020, Algorithm 2): from level t to
// the next level s of its grid (the data after the last),
//
//	x_s = μ̃(x̂₀, x_t) + σ z,  z ~ N(0, I),  no noise at the last step,
//	μ̃ = α_s β/σ_t² · x̂₀ + (α_t/α_s) σ_s²/σ_t² · x_t,   β = σ_t² − (α_t/α_s)² σ_s²,
//
// the posterior mean of q(x_s | x_t, x₀) at the predicted x̂₀, where β is
// the variance of the forward transition x_t = (α_t/α_s) x_s + √β z. For a
// variance-preserving process (α² + σ² = 1, DDPM's α = √ᾱ, σ = √(1−ᾱ)),
// β = 1 − ᾱ_t/ᾱ_s, and the coefficients are DDPM's β_t √ᾱ_{t−1}/(1−ᾱ_t) and
// (1−ᾱ_{t−1}) √α_t/(1−ᾱ_t); on a grid that skips steps β is improved
// DDPM's respaced β. The variance σ² is chosen by Variance: β̃ = β σ_s²/σ_t²
// (FixedSmall, the posterior's), β (FixedLarge) or, for a model that learns
// it, exp(½(v+1) log β + ½(1−v) log β̃). The same formulas hold on
// variance-exploding levels (α = 1), where β = σ_t² − σ_s².
type DDPM struct {
	// Steps is the number of steps: for a discrete process 0 means every
	// step; a continuous one needs Steps ≥ 1 (see [StepGrid]).
	Steps int
	// Spacing spreads the kept steps of a discrete process (see [StepGrid]).
	Spacing string
	// Variance is σ² when the model does not learn it: FixedSmall (β̃, the
	// zero value) or FixedLarge (β).
	Variance VarianceType
	// ClipX0 clips x̂₀ to [−1, 1] before the mean (pixel data).
	ClipX0 bool
}

// Start implements Solver.
func (s DDPM) Start(b *Batch) (Stepper, error) {
	if s.Variance == Learned && !b.LearnedVariance {
		return nil, fmt.Errorf("diffusion: DDPM with a learned variance needs a model that learns it")
	}
	grid, err := StepGrid(b.Levels, s.Steps, s.Spacing)
	if err != nil {
		return nil, err
	}
	return &ddpmStepper{s: s, b: b, grid: gridWithData(grid, false), x: b.X}, nil
}

type ddpmStepper struct {
	s    DDPM
	b    *Batch
	grid []Level
	k    int
	x    []float64
}

func (st *ddpmStepper) Len() int { return len(st.grid) - 1 }

func (st *ddpmStepper) Next() (Query, bool) {
	if st.k >= len(st.grid)-1 {
		return Query{}, false
	}
	return Query{X: st.x, Level: st.grid[st.k]}, true
}

func (st *ddpmStepper) Tell(out Output) (*StepInfo, error) {
	t, s := st.grid[st.k], st.grid[st.k+1]
	var z []float64
	if !s.IsData() {
		z = st.b.Noise.Normal(len(st.x))
	}
	next, x0, err := st.s.Step(t, s, st.x, out, z)
	if err != nil {
		return nil, err
	}
	st.x = next
	info := &StepInfo{K: st.k, T: s.T, X: next, X0: x0}
	st.k++
	return info, nil
}

// Step is one ancestral update from level t to level s (see [DDPM]) of the
// state x, given the model's output at (x, t) and the standard normal draws
// z (ignored, and may be nil, when s is the data). The variance is the
// model's learned one when out.V is set. It returns x_s and the x̂₀ it used.
func (d DDPM) Step(t, s Level, x []float64, out Output, z []float64) (next, x0 []float64, err error) {
	x0 = out.X0
	if d.ClipX0 {
		x0 = clip(x0)
	}
	a := t.Alpha / s.Alpha // α_{t|s}
	st2, ss2 := t.Sigma*t.Sigma, s.Sigma*s.Sigma
	beta := st2 - a*a*ss2 // variance of x_t given x_s
	c1 := beta * s.Alpha / st2
	c2 := a * ss2 / st2
	betaTilde := beta * ss2 / st2
	next = make([]float64, len(x))
	for i := range next {
		next[i] = c1*x0[i] + c2*x[i]
	}
	if s.IsData() {
		return next, x0, nil
	}
	if len(z) != len(x) {
		return nil, nil, fmt.Errorf("diffusion: DDPM step: %d noise draws for %d values", len(z), len(x))
	}
	variance := d.Variance
	if out.V != nil {
		variance = Learned
	}
	switch variance {
	case FixedSmall, FixedLarge:
		v := betaTilde
		if variance == FixedLarge {
			v = beta
		}
		sd := math.Sqrt(v)
		for i := range next {
			next[i] += sd * z[i]
		}
	case Learned:
		if out.V == nil {
			return nil, nil, fmt.Errorf("diffusion: DDPM step: a learned variance needs the model's variance values")
		}
		lb, lbt := math.Log(beta), math.Log(betaTilde)
		for i := range next {
			frac := (out.V[i] + 1) / 2
			next[i] += math.Exp(0.5*(frac*lb+(1-frac)*lbt)) * z[i]
		}
	default:
		return nil, nil, fmt.Errorf("diffusion: unknown variance type %v", variance)
	}
	return next, x0, nil
}

func (st *ddpmStepper) Result() []float64 { return st.x }
