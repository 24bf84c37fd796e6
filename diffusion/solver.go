package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// A Solver is a sampling method (DDPM, DDIM, DPM-Solver++, EDM, and the SDE
// and ODE solvers of package score), and also the other loops over noise
// levels that need a model: DDIM encoding, the variational bound, the ODE
// likelihood. Solvers never call the model. The driver ([Run], [Sample])
// owns the loop, the random numbers, the batches, the progress bar, the
// trajectories and the callbacks; for each batch it asks the solver for a
// [Stepper] and then repeats
//
//	q, more := stepper.Next()     // where is the model's output needed?
//	out := model at q             // the driver evaluates it (guidance included)
//	info, err := stepper.Tell(out) // the solver updates its own state
//
// until Next reports no more queries. A solver keeps whatever state it needs
// (the previous x̂₀ of a multistep method, the stages of a Runge–Kutta step),
// does its arithmetic in float64 on the host, and draws noise from the
// driver's [Noise]. Adding a solver is one file: a type with Start, and its
// Stepper.
type Solver interface {
	// Start begins the solve of one batch.
	Start(b *Batch) (Stepper, error)
}

// Batch is what a solver starts a batch from.
type Batch struct {
	// Levels are the model's noise levels.
	Levels NoiseLevels
	// LearnedVariance says the model's outputs carry the variance values V.
	LearnedVariance bool
	// X is the starting point, N·D values (example-major): prior noise
	// N(0, PriorStd² I) when sampling, data when encoding or evaluating. The
	// solver may keep and modify it.
	X []float64
	// N is the number of examples and D the number of values in each.
	N, D int
	// Noise is the driver's source of random numbers.
	Noise *Noise
}

// Stepper is the state of a solver over one batch.
type Stepper interface {
	// Len returns the number of steps the solve takes (0 when not known in
	// advance, as for adaptive solvers); it sizes the progress bar.
	Len() int
	// Next returns the next point where the model's output is needed, or
	// false when the solve is done.
	Next() (Query, bool)
	// Tell gives the model's output at the last query. When the output
	// completes a step it returns the step's report (for trajectories and
	// progress), else nil.
	Tell(out Output) (*StepInfo, error)
	// Result returns what the solve produced: the samples (N·D values) for
	// samplers and encoders, per-example figures for evaluators.
	Result() []float64
}

// Query asks the driver for the model's output at one point.
type Query struct {
	// X is the point, N·D values.
	X []float64
	// Level is the noise level of every example.
	Level Level
	// Divergence asks also for the divergence ∇_x·ε̂ of each example
	// ([Output.Div]): exact (D backward passes) when Probe is nil, else
	// Hutchinson's estimate zᵀ ∇_x(zᵀ ε̂) with the probe z (N·D values).
	Divergence bool
	// Probe is Hutchinson's probe z, or nil.
	Probe []float64
}

// StepInfo reports a completed step.
type StepInfo struct {
	// K is the step number (0-based, in solving order).
	K int
	// T is the time reached.
	T float64
	// X is the state after the step and X0 the x̂₀ the step used (N·D each;
	// X0 may be nil).
	X, X0 []float64
}

// Output is the model's prediction at a query, converted to float64 and to
// every parametrisation. With x = α x₀ + σ ε at the query's level,
//
//	ε-prediction:  ε̂ = out,                x̂₀ = (x − σ ε̂)/α
//	x₀-prediction: x̂₀ = out,               ε̂ = (x − α x̂₀)/σ
//	v-prediction:  v = α ε − σ x₀,          x̂₀ = (α x − σ v)/(α²+σ²),  ε̂ = (σ x + α v)/(α²+σ²)
//	score:         s = ∇ log p_t = −ε̂/σ,    ε̂ = −σ s,  x̂₀ = (x + σ² s)/α
//
// (α² + σ² = 1 for VP processes; the v formulas hold for any α, σ).
type Output struct {
	// X0 is x̂₀ and Eps is ε̂ (N·D values each).
	X0, Eps []float64
	// V holds the learned-variance values (N·D), nil unless the model learns its variance.
	V []float64
	// Div is the divergence ∇_x·ε̂ of each example (N values) when the query asked for it.
	Div []float64
}

// Score returns s = −ε̂/σ at level lv.
func (o Output) Score(lv Level) []float64 {
	s := make([]float64, len(o.Eps))
	for i, e := range o.Eps {
		s[i] = -e / lv.Sigma
	}
	return s
}

// ConvertOutput turns a network's prediction channels of type p (pred, N·D
// values, without learned-variance channels) at x and level lv into an
// Output (see [Output] for the formulas).
func ConvertOutput(p Prediction, x, pred []float64, lv Level) (Output, error) {
	a, s := lv.Alpha, lv.Sigma
	out := Output{X0: make([]float64, len(x)), Eps: make([]float64, len(x))}
	switch p {
	case PredictEpsilon:
		for i, e := range pred {
			out.Eps[i] = e
			out.X0[i] = (x[i] - s*e) / a
		}
	case PredictX0:
		for i, x0 := range pred {
			out.X0[i] = x0
			out.Eps[i] = (x[i] - a*x0) / s
		}
	case PredictV:
		n := a*a + s*s
		for i, v := range pred {
			out.X0[i] = (a*x[i] - s*v) / n
			out.Eps[i] = (s*x[i] + a*v) / n
		}
	case PredictScore:
		for i, sc := range pred {
			out.Eps[i] = -s * sc
			out.X0[i] = (x[i] + s*s*sc) / a
		}
	default:
		return Output{}, fmt.Errorf("diffusion: unknown prediction %v", p)
	}
	return out, nil
}

// Noise is the driver's source of random numbers for solvers: one
// generator, seeded once per run, so that a run is reproducible.
type Noise struct {
	rng *rand.Rand
}

// NewNoise returns a source seeded by seed.
func NewNoise(seed int64) *Noise {
	return &Noise{rng: rand.New(rand.NewPCG(uint64(seed), 0x6e6f697365))}
}

// Normal returns n independent standard normal draws.
func (z *Noise) Normal(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = z.rng.NormFloat64()
	}
	return v
}

// Rademacher returns n independent draws uniform on {−1, 1}.
func (z *Noise) Rademacher(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(2*z.rng.IntN(2) - 1)
	}
	return v
}

// clip returns a copy of v clipped to [−1, 1].
func clip(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Max(-1, math.Min(1, x))
	}
	return out
}

// gridWithData returns grid followed by the data level, unless stop.
func gridWithData(grid []Level, stop bool) []Level {
	if stop {
		return grid
	}
	return append(grid, DataLevel)
}
