package diffusion

import (
	"fmt"
	"io"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// VLBResult is the variational bound of a dataset, term by term, in bits
// per dimension (averaged over the examples).
type VLBResult struct {
	// Terms[i] is the mean of the term at step index i: Terms[0] = L₀, the
	// decoder −log p_θ(x₀ | x₁); Terms[i] = L_i = KL(q(x_i | x_{i+1}, x₀) ‖ p_θ(x_i | x_{i+1})) for i ≥ 1
	// (paper indices: the KL at step t = i+1).
	Terms []float64
	// Prior is L_T = KL(q(x_T | x₀) ‖ N(0, I)).
	Prior float64
	// Total is Prior + Σ Terms: the bound on −log p_θ(x₀) in bits/dim.
	Total float64
	// PerExample is each example's total bound in bits/dim.
	PerExample []float64
}

// VLBOptions configures [VLB].
type VLBOptions struct {
	// Seed fixes the noise used to draw x_t at every step.
	Seed int64
	// Variance is used when the denoiser has no learned variance.
	Variance VarianceType
	// Decoder is the L₀ term's likelihood: DiscretizedDecoder (the zero
	// value) for 8-bit data in [−1, 1], GaussianDecoder for continuous data.
	Decoder Decoder
	// BatchSize bounds how many examples are evaluated at once (0: all).
	BatchSize int
	// Cond is the conditioning of every example, or nil.
	Cond *tensors.Tensor
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// VLB computes the full variational bound of the examples x₀ under the
// denoiser, visiting every step of p, with x_t drawn once per example and
// step. With the DiscretizedDecoder, x₀ must hold 8-bit data scaled to [−1, 1].
func VLB(backend compute.Backend, store *model.Store, den Denoiser, p *Process, x0 *tensors.Tensor, opts VLBOptions) (*VLBResult, error) {
	if store == nil {
		store = model.NewStore() // an analytic denoiser needs no variables
	}
	sh := x0.Shape()
	if sh.Rank() < 2 {
		return nil, fmt.Errorf("diffusion: VLB needs examples shaped [N, ...], got %s", sh)
	}
	n := sh.Dimensions[0]
	bs := opts.BatchSize
	if bs <= 0 || bs > n {
		bs = n
	}
	withCond := opts.Cond != nil
	termFn := func(scope *model.Scope, x0, tIdx, rng, cond *Node) (*Node, *Node) {
		b := x0.Shape().Dimensions[0]
		t := BroadcastToDims(ConvertDType(tIdx, dtypes.Int32), b)
		newRNG, noise := RandomNormal(rng, x0.Shape())
		xt := p.QSample(x0, t, noise)
		out := p.Predict(scope.In(ModelScope), den, xt, t, cond)
		pm := p.PMeanVariance(den, out, xt, t, opts.Variance, false)
		return p.VBTerm(pm, x0, xt, t, opts.Decoder), newRNG
	}
	var exec *model.Exec
	var err error
	if withCond {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x0, tIdx, rng, cond *Node) (*Node, *Node) {
			return termFn(scope, x0, tIdx, rng, cond)
		})
	} else {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x0, tIdx, rng *Node) (*Node, *Node) {
			return termFn(scope, x0, tIdx, rng, nil)
		})
	}
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	priorExec, err := NewExec(backend, func(x0 *Node) *Node { return p.PriorBPD(x0) })
	if err != nil {
		return nil, err
	}
	defer priorExec.Finalize()

	rng, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	T := p.T()
	res := &VLBResult{Terms: make([]float64, T), PerExample: make([]float64, n)}
	bar := progress.New(opts.Progress, T*((n+bs-1)/bs), "bound")
	before := store.NumVariables()
	for start := 0; start < n; start += bs {
		m := min(bs, n-start)
		xb, err := SliceFirstAxis(x0, start, m)
		if err != nil {
			return nil, err
		}
		var cb *tensors.Tensor
		if withCond {
			if cb, err = SliceFirstAxis(opts.Cond, start, m); err != nil {
				return nil, err
			}
		}
		var prior []float64
		if err := callFloats(priorExec.Call, &prior, xb); err != nil {
			return nil, err
		}
		for i, v := range prior {
			res.PerExample[start+i] += v
			res.Prior += v / float64(n)
		}
		for t := range T {
			args := []any{xb, tensors.FromScalar(int32(t)), rng}
			if withCond {
				args = append(args, cb)
			}
			outs, err := safecall.Call(exec, args...)
			if err != nil {
				return nil, fmt.Errorf("diffusion: bound term at step %d: %w", t, err)
			}
			if store.NumVariables() > before {
				return nil, fmt.Errorf("diffusion: the store lacks the denoiser's variables (not trained or wrong checkpoint?)")
			}
			rng = outs[1]
			vals, err := floats(outs[0])
			if err != nil {
				return nil, err
			}
			for i, v := range vals {
				res.Terms[t] += v / float64(n)
				res.PerExample[start+i] += v
			}
			bar.Add(1, "")
		}
	}
	bar.Done()
	res.Total = res.Prior
	for _, v := range res.Terms {
		res.Total += v
	}
	return res, nil
}

// floats copies a float32, float64 or int32 tensor to []float64.
func floats(t *tensors.Tensor) ([]float64, error) {
	switch t.DType() {
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](t)
		r := make([]float64, len(f))
		for i, v := range f {
			r[i] = float64(v)
		}
		return r, nil
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t), nil
	case dtypes.Int32:
		f := tensors.MustCopyFlatData[int32](t)
		r := make([]float64, len(f))
		for i, v := range f {
			r[i] = float64(v)
		}
		return r, nil
	}
	return nil, fmt.Errorf("diffusion: expected a float tensor, got %s", t.Shape())
}

func callFloats(call func(...any) ([]*tensors.Tensor, error), dst *[]float64, args ...any) error {
	outs, err := call(args...)
	if err != nil {
		return err
	}
	*dst, err = floats(outs[0])
	return err
}
