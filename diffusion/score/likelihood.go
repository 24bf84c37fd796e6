package score

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
	dmath "github.com/godiffusion/diffusion-models/math"
)

// flatten reshapes [B, ...] to [B, D].
func flatten(x *Node) *Node {
	b := x.Shape().Dimensions[0]
	return Reshape(x, b, x.Shape().Size()/max(b, 1))
}

// Divergence returns v(x) and the exact divergence ∇·v(x) = Σ_i ∂v_i/∂x_i of a
// vector field v that maps [B, ...] to [B, ...] with examples independent
// (no batch-coupling layers), one value per example ([B]). It takes D
// reverse-mode passes, ∂(Σ_b v_{b,i})/∂x_{b,i} = ∂v_{b,i}/∂x_{b,i} for each
// coordinate i: cheap for 2-D data, too slow for images (use
// [HutchinsonDivergence]).
func Divergence(v func(x *Node) *Node, x *Node) (value, div *Node) {
	value = v(x)
	out := flatten(value)
	d := out.Shape().Dimensions[1]
	for i := range d {
		gi := flatten(Gradient(ReduceAllSum(SliceAxis(out, 1, AxisElem(i))), x)[0])
		term := Reshape(SliceAxis(gi, 1, AxisElem(i)), -1)
		if div == nil {
			div = term
		} else {
			div = Add(div, term)
		}
	}
	return value, div
}

// HutchinsonDivergence returns v(x) and Hutchinson's unbiased estimate of ∇·v(x) with
// probe z (shaped like x, E[z zᵀ] = I: Rademacher or standard normal):
//
//	∇·v(x) = tr(∂v/∂x) = E_z[zᵀ (∂v/∂x) z] ≈ zᵀ ∇_x(zᵀ v(x)),
//
// one reverse-mode pass for any D; one value per example ([B]).
func HutchinsonDivergence(v func(x *Node) *Node, x, z *Node) (value, div *Node) {
	value = v(x)
	vjp := Gradient(ReduceAllSum(Mul(value, z)), x)[0] // zᵀ ∂v/∂x, per example
	return value, ReduceSum(flatten(Mul(vjp, z)), 1)
}

// DivergenceMethod says how [LogLikelihood] computes ∇·f̃.
type DivergenceMethod int

