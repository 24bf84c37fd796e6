package diffusion

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// Store paths of the training state, beside the model's own ModelScope.
const (
	optimizerScope = "/optimizer"
	emaScope       = "/ema"
	stepPath       = "/train/step"
)

// TrainConfig configures a [Trainer]. Zero values mean the defaults given.
type TrainConfig struct {
	// LearningRate is Adam's step size (default 2e-4, DDPM's).
	LearningRate float64
	// WarmupSteps ramps the learning rate linearly from LearningRate/WarmupSteps
	// to LearningRate over the first WarmupSteps steps (0: no warm-up).
	WarmupSteps int
	// WeightDecay is AdamW's decoupled decay: θ ← θ − lr·WeightDecay·θ each
	// step (0: plain Adam).
	WeightDecay float64
	// Beta1, Beta2 and Epsilon are Adam's constants (defaults 0.9, 0.999, 1e-8).
	Beta1, Beta2, Epsilon float64
	// GradClipNorm rescales the gradient when its global L2 norm exceeds it (0: no clipping).
	GradClipNorm float64
	// EMADecay keeps an exponential moving average of the weights with decay
	// min(EMADecay, (1+n)/(10+n)) at step n (the average starts at the first
	// weights and warms up); 0 keeps none. Sampling uses it by default.
	EMADecay float64
	// Loss is the objective.
	Loss LossConfig
	// TimestepSampler is "uniform" (default) or "loss-aware".
	TimestepSampler string
	// PUncond is the probability with which each example's condition is
	// replaced by the null condition ∅ during training, so that one model
	// learns ε(x, c) and ε(x, ∅) for classifier-free guidance (0: never;
	// 0.1–0.2 is usual). It has no effect on unconditioned batches.
	PUncond float64
	// Seed fixes the initial weights, the noise and the timesteps.
	Seed int64
	// Frozen names scopes under the model scope (such as "text_encoder")
	// whose variables the model reads but the trainer does not change: no
	// gradient, no optimiser state, no moving average (sampling then uses
	// their own weights). They hold pretrained weights, which must be in the
	// store before the first step (see [Trainer.Preload]); a frozen scope
	// without weights is refused rather than trained from random ones.
	Frozen []string
}

func (c TrainConfig) withDefaults() TrainConfig {
	if c.LearningRate == 0 {
		c.LearningRate = 2e-4
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Epsilon == 0 {
		c.Epsilon = 1e-8
	}
	return c
}

// Validate reports configurations that cannot train.
func (c TrainConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.LearningRate < 0 || math.IsNaN(c.LearningRate) || math.IsInf(c.LearningRate, 0):
		return fmt.Errorf("diffusion: learning rate must be > 0, got %g", c.LearningRate)
	case c.WarmupSteps < 0:
		return fmt.Errorf("diffusion: warm-up steps must be ≥ 0, got %d", c.WarmupSteps)
	case c.WeightDecay < 0:
		return fmt.Errorf("diffusion: weight decay must be ≥ 0, got %g", c.WeightDecay)
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("diffusion: Adam betas must be in [0, 1), got %g, %g", c.Beta1, c.Beta2)
	case c.GradClipNorm < 0:
		return fmt.Errorf("diffusion: gradient clip norm must be ≥ 0, got %g", c.GradClipNorm)
	case c.EMADecay < 0 || c.EMADecay >= 1:
		return fmt.Errorf("diffusion: EMA decay must be in [0, 1), got %g", c.EMADecay)
	case !(c.PUncond >= 0 && c.PUncond < 1):
		return fmt.Errorf("diffusion: the probability of dropping the condition must be in [0, 1), got %g", c.PUncond)
	}
	for _, f := range c.Frozen {
		if f == "" || strings.HasPrefix(f, "/") || strings.HasSuffix(f, "/") {
			return fmt.Errorf("diffusion: a frozen scope is a path under the model scope such as \"text_encoder\", got %q", f)
		}
	}
	return nil
}

