package score

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// Tolerance sets the error control of the adaptive RK45 solver: a step is
// accepted when the RMS of e_i/(ATol + RTol·|y_i|) is ≤ 1, e the local error
// estimate of the Dormand–Prince pair.
type Tolerance struct {
	// RTol is the relative tolerance (0: DefaultRTol).
	RTol float64
	// ATol is the absolute tolerance (0: DefaultATol).
	ATol float64
	// MaxSteps bounds the tried steps per batch (0: 10000).
	MaxSteps int
}

// SampleAdaptive draws n samples by integrating the probability-flow ODE
// dx/dt = f(t) x − ½ g(t)² s_θ(x, t) from t = 1 to ε with the adaptive
// Dormand–Prince RK45 solver (Song et al.'s "ODE sampler"): the state is
// kept in float64 on the host and every derivative is one call of a
// compiled graph. It returns the samples and the number of model
// evaluations (summed over batches). opts is used as in [Sample]
// (OnStep reports accepted steps, with mean = x).
func SampleAdaptive(backend compute.Backend, store *model.Store, fn ModelFn, sde SDE, n int, dims []int, opts SampleOptions, tol Tolerance) (*tensors.Tensor, int, error) {
	if store == nil {
		store = model.NewStore()
	}
	if n <= 0 {
		return nil, 0, fmt.Errorf("score: SampleAdaptive needs n > 0, got %d", n)
	}
	if fn == nil || sde == nil {
		return nil, 0, fmt.Errorf("score: SampleAdaptive needs a model and an SDE")
	}
	if tol.RTol < 0 || tol.ATol < 0 || tol.MaxSteps < 0 {
		return nil, 0, fmt.Errorf("score: SampleAdaptive needs tolerances ≥ 0, got %+v", tol)
	}
	dt, bs := opts.resolve(n)
	withCond := opts.Cond != nil
	velFn := func(scope *model.Scope, x, t, cond *Node) *Node {
		tb := BroadcastToDims(ConvertDType(t, x.DType()), x.Shape().Dimensions[0])
		return ProbabilityFlowDrift(scope.In(diffusion.ModelScope), fn, sde, x, tb, cond)
	}
	var exec *model.Exec
	var err error
	if withCond {
		exec, err = model.NewExec(backend, store, func(s *model.Scope, x, t, c *Node) *Node { return velFn(s, x, t, c) })
	} else {
		exec, err = model.NewExec(backend, store, func(s *model.Scope, x, t *Node) *Node { return velFn(s, x, t, nil) })
	}
	if err != nil {
		return nil, 0, err
	}
	defer exec.Finalize()
	noiseExec, err := priorNoise(backend, sde)
	if err != nil {
		return nil, 0, err
	}
	defer noiseExec.Finalize()
	rngT, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, 0, err
	}
	before := store.NumVariables()
	bar := progress.New(opts.Progress, n, "ODE sampling")
	totalNFE := 0
	var chunks []*tensors.Tensor
	for start, batch := 0, 0; start < n; start, batch = start+bs, batch+1 {
		m := min(bs, n-start)
		bdims := append([]int{m}, dims...)
		x0, err := startBatch(noiseExec, &rngT, opts.XT, start, m, dt, dims)
		if err != nil {
			return nil, 0, err
		}
		y0, err := fromTensor(x0)
		if err != nil {
			return nil, 0, err
		}
		var cond *tensors.Tensor
		if withCond {
			if cond, err = diffusion.SliceFirstAxis(opts.Cond, start, m); err != nil {
				return nil, 0, err
			}
		}
		first := true
		f := func(t float64, y []float64) ([]float64, error) {
			xt, err := toTensor(y, dt, bdims)
			if err != nil {
				return nil, err
			}
			args := []any{xt, tensors.FromScalar(t)}
			if withCond {
				args = append(args, cond)
			}
			outs, err := safecall.Call(exec, args...)
			if err != nil {
				return nil, fmt.Errorf("score: ODE sampling at t=%g: %w", t, err)
			}
			if first && store.NumVariables() > before {
				return nil, fmt.Errorf("score: the store lacks %d of the score model's variables (not trained or wrong checkpoint?)",
					store.NumVariables()-before)
			}
			first = false
			return fromTensor(outs[0])
		}
		cfg := integration{solver: RK45, rtol: tol.RTol, atol: tol.ATol, maxSteps: tol.MaxSteps}
		if opts.OnStep != nil {
			cfg.onStep = func(k int, t float64, y []float64) {
				if xt, err := toTensor(y, dt, bdims); err == nil {
					opts.OnStep(batch, k, t, xt, xt)
				}
			}
		}
		y1, nfe, err := integrate(f, 1, sde.MinTime(), y0, cfg)
		totalNFE += nfe
		if err != nil {
			return nil, totalNFE, err
		}
		x1, err := toTensor(y1, dt, bdims)
		if err != nil {
			return nil, totalNFE, err
		}
		chunks = append(chunks, x1)
		bar.Add(m, "")
	}
	bar.Done()
	if len(chunks) == 1 {
		return chunks[0], totalNFE, nil
	}
	x, err := diffusion.ConcatFirstAxis(chunks)
	return x, totalNFE, err
}
