package diffusion

import (
	"fmt"
	"io"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
	"github.com/godiffusion/diffusion-models/internal/tensorutil"
)

// ModelScope is the scope under which a denoiser's variables live in a
// store, for training and sampling alike.
const ModelScope = "model"

// SampleOptions configures the driver ([Sample], [Run], [NewDriver]).
type SampleOptions struct {
	// Seed makes a run reproducible: the same seed, solver, model and
	// options give the same result. It seeds the one generator of the run
	// (prior noise, the solver's noise, Hutchinson probes).
	Seed int64
	// BatchSize bounds how many examples are solved at once (0: all at once).
	BatchSize int
	// DType is the dtype the model is evaluated in (default: Start's dtype,
	// else Float32). Solvers work in float64 whatever it is.
	DType dtypes.DType
	// Cond is the condition of every example (first axis = the number of
	// examples), or zero for none.
	Cond cond.Condition
	// Start, if set, is the starting point instead of prior noise (data for
	// encoders and evaluators, latents to decode); its first axis is the
	// number of examples.
	Start *tensors.Tensor
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// OnStep, if set, is called after every step with the batch number, the
	// step number k (0-based), the time reached, the new state x and the x̂₀
	// the step used (nil for steps that have none), for the whole batch.
	OnStep func(batch, k int, t float64, x, x0 *tensors.Tensor)
	// Stop, if set, interrupts [Run] (and [Sample]) when it is closed (a nil
	// channel never does): it is checked after every step, and Run then
	// returns no result and an error wrapping [ErrInterrupted].
	Stop <-chan struct{}
}

// Result is what a run produced.
type Result struct {
	// Values is the concatenation of every batch's Stepper.Result.
	Values []float64
	// NFE is the number of model evaluations per example (of the last batch;
	// every batch takes the same number for fixed-step solvers).
	NFE int
	// TotalNFE is the number of model evaluations over all batches.
	TotalNFE int
	// Steps is the number of steps of the last batch.
	Steps int
}

// Tensor returns the result as a tensor shaped [n, dims...] of dtype dt
// (Float32 when invalid).
func (r *Result) Tensor(n int, dims []int, dt dtypes.DType) (*tensors.Tensor, error) {
	if dt == dtypes.InvalidDType {
		dt = dtypes.Float32
	}
	size := n
	for _, d := range dims {
		size *= d
	}
	if len(r.Values) != size {
		return nil, fmt.Errorf("diffusion: the run produced %d values, not %d × %v", len(r.Values), n, dims)
	}
	return tensorutil.FromFloat64s(r.Values, dt, append([]int{n}, dims...)...)
}

// Sample draws n samples of shape [n, dims...] from model m with solver s
// and the model's variables in store (under [ModelScope]); store may be nil
// for a model without variables (an analytic one).
func Sample(backend compute.Backend, store *model.Store, m Model, s Solver, n int, dims []int, opts SampleOptions) (*tensors.Tensor, error) {
	res, err := Run(backend, store, m, s, n, dims, opts)
	if err != nil {
		return nil, err
	}
	return res.Tensor(n, dims, opts.dtype())
}

