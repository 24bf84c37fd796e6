package diffusion

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
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
	// Dynamic loss scaling (Precision "f16" only): the scale S, the
	// consecutive clean steps since S last changed, and the steps skipped
	// so far.
	lossScalePath  = "/train/loss_scale"
	cleanStepsPath = "/train/clean_steps"
	skippedPath    = "/train/skipped_steps"
	// extraEMAPrefix opens the scope of each extra moving average
	// (TrainConfig.EMADecays): "/ema-0.9999".
	extraEMAPrefix = "/ema-"
)

// Values of [TrainConfig.Precision].
const (
	// PrecisionF32 trains in float32 throughout (also the empty string).
	PrecisionF32 = "f32"
	// PrecisionBF16 runs the denoiser in bfloat16 (8 significant bits, unit
	// roundoff 2⁻⁸, and float32's exponent range): no loss scaling is needed.
	PrecisionBF16 = "bf16"
	// PrecisionF16 runs the denoiser in float16 (11 significant bits, unit
	// roundoff 2⁻¹¹, but largest value 65504 and smallest normal 2⁻¹⁴), with
	// dynamic loss scaling so that small gradients do not flush to zero.
	PrecisionF16 = "f16"
)

// Dynamic loss scaling of Precision "f16" (the constants of PyTorch's
// GradScaler, plus bounds).
const (
	// DefaultLossScale is the initial loss scale S (2¹⁶).
	DefaultLossScale = 1 << 16
	// DefaultLossScaleInterval is the number of consecutive steps with
	// finite gradients after which S doubles.
	DefaultLossScaleInterval = 2000
	// MaxLossScale bounds S when it grows (2²⁴). Without a bound, gradients
	// that stay far from overflowing would let S double every
	// LossScaleInterval steps until it became +Inf; 2²⁴ already lifts
	// float16's smallest subnormal, 2⁻²⁴, to 1.
	MaxLossScale = 1 << 24
	// MinLossScale: when halving S would take it below this (2⁻²⁴, forty
	// halvings from the default), the gradients overflow float16 whatever
	// the scale, and training stops with an error wrapping [ErrNonFinite].
	MinLossScale = 1.0 / (1 << 24)
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
	// Precision is the arithmetic of the denoiser's forward and backward
	// pass: "" or "f32" (float32 throughout), "bf16" or "f16" (mixed
	// precision). With "bf16" or "f16" the master weights, Adam's moments and
	// every moving average stay float32 (the dtype the model's variables
	// must have); the trainer converts x_t, and every floating-point
	// condition input (such as cond.Context), to the half dtype before the
	// denoiser and the denoiser's output back to float32 after it, so the
	// loss, its per-timestep weights and everything in [Process.Losses] are
	// float32. The denoiser's layers must cast their float32 variables to
	// their input's dtype (gradients flow back through the cast to the
	// float32 variables) and return the half dtype: a float32 output is
	// refused, since it means the model ignored the precision. "f16" adds
	// dynamic loss scaling (see LossScaleInit); "bf16" has float32's
	// exponent range and needs none. Only [NewTrainer]'s denoiser objective
	// supports it: trainers made by NewTrainerWithLoss or
	// NewTrainerWithTerms refuse any other value than "" or "f32".
	Precision string
	// LossScaleInit is the initial loss scale S of Precision "f16" (default
	// DefaultLossScale = 2¹⁶; at most MaxLossScale; powers of two keep the
	// scaling exact). Each step differentiates S·loss and divides the
	// gradients by S. When any gradient is ±Inf or NaN (its global norm is
	// not finite), the step is skipped — weights, Adam's moments and the
	// moving averages keep their values — and S halves; after
	// LossScaleInterval consecutive clean steps S doubles (up to
	// MaxLossScale). A skipped step still counts as a step (Steps, the
	// data and timesteps drawn, the loss history, the checkpoint step all
	// advance, so the data order does not depend on the skips), but not as
	// an update: Adam's bias correction, the learning-rate warm-up and the
	// EMA warm-up count the updates applied, steps − skipped steps. S, the
	// clean-step count and the skipped-step count are store variables under
	// /train/, saved in checkpoints, so a resumed run repeats an
	// uninterrupted one exactly. Must be zero for other precisions.
	LossScaleInit float64
	// LossScaleInterval is the number of consecutive clean steps after
	// which Precision "f16" doubles its loss scale (default
	// DefaultLossScaleInterval = 2000). Must be zero for other precisions.
	LossScaleInterval int
	// EMADecays are extra exponential moving averages of the weights, kept
	// beside the EMADecay one with the same warm-up, min(d, (1+n)/(10+n)) at
	// update n, each under its own store scope ("/ema-0.9999/model/...").
	// One run can then be sampled with the raw weights, the main average
	// ([SamplingStore]) or any extra one ([SamplingStoreExtraEMA]). Each
	// must be in (0, 1), none repeated, none equal to EMADecay (empty: none).
	EMADecays []float64
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
	if c.Precision == PrecisionF16 {
		if c.LossScaleInit == 0 {
			c.LossScaleInit = DefaultLossScale
		}
		if c.LossScaleInterval == 0 {
			c.LossScaleInterval = DefaultLossScaleInterval
		}
	}
	return c
}

