package diffusion

import (
	"fmt"
	"math"

	"github.com/godiffusion/diffusion-models/schedules"
)

// Level is one noise level of a forward process: at continuous time T,
//
//	x_T = Alpha x₀ + Sigma ε,  ε ~ N(0, I).
//
// Every sampler, evaluator and guidance rule works with levels, so the same
// code serves discrete processes (DDPM's T steps) and continuous ones (the
// SDEs of package score). The zero Level is not the data: use [DataLevel].
type Level struct {
	// T is the continuous time in [0, 1] (0 is the data); for a discrete
	// process it is the time of one of its steps (see [Process.Time]).
	T float64
	// Alpha is α(t) > 0, the scale of the signal (√ᾱ_t for DDPM).
	Alpha float64
	// Sigma is σ(t) ≥ 0, the standard deviation of the noise (√(1−ᾱ_t) for DDPM).
	Sigma float64
}

// DataLevel is the data itself: t = 0, α = 1, σ = 0.
var DataLevel = Level{T: 0, Alpha: 1, Sigma: 0}

// IsData reports whether the level is noise-free (σ = 0).
func (l Level) IsData() bool { return l.Sigma == 0 }

// Lambda returns λ = log(α/σ), half the log signal-to-noise ratio: it grows
// from the noise towards the data (+Inf at the data). DPM-Solver steps in λ.
func (l Level) Lambda() float64 { return math.Log(l.Alpha) - math.Log(l.Sigma) }

// ScaledSigma returns σ/α, the noise level of x/α = x₀ + (σ/α) ε (EDM's σ;
// 0 at the data). It is e^{−λ}.
func (l Level) ScaledSigma() float64 { return l.Sigma / l.Alpha }

// String formats the level for messages.
func (l Level) String() string {
	return fmt.Sprintf("t=%.4g (α=%.4g, σ=%.4g)", l.T, l.Alpha, l.Sigma)
}

// NoiseLevels is a forward process seen as a path of noise levels over
// continuous time t ∈ [0, 1]: the one view of a model's noise that the
// samplers need. [Process] (discrete, T steps) and the SDEs of package
// score (continuous) implement it.
type NoiseLevels interface {
	// At returns the level at time t. t ≤ 0 is the data ([DataLevel]). A
	// discrete process returns the level of its step nearest to t (see
	// [Process.Index]); the returned Level's T says which.
	At(t float64) Level
	// MinTime returns the smallest time the model was trained at: the last
	// level a sampler visits before it steps to the data.
	MinTime() float64
	// PriorStd returns the standard deviation of the prior N(0, PriorStd² I)
	// that sampling starts from at t = 1.
	PriorStd() float64
	// Discrete returns the number of steps T of a discrete process, 0 for a
	// continuous one.
	Discrete() int
}

// The discrete process as NoiseLevels. Step index i (0-based, i = t_paper − 1)
// is at time
//
//	t_i = (i + 1)/T,  i = 0 … T−1,
//
// so that t = 1 is the last step and t = 0, "index −1", is the data, the
// entry ᾱ_prev[0] = 1 of the schedule. This is the one conversion between
// step indices and continuous time: [Process.Time] and [Process.Index].
// Time's formula is written once, in stepTime, which the grids ([StepGrid],
// [LevelAtLambda]) call directly since they see a discrete NoiseLevels only
// through its number of steps; [Process.Model] restates Index inside the
// graph, where the time is a node.

// Time returns the continuous time of step index i: t_i = (i+1)/T.
func (p *Process) Time(i int) float64 { return stepTime(i, p.T()) }

// stepTime is [Process.Time] for any discrete process of T steps:
// t_i = (i+1)/T.
func stepTime(i, T int) float64 { return float64(i+1) / float64(T) }

// Index returns the step index nearest to time t > 0: i = round(t·T) − 1,
// clamped to [0, T−1]. Index(Time(i)) = i for every step.
func (p *Process) Index(t float64) int {
	T := p.T()
	return int(min(max(math.Round(t*float64(T))-1, 0), float64(T-1)))
}

// At implements NoiseLevels: for t ≤ 0 the data, else the level of step
// Index(t), with α = √ᾱ_i and σ = √(1−ᾱ_i).
func (p *Process) At(t float64) Level {
	if t <= 0 {
		return DataLevel
	}
	i := p.Index(t)
	s := p.Schedule
	return Level{T: p.Time(i), Alpha: s.SqrtAlphaBar[i], Sigma: s.SqrtOneMinusAlphaBar[i]}
}

// MinTime implements NoiseLevels: t_0 = 1/T.
func (p *Process) MinTime() float64 { return p.Time(0) }

// PriorStd implements NoiseLevels: sampling starts from N(0, I).
func (p *Process) PriorStd() float64 { return 1 }

// Discrete implements NoiseLevels: T.
func (p *Process) Discrete() int { return p.T() }