// Trainer optimises a model: a denoiser on a process ([NewTrainer]) or any
// per-example objective ([NewTrainerWithLoss]), with the same optimiser,
// EMA, clipping, checkpoints and resumption. Its whole state (weights, Adam
// moments, EMA weights, step, random state, timestep-sampler state) is in its
// store and checkpoints, so that a resumed run repeats an uninterrupted one
// exactly.
type Trainer struct {
	// Process is the diffusion process trained on (nil for a trainer made by
	// NewTrainerWithLoss).
	Process *Process
	// Denoiser is the model trained (zero for a trainer made by
	// NewTrainerWithLoss: its LossFn holds the model).
	Denoiser Denoiser
	// Config is the training configuration (with defaults filled in).
	Config TrainConfig

	backend   compute.Backend
	store     *model.Store
	exec      *model.Exec
	sampler   TimestepSampler // nil with a LossFn
	lossFn    TermsFn         // nil for the denoiser objective
	termNames []string        // names of lossFn's reported terms
	termHist  [][]float64     // their batch means, step by step (this session's steps only)
	step      int64
	condNames []string // the condition inputs the compiled step takes
	condNull  bool     // whether it takes a null mask
	losses    []float64
}

// LossFn is a training objective given as a graph: the per-example losses,
// shape [B], of a batch x₀ shaped [B, ...] with condition c (zero when the
// batch has none). The trainer minimises their mean. scope is the model's
// scope ([ModelScope]): the function builds its model there, and draws any
// random numbers it needs (timesteps, noise) with scope.RandomUniform and
// scope.RandomNormal, whose generator state lives in the store and is saved
// in checkpoints, so that resumed training draws the same numbers as an
// uninterrupted run.
type LossFn func(scope *model.Scope, x0 *Node, c cond.Nodes) *Node

// TermsFn is a [LossFn] that also returns named per-example terms of the
// loss (each shaped [B], e.g. a reconstruction error and a KL divergence),
// which the trainer reports (their batch means, in [StepResult.Terms] and on
// the progress bar) but does not optimise: only loss is minimised.
type TermsFn func(scope *model.Scope, x0 *Node, c cond.Nodes) (loss *Node, terms []*Node)

// ErrNonFinite is wrapped by the error returned when the loss becomes NaN or ±Inf.
var ErrNonFinite = errors.New("non-finite loss")

// NewTrainer prepares training; weights are created at the first step (or
// restored with [Trainer.Restore]).
func NewTrainer(backend compute.Backend, p *Process, den Denoiser, cfg TrainConfig) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Loss.Kind == LossHybrid && !den.LearnedVariance {
		return nil, fmt.Errorf("diffusion: the hybrid loss needs a denoiser with a learned variance")
	}
	if cfg.Loss.Variance == Learned && !den.LearnedVariance {
		return nil, fmt.Errorf("diffusion: a learned variance needs a denoiser with LearnedVariance")
	}
	ts, err := NewTimestepSampler(cfg.TimestepSampler, p.T())
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, cfg.Seed)
	tr := &Trainer{Process: p, Denoiser: den, Config: cfg, backend: backend, store: store, sampler: ts}
	return tr, nil
}

// NewTrainerWithLoss prepares training of the objective loss with the same
// machinery as [NewTrainer]: Adam(W), warm-up, clipping, EMA, checkpoints,
// exact resumption and the non-finite-loss stop. The objective draws its own
// timesteps, so the trainer has no timestep sampler ([Trainer.TimestepSampler]
// is nil), and cfg.TimestepSampler and cfg.Loss, which configure the
// denoiser objective, must be left zero.
func NewTrainerWithLoss(backend compute.Backend, loss LossFn, cfg TrainConfig) (*Trainer, error) {
	if loss == nil {
		return nil, fmt.Errorf("diffusion: NewTrainerWithLoss needs a loss function, got nil")
	}
	return NewTrainerWithTerms(backend, func(scope *model.Scope, x0 *Node, c cond.Nodes) (*Node, []*Node) {
		return loss(scope, x0, c), nil
	}, nil, cfg)
}