// halfDType returns the dtype the denoiser computes in under c.Precision
// (which must be valid): Float16, BFloat16, or InvalidDType for full
// precision.
func (c TrainConfig) halfDType() dtypes.DType {
	switch c.Precision {
	case PrecisionBF16:
		return dtypes.BFloat16
	case PrecisionF16:
		return dtypes.Float16
	}
	return dtypes.InvalidDType
}

// mixed reports whether c trains in mixed precision (bf16 or f16).
func (c TrainConfig) mixed() bool { return c.halfDType() != dtypes.InvalidDType }

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
	case c.Precision != "" && c.Precision != PrecisionF32 && c.Precision != PrecisionBF16 && c.Precision != PrecisionF16:
		return fmt.Errorf("diffusion: unknown precision %q (want %q or empty for float32, %q or %q)", c.Precision, PrecisionF32, PrecisionBF16, PrecisionF16)
	case c.Precision != PrecisionF16 && (c.LossScaleInit != 0 || c.LossScaleInterval != 0):
		return fmt.Errorf("diffusion: loss scaling (initial scale %g, interval %d) applies only to precision %q, not %q", c.LossScaleInit, c.LossScaleInterval, PrecisionF16, c.Precision)
	case c.Precision == PrecisionF16 && !(c.LossScaleInit > 0 && c.LossScaleInit <= MaxLossScale):
		return fmt.Errorf("diffusion: the initial loss scale must be in (0, %d], got %g", MaxLossScale, c.LossScaleInit)
	case c.Precision == PrecisionF16 && c.LossScaleInterval < 1:
		return fmt.Errorf("diffusion: the loss-scale growth interval must be ≥ 1 step, got %d", c.LossScaleInterval)
	}
	for i, d := range c.EMADecays {
		switch {
		case !(d > 0 && d < 1):
			return fmt.Errorf("diffusion: each extra EMA decay must be in (0, 1), got %g", d)
		case d == c.EMADecay:
			return fmt.Errorf("diffusion: the extra EMA decay %g is EMADecay itself; list only other decays", d)
		case slices.Contains(c.EMADecays[:i], d):
			return fmt.Errorf("diffusion: the extra EMA decay %g is listed twice", d)
		}
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
// moments, EMA weights, step, random state, timestep-sampler state, and
// with Precision "f16" the loss scale) is in its store and checkpoints, so
// that a resumed run repeats an uninterrupted one exactly.
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

// ErrNonFinite is wrapped by the error returned when the loss becomes NaN
// or ±Inf, or when float16 gradients overflow whatever the loss scale (see
// [MinLossScale]).
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
	if cfg.mixed() {
		return nil, fmt.Errorf("diffusion: precision %q is supported only by NewTrainer's denoiser objective: a trainer with its own loss function gets x₀ and cannot tell its model from its loss; leave Precision empty (or %q) and convert to the half dtype inside the model",
			cfg.Precision, PrecisionF32)
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
	mixed := tr.Config.mixed()
	return model.NewExec(tr.backend, tr.store, func(scope *model.Scope, in []*Node) []*Node {
		if mixed {
			defer withoutFusion()()
		}
		x0, rest := in[0], in[1:]
		var t, w *Node
		if withT {
			t, w, rest = rest[0], rest[1], rest[2:]
		}
		cn, _ := cond.FromArgs(names, hasNull, rest)
		o := tr.stepGraph(scope, x0, t, w, cn)
		outs := append([]*Node{o.loss, o.perExample, o.gradNorm}, o.terms...)
		if o.lossScale != nil {
			outs = append(outs, o.lossScale, o.finite)
		}
		return outs
	})
}

// fusionMu serialises withoutFusion's changes of GOMLX_FUSION.
var fusionMu sync.Mutex

// withoutFusion disables GoMLX's fused ops (GOMLX_FUSION=0) until the
// function it returns is called, which restores the variable as it was.
// The trainer builds every half-precision step graph inside it.
//
// Why: with fusion enabled (the default), graph.Softmax, nn.Dense and
// nn.LayerNorm emit a fused node whenever the backend accepts it while the
// graph is built, and fall back to the decomposed ops only when it refuses.
// The pure-Go backend (compute v0.1.2) accepts FusedSoftmax, FusedDense and
// FusedLayerNorm for every dtype at build time but runs them only in
// float32 and float64, so a bfloat16 or float16 graph holding a half
// softmax builds and then fails when it runs ("executing FusedSoftmax:
// FusedSoftmax: dtype Float16: op not implemented", shown by
// TestPrecisionFusedSoftmax). Package unet computes its softmax in float32
// and needs none of this; any other denoiser may reach these ops in half
// precision. GoMLX reads the variable at each such call
// (graph.InternalFusedOpCaller), so setting it while the graph is built
// makes those ops decomposed in that graph only. The XLA backend (go-xla
// v0.4.1) refuses every fused op at build time anyway, so nothing changes
// there. The variable is process-wide: a graph that another goroutine
// builds at the same moment gets decomposed ops too (the same values up to
// rounding).
func withoutFusion() (restore func()) {
	fusionMu.Lock()
	old, had := os.LookupEnv(FusionEnv)
	os.Setenv(FusionEnv, "0")
	return func() {
		if had {
			os.Setenv(FusionEnv, old)
		} else {
			os.Unsetenv(FusionEnv)
		}
		fusionMu.Unlock()
	}
}

// mixedPrecision returns den computing in dtype half: x_t and every
// floating-point condition input are converted to half before den.Fn, and
// its output back to x_t's dtype after it. An output that is not half is
// refused: the model computed in another dtype than its input's.
func mixedPrecision(den Denoiser, half dtypes.DType, precision string) Denoiser {
	fn := den.Fn
	den.Fn = func(scope *model.Scope, xt, t *Node, c cond.Nodes) *Node {
		if len(c.Inputs) > 0 {
			in := make(map[string]*Node, len(c.Inputs))
			for name, v := range c.Inputs {
				if v.DType().IsFloat() {
					v = ConvertDType(v, half)
				}
				in[name] = v
			}
			c.Inputs = in
		}
		out := fn(scope, ConvertDType(xt, half), t, c)
		if out.DType() != half {
			exceptions.Panicf("diffusion: precision %q: the denoiser returned %s for a %s input; with mixed precision its layers must compute in their input's dtype (casting their float32 variables to it)",
				precision, out.DType(), half)
		}
		return ConvertDType(out, xt.DType())
	}
	return den
}

// stepOutputs are the results of one training step's graph.
type stepOutputs struct {
	// loss is the weighted mean loss, perExample the per-example losses,
	// gradNorm the global gradient norm before clipping (of the unscaled
	// gradients with loss scaling), terms the batch means of a TermsFn's
	// reported terms.
	loss, perExample, gradNorm *Node
	terms                      []*Node
	// lossScale is the loss scale the step used and finite whether its
	// gradients were finite (so that the update was applied); both nil
	// without loss scaling.
	lossScale, finite *Node
}

// stepGraph is one optimisation step: loss, gradients, clipping, Adam(W),
// moving averages and step counter (and, for Precision "f16", the loss
// scale). With a LossFn, t and w are nil and the loss is the plain mean of
// the LossFn's per-example losses. With Config.PUncond > 0 and a condition,
// each example's condition is replaced by ∅ with that probability (drawn
// from the store's generator, so that a resumed run drops the same ones).
func (tr *Trainer) stepGraph(scope *model.Scope, x0, t, w *Node, c cond.Nodes) (o stepOutputs) {
	g := x0.Graph()
	cfg := tr.Config
	store := tr.store
	store.SetTraining(g, true) // layers such as dropout act only in training graphs
	dt := x0.DType()
	if cfg.PUncond > 0 && !c.IsZero() {
		u := scope.RandomUniform(g, shapes.Make(dt, x0.Shape().Dimensions[0]))
		c = c.Or(LessThan(u, Scalar(g, dt, cfg.PUncond)))
	}
	var loss *Node
	if tr.lossFn != nil {
		var perTerm []*Node
		o.perExample, perTerm = tr.lossFn(scope.In(ModelScope), x0, c)
		b := x0.Shape().Dimensions[0]
		if o.perExample.Rank() != 1 || o.perExample.Shape().Dimensions[0] != b {
			exceptions.Panicf("diffusion: the loss function must return per-example losses shaped [%d], got %s", b, o.perExample.Shape())
		}
		if len(perTerm) != len(tr.termNames) {
			exceptions.Panicf("diffusion: the loss function returned %d terms for the %d names %v", len(perTerm), len(tr.termNames), tr.termNames)
		}
		for i, term := range perTerm {
			if term.Rank() != 1 || term.Shape().Dimensions[0] != b {
				exceptions.Panicf("diffusion: the loss function's term %q must be per-example, shaped [%d], got %s", tr.termNames[i], b, term.Shape())
			}
			o.terms = append(o.terms, ReduceAllMean(StopGradient(term)))
		}
		loss = ReduceAllMean(o.perExample)
	} else {
		den := tr.Denoiser
		if cfg.mixed() {
			den = mixedPrecision(den, cfg.halfDType(), cfg.Precision)
		}
		noise := scope.RandomNormal(g, x0.Shape())
		terms := tr.Process.Losses(scope.In(ModelScope), den, x0, t, noise, c, cfg.Loss)
		o.perExample = terms.Loss
		loss = ReduceAllMean(Mul(terms.Loss, w))
	}
	o.loss = loss

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
		if cfg.mixed() && v.DType() != dtypes.Float32 {
			exceptions.Panicf("diffusion: precision %q: the variable %s is %s; with mixed precision the model keeps float32 variables (the master weights) and casts them to its input's dtype",
				cfg.Precision, v.Path(), v.DType())
		}
		nodes[i] = v.NodeValue(g)
	}

	// Dynamic loss scaling (f16): differentiate S·loss, divide the gradients by S.
	var scaleVar, cleanVar, skippedVar *model.Variable
	var lossScale *Node
	if cfg.Precision == PrecisionF16 {
		scaleVar = store.VariableWithValue(lossScalePath, float32(cfg.LossScaleInit))
		cleanVar = store.VariableWithValue(cleanStepsPath, int64(0))
		skippedVar = store.VariableWithValue(skippedPath, int64(0))
		for _, v := range []*model.Variable{scaleVar, cleanVar, skippedVar} {
			v.SetTrainable(false)
		}
		lossScale = scaleVar.NodeValue(g)
		o.lossScale = lossScale
		loss = Mul(loss, ConvertDType(lossScale, loss.DType()))
	} else {
		// A run resumed from an f16 checkpoint keeps counting updates as
		// steps − skipped steps.
		skippedVar = store.GetVariable(skippedPath)
	}
	grads := Gradient(loss, nodes...)
	if lossScale != nil {
		for i, gr := range grads {
			grads[i] = Div(gr, ConvertDType(lossScale, gr.DType()))
		}
	}

	stepVar := store.VariableWithValue(stepPath, int64(0))
	stepVar.SetTrainable(false)
	step := stepVar.NodeValue(g)
	updates := step // updates applied before this step
	if skippedVar != nil {
		updates = Sub(step, skippedVar.NodeValue(g))
	}
	n := ConvertDType(updates, dt) // updates applied before this one
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
	o.gradNorm = Sqrt(sq)
	var scale *Node // nil: no clipping
	if cfg.GradClipNorm > 0 {
		scale = Min(ScalarOne(g, dt), Div(Scalar(g, dt, cfg.GradClipNorm), AddScalar(o.gradNorm, 1e-6)))
	}
	// With loss scaling, an Inf or NaN anywhere in the gradients makes Σ‖g‖²
	// non-finite: the update is then skipped (keep returns the old value).
	keep := func(updated, old *Node) *Node { return updated }
	if lossScale != nil {
		o.finite = IsFinite(sq)
		keep = func(updated, old *Node) *Node { return Where(o.finite, updated, old) }
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
	// Moving averages: e ← e + (1−d)(θ − e) with d = 0 at the first update
	// (the average starts at the weights), then min(decay, (1+n)/(10+n)).
	type average struct {
		scope string
		rate  *Node // 1 − d
	}
	var averages []average
	if cfg.EMADecay > 0 || len(cfg.EMADecays) > 0 {
		warm := Div(n1, AddScalar(n, 10))
		rate := func(decay float64) *Node {
			return OneMinus(Where(Equal(n, ScalarZero(g, dt)), ScalarZero(g, dt), Min(Scalar(g, dt, decay), warm)))
		}
		if cfg.EMADecay > 0 {
			averages = append(averages, average{emaScope, rate(cfg.EMADecay)})
		}
		for _, d := range cfg.EMADecays {
			averages = append(averages, average{extraEMAScope(d), rate(d)})
		}
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
		mVar.SetNodeValue(keep(m, mOld))
		vVar.SetNodeValue(keep(s, vOld))
		pNew := Sub(p, Mul(a, Div(m, Add(Sqrt(s), epsHat))))
		if decay != nil {
			pNew = Sub(pNew, Mul(decay, p)) // AdamW: decoupled decay θ ← θ − lr·λ·θ
		}
		v.SetNodeValue(keep(pNew, p))
		for _, av := range averages {
			eVar := tr.averageVariable(av.scope+v.Path(), v)
			e := eVar.NodeValue(g)
			eVar.SetNodeValue(keep(Add(e, Mul(av.rate, Sub(pNew, e))), e))
		}
	}
	stepVar.SetNodeValue(AddScalar(step, 1))

	if lossScale != nil {
		// S halves after a skipped step; after LossScaleInterval consecutive
		// clean steps it doubles (at most MaxLossScale).
		clean1 := AddScalar(cleanVar.NodeValue(g), 1)
		grow := GreaterOrEqual(clean1, Scalar(g, dtypes.Int64, cfg.LossScaleInterval))
		zero := ScalarZero(g, dtypes.Int64)
		grown := Where(grow, Min(MulScalar(lossScale, 2), Scalar(g, lossScale.DType(), MaxLossScale)), lossScale)
		scaleVar.SetNodeValue(Where(o.finite, grown, MulScalar(lossScale, 0.5)))
		cleanVar.SetNodeValue(Where(o.finite, Where(grow, zero, clean1), zero))
		skipped := skippedVar.NodeValue(g)
		skippedVar.SetNodeValue(Where(o.finite, skipped, AddScalar(skipped, 1)))
	}
	return o
}

// averageVariable returns the moving-average variable at path of the
// weight w, creating it when missing: zero before the first step (the
// first update, with d = 0, sets it to the weights), else, for an average
// added when resuming a run, a copy of w's current value (so that it starts
// at the weights rather than being pulled towards zero).
func (tr *Trainer) averageVariable(path string, w *model.Variable) *model.Variable {
	e := tr.store.GetVariable(path)
	if e == nil && tr.step > 0 && w.HasValue() {
		val, err := w.Value()
		if err == nil {
			val, err = val.LocalClone()
		}
		if err == nil {
			e, err = tr.store.CreateVariable(path, val)
		}
		if err != nil {
			exceptions.Panicf("diffusion: creating the moving average %s: %v", path, err)
		}
	}
	if e == nil {
		e = tr.store.VariableWithShape(path, w.Shape(), initializer.Zero)
	}
	e.SetTrainable(false)
	return e
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
	// LossScale is the loss scale S this step multiplied the loss by
	// (Precision "f16"; 0 for other precisions). The next step uses S/2
	// after a skipped step, 2S after LossScaleInterval clean ones in a row.
	LossScale float64
	// Skipped reports a step of Precision "f16" whose gradients overflowed
	// (GradNorm is then +Inf or NaN): weights, Adam's moments and the moving
	// averages were left as they were; the step still counts in
	// [Trainer.Steps] and the loss history.
	Skipped bool
}

// TrainStep runs one optimisation step on the batch x₀ with condition c
// (zero for none; every batch of a trainer must have the same inputs).
// The timesteps come from the trainer's sampler, drawn from a generator
// seeded by (Seed, step) so that a resumed run draws the same ones. A NaN or
// ±Inf loss returns an error wrapping [ErrNonFinite]; the trainer must then
// be discarded (its weights are no longer trustworthy). With Precision
// "f16", non-finite gradients at a finite loss are not an error: the step
// is skipped and reported as such (see [TrainConfig.LossScaleInit]).
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
	nTerms := len(tr.termNames)
	for _, o := range outs[3 : 3+nTerms] {
		res.Terms = append(res.Terms, scalarFloat(o))
	}
	if rest := outs[3+nTerms:]; len(rest) == 2 { // loss scaling: S and whether the gradients were finite
		res.LossScale = scalarFloat(rest[0])
		res.Skipped = !rest[1].Value().(bool)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return res, fmt.Errorf("diffusion: training step %d: loss is %v (%w); stopping, the last checkpoint is left untouched",
			tr.step+1, loss, ErrNonFinite)
	}
	if res.Skipped && res.LossScale/2 < MinLossScale {
		return res, fmt.Errorf("diffusion: training step %d: the float16 gradients overflow even at loss scale %g (%w); stopping, the last checkpoint is left untouched",
			tr.step+1, res.LossScale, ErrNonFinite)
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
	if useEMA {
		return samplingStore(c, emaScope)
	}
	return samplingStore(c, "")
}

// SamplingStoreExtraEMA is [SamplingStore] with the weights of the extra
// moving average of decay ([TrainConfig.EMADecays]; see [ExtraEMADecays]
// for those a checkpoint holds). Weights without an average (those of
// frozen scopes) keep their raw values. A checkpoint without that average
// is an error.
func SamplingStoreExtraEMA(c *Checkpoint, decay float64) (*model.Store, error) {
	have := ExtraEMADecays(c)
	if !slices.Contains(have, decay) {
		if len(have) == 0 {
			return nil, fmt.Errorf("diffusion: the checkpoint holds no extra moving average (asked for decay %g)", decay)
		}
		return nil, fmt.Errorf("diffusion: the checkpoint holds extra moving averages of decays %v, not %g", have, decay)
	}
	return samplingStore(c, extraEMAScope(decay))
}

// samplingStore returns a store of the model weights, each replaced by its
// counterpart under the scope average when it has one ("": none).
func samplingStore(c *Checkpoint, average string) (*model.Store, error) {
	store := model.NewStore()
	prefix := "/" + ModelScope + "/"
	n := 0
	for path, t := range c.Variables {
		if !strings.HasPrefix(path, prefix) {
			continue
		}
		val := t
		if average != "" {
			if e, ok := c.Variables[average+path]; ok {
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

// extraEMAScope is the store scope of the extra moving average of decay d:
// "/ema-" and d's shortest decimal form ("/ema-0.9999").
func extraEMAScope(d float64) string {
	return extraEMAPrefix + strconv.FormatFloat(d, 'g', -1, 64)
}

// EMADecayAt is the decay d_n a moving average of decay d takes at the
// trainer's update n (0 for the first, counting the updates applied): 0 at
// n = 0, so that the average starts at the weights, then
// min(d, (1+n)/(10+n)), the warm-up that keeps the early average short
// (math/README §9). The training step computes the same in its graph.
func EMADecayAt(d float64, n int64) float64 {
	if n == 0 {
		return 0
	}
	return math.Min(d, float64(1+n)/float64(10+n))
}

// LossScaleOf returns the dynamic loss scaling state a checkpoint of a
// Precision "f16" run holds: the loss scale S of its next step and the
// number of steps skipped so far (gradients that overflowed float16). ok
// is false for a checkpoint without that state (other precisions).
func LossScaleOf(c *Checkpoint) (scale float64, skipped int64, ok bool) {
	s, ok1 := c.Variables[lossScalePath]
	k, ok2 := c.Variables[skippedPath]
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	sv, ok1 := s.Value().(float32)
	kv, ok2 := k.Value().(int64)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return float64(sv), kv, true
}

// ExtraEMADecays returns the decays of the extra moving averages
// ([TrainConfig.EMADecays]) whose weights a checkpoint holds, in increasing
// order (nil for none; a checkpoint from before extra averages existed has
// none). The main EMA ([HasEMA]) is not among them.
func ExtraEMADecays(c *Checkpoint) []float64 {
	var ds []float64
	for path := range c.Variables {
		rest, ok := strings.CutPrefix(path, extraEMAPrefix)
		if !ok {
			continue
		}
		name, under, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasPrefix(under, ModelScope+"/") {
			continue
		}
		d, err := strconv.ParseFloat(name, 64)
		if err != nil || extraEMAScope(d) != extraEMAPrefix+name || slices.Contains(ds, d) {
			continue
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
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
	skipped := 0 // f16 steps skipped in this run
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
		if r.Skipped {
			skipped++
		}
		if r.LossScale > 0 {
			status += fmt.Sprintf(" scale %g", r.LossScale)
			if skipped > 0 {
				status += fmt.Sprintf(" skipped %d", skipped)
			}
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