// Run solves n examples of shape dims with solver s and model m: the one
// loop of the package. A solver with a Label() string method names the
// progress bar ("sampling" otherwise). It splits the examples into batches, starts each
// from prior noise (or opts.Start), and feeds the solver's queries to the
// model until the solver is done. Closing opts.Stop interrupts it after the
// step in progress, with an error wrapping [ErrInterrupted].
func Run(backend compute.Backend, store *model.Store, m Model, s Solver, n int, dims []int, opts SampleOptions) (*Result, error) {
	d, err := NewDriver(backend, store, m, s, dims, opts)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if n <= 0 {
		return nil, fmt.Errorf("diffusion: need n > 0 examples, got %d", n)
	}
	if err := d.checkCount(n); err != nil {
		return nil, err
	}
	bs := opts.batchSize(n)
	res := &Result{}
	var bar *progress.Bar
	for start, batch := 0, 0; start < n; start, batch = start+bs, batch+1 {
		b, err := d.Batch(start, min(bs, n-start))
		if err != nil {
			return nil, err
		}
		if bar == nil {
			total, unit := b.stepper.Len()*((n+bs-1)/bs), "sampling"
			if l, ok := s.(interface{ Label() string }); ok {
				unit = l.Label()
			}
			if total == 0 {
				total = n
			}
			bar = progress.New(opts.Progress, total, unit)
		}
		b.index = batch
		for {
			done, err := b.Step()
			if err != nil {
				return nil, err
			}
			if done {
				break
			}
			if b.stepper.Len() > 0 {
				bar.Add(1, "")
			}
			if stopped(opts.Stop) {
				bar.Done()
				return nil, fmt.Errorf("diffusion: sampling stopped at step %d of batch %d: %w", b.steps, batch+1, ErrInterrupted)
			}
		}
		if b.stepper.Len() == 0 {
			bar.Add(b.m, "")
		}
		res.Values = append(res.Values, b.stepper.Result()...)
		res.NFE, res.Steps = b.nfe, b.steps
		res.TotalNFE += b.nfe
	}
	bar.Done()
	return res, nil
}

// Driver evaluates a model for a solver, batch after batch. [Run] is the
// loop over batches; a Driver is for callers that step by hand (benchmarks,
// notebooks that watch a sample form).
type Driver struct {
	backend compute.Backend
	store   *model.Store
	model   Model
	solver  Solver
	dims    []int
	opts    SampleOptions
	noise   *Noise
	size    int // values per example: the product of dims
	names   []string
	hasNull bool
	execs   map[evalMode]*model.Exec
	checked bool
	before  int
}

// evalMode selects one compiled evaluation graph.
type evalMode struct {
	div, hutchinson bool
}

// NewDriver prepares the evaluation of model m for solver s on examples of
// shape dims.
func NewDriver(backend compute.Backend, store *model.Store, m Model, s Solver, dims []int, opts SampleOptions) (*Driver, error) {
	if store == nil {
		store = model.NewStore() // an analytic model needs no variables
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("diffusion: no solver given")
	}
	if len(dims) == 0 {
		return nil, fmt.Errorf("diffusion: the shape of one example is empty")
	}
	if err := m.CheckCondition(opts.Cond); err != nil {
		return nil, err
	}
	if dt := opts.dtype(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		return nil, fmt.Errorf("diffusion: models are evaluated in Float32 or Float64, not %s", dt)
	}
	size := 1
	for _, v := range dims {
		size *= v
	}
	return &Driver{
		backend: backend, store: store, model: m, solver: s, dims: append([]int(nil), dims...), opts: opts,
		noise: NewNoise(opts.Seed), size: size, names: opts.Cond.Names(), hasNull: opts.Cond.Null != nil,
		execs: map[evalMode]*model.Exec{}, before: store.NumVariables(),
	}, nil
}

// batchSize is the number of examples sampled at once for a run of n:
// BatchSize, or all n when it is 0 or more than n.
func (o SampleOptions) batchSize(n int) int {
	if o.BatchSize <= 0 || o.BatchSize > n {
		return n
	}
	return o.BatchSize
}

// checkVariables fails when building an evaluation graph added variables to
// the store: the model's weights are not all there.
func (d *Driver) checkVariables() error {
	if d.store.NumVariables() > d.before {
		return fmt.Errorf("diffusion: the store lacks %d of the model's variables (not trained, or the wrong checkpoint?)",
			d.store.NumVariables()-d.before)
	}
	return nil
}

// dtype returns the dtype of the model's evaluations.
func (o SampleOptions) dtype() dtypes.DType {
	switch {
	case o.DType != dtypes.InvalidDType:
		return o.DType
	case o.Start != nil:
		return o.Start.DType()
	}
	return dtypes.Float32
}

// checkCount checks that Start and Cond hold n examples.
func (d *Driver) checkCount(n int) error {
	if d.opts.Start != nil {
		if sh := d.opts.Start.Shape(); sh.Rank() < 1 || sh.Dimensions[0] != n {
			return fmt.Errorf("diffusion: the starting points are shaped %s, want %d examples", sh, n)
		}
	}
	return d.opts.Cond.CheckLen(n)
}