// NewTrainerWithTerms is [NewTrainerWithLoss] for an objective that reports
// terms: fn returns the per-example losses and one per-example term for each
// of names, in that order. Each step's [StepResult.Terms] holds the terms'
// batch means, and the progress bar of [Trainer.Run] shows their running
// means beside the loss's.
func NewTrainerWithTerms(backend compute.Backend, fn TermsFn, names []string, cfg TrainConfig) (*Trainer, error) {
	if fn == nil {
		return nil, fmt.Errorf("diffusion: NewTrainerWithTerms needs a loss function, got nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TimestepSampler != "" {
		return nil, fmt.Errorf("diffusion: a trainer with its own loss function draws its own timesteps; TimestepSampler must be empty, got %q", cfg.TimestepSampler)
	}
	if cfg.Loss != (LossConfig{}) {
		return nil, fmt.Errorf("diffusion: a trainer with its own loss function ignores TrainConfig.Loss; leave it zero, got %+v", cfg.Loss)
	}
	cfg = cfg.withDefaults()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, cfg.Seed)
	return &Trainer{Config: cfg, backend: backend, store: store, lossFn: fn, termNames: slices.Clone(names)}, nil
}

// TermNames returns the names of the reported terms of a trainer made by
// [NewTrainerWithTerms] (nil otherwise), in the order of [StepResult.Terms].
func (tr *Trainer) TermNames() []string { return tr.termNames }

// TermHistory returns, for each reported term (in the order of
// [Trainer.TermNames]), its batch mean at every step this trainer took
// (steps restored from a checkpoint are not included).
func (tr *Trainer) TermHistory() [][]float64 { return tr.termHist }

// Store returns the trainer's store (model under ModelScope, plus training state).
func (tr *Trainer) Store() *model.Store { return tr.store }

// Steps returns the number of optimisation steps taken so far.
func (tr *Trainer) Steps() int64 { return tr.step }

// Losses returns the loss of every step taken (restored ones included).
func (tr *Trainer) Losses() []float64 { return tr.losses }

// TimestepSampler returns the sampler of training steps (nil for a trainer
// made by NewTrainerWithLoss, whose objective draws its own).
func (tr *Trainer) TimestepSampler() TimestepSampler { return tr.sampler }

// Preload puts pretrained weights into a new trainer's store before its
// first step: each of vars (keyed by variable path, such as
// "/model/text_encoder/block_0/attn/q/weights") becomes a variable the model
// then reuses instead of initialising it. Use it with [TrainConfig.Frozen]
// for parts that stay fixed; a resumed run gets them from its checkpoint
// instead (Restore), which holds every variable.
func (tr *Trainer) Preload(vars map[string]*tensors.Tensor) error {
	if tr.exec != nil || tr.step != 0 {
		return fmt.Errorf("diffusion: Preload must be called before training starts")
	}
	for _, path := range slices.Sorted(maps.Keys(vars)) {
		if !strings.HasPrefix(path, "/"+ModelScope+"/") {
			return fmt.Errorf("diffusion: Preload: %s is not under the model scope /%s", path, ModelScope)
		}
		if _, err := tr.store.CreateVariable(path, vars[path]); err != nil {
			return fmt.Errorf("diffusion: Preload: %s: %w", path, err)
		}
	}
	return nil
}

// isFrozen reports whether the variable path lies in one of the frozen scopes.
func (c TrainConfig) isFrozen(path string) bool {
	for _, f := range c.Frozen {
		if strings.HasPrefix(path, "/"+ModelScope+"/"+f+"/") {
			return true
		}
	}
	return false
}

// buildExec compiles the training step for batches conditioned by c (its
// input names and whether it has a null mask fix the graph's inputs).
func (tr *Trainer) buildExec(c cond.Condition) error {
	for _, f := range tr.Config.Frozen {
		if !HasModelWeights(tr.store, f) {
			return fmt.Errorf("diffusion: the frozen scope %q has no weights: preload them (Trainer.Preload) before the first step", f)
		}
	}
	var err error
	tr.exec, err = tr.newStepExec(c)
	tr.condNames, tr.condNull = c.Names(), c.Null != nil
	return err
}

