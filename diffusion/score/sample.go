package score

import (
	"fmt"
	"io"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// Sampler is one update rule of a score-based sampler over a fixed time grid.
// Every sampler has this same small interface; [Sample] drives any of them,
// compiling Step once and calling it once per step with the times fed as
// tensors.
type Sampler interface {
	// SDE returns the forward SDE whose reverse the sampler follows; sampling
	// starts from its prior N(0, PriorStd² I).
	SDE() SDE
	// Times returns the grid t_0 > t_1 > … > t_N (t_0 = 1, t_N = the SDE's
	// MinTime for every sampler here); step k goes from t_k to t_{k+1}. It
	// reports bad settings (such as a step count < 1) as an error.
	Times() ([]float64, error)
	// Step builds one update at times t and tNext ([B], x's dtype): it
	// returns the next sample, its noise-free part mean (next without the
	// noise this step adds; [Sample] returns the mean of the last step) and
	// the advanced RNG state.
	Step(scope *model.Scope, fn ModelFn, x, t, tNext, cond, rng *Node) (next, mean, newRNG *Node)
}

// linspace returns n+1 evenly spaced times from a to b inclusive.
func linspace(a, b float64, n int) []float64 {
	ts := make([]float64, n+1)
	for i := range ts {
		ts[i] = a + (b-a)*float64(i)/float64(n)
	}
	ts[n] = b
	return ts
}

// timeGrid is the grid of the fixed-step samplers: N+1 times evenly spaced
// from 1 down to ε = sde.MinTime().
func timeGrid(name string, sde SDE, steps int) ([]float64, error) {
	if sde == nil {
		return nil, fmt.Errorf("score: %s needs an SDE", name)
	}
	if steps < 1 {
		return nil, fmt.Errorf("score: %s needs Steps ≥ 1, got %d", name, steps)
	}
	return linspace(1, sde.MinTime(), steps), nil
}

// perExample reshapes a [B] coefficient to [B, 1, …, 1] so that it
// broadcasts against like ([B, …]).
func perExample(c, like *Node) *Node {
	dims := make([]int, like.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = like.Shape().Dimensions[0]
	return Reshape(c, dims...)
}

// ReverseDrift returns the drift of the reverse-time SDE (Anderson 1982;
// Song et al. 2021, eq. 6),
//
//	dx = [f(t) x − g(t)² s_θ(x, t)] dt + g(t) dw̄,
//
// that is f x − g² s, and g(t) shaped [B, 1, …] to broadcast against x.
func ReverseDrift(scope *model.Scope, fn ModelFn, sde SDE, x, t, cond *Node) (drift, g *Node) {
	f, g := sde.GraphDriftDiffusion(t)
	f, g = perExample(f, x), perExample(g, x)
	s := fn(scope.ResetVisited(), x, t, cond)
	return Sub(Mul(f, x), Mul(Square(g), s)), g
}

// ProbabilityFlowDrift returns the velocity of the probability-flow ODE
// (Song et al. 2021, eq. 13), whose solutions have the same marginals p_t as
// the SDE:
//
//	dx/dt = f̃(x, t) = f(t) x − ½ g(t)² s_θ(x, t).
func ProbabilityFlowDrift(scope *model.Scope, fn ModelFn, sde SDE, x, t, cond *Node) *Node {
	f, g := sde.GraphDriftDiffusion(t)
	f, g = perExample(f, x), perExample(g, x)
	s := fn(scope.ResetVisited(), x, t, cond)
	return Sub(Mul(f, x), MulScalar(Mul(Square(g), s), 0.5))
}

// SampleOptions configures [Sample] and [SampleAdaptive].
type SampleOptions struct {
	// Seed makes sampling reproducible: the same seed, sampler and model give
	// the same samples.
	Seed int64
	// BatchSize bounds how many samples are drawn at once (0: all at once).
	BatchSize int
	// DType of the samples (default Float32).
	DType dtypes.DType
	// Cond is the conditioning input for all samples (first axis = number of
	// samples), or nil.
	Cond *tensors.Tensor
	// XT, if set, is the starting point at t = 1 instead of prior noise;
	// its first axis is the number of samples.
	XT *tensors.Tensor
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// OnStep, if set, is called after every step with the batch number, the
	// step number k (0-based), the time t_{k+1} reached, the new x and its
	// noise-free part (for [SampleAdaptive], k counts accepted steps and
	// mean is x).
	OnStep func(batch, k int, t float64, x, mean *tensors.Tensor)
}

// options returns the dtype and batch size to use for n samples.
func (o SampleOptions) resolve(n int) (dtypes.DType, int) {
	dt := o.DType
	if dt == dtypes.InvalidDType {
		dt = dtypes.Float32
	}
	bs := o.BatchSize
	if bs <= 0 || bs > n {
		bs = n
	}
	return dt, bs
}

// Sample draws n samples of shape [n, dims...] with sampler s and the score
// model fn, whose variables are read from store under diffusion.ModelScope;
// store may be nil for a model without variables (such as
// [Mixture.ModelFn]). Sampling starts from x_{t_0} ~ N(0, PriorStd² I) (or
// opts.XT), runs one compiled Step per step of s.Times() and returns the
// noise-free part (mean) of the last step, as Song et al.'s code does.
func Sample(backend compute.Backend, store *model.Store, fn ModelFn, s Sampler, n int, dims []int, opts SampleOptions) (*tensors.Tensor, error) {
	if store == nil {
		store = model.NewStore()
	}
	if n <= 0 {
		return nil, fmt.Errorf("score: Sample needs n > 0, got %d", n)
	}
	if fn == nil || s == nil {
		return nil, fmt.Errorf("score: Sample needs a model and a sampler")
	}
	times, err := s.Times()
	if err != nil {
		return nil, err
	}
	dt, bs := opts.resolve(n)
	sde := s.SDE()
	rngT, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	withCond := opts.Cond != nil
	stepFn := func(scope *model.Scope, x, t, tNext, rng, cond *Node) (*Node, *Node, *Node) {
		b := x.Shape().Dimensions[0]
		tb := BroadcastToDims(ConvertDType(t, x.DType()), b)
		tnb := BroadcastToDims(ConvertDType(tNext, x.DType()), b)
		return s.Step(scope.In(diffusion.ModelScope), fn, x, tb, tnb, cond, rng)
	}
	var exec *model.Exec
	if withCond {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x, t, tNext, rng, cond *Node) (*Node, *Node, *Node) {
			return stepFn(scope, x, t, tNext, rng, cond)
		})
	} else {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x, t, tNext, rng *Node) (*Node, *Node, *Node) {
			return stepFn(scope, x, t, tNext, rng, nil)
		})
	}
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	noiseExec, err := priorNoise(backend, sde)
	if err != nil {
		return nil, err
	}
	defer noiseExec.Finalize()

	before := store.NumVariables()
	nSteps := len(times) - 1
	bar := progress.New(opts.Progress, nSteps*((n+bs-1)/bs), "sampling")
	var chunks []*tensors.Tensor
	for start, batch := 0, 0; start < n; start, batch = start+bs, batch+1 {
		m := min(bs, n-start)
		x, err := startBatch(noiseExec, &rngT, opts.XT, start, m, dt, dims)
		if err != nil {
			return nil, err
		}
		var cond *tensors.Tensor
		if withCond {
			if cond, err = diffusion.SliceFirstAxis(opts.Cond, start, m); err != nil {
				return nil, err
			}
		}
		for k := range nSteps {
			args := []any{x, tensors.FromScalar(times[k]), tensors.FromScalar(times[k+1]), rngT}
			if withCond {
				args = append(args, cond)
			}
			outs, err := safecall.Call(exec, args...)
			if err != nil {
				return nil, fmt.Errorf("score: sampling step %d (t=%g): %w", k, times[k], err)
			}
			if k == 0 && store.NumVariables() > before {
				return nil, fmt.Errorf("score: the store lacks %d of the score model's variables (not trained or wrong checkpoint?)",
					store.NumVariables()-before)
			}
			x, rngT = outs[0], outs[2]
			if k == nSteps-1 {
				x = outs[1]
			}
			if opts.OnStep != nil {
				opts.OnStep(batch, k, times[k+1], x, outs[1])
			}
			bar.Add(1, "")
		}
		chunks = append(chunks, x)
	}
	bar.Done()
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return diffusion.ConcatFirstAxis(chunks)
}

// priorNoise compiles the draw of prior noise z·PriorStd, z ~ N(0, I), shaped
// like its second argument, from an RNG state (its first argument and output).
func priorNoise(backend compute.Backend, sde SDE) (*Exec, error) {
	priorStd := sde.PriorStd()
	return NewExec(backend, func(rng *Node, shapeProbe *Node) (*Node, *Node) {
		newRNG, z := RandomNormal(rng, shapeProbe.Shape())
		return MulScalar(z, priorStd), newRNG
	})
}

// startBatch returns the starting point of a batch of m samples: rows
// [start, start+m) of xt when given, else prior noise (advancing *rng).
func startBatch(noiseExec *Exec, rng **tensors.Tensor, xt *tensors.Tensor, start, m int, dt dtypes.DType, dims []int) (*tensors.Tensor, error) {
	if xt != nil {
		return diffusion.SliceFirstAxis(xt, start, m)
	}
	full := append([]int{m}, dims...)
	outs, err := noiseExec.Call(*rng, tensors.FromShape(shapes.Make(dt, full...)))
	if err != nil {
		return nil, fmt.Errorf("score: drawing prior noise shaped %v: %w", full, err)
	}
	*rng = outs[1]
	return outs[0], nil
}