// StepGrid returns the levels of a fixed-step sampler with n steps, from the
// noisiest (t = 1) to the least noisy (MinTime), without the data level:
//
//   - a discrete process keeps n of its steps, spread by spacing as
//     [schedules.SpacedTimesteps] does ("linspace", the default, "leading",
//     "trailing" or "ddim"); n = 0 keeps them all;
//   - a continuous process takes n times evenly spaced from 1 to MinTime
//     (spacing must be "" or "linspace"; n must be ≥ 1).
func StepGrid(levels NoiseLevels, n int, spacing string) ([]Level, error) {
	if levels == nil {
		return nil, fmt.Errorf("diffusion: StepGrid needs noise levels")
	}
	if n < 0 {
		return nil, fmt.Errorf("diffusion: the number of steps must be ≥ 0, got %d", n)
	}
	if T := levels.Discrete(); T > 0 {
		if n == 0 {
			n = T
		}
		var spec string
		switch spacing {
		case "", "linspace":
			spec = fmt.Sprintf("linspace:%d", n)
		case "leading", "trailing":
			spec = fmt.Sprintf("%s:%d", spacing, n)
		case "ddim":
			spec = fmt.Sprintf("ddim%d", n)
		default:
			return nil, fmt.Errorf("diffusion: unknown spacing %q (want linspace, leading, trailing or ddim)", spacing)
		}
		kept, err := schedules.SpacedTimesteps(T, spec)
		if err != nil {
			return nil, err
		}
		grid := make([]Level, len(kept))
		for k, i := range kept {
			grid[len(kept)-1-k] = levels.At(stepTime(i, T))
		}
		return grid, nil
	}
	if spacing != "" && spacing != "linspace" {
		return nil, fmt.Errorf("diffusion: spacing %q applies to discrete processes only; a continuous one spaces its %d steps evenly in time", spacing, n)
	}
	if n < 1 {
		return nil, fmt.Errorf("diffusion: a continuous process needs a number of steps ≥ 1, got %d", n)
	}
	grid := make([]Level, n)
	tMin := levels.MinTime()
	for k := range grid {
		t := 1.0
		if n > 1 {
			t = 1 + (tMin-1)*float64(k)/float64(n-1)
		}
		grid[k] = levels.At(t)
	}
	return grid, nil
}

// LambdaGrid returns n levels evenly spaced in λ = log(α/σ) from t = 1 to
// MinTime (DPM-Solver's "logSNR" spacing). A discrete process takes the
// step nearest to each λ, and a step is not repeated, so it may return fewer
// than n levels.
func LambdaGrid(levels NoiseLevels, n int) ([]Level, error) {
	if n < 1 {
		return nil, fmt.Errorf("diffusion: LambdaGrid needs n ≥ 1, got %d", n)
	}
	hi, lo := levels.At(1), levels.At(levels.MinTime())
	lambdas := make([]float64, n)
	for k := range lambdas {
		u := 0.0
		if n > 1 {
			u = float64(k) / float64(n-1)
		}
		lambdas[k] = hi.Lambda() + u*(lo.Lambda()-hi.Lambda())
	}
	return gridAt(levels, lambdas), nil
}

// KarrasGrid returns n levels whose scaled noise σ/α follows Karras et al.'s
// (2022, eq. 5) spacing from σ_max = σ/α at t = 1 to σ_min at MinTime:
//
//	σ_i = (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,
//
// (ρ = 7 in EDM; rho = 0 means 7). A discrete process takes the step
// nearest to each σ_i in log σ, without repeats.
func KarrasGrid(levels NoiseLevels, n int, rho float64) ([]Level, error) {
	if rho == 0 {
		rho = 7
	}
	if n < 1 || !(rho > 0) {
		return nil, fmt.Errorf("diffusion: KarrasGrid needs n ≥ 1 and ρ > 0, got %d and %g", n, rho)
	}
	sMax, sMin := levels.At(1).ScaledSigma(), levels.At(levels.MinTime()).ScaledSigma()
	sigmas, err := schedules.KarrasSigmas(n, sMin, sMax, rho)
	if err != nil {
		return nil, err
	}
	lambdas := make([]float64, n)
	for k, s := range sigmas {
		lambdas[k] = -math.Log(s) // λ = −log(σ/α)
	}
	return gridAt(levels, lambdas), nil
}

// gridAt returns the levels at the given λ values ([LevelAtLambda]), in
// order, dropping a level at the same time as the one before it (a discrete
// process whose nearest step repeats).
func gridAt(levels NoiseLevels, lambdas []float64) []Level {
	grid := make([]Level, 0, len(lambdas))
	for _, lambda := range lambdas {
		l := LevelAtLambda(levels, lambda)
		if len(grid) > 0 && grid[len(grid)-1].T == l.T {
			continue // a discrete process: the same step twice
		}
		grid = append(grid, l)
	}
	return grid
}

// LevelAtLambda returns the level whose λ = log(α/σ) is lambda, between
// MinTime and t = 1 (clamped to those ends). A discrete process returns the
// step of nearest λ; a continuous one is solved by bisection on t (λ
// decreases with t).
func LevelAtLambda(levels NoiseLevels, lambda float64) Level {
	if T := levels.Discrete(); T > 0 {
		best, bestD := levels.At(1), math.Inf(1)
		for i := range T {
			l := levels.At(stepTime(i, T))
			if d := math.Abs(l.Lambda() - lambda); d < bestD {
				best, bestD = l, d
			}
		}
		return best
	}
	lo, hi := levels.MinTime(), 1.0
	if lambda >= levels.At(lo).Lambda() {
		return levels.At(lo)
	}
	if lambda <= levels.At(hi).Lambda() {
		return levels.At(hi)
	}
	for range 100 {
		mid := (lo + hi) / 2
		if levels.At(mid).Lambda() > lambda {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-15 {
			break
		}
	}
	return levels.At((lo + hi) / 2)
}