// newStepExec returns an executor of the training step (stepGraph) for
// batches conditioned like c.
func (tr *Trainer) newStepExec(c cond.Condition) (*model.Exec, error) {
	names, hasNull := c.Names(), c.Null != nil
	withT := tr.lossFn == nil
	return model.NewExec(tr.backend, tr.store, func(scope *model.Scope, in []*Node) []*Node {
		x0, rest := in[0], in[1:]
		var t, w *Node
		if withT {
			t, w, rest = rest[0], rest[1], rest[2:]
		}
		cn, _ := cond.FromArgs(names, hasNull, rest)
		loss, per, norm, terms := tr.stepGraph(scope, x0, t, w, cn)
		return append([]*Node{loss, per, norm}, terms...)
	})
}

// stepGraph is one optimisation step: loss, gradients, clipping, Adam(W),
// EMA and step counter. It returns the weighted mean loss, the per-example
// losses and the gradient norm before clipping. With a LossFn, t and w are
// nil and the loss is the plain mean of the LossFn's per-example losses.
// With Config.PUncond > 0 and a condition, each example's condition is
// replaced by ∅ with that probability (drawn from the store's generator, so
// that a resumed run drops the same ones). terms are the batch means of a
// TermsFn's reported terms.
func (tr *Trainer) stepGraph(scope *model.Scope, x0, t, w *Node, c cond.Nodes) (loss, perExample, gradNorm *Node, terms []*Node) {
	g := x0.Graph()
	cfg := tr.Config
	store := tr.store
	store.SetTraining(g, true) // layers such as dropout act only in training graphs
	dt := x0.DType()
	if cfg.PUncond > 0 && !c.IsZero() {
		u := scope.RandomUniform(g, shapes.Make(dt, x0.Shape().Dimensions[0]))
		c = c.Or(LessThan(u, Scalar(g, dt, cfg.PUncond)))
	}
	if tr.lossFn != nil {
		var perTerm []*Node
		perExample, perTerm = tr.lossFn(scope.In(ModelScope), x0, c)
		b := x0.Shape().Dimensions[0]
		if perExample.Rank() != 1 || perExample.Shape().Dimensions[0] != b {
			exceptions.Panicf("diffusion: the loss function must return per-example losses shaped [%d], got %s", b, perExample.Shape())
		}
		if len(perTerm) != len(tr.termNames) {
			exceptions.Panicf("diffusion: the loss function returned %d terms for the %d names %v", len(perTerm), len(tr.termNames), tr.termNames)
		}
		for i, term := range perTerm {
			if term.Rank() != 1 || term.Shape().Dimensions[0] != b {
				exceptions.Panicf("diffusion: the loss function's term %q must be per-example, shaped [%d], got %s", tr.termNames[i], b, term.Shape())
			}
			terms = append(terms, ReduceAllMean(StopGradient(term)))
		}
		loss = ReduceAllMean(perExample)
	} else {
		noise := scope.RandomNormal(g, x0.Shape())
		terms := tr.Process.Losses(scope.In(ModelScope), tr.Denoiser, x0, t, noise, c, cfg.Loss)
		perExample = terms.Loss
		loss = ReduceAllMean(Mul(terms.Loss, w))
	}

	// Trainable variables in path order, so that the graph (and the order of
	// floating-point sums such as the gradient norm) does not depend on the
	// order in which variables were created or restored.
	var vars []*model.Variable
	for v := range store.RootScope().In(ModelScope).IterVariables() {
		if v.Trainable && v.InUseByGraph(g) && !cfg.isFrozen(v.Path()) {
			vars = append(vars, v)
		}
	}
	slices.SortFunc(vars, func(a, b *model.Variable) int { return strings.Compare(a.Path(), b.Path()) })
	nodes := make([]*Node, len(vars))
	for i, v := range vars {
		nodes[i] = v.NodeValue(g)
	}
	grads := Gradient(loss, nodes...)

	stepVar := store.VariableWithValue(stepPath, int64(0))
	stepVar.SetTrainable(false)
	step := stepVar.NodeValue(g)
	n := ConvertDType(step, dt) // steps taken before this one
	n1 := AddScalar(n, 1)

	// Global gradient norm (Σ‖g‖² as dot products: the pure-Go backend's
	// reductions are slow, its matrix products fast), and clipping.
	var sq *Node
	for _, gr := range grads {
		flat := Reshape(gr, 1, gr.Shape().Size())
		s := Reshape(DotGeneral(flat, []int{1}, nil, flat, []int{1}, nil)) // [1,1] → scalar
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	gradNorm = Sqrt(sq)
	var scale *Node // nil: no clipping
	if cfg.GradClipNorm > 0 {
		scale = Min(ScalarOne(g, dt), Div(Scalar(g, dt, cfg.GradClipNorm), AddScalar(gradNorm, 1e-6)))
	}

	// Learning rate with linear warm-up: lr·min(1, (n+1)/warmup).
	lr := Scalar(g, dt, cfg.LearningRate)
	if cfg.WarmupSteps > 0 {
		lr = Mul(lr, Min(ScalarOne(g, dt), DivScalar(n1, float64(cfg.WarmupSteps))))
	}
	// Adam with bias corrections c₁ = 1−β₁^{n+1}, c₂ = 1−β₂^{n+1}:
	//   θ ← θ − lr·m̂/(√v̂ + ε), m̂ = m/c₁, v̂ = v/c₂,
	// computed as θ − a·m/(√v + ε√c₂) with a = lr·√c₂/c₁ (the same number, fewer
	// per-element operations).
	bc1 := OneMinus(Pow(Scalar(g, dt, cfg.Beta1), n1))
	sqrtBC2 := Sqrt(OneMinus(Pow(Scalar(g, dt, cfg.Beta2), n1)))
	a := Div(Mul(lr, sqrtBC2), bc1)
	epsHat := MulScalar(sqrtBC2, cfg.Epsilon)
	// EMA: e ← e + (1−d)(θ − e) with d = 0 at the first step (the average
	// starts at the weights), then min(decay, (1+n)/(10+n)).
	var emaRate *Node // 1 − d
	if cfg.EMADecay > 0 {
		warm := Div(n1, AddScalar(n, 10))
		d := Where(Equal(n, ScalarZero(g, dt)), ScalarZero(g, dt), Min(Scalar(g, dt, cfg.EMADecay), warm))
		emaRate = OneMinus(d)
	}
	var decay *Node // lr·λ for AdamW
	if cfg.WeightDecay > 0 {
		decay = MulScalar(lr, cfg.WeightDecay)
	}

	for i, v := range vars {
		p := nodes[i]
		gr := grads[i]
		if scale != nil {
			gr = Mul(gr, scale)
		}
		mVar := store.VariableWithShape(optimizerScope+"/m"+v.Path(), v.Shape(), initializer.Zero)
		vVar := store.VariableWithShape(optimizerScope+"/v"+v.Path(), v.Shape(), initializer.Zero)
		mVar.SetTrainable(false)
		vVar.SetTrainable(false)
		mOld, vOld := mVar.NodeValue(g), vVar.NodeValue(g)
		m := Add(mOld, MulScalar(Sub(gr, mOld), 1-cfg.Beta1))         // β₁m + (1−β₁)g
		s := Add(vOld, MulScalar(Sub(Square(gr), vOld), 1-cfg.Beta2)) // β₂v + (1−β₂)g²
		mVar.SetNodeValue(m)
		vVar.SetNodeValue(s)
		pNew := Sub(p, Mul(a, Div(m, Add(Sqrt(s), epsHat))))
		if decay != nil {
			pNew = Sub(pNew, Mul(decay, p)) // AdamW: decoupled decay θ ← θ − lr·λ·θ
		}
		v.SetNodeValue(pNew)
		if emaRate != nil {
			eVar := store.VariableWithShape(emaScope+v.Path(), v.Shape(), initializer.Zero)
			eVar.SetTrainable(false)
			e := eVar.NodeValue(g)
			eVar.SetNodeValue(Add(e, Mul(emaRate, Sub(pNew, e))))
		}
	}
	stepVar.SetNodeValue(AddScalar(step, 1))
	return loss, perExample, gradNorm, terms
}

// StepResult is what one training step reports.
type StepResult struct {
	// Loss is the weighted mean loss of the batch.
	Loss float64
	// GradNorm is the global gradient norm before clipping.
	GradNorm float64
	// Terms are the batch means of the reported terms of a trainer made by
	// [NewTrainerWithTerms], in the order of [Trainer.TermNames] (nil for
	// other trainers).
	Terms []float64
}

// TrainStep runs one optimisation step on the batch x₀ with condition c
// (zero for none; every batch of a trainer must have the same inputs).
// The timesteps come from the trainer's sampler, drawn from a generator
// seeded by (Seed, step) so that a resumed run draws the same ones. A NaN or
// ±Inf loss returns an error wrapping [ErrNonFinite]; the trainer must then
// be discarded (its weights are no longer trustworthy).
func (tr *Trainer) TrainStep(x0 *tensors.Tensor, c cond.Condition) (StepResult, error) {
	if x0 == nil || x0.Shape().Rank() < 2 {
		return StepResult{}, fmt.Errorf("diffusion: TrainStep needs a batch shaped [B, ...], got %v", x0)
	}
	b := x0.Shape().Dimensions[0]
	if err := c.CheckLen(b); err != nil {
		return StepResult{}, fmt.Errorf("diffusion: TrainStep: %w", err)
	}
	if tr.exec == nil {
		if err := tr.buildExec(c); err != nil {
			return StepResult{}, err
		}
	} else if !slices.Equal(c.Names(), tr.condNames) || (c.Null != nil) != tr.condNull {
		return StepResult{}, fmt.Errorf("diffusion: TrainStep called with condition inputs %v (null mask %v), but this trainer's first step had %v (null mask %v)",
			c.Names(), c.Null != nil, tr.condNames, tr.condNull)
	}
	var t []int32 // nil with a LossFn, which draws its own timesteps
	args := []any{x0}
	if tr.sampler != nil {
		rng := rand.New(rand.NewPCG(uint64(tr.Config.Seed), uint64(tr.step)))
		var w []float32
		t, w = tr.sampler.Sample(rng, b)
		args = append(args, tensors.FromValue(t), tensors.FromValue(w))
	}
	args = append(args, c.Args(b, tr.condNull)...)
	outs, err := safecall.Call(tr.exec, args...)
	if err != nil {
		return StepResult{}, fmt.Errorf("diffusion: training step %d: %w", tr.step+1, err)
	}
	loss := scalarFloat(outs[0])
	res := StepResult{Loss: loss, GradNorm: scalarFloat(outs[2])}
	for _, o := range outs[3:] {
		res.Terms = append(res.Terms, scalarFloat(o))
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return res, fmt.Errorf("diffusion: training step %d: loss is %v (%w); stopping, the last checkpoint is left untouched",
			tr.step+1, loss, ErrNonFinite)
	}
	if tr.sampler != nil {
		per := tensors.MustCopyFlatData[float32](outs[1])
		per64 := make([]float64, len(per))
		for i, v := range per {
			per64[i] = float64(v)
		}
		tr.sampler.Update(t, per64)
	}
	tr.step++
	tr.losses = append(tr.losses, loss)
	if len(res.Terms) > 0 {
		if tr.termHist == nil {
			tr.termHist = make([][]float64, len(res.Terms))
		}
		for i, v := range res.Terms {
			tr.termHist[i] = append(tr.termHist[i], v)
		}
	}
	return res, nil
}

func scalarFloat(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// Checkpoint captures the trainer's whole state, with config stored as the
// caller's configuration.
func (tr *Trainer) Checkpoint(config json.RawMessage) (*Checkpoint, error) {
	var st json.RawMessage
	if tr.sampler != nil {
		var err error
		if st, err = tr.sampler.State(); err != nil {
			return nil, err
		}
	}
	c := &Checkpoint{Config: config, Step: tr.step, SamplerState: st, Losses: tr.losses, Variables: map[string]*tensors.Tensor{}}
	for v := range tr.store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("diffusion: reading variable %s: %w", v.Path(), err)
		}
		c.Variables[v.Path()] = val
	}
	return c, nil
}

