package diffusion

import (
	"fmt"
	"io"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// ModelScope is the scope under which a denoiser's variables live in a
// store, for training and sampling alike.
const ModelScope = "model"

// Sampler is one reverse-time update rule over a fixed list of steps. Every
// sampler has this same small interface; [Sample] drives any of them.
type Sampler interface {
	// Process returns the (possibly respaced) process whose step indices the sampler visits.
	Process() *Process
	// Steps returns the step indices visited, from the noisiest to the cleanest (ending at 0).
	Steps() []int
	// Step builds one update x_t → x_{t'} at step indices t (int32 [B]) of
	// Process, where t' is the next step of Steps (or the data at t = 0).
	// rng is an RNG state; Step returns the next sample, the predicted x̂₀
	// and the advanced RNG state.
	Step(scope *model.Scope, den Denoiser, x, t, cond, rng *Node) (next, x0, newRNG *Node)
}

// DDPM is ancestral sampling (Ho et al. 2020, Algorithm 2):
//
//	x_{t−1} = μ_θ(x_t, t) + σ_t z,  z ~ N(0, I),  no noise at the last step,
//
// over every step of P (respace P for fewer steps).
type DDPM struct {
	// P is the process sampled.
	P *Process
	// Variance is σ²_t when the denoiser has no learned variance: FixedSmall
	// (β̃_t) or FixedLarge (β_t).
	Variance VarianceType
	// ClipX0 clips x̂₀ to [−1, 1] before computing the mean (pixel data).
	ClipX0 bool
}

// Process implements Sampler.
func (s DDPM) Process() *Process { return s.P }

// Steps implements Sampler: T−1, …, 0.
func (s DDPM) Steps() []int { return descending(s.P.T()) }

// Step implements Sampler.
func (s DDPM) Step(scope *model.Scope, den Denoiser, x, t, cond, rng *Node) (next, x0, newRNG *Node) {
	out := s.P.Predict(scope, den, x, t, cond)
	pm := s.P.PMeanVariance(den, out, x, t, s.Variance, s.ClipX0)
	newRNG, z := RandomNormal(rng, x.Shape())
	sigma := Exp(MulScalar(pm.LogVariance, 0.5))
	noise := Mul(Mul(notFirst(t, x), sigma), z)
	return Add(pm.Mean, noise), pm.X0, newRNG
}

// DDIM is the sampler of Song et al. (2021): with x̂₀ and ε̂ predicted at x_t,
//
//	x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ²) ε̂ + σ z,
//	σ = η √((1−ᾱ_{t'})/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}),
//
// where t' is the previous kept step (ᾱ = 1 after the last). η = 0 is
// deterministic; η = 1 matches DDPM's β̃ variance on the same steps. η > 1
// makes σ² exceed 1 − ᾱ_{t'} at some steps; the direction term is then
// dropped (its coefficient clamped at 0) and the marginals are no longer
// those of the forward process, so commands accept η ∈ [0, 1] only.
type DDIM struct {
	// P is the (usually respaced) process sampled.
	P *Process
	// Eta is η ≥ 0.
	Eta float64
	// ClipX0 clips x̂₀ to [−1, 1] (ε̂ is then recomputed from the clipped x̂₀).
	ClipX0 bool
}

// Process implements Sampler.
func (s DDIM) Process() *Process { return s.P }

// Steps implements Sampler.
func (s DDIM) Steps() []int { return descending(s.P.T()) }

// Step implements Sampler.
func (s DDIM) Step(scope *model.Scope, den Denoiser, x, t, cond, rng *Node) (next, x0, newRNG *Node) {
	p := s.P
	out := p.Predict(scope, den, x, t, cond)
	pred, _ := den.Split(out)
	x0, eps := p.X0AndEps(den.Prediction, x, t, pred)
	if s.ClipX0 {
		x0 = ClipScalar(x0, -1, 1)
		eps = p.EpsFromX0(x, t, x0)
	}
	sc := p.Schedule
	sigma := make([]float64, sc.T)
	dir := make([]float64, sc.T)
	for i := range sigma {
		a, aPrev := sc.AlphaBar[i], sc.AlphaBarPrev[i]
		sigma[i] = s.Eta * math.Sqrt((1-aPrev)/(1-a)) * math.Sqrt(1-a/aPrev)
		dir[i] = math.Sqrt(max(1-aPrev-sigma[i]*sigma[i], 0))
	}
	next = Add(Mul(p.extract(sqrtAll(sc.AlphaBarPrev), t, x), x0), Mul(p.extract(dir, t, x), eps))
	newRNG = rng
	if s.Eta != 0 {
		var z *Node
		newRNG, z = RandomNormal(rng, x.Shape())
		next = Add(next, Mul(p.extract(sigma, t, x), z))
	}
	return next, x0, newRNG
}

// EncodeStep is the deterministic DDIM update run forwards in time, mapping
// data towards noise (Song et al. 2021, §4.3): from x at the previous level
// (ᾱ_{t−1}, with ᾱ = 1 for the data) to step t,
//
//	ε̂ = ε_θ(x, t),  x̂₀ = (x − √(1−ᾱ_{t−1}) ε̂)/√ᾱ_{t−1},  x_t = √ᾱ_t x̂₀ + √(1−ᾱ_t) ε̂.
//
// The model is evaluated at the point already known (x) with the target
// step's time, the usual first-order approximation of the probability-flow ODE.
func (s DDIM) EncodeStep(scope *model.Scope, den Denoiser, x, t, cond *Node) *Node {
	p := s.P
	sc := p.Schedule
	out := p.Predict(scope, den, x, t, cond)
	pred, _ := den.Split(out)
	_, eps := p.X0AndEps(den.Prediction, x, t, pred)
	sqrtPrev := sqrtAll(sc.AlphaBarPrev)
	sqrtOneMinusPrev := make([]float64, sc.T)
	for i, a := range sc.AlphaBarPrev {
		sqrtOneMinusPrev[i] = math.Sqrt(1 - a)
	}
	x0 := Div(Sub(x, Mul(p.extract(sqrtOneMinusPrev, t, x), eps)), p.extract(sqrtPrev, t, x))
	return Add(Mul(p.extract(sc.SqrtAlphaBar, t, x), x0), Mul(p.extract(sc.SqrtOneMinusAlphaBar, t, x), eps))
}

// notFirst is 0 where t == 0 and 1 elsewhere, shaped [B, 1, ...] like x.
func notFirst(t, like *Node) *Node {
	mask := ConvertDType(NotEqual(t, ScalarZero(t.Graph(), t.DType())), like.DType())
	dims := make([]int, like.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = t.Shape().Dimensions[0]
	return Reshape(mask, dims...)
}

func descending(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = n - 1 - i
	}
	return s
}

func sqrtAll(a []float64) []float64 {
	r := make([]float64, len(a))
	for i, v := range a {
		r[i] = math.Sqrt(v)
	}
	return r
}

// SampleOptions configures [Sample].
type SampleOptions struct {
	// Seed makes sampling reproducible: the same seed, sampler and model give
	// the same samples.
	Seed int64
	// BatchSize bounds how many samples are denoised at once (0: all at once).
	BatchSize int
	// DType of the samples (default Float32).
	DType dtypes.DType
	// Cond is the conditioning input for all samples (first axis = number of
	// samples), or nil.
	Cond *tensors.Tensor
	// XT, if set, is the starting point instead of Gaussian noise (for
	// example, the DDIM encoding of data); its first axis is the number of samples.
	XT *tensors.Tensor
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// OnStep, if set, is called after every step with the step number k
	// (0-based, in sampling order), the step index t, the new x and the x̂₀
	// predicted at that step, for the whole current batch (to plot trajectories).
	OnStep func(batch, k, t int, x, x0 *tensors.Tensor)
}

// Sample draws n samples of shape [n, dims...] with sampler s and the
// denoiser's variables in store (under [ModelScope]); store may be nil for a
// denoiser without variables (an analytic one).
func Sample(backend compute.Backend, store *model.Store, den Denoiser, s Sampler, n int, dims []int, opts SampleOptions) (*tensors.Tensor, error) {
	if store == nil {
		store = model.NewStore() // an analytic denoiser needs no variables
	}
	if n <= 0 {
		return nil, fmt.Errorf("diffusion: Sample needs n > 0, got %d", n)
	}
	dt := opts.DType
	if dt == dtypes.InvalidDType {
		dt = dtypes.Float32
	}
	bs := opts.BatchSize
	if bs <= 0 || bs > n {
		bs = n
	}
	steps := s.Steps()
	if len(steps) == 0 {
		return nil, fmt.Errorf("diffusion: sampler has no steps")
	}
	before := store.NumVariables()
	rngT, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	withCond := opts.Cond != nil
	stepFn := func(scope *model.Scope, x, tIdx, rng, cond *Node) (*Node, *Node, *Node) {
		b := x.Shape().Dimensions[0]
		t := BroadcastToDims(ConvertDType(tIdx, dtypes.Int32), b)
		return s.Step(scope.In(ModelScope), den, x, t, cond, rng)
	}
	var exec *model.Exec
	if withCond {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x, tIdx, rng, cond *Node) (*Node, *Node, *Node) {
			return stepFn(scope, x, tIdx, rng, cond)
		})
	} else {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x, tIdx, rng *Node) (*Node, *Node, *Node) {
			return stepFn(scope, x, tIdx, rng, nil)
		})
	}
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	noiseExec, err := NewExec(backend, func(rng *Node, shapeProbe *Node) (*Node, *Node) {
		newRNG, z := RandomNormal(rng, shapeProbe.Shape())
		return z, newRNG
	})
	if err != nil {
		return nil, err
	}
	defer noiseExec.Finalize()

	bar := progress.New(opts.Progress, len(steps)*((n+bs-1)/bs), "sampling")
	var chunks []*tensors.Tensor
	for start, batch := 0, 0; start < n; start, batch = start+bs, batch+1 {
		m := min(bs, n-start)
		full := append([]int{m}, dims...)
		var x *tensors.Tensor
		if opts.XT != nil {
			x, err = SliceFirstAxis(opts.XT, start, m)
		} else {
			var outs []*tensors.Tensor
			outs, err = noiseExec.Call(rngT, tensors.FromShape(shapes.Make(dt, full...)))
			if err == nil {
				x, rngT = outs[0], outs[1]
			}
		}
		if err != nil {
			return nil, err
		}
		var cond *tensors.Tensor
		if withCond {
			if cond, err = SliceFirstAxis(opts.Cond, start, m); err != nil {
				return nil, err
			}
		}
		for k, t := range steps {
			args := []any{x, tensors.FromScalar(int32(t)), rngT}
			if withCond {
				args = append(args, cond)
			}
			outs, err := safecall.Call(exec, args...)
			if err != nil {
				return nil, fmt.Errorf("diffusion: sampling step %d (t=%d): %w", k, t, err)
			}
			if k == 0 && store.NumVariables() > before {
				return nil, fmt.Errorf("diffusion: the store lacks %d of the denoiser's variables (not trained or wrong checkpoint?)",
					store.NumVariables()-before)
			}
			x, rngT = outs[0], outs[2]
			if opts.OnStep != nil {
				opts.OnStep(batch, k, t, x, outs[1])
			}
			bar.Add(1, "")
		}
		chunks = append(chunks, x)
	}
	bar.Done()
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return ConcatFirstAxis(chunks)
}