// Close releases the compiled graphs.
func (d *Driver) Close() {
	for _, e := range d.execs {
		e.Finalize()
	}
	d.execs = nil
}

// BatchRun is one batch being solved.
type BatchRun struct {
	d        *Driver
	stepper  Stepper
	condArgs []any // the batch's condition as the evaluation graph takes it (cond.Condition.Args)
	m        int
	index    int
	nfe      int
	steps    int
}

// Batch starts the examples [start, start+m): their starting point (rows of
// opts.Start, or prior noise drawn from the run's generator) and the
// solver's stepper.
func (d *Driver) Batch(start, m int) (*BatchRun, error) {
	size := d.size
	var x []float64
	if d.opts.Start != nil {
		rows, err := tensorutil.SliceFirstAxis(d.opts.Start, start, m)
		if err != nil {
			return nil, err
		}
		if rows.Shape().Size() != m*size {
			return nil, fmt.Errorf("diffusion: the starting points are shaped %s, want examples shaped %v", d.opts.Start.Shape(), d.dims)
		}
		if x, err = tensorutil.Float64s(rows); err != nil {
			return nil, err
		}
	} else {
		x = d.noise.Normal(m * size)
		if ps := d.model.Levels.PriorStd(); ps != 1 {
			for i := range x {
				x[i] *= ps
			}
		}
	}
	c, err := d.opts.Cond.Slice(start, m)
	if err != nil {
		return nil, err
	}
	st, err := d.solver.Start(&Batch{Levels: d.model.Levels, LearnedVariance: d.model.LearnedVariance, X: x, N: m, D: size, Noise: d.noise})
	if err != nil {
		return nil, err
	}
	return &BatchRun{d: d, stepper: st, condArgs: c.Args(m, d.hasNull), m: m}, nil
}

// Step runs the solver until it completes one step (one or more model
// evaluations); it reports done when the solve has finished.
func (b *BatchRun) Step() (done bool, err error) {
	for {
		q, ok := b.stepper.Next()
		if !ok {
			return true, nil
		}
		out, err := b.d.eval(q, b.condArgs, b.m)
		if err != nil {
			return false, err
		}
		b.nfe++
		info, err := b.stepper.Tell(out)
		if err != nil {
			return false, err
		}
		if info != nil {
			b.steps++
			if f := b.d.opts.OnStep; f != nil {
				if err := b.report(f, info); err != nil {
					return false, err
				}
			}
			return false, nil
		}
	}
}

// Result returns the stepper's result (after Step reported done).
func (b *BatchRun) Result() []float64 { return b.stepper.Result() }

func (b *BatchRun) report(f func(batch, k int, t float64, x, x0 *tensors.Tensor), info *StepInfo) error {
	dims := append([]int{b.m}, b.d.dims...)
	dt := b.d.opts.dtype()
	x, err := tensorutil.FromFloat64s(info.X, dt, dims...)
	if err != nil {
		return err
	}
	var x0 *tensors.Tensor
	if info.X0 != nil {
		if x0, err = tensorutil.FromFloat64s(info.X0, dt, dims...); err != nil {
			return err
		}
	}
	f(b.index, info.K, info.T, x, x0)
	return nil
}