// Restore loads a checkpoint's state into a new trainer, before its first step.
func (tr *Trainer) Restore(c *Checkpoint) error {
	if tr.exec != nil || tr.step != 0 {
		return fmt.Errorf("diffusion: Restore must be called before training starts")
	}
	paths := slices.Sorted(maps.Keys(c.Variables))
	for _, path := range paths {
		t := c.Variables[path]
		v, err := tr.store.CreateVariable(path, t)
		if err != nil {
			return fmt.Errorf("diffusion: restoring %s: %w", path, err)
		}
		if !strings.HasPrefix(path, "/"+ModelScope+"/") {
			v.SetTrainable(false)
		}
	}
	switch {
	case tr.sampler == nil && len(c.SamplerState) > 0 && string(c.SamplerState) != "null":
		return fmt.Errorf("diffusion: the checkpoint holds a loss-aware timestep sampler's state, but this trainer's objective draws its own timesteps")
	case tr.sampler != nil && len(c.SamplerState) > 0:
		if err := tr.sampler.SetState(c.SamplerState); err != nil {
			return err
		}
	}
	tr.step = c.Step
	tr.losses = append([]float64(nil), c.Losses...)
	return nil
}

// HasModelWeights reports whether store holds at least one variable under
// the model's sub-scope scope, /ModelScope/scope/ (a part of the model such
// as "encoder" or a frozen "text_encoder").
func HasModelWeights(store *model.Store, scope string) bool {
	prefix := "/" + ModelScope + "/" + scope + "/"
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), prefix) {
			return true
		}
	}
	return false
}