// Encode maps data x₀ to the DDIM latents x_T by running the deterministic
// DDIM update forwards in time (see [DDIM.EncodeStep]) over s's steps. With
// η = 0, decoding the result with [Sample] (SampleOptions.XT) approximately
// returns x₀; the error shrinks with the number of steps.
func Encode(backend compute.Backend, store *model.Store, den Denoiser, s DDIM, x0 *tensors.Tensor, opts SampleOptions) (*tensors.Tensor, error) {
	if store == nil {
		store = model.NewStore() // an analytic denoiser needs no variables
	}
	if x0 == nil || x0.Shape().Rank() < 1 {
		return nil, fmt.Errorf("diffusion: Encode needs data shaped [N, ...]")
	}
	withCond := opts.Cond != nil
	stepFn := func(scope *model.Scope, x, tIdx, cond *Node) *Node {
		t := BroadcastToDims(ConvertDType(tIdx, dtypes.Int32), x.Shape().Dimensions[0])
		return s.EncodeStep(scope.In(ModelScope), den, x, t, cond)
	}
	var exec *model.Exec
	var err error
	if withCond {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x, tIdx, cond *Node) *Node { return stepFn(scope, x, tIdx, cond) })
	} else {
		exec, err = model.NewExec(backend, store, func(scope *model.Scope, x, tIdx *Node) *Node { return stepFn(scope, x, tIdx, nil) })
	}
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	before := store.NumVariables()
	n := s.P.T()
	bar := progress.New(opts.Progress, n, "encoding")
	x := x0
	for t := range n {
		args := []any{x, tensors.FromScalar(int32(t))}
		if withCond {
			args = append(args, opts.Cond)
		}
		outs, err := safecall.Call(exec, args...)
		if err != nil {
			return nil, fmt.Errorf("diffusion: encoding step %d: %w", t, err)
		}
		if t == 0 && store.NumVariables() > before {
			return nil, fmt.Errorf("diffusion: the store lacks the denoiser's variables (not trained or wrong checkpoint?)")
		}
		x = outs[0]
		bar.Add(1, "")
	}
	bar.Done()
	return x, nil
}