const (
	// ExactDivergence sums the D diagonal Jacobian entries (see [Divergence]).
	ExactDivergence DivergenceMethod = iota
	// HutchinsonRademacher uses [HutchinsonDivergence] with z uniform on {−1, 1}^D.
	HutchinsonRademacher
	// HutchinsonGaussian uses [HutchinsonDivergence] with z ~ N(0, I).
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
	// Steps is the number of fixed steps (ignored by RK45).
	Steps int
	// RTol and ATol are RK45's tolerances (0: DefaultRTol, DefaultATol).
	RTol, ATol float64
	// Divergence chooses the exact divergence or a Hutchinson estimator.
	Divergence DivergenceMethod
	// Seed draws the Hutchinson probes (one probe per example, fixed over
	// the whole solve).
	Seed uint64
	// BatchSize bounds how many examples are integrated together (0: all).
	BatchSize int
	// DType of the model evaluations (default: x's dtype). The ODE state
	// itself is integrated in float64 on the host.
	DType dtypes.DType
	// Cond is the conditioning input (first axis = number of examples), or nil.
	Cond *tensors.Tensor
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
// under the score model fn (variables in store under diffusion.ModelScope;
// store may be nil) through the probability-flow ODE (Song et al. 2021,
// eq. 39). With f̃(x, t) = f(t) x − ½ g(t)² s_θ(x, t), the
// instantaneous change of variables d log p_t(x(t))/dt = −∇·f̃(x(t), t)
// integrated from ε to 1 gives
//
//	log p_ε(x(ε)) = log p_1(x(1)) + ∫_ε^1 ∇·f̃(x(t), t) dt,
//
// where x(t) solves dx/dt = f̃ from x(ε) = x and p_1 is the prior
// N(0, σ_p² I): log p_1(y) = −(D/2) log(2π σ_p²) − |y|²/(2σ_p²). The state
// [x, ∫∇·f̃] is integrated together in float64 on the host; each
// derivative is one evaluation of a compiled graph. ∇·f̃ = D f(t) − ½ g² ∇·s_θ
// is computed by automatic differentiation of f̃ (see
// [Divergence], [HutchinsonDivergence]). With a Hutchinson estimator the
// result is an unbiased estimate of the integral, hence of log p_ε up to the
// prior term (average several seeds to reduce its variance).
func LogLikelihood(backend compute.Backend, store *model.Store, fn ModelFn, sde SDE, x *tensors.Tensor, opts LikelihoodOptions) ([]float64, error) {
	if store == nil {
		store = model.NewStore()
	}
	if fn == nil || sde == nil {
		return nil, fmt.Errorf("score: LogLikelihood needs a model and an SDE")
	}
	if x == nil || x.Shape().Rank() < 2 || x.Shape().Dimensions[0] == 0 {
		return nil, fmt.Errorf("score: LogLikelihood needs data shaped [N, ...] with N ≥ 1, got %v", shapeOf(x))
	}
	if opts.Solver != RK45 && opts.Solver != Euler && opts.Solver != Heun && opts.Solver != RK4 {
		return nil, fmt.Errorf("score: LogLikelihood: unknown solver %v", opts.Solver)
	}
	if opts.Solver != RK45 && opts.Steps < 1 {
		return nil, fmt.Errorf("score: LogLikelihood with the %v solver needs Steps ≥ 1, got %d", opts.Solver, opts.Steps)
	}
	if opts.Divergence < ExactDivergence || opts.Divergence > HutchinsonGaussian {
		return nil, fmt.Errorf("score: LogLikelihood: unknown divergence method %v", opts.Divergence)
	}
	dt := opts.DType
	if dt == dtypes.InvalidDType {
		dt = x.DType()
	}
	all, err := fromTensor(x)
	if err != nil {
		return nil, err
	}
	n := x.Shape().Dimensions[0]
	dims := x.Shape().Dimensions[1:]
	d := len(all) / n
	bs := opts.BatchSize
	if bs <= 0 || bs > n {
		bs = n
	}
	hutch := opts.Divergence != ExactDivergence
	withCond := opts.Cond != nil

	graphFn := func(scope *model.Scope, x, t, probe, cond *Node) (*Node, *Node) {
		b := x.Shape().Dimensions[0]
		tb := BroadcastToDims(ConvertDType(t, x.DType()), b)
		vel := func(y *Node) *Node {
			return ProbabilityFlowDrift(scope.In(diffusion.ModelScope), fn, sde, y, tb, cond)
		}
		if hutch {
			return HutchinsonDivergence(vel, x, probe)
		}
		return Divergence(vel, x)
	}
	var exec *model.Exec
	switch {
	case hutch && withCond:
		exec, err = model.NewExec(backend, store, func(s *model.Scope, x, t, z, c *Node) (*Node, *Node) { return graphFn(s, x, t, z, c) })
	case hutch:
		exec, err = model.NewExec(backend, store, func(s *model.Scope, x, t, z *Node) (*Node, *Node) { return graphFn(s, x, t, z, nil) })
	case withCond:
		exec, err = model.NewExec(backend, store, func(s *model.Scope, x, t, c *Node) (*Node, *Node) { return graphFn(s, x, t, nil, c) })
	default:
		exec, err = model.NewExec(backend, store, func(s *model.Scope, x, t *Node) (*Node, *Node) { return graphFn(s, x, t, nil, nil) })
	}
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()

	priorStd := sde.PriorStd()
	prior := opts.PriorLogDensity
	if prior == nil {
		prior = func(y []float64) float64 {
			sq := 0.0
			for _, v := range y {
				sq += v * v
			}
			return -0.5*float64(len(y))*math.Log(2*math.Pi*priorStd*priorStd) - sq/(2*priorStd*priorStd)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	before := store.NumVariables()
	bar := progress.New(opts.Progress, n, "log-likelihood")
	logp := make([]float64, 0, n)
	eps := sde.MinTime()
	for start := 0; start < n; start += bs {
		m := min(bs, n-start)
		bdims := append([]int{m}, dims...)
		var probe, cond *tensors.Tensor
		if hutch {
			z := make([]float64, m*d)
			for i := range z {
				if opts.Divergence == HutchinsonRademacher {
					z[i] = float64(2*rng.IntN(2) - 1)
				} else {
					z[i] = rng.NormFloat64()
				}
			}
			if probe, err = toTensor(z, dt, bdims); err != nil {
				return nil, err
			}
		}
		if withCond {
			if cond, err = diffusion.SliceFirstAxis(opts.Cond, start, m); err != nil {
				return nil, err
			}
		}
		first := true
		f := func(t float64, y []float64) ([]float64, error) {
			xt, err := toTensor(y[:m*d], dt, bdims)
			if err != nil {
				return nil, err
			}
			args := []any{xt, tensors.FromScalar(t)}
			if hutch {
				args = append(args, probe)
			}
			if withCond {
				args = append(args, cond)
			}
			outs, err := safecall.Call(exec, args...)
			if err != nil {
				return nil, fmt.Errorf("score: LogLikelihood at t=%g: %w", t, err)
			}
			if first && store.NumVariables() > before {
				return nil, fmt.Errorf("score: the store lacks %d of the score model's variables (not trained or wrong checkpoint?)",
					store.NumVariables()-before)
			}
			first = false
			vel, err := fromTensor(outs[0])
			if err != nil {
				return nil, err
			}
			div, err := fromTensor(outs[1])
			if err != nil {
				return nil, err
			}
			return append(vel, div...), nil
		}
		y0 := make([]float64, m*d+m)
		copy(y0, all[start*d:(start+m)*d])
		y1, _, err := integrate(f, eps, 1, y0, integration{solver: opts.Solver, steps: opts.Steps, rtol: opts.RTol, atol: opts.ATol})
		if err != nil {
			return nil, err
		}
		for i := range m {
			logp = append(logp, prior(y1[i*d:(i+1)*d])+y1[m*d+i])
		}
		bar.Add(m, "")
	}
	bar.Done()
	return logp, nil
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