// eval evaluates the model at query q for the batch's m examples, whose
// condition is condArgs (made once per batch by [Driver.Batch]; tensors are
// not donated to the call, so they serve every query of the batch).
func (d *Driver) eval(q Query, condArgs []any, m int) (Output, error) {
	size := m * d.size
	if len(q.X) != size || (q.Probe != nil && len(q.Probe) != size) {
		return Output{}, fmt.Errorf("diffusion: the solver asked about %d values (probe %d) for %d examples shaped %v", len(q.X), len(q.Probe), m, d.dims)
	}
	mode := evalMode{div: q.Divergence, hutchinson: q.Divergence && q.Probe != nil}
	exec, err := d.exec(mode)
	if err != nil {
		return Output{}, err
	}
	dt := d.opts.dtype()
	dims := append([]int{m}, d.dims...)
	xt, err := tensorutil.FromFloat64s(q.X, dt, dims...)
	if err != nil {
		return Output{}, err
	}
	args := []any{xt, tensors.FromScalar(q.Level.T), tensors.FromScalar(q.Level.Alpha), tensors.FromScalar(q.Level.Sigma)}
	args = append(args, condArgs...)
	if mode.hutchinson {
		probe, err := tensorutil.FromFloat64s(q.Probe, dt, dims...)
		if err != nil {
			return Output{}, err
		}
		args = append(args, probe)
	}
	outs, err := safecall.Call(exec, args...)
	if err != nil {
		return Output{}, fmt.Errorf("diffusion: evaluating the model at %v: %w", q.Level, err)
	}
	if !d.checked {
		if err := d.checkVariables(); err != nil {
			return Output{}, err
		}
		d.checked = true
	}
	raw, err := tensorutil.Float64s(outs[0])
	if err != nil {
		return Output{}, err
	}
	pred, v := raw, []float64(nil)
	if d.model.LearnedVariance {
		if len(raw) != 2*size {
			return Output{}, fmt.Errorf("diffusion: a learned-variance model returned %s for x shaped %v", outs[0].Shape(), dims)
		}
		pred, v = splitLastAxis(raw, d.dims[len(d.dims)-1])
	} else if len(raw) != size {
		return Output{}, fmt.Errorf("diffusion: the model returned %s for x shaped %v", outs[0].Shape(), dims)
	}
	out, err := ConvertOutput(d.model.Prediction, q.X, pred, q.Level)
	if err != nil {
		return Output{}, err
	}
	out.V = v
	if mode.div {
		if out.Div, err = tensorutil.Float64s(outs[1]); err != nil {
			return Output{}, err
		}
	}
	return out, nil
}

// splitLastAxis splits values laid out [..., 2c] into the first c and the
// last c of every row of the last axis.
func splitLastAxis(v []float64, c int) (first, second []float64) {
	rows := len(v) / (2 * c)
	first, second = make([]float64, 0, rows*c), make([]float64, 0, rows*c)
	for r := range rows {
		first = append(first, v[r*2*c:r*2*c+c]...)
		second = append(second, v[r*2*c+c:(r+1)*2*c]...)
	}
	return first, second
}

// exec returns the compiled evaluation graph of a mode.
func (d *Driver) exec(mode evalMode) (*model.Exec, error) {
	if e, ok := d.execs[mode]; ok {
		return e, nil
	}
	m := d.model
	names, hasNull := d.names, d.hasNull
	e, err := model.NewExec(d.backend, d.store, func(scope *model.Scope, in []*Node) []*Node {
		x := in[0]
		b, dt := x.Shape().Dimensions[0], x.DType()
		per := func(v *Node) *Node { return BroadcastToDims(ConvertDType(v, dt), b) }
		lv := LevelNodes{T: per(in[1]), Alpha: per(in[2]), Sigma: per(in[3])}
		c, rest := cond.FromArgs(names, hasNull, in[4:])
		ms := scope.In(ModelScope)
		if !mode.div {
			return []*Node{m.Net(ms, x, lv, c)}
		}
		var raw *Node
		eps := func(y *Node) *Node {
			raw = m.Net(ms, y, lv, c)
			pred, _ := SplitOutput(raw, m.LearnedVariance)
			return EpsFromOutput(m.Prediction, y, pred, lv)
		}
		var div *Node
		if mode.hutchinson {
			_, div = HutchinsonDivergence(eps, x, rest[0])
		} else {
			_, div = Divergence(eps, x)
		}
		return []*Node{raw, div}
	})
	if err != nil {
		return nil, err
	}
	d.execs[mode] = e
	return e, nil
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

// flatten reshapes [B, ...] to [B, D].
func flatten(x *Node) *Node {
	b := x.Shape().Dimensions[0]
	return Reshape(x, b, x.Shape().Size()/max(b, 1))
}