// SamplingStore returns a store holding only the denoiser's weights under
// ModelScope: the EMA weights when useEMA and they exist, else the raw ones.
func SamplingStore(c *Checkpoint, useEMA bool) (*model.Store, error) {
	store := model.NewStore()
	prefix := "/" + ModelScope + "/"
	n := 0
	for path, t := range c.Variables {
		if !strings.HasPrefix(path, prefix) {
			continue
		}
		val := t
		if useEMA {
			if e, ok := c.Variables[emaScope+path]; ok {
				val = e
			}
		}
		if _, err := store.CreateVariable(path, val); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("diffusion: checkpoint has no model weights under %s", prefix)
	}
	return store, nil
}

// HasEMA reports whether a checkpoint holds EMA weights.
func HasEMA(c *Checkpoint) bool {
	for path := range c.Variables {
		if strings.HasPrefix(path, emaScope+"/") {
			return true
		}
	}
	return false
}

// Data provides training batches and their conditions (zero for none).
// Batch must be a deterministic function of the step so that resumed
// training sees the same data as an uninterrupted run.
type Data interface {
	Batch(step int64, batchSize int) (x0 *tensors.Tensor, c cond.Condition, err error)
}

// RunOptions configures [Trainer.Run].
type RunOptions struct {
	// Steps is the total number of steps to reach (counting steps already taken).
	Steps int64
	// BatchSize is the number of examples per step.
	BatchSize int
	// CheckpointPath, if set, receives a checkpoint every CheckpointEvery
	// steps (0: only at the end) and at the end.
	CheckpointPath  string
	CheckpointEvery int64
	// Config is stored in every checkpoint (the caller's configuration).
	Config json.RawMessage
	// Progress receives a progress bar with the loss and steps/s (nil: none).
	Progress io.Writer
	// OnStep, if set, is called after every step.
	OnStep func(step int64, r StepResult)
	// Stop, if set, interrupts training when it is closed (a nil channel
	// never does): Run finishes the step in progress, writes a checkpoint of
	// the state after that step (when CheckpointPath is set; it is written
	// atomically, like every checkpoint) and returns an error wrapping
	// [ErrInterrupted]. Resuming from that checkpoint continues exactly as
	// the uninterrupted run would have. It is checked after every step; when
	// the step in progress is the last one, Run simply completes (returning
	// nil, with the final checkpoint written).
	Stop <-chan struct{}
}

