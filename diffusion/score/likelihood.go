package score

import (
	"fmt"
	"io"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	dmath "github.com/godiffusion/diffusion-models/math"
)

// DivergenceMethod says how [LogLikelihood] computes ∇·f̃.
type DivergenceMethod int

const (
	// ExactDivergence sums the D diagonal Jacobian entries (see diffusion.Divergence).
	ExactDivergence DivergenceMethod = iota
	// HutchinsonRademacher uses diffusion.HutchinsonDivergence with z uniform on {−1, 1}^D.
	HutchinsonRademacher
	// HutchinsonGaussian uses diffusion.HutchinsonDivergence with z ~ N(0, I).
	HutchinsonGaussian
)

// String returns "exact", "rademacher" or "gaussian".
func (m DivergenceMethod) String() string {
	switch m {
	case ExactDivergence:
		return "exact"
	case HutchinsonRademacher:
		return "rademacher"
	case HutchinsonGaussian:
		return "gaussian"
	}
	return fmt.Sprintf("DivergenceMethod(%d)", int(m))
}

// LikelihoodOptions configures [LogLikelihood].
type LikelihoodOptions struct {
	// Solver integrates the ODE: RK45 (adaptive, with RTol and ATol) or a
	// fixed-step Euler, Heun or RK4 with Steps steps. The zero value is
	// Euler; [DefaultLikelihoodOptions] sets RK45.
	Solver Solver
	// Steps is the number of fixed steps, ≥ 1 for Euler, Heun and RK4; it
	// must be 0 with RK45, which chooses its own steps.
	Steps int
	// RTol and ATol are RK45's tolerances (0: DefaultRTol, DefaultATol).
	RTol, ATol float64
	// Divergence chooses the exact divergence or a Hutchinson estimator.
	Divergence DivergenceMethod
	// Seed draws the Hutchinson probes (one probe per example, fixed over
	// the whole solve).
	Seed int64
	// BatchSize bounds how many examples are integrated together (0: all).
	BatchSize int
	// DType of the model evaluations (default: x's dtype). The ODE state
	// itself is integrated in float64 on the host.
	DType dtypes.DType
	// Cond is the condition of every example (zero: none).
	Cond cond.Condition
	// PriorLogDensity, if set, replaces the prior N(0, PriorStd² I) as
	// log p_1 (for instance with the exact p_1 of a test distribution); it
	// receives one example's D values.
	PriorLogDensity func(x []float64) float64
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// DefaultLikelihoodOptions returns RK45 with rtol = atol = 1e-5 and the
// exact divergence.
func DefaultLikelihoodOptions() LikelihoodOptions {
	return LikelihoodOptions{Solver: RK45, RTol: DefaultRTol, ATol: DefaultATol}
}

// LogLikelihood returns log p_ε(x) in nats for every example of x ([N, ...])
// under the model m (variables in store under diffusion.ModelScope; store
// may be nil), whose noise levels must be an [SDE], through the
// probability-flow ODE (Song et al. 2021, eq. 39). With
// f̃(x, t) = f(t) x − ½ g(t)² s_θ(x, t), the instantaneous change of
// variables d log p_t(x(t))/dt = −∇·f̃(x(t), t) integrated from ε to 1 gives
//
//	log p_ε(x(ε)) = log p_1(x(1)) + ∫_ε^1 ∇·f̃(x(t), t) dt,
//
// where x(t) solves dx/dt = f̃ from x(ε) = x and p_1 is the prior
// N(0, σ_p² I): log p_1(y) = −(D/2) log(2π σ_p²) − |y|²/(2σ_p²). The state
// [x, ∫∇·f̃] is integrated together in float64 on the host; each derivative
// is one model evaluation, which also returns ∇·ε̂ (exact, or Hutchinson's
// estimate, see [DivergenceMethod]), and
//
//	∇·f̃ = D f(t) − ½ g² ∇·s_θ = D f(t) + ½ g² ∇·ε̂/σ(t).
//
// With a Hutchinson estimator the result is an unbiased estimate of the
// integral, hence of log p_ε up to the prior term (average several seeds to
// reduce its variance). It is a diffusion.Run of the [LikelihoodEvaluator].
func LogLikelihood(backend compute.Backend, store *model.Store, m diffusion.Model, x *tensors.Tensor, opts LikelihoodOptions) ([]float64, error) {
	if x == nil || x.Shape().Rank() < 2 || x.Shape().Dimensions[0] == 0 {
		return nil, fmt.Errorf("score: LogLikelihood needs data shaped [N, ...] with N ≥ 1, got %v", shapeOf(x))
	}
	sh := x.Shape()
	ev := LikelihoodEvaluator{Solver: opts.Solver, Steps: opts.Steps, Tolerance: Tolerance{RTol: opts.RTol, ATol: opts.ATol},
		Divergence: opts.Divergence, PriorLogDensity: opts.PriorLogDensity}
	res, err := diffusion.Run(backend, store, m, ev, sh.Dimensions[0], sh.Dimensions[1:], diffusion.SampleOptions{
		Seed: opts.Seed, BatchSize: opts.BatchSize, DType: opts.DType, Cond: opts.Cond, Start: x, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	return res.Values, nil
}

// LikelihoodEvaluator integrates the probability-flow ODE with its
// divergence from the data (the run's starting points) at t = ε to t = 1, and
// returns each example's log p_ε in nats (see [LogLikelihood]).
type LikelihoodEvaluator struct {
	// Solver and Steps choose the integration rule (Steps ≥ 1 for Euler,
	// Heun and RK4, 0 with RK45); Tolerance controls RK45.
	Solver    Solver
	Steps     int
	Tolerance Tolerance
	// Divergence chooses the exact divergence or a Hutchinson estimator.
	Divergence DivergenceMethod
	// PriorLogDensity, if set, replaces the prior's log-density.
	PriorLogDensity func(x []float64) float64
}

// Label names the progress bar.
func (LikelihoodEvaluator) Label() string { return "log-likelihood" }

// Start implements diffusion.Solver.
func (e LikelihoodEvaluator) Start(b *diffusion.Batch) (diffusion.Stepper, error) {
	sde, err := sdeOf(b.Levels, "the ODE likelihood")
	if err != nil {
		return nil, err
	}
	if e.Divergence < ExactDivergence || e.Divergence > HutchinsonGaussian {
		return nil, errorf("the ODE likelihood: unknown divergence method %v", e.Divergence)
	}
	y0 := make([]float64, b.N*b.D+b.N)
	copy(y0, b.X)
	it, err := newIntegrator("the ODE likelihood", e.Solver, e.Steps, e.Tolerance, sde.MinTime(), 1, y0)
	if err != nil {
		return nil, err
	}
	st := &likelihoodStepper{e: e, sde: sde, it: it, n: b.N, d: b.D}
	switch e.Divergence {
	case HutchinsonRademacher:
		st.probe = b.Noise.Rademacher(b.N * b.D)
	case HutchinsonGaussian:
		st.probe = b.Noise.Normal(b.N * b.D)
	}
	return st, nil
}

type likelihoodStepper struct {
	e     LikelihoodEvaluator
	sde   SDE
	it    *integrator
	n, d  int
	probe []float64
	t     float64
	y     []float64
}

func (st *likelihoodStepper) Len() int { return st.it.len() }

func (st *likelihoodStepper) Next() (diffusion.Query, bool) {
	t, y, ok := st.it.next()
	if !ok {
		return diffusion.Query{}, false
	}
	st.t, st.y = t, y
	return diffusion.Query{X: y[:st.n*st.d], Level: st.sde.At(t), Divergence: true, Probe: st.probe}, true
}

func (st *likelihoodStepper) Tell(out diffusion.Output) (*diffusion.StepInfo, error) {
	nd := st.n * st.d
	fl := flowAt(st.sde, st.t)
	dy := make([]float64, nd+st.n) // [f̃ of every example, ∇·f̃ of every example]
	fl.velocity(dy[:nd], st.y[:nd], out.Eps)
	for e, div := range out.Div {
		dy[nd+e] = fl.divergence(st.d, div)
	}
	stepped, err := st.it.feed(dy)
	if err != nil || !stepped {
		return nil, err
	}
	return st.it.stepInfo(nd), nil
}

// Result returns log p_ε of every example: the prior's log-density at x(1)
// plus the integrated divergence.
func (st *likelihoodStepper) Result() []float64 {
	nd := st.n * st.d
	prior := st.e.PriorLogDensity
	if prior == nil {
		ps := st.sde.PriorStd()
		prior = func(y []float64) float64 {
			sq := 0.0
			for _, v := range y {
				sq += v * v
			}
			return -0.5*float64(len(y))*math.Log(2*math.Pi*ps*ps) - sq/(2*ps*ps)
		}
	}
	y := st.it.y
	logp := make([]float64, st.n)
	for e := range logp {
		logp[e] = prior(y[e*st.d:(e+1)*st.d]) + y[nd+e]
	}
	return logp
}

// shapeOf describes t's shape for error messages (nil-safe).
func shapeOf(t *tensors.Tensor) string {
	if t == nil {
		return "nil"
	}
	return t.Shape().String()
}

// Dequantize maps 8-bit values k ∈ {0, …, 255} with uniform noise
// u ∈ [0, 1) to continuous data in [−1, 1):
//
//	x = 2 (k + u)/256 − 1 = (k + u)/128 − 1,
//
// the uniform dequantization of Song et al.'s likelihood code (data·255 + u
// divided by 256, then scaled to [−1, 1]). len(u) must equal len(k).
func Dequantize(k []uint8, u []float64) ([]float64, error) {
	if len(u) != len(k) {
		return nil, fmt.Errorf("score: Dequantize: %d values but %d noise draws", len(k), len(u))
	}
	x := make([]float64, len(k))
	for i, v := range k {
		if u[i] < 0 || u[i] >= 1 {
			return nil, fmt.Errorf("score: Dequantize: noise %d = %v, want in [0, 1)", i, u[i])
		}
		x[i] = (float64(v)+u[i])/128 - 1
	}
	return x, nil
}

// BitsPerDim converts the log-density log p(x) of dequantized 8-bit data
// x ∈ [−1, 1)^D (see [Dequantize]) to bits per dimension on the 8-bit scale.
// The density of z = k + u ∈ [0, 256)^D follows from the change of
// variables x = z/128 − 1, dx/dz = 1/128 per dimension:
//
//	log p_Z(z) = log p(x) − D log 128,
//	bits/dim = −log p_Z(z)/(D ln 2) = (−log p(x) + D ln 128)/(D ln 2)
//	         = −log p(x)/(D ln 2) + 7.
//
// Since the dequantized density of the discrete data is a lower bound,
// E_u[log p_Z(k + u)] ≤ log P(k), this is an upper bound on the discrete
// model's bits/dim. (127.5 instead of 128 would belong to x = k/127.5 − 1,
// the scaling without dequantization.) A density uniform on [−1, 1]^D gives
// exactly 8 bits/dim.
func BitsPerDim(logp float64, d int) (float64, error) {
	if d <= 0 {
		return 0, fmt.Errorf("score: BitsPerDim needs D > 0, got %d", d)
	}
	return dmath.NatsToBitsPerDim(-logp+float64(d)*math.Log(128), d), nil
}