// ErrInterrupted is wrapped by the error [Trainer.Run] returns when
// [RunOptions.Stop] is closed before the last step, and by the error
// [Run] (sampling) returns when [SampleOptions.Stop] is closed.
var ErrInterrupted = errors.New("interrupted")

// Run trains until opts.Steps. A non-finite loss stops training with an
// error and does not write a checkpoint, leaving the last good one in place.
// Closing opts.Stop interrupts it after the step in progress (see
// [RunOptions.Stop]).
func (tr *Trainer) Run(data Data, opts RunOptions) error {
	if opts.BatchSize <= 0 {
		return fmt.Errorf("diffusion: batch size must be > 0, got %d", opts.BatchSize)
	}
	if opts.Steps < tr.step {
		return fmt.Errorf("diffusion: asked to train to step %d but the trainer is already at step %d", opts.Steps, tr.step)
	}
	bar := progress.New(opts.Progress, int(opts.Steps-tr.step), "training")
	var ema float64
	termEMA := make([]float64, len(tr.termNames))
	save := func() error {
		if opts.CheckpointPath == "" {
			return nil
		}
		c, err := tr.Checkpoint(opts.Config)
		if err != nil {
			return err
		}
		return WriteCheckpoint(opts.CheckpointPath, c)
	}
	for tr.step < opts.Steps {
		x0, c, err := data.Batch(tr.step, opts.BatchSize)
		if err != nil {
			bar.Done()
			return fmt.Errorf("diffusion: batch for step %d: %w", tr.step+1, err)
		}
		r, err := tr.TrainStep(x0, c)
		if err != nil {
			bar.Done()
			return err
		}
		first := ema == 0
		ema = runningMean(ema, r.Loss, first)
		status := fmt.Sprintf("loss %.4f", ema)
		for i, v := range r.Terms {
			termEMA[i] = runningMean(termEMA[i], v, first)
			status += fmt.Sprintf(" %s %.4g", tr.termNames[i], termEMA[i])
		}
		if opts.OnStep != nil {
			opts.OnStep(tr.step, r)
		}
		bar.Add(1, status)
		if tr.step < opts.Steps && stopped(opts.Stop) {
			bar.Done()
			if err := save(); err != nil {
				return err
			}
			return fmt.Errorf("diffusion: training stopped after step %d of %d: %w", tr.step, opts.Steps, ErrInterrupted)
		}
		if opts.CheckpointEvery > 0 && tr.step%opts.CheckpointEvery == 0 && tr.step < opts.Steps {
			if err := save(); err != nil {
				return err
			}
		}
	}
	bar.Done()
	return save()
}

// stopped reports, without blocking, whether stop is closed (never for nil).
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// runningMean is the progress bar's running mean: 0.98·m + 0.02·v, or v
// at the first step.
func runningMean(m, v float64, first bool) float64 {
	if first {
		return v
	}
	return 0.98*m + 0.02*v
}

// ForSampling returns a copy of a checkpoint that keeps only what sampling
// needs: the configuration, the step, the loss history and the denoiser's
// weights (the EMA weights, stored as the weights, when useEMA and they
// exist). It is about a quarter of the size of a training checkpoint (no
// optimizer moments, no second copy of the weights) and cannot resume
// training.
func ForSampling(c *Checkpoint, useEMA bool) (*Checkpoint, error) {
	store, err := SamplingStore(c, useEMA)
	if err != nil {
		return nil, err
	}
	out := &Checkpoint{Config: c.Config, Step: c.Step, Losses: c.Losses, Variables: map[string]*tensors.Tensor{},
		WeightsAreEMA: c.WeightsAreEMA || (useEMA && HasEMA(c))}
	for v := range store.IterVariables() {
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		out.Variables[v.Path()] = t
	}
	return out, nil
}
