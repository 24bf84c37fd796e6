package diffusion

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

// Prediction says what the (first) output channels of a denoiser hold.
type Prediction int

const (
	// PredictEpsilon: the model predicts the noise ε that was added (DDPM).
	PredictEpsilon Prediction = iota
	// PredictX0: the model predicts the clean sample x₀.
	PredictX0
	// PredictV: the model predicts v = √ᾱ_t ε − √(1−ᾱ_t) x₀ (Salimans & Ho, 2022).
	PredictV
	// PredictScore: the model predicts the score ∇ log p_t(x_t) = −ε/σ_t
	// (score models of package score; sampling only, not a DDPM training target).
	PredictScore
)

var predictionNames = map[Prediction]string{PredictEpsilon: "eps", PredictX0: "x0", PredictV: "v", PredictScore: "score"}

// String returns the short name used by the commands: "eps", "x0", "v" or "score".
func (p Prediction) String() string {
	if s, ok := predictionNames[p]; ok {
		return s
	}
	return fmt.Sprintf("Prediction(%d)", int(p))
}

// ParsePrediction parses "eps" (also "epsilon"), "x0" or "v".
func ParsePrediction(s string) (Prediction, error) {
	switch s {
	case "eps", "epsilon":
		return PredictEpsilon, nil
	case "x0", "xstart":
		return PredictX0, nil
	case "v":
		return PredictV, nil
	}
	return 0, fmt.Errorf("diffusion: unknown prediction %q (want eps, x0 or v)", s)
}

// VarianceType says how the variance of p_θ(x_{t−1} | x_t) is chosen.
type VarianceType int

const (
	// FixedSmall uses the posterior variance β̃_t (the lower bound of Ho et al.).
	FixedSmall VarianceType = iota
	// FixedLarge uses β_t (the upper bound of Ho et al.); for the likelihood at
	// t = 1 it uses β̃_2 instead of β_1, as improved DDPM does, so the decoder
	// is not needlessly wide.
	FixedLarge
	// Learned interpolates in log space between β̃_t and β_t with the model's
	// extra output v: log σ² = ½(v+1) log β_t + ½(1−v) log β̃_t (improved
	// DDPM's learned range). v = −1 gives β̃_t and v = 1 gives β_t; as in
	// improved DDPM, v is not constrained to [−1, 1].
	Learned
)

// String returns "small", "large" or "learned".
func (v VarianceType) String() string {
	switch v {
	case FixedSmall:
		return "small"
	case FixedLarge:
		return "large"
	case Learned:
		return "learned"
	}
	return fmt.Sprintf("VarianceType(%d)", int(v))
}

// ParseVarianceType parses "small" (also "beta-tilde"), "large" (also "beta") or "learned".
func ParseVarianceType(s string) (VarianceType, error) {
	switch s {
	case "small", "beta-tilde", "fixed-small":
		return FixedSmall, nil
	case "large", "beta", "fixed-large":
		return FixedLarge, nil
	case "learned":
		return Learned, nil
	}
	return 0, fmt.Errorf("diffusion: unknown variance %q (want small, large or learned)", s)
}

// ModelFn is the graph function of a denoiser. xt has shape [B, ...]
// (channels last), t is int32 [B] holding indices into the original training
// schedule, and c is the condition (its zero value: none). It returns a tensor
// shaped like xt, or with twice the channels (last axis) when the denoiser
// learns its variance.
type ModelFn func(scope *model.Scope, xt, t *Node, c cond.Nodes) *Node

// Denoiser is a model together with the declaration of what it outputs.
type Denoiser struct {
	// Fn builds the model's graph.
	Fn ModelFn
	// Prediction says what Fn's (first) output channels hold.
	Prediction Prediction
	// LearnedVariance says Fn's output has as many extra channels (after the
	// prediction channels, on the last axis) holding the interpolation value
	// v of the Learned variance.
	LearnedVariance bool
}

// Process is the Gaussian diffusion process of one schedule: it owns the
// schedule's per-step arrays and turns them into graph coefficients.
// Create it with [NewProcess]; the zero value is not usable.
type Process struct {
	// Schedule holds every per-step quantity (β, ᾱ, posterior coefficients, ...).
	Schedule *schedules.Schedule
}

// NewProcess returns the process of schedule s.
func NewProcess(s *schedules.Schedule) (*Process, error) {
	if s == nil || s.T <= 0 || len(s.Beta) != s.T {
		return nil, fmt.Errorf("diffusion: NewProcess needs a valid schedule, got %v", s)
	}
	return &Process{Schedule: s}, nil
}

// T returns the number of steps of the process.
func (p *Process) T() int { return p.Schedule.T }

// Respace returns the process restricted to the kept steps (indices into
// this process's schedule, ascending), with β recomputed so that ᾱ is
// unchanged at the kept steps (improved DDPM's respacing). Sampling with it
// visits only those steps; the denoiser still receives original timesteps.
func (p *Process) Respace(kept []int) (*Process, error) {
	s, err := p.Schedule.Respace(kept)
	if err != nil {
		return nil, err
	}
	return &Process{Schedule: s}, nil
}

// RespaceSpec respaces with a spacing specification as understood by
// [schedules.SpacedTimesteps] ("ddim50", "linspace:20", "trailing:10", "10,20,30", ...).
func (p *Process) RespaceSpec(spec string) (*Process, error) {
	kept, err := schedules.SpacedTimesteps(p.T(), spec)
	if err != nil {
		return nil, err
	}
	return p.Respace(kept)
}

// extract gathers arr[t] for every example and reshapes it to
// [B, 1, ..., 1] with the rank and dtype of like, ready to broadcast against
// x_t. It is the only place where a step index becomes a coefficient.
func (p *Process) extract(arr []float64, t, like *Node) *Node {
	g := t.Graph()
	if t.Rank() != 1 {
		exceptions.Panicf("diffusion: step index must have shape [B], got %s", t.Shape())
	}
	table := ConstAsDType(g, like.DType(), arr)
	idx := ExpandAxes(ConvertDType(t, dtypes.Int32), -1) // [B, 1]
	return perExampleNode(Gather(table, idx), like)      // [B] → [B, 1, ..., 1]
}

// ModelTimesteps maps step indices of this process to the indices of the
// original training schedule, which is what denoisers are trained on.
func (p *Process) ModelTimesteps(t *Node) *Node {
	ts := make([]int32, len(p.Schedule.Timesteps))
	for i, v := range p.Schedule.Timesteps {
		ts[i] = int32(v)
	}
	return Gather(Const(t.Graph(), ts), ExpandAxes(ConvertDType(t, dtypes.Int32), -1))
}

// Predict calls the denoiser on x_t at step indices t of this process.
func (p *Process) Predict(scope *model.Scope, den Denoiser, xt, t *Node, c cond.Nodes) *Node {
	return den.Fn(scope, xt, p.ModelTimesteps(t), c)
}

// QSample draws x_t from q(x_t | x₀) = N(√ᾱ_t x₀, (1−ᾱ_t) I), given the
// noise: x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε.
func (p *Process) QSample(x0, t, noise *Node) *Node {
	s := p.Schedule
	return Add(Mul(p.extract(s.SqrtAlphaBar, t, x0), x0),
		Mul(p.extract(s.SqrtOneMinusAlphaBar, t, x0), noise))
}

// QMeanVariance returns the mean √ᾱ_t x₀, the variance 1−ᾱ_t and its log,
// of q(x_t | x₀). Variance and log-variance have shape [B, 1, ..., 1].
func (p *Process) QMeanVariance(x0, t *Node) (mean, variance, logVariance *Node) {
	s := p.Schedule
	mean = Mul(p.extract(s.SqrtAlphaBar, t, x0), x0)
	logOneMinus := make([]float64, s.T)
	for i, v := range s.OneMinusAlphaBar {
		logOneMinus[i] = math.Log(v)
	}
	return mean, p.extract(s.OneMinusAlphaBar, t, x0), p.extract(logOneMinus, t, x0)
}

// QPosterior returns the mean, variance and clipped log-variance of
// q(x_{t−1} | x_t, x₀) = N(μ̃_t, β̃_t I), with
// μ̃_t = β_t √ᾱ_{t−1}/(1−ᾱ_t) x₀ + (1−ᾱ_{t−1}) √α_t/(1−ᾱ_t) x_t.
// At the first step (t = 1) β̃ = 0 and the log-variance is clipped to log β̃_2.
func (p *Process) QPosterior(x0, xt, t *Node) (mean, variance, logVarianceClipped *Node) {
	s := p.Schedule
	mean = Add(Mul(p.extract(s.PosteriorMeanCoef1, t, x0), x0),
		Mul(p.extract(s.PosteriorMeanCoef2, t, xt), xt))
	return mean, p.extract(s.PosteriorVariance, t, x0), p.extract(s.PosteriorLogVarianceClipped, t, x0)
}

// X0FromEps returns x̂₀ = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t = x_t/√ᾱ_t − √(1/ᾱ_t − 1) ε.
func (p *Process) X0FromEps(xt, t, eps *Node) *Node {
	s := p.Schedule
	return Sub(Mul(p.extract(s.SqrtRecipAlphaBar, t, xt), xt), Mul(p.extract(s.SqrtRecipM1AlphaBar, t, xt), eps))
}

// EpsFromX0 returns ε̂ = (x_t − √ᾱ_t x₀)/√(1−ᾱ_t) = (x_t/√ᾱ_t − x₀)/√(1/ᾱ_t − 1).
func (p *Process) EpsFromX0(xt, t, x0 *Node) *Node {
	s := p.Schedule
	return Div(Sub(Mul(p.extract(s.SqrtRecipAlphaBar, t, xt), xt), x0), p.extract(s.SqrtRecipM1AlphaBar, t, xt))
}

// VFromX0Eps returns v = √ᾱ_t ε − √(1−ᾱ_t) x₀.
func (p *Process) VFromX0Eps(x0, t, eps *Node) *Node {
	s := p.Schedule
	return Sub(Mul(p.extract(s.SqrtAlphaBar, t, eps), eps), Mul(p.extract(s.SqrtOneMinusAlphaBar, t, x0), x0))
}

// X0FromV returns x̂₀ = √ᾱ_t x_t − √(1−ᾱ_t) v.
func (p *Process) X0FromV(xt, t, v *Node) *Node {
	s := p.Schedule
	return Sub(Mul(p.extract(s.SqrtAlphaBar, t, xt), xt), Mul(p.extract(s.SqrtOneMinusAlphaBar, t, v), v))
}

// EpsFromV returns ε̂ = √(1−ᾱ_t) x_t + √ᾱ_t v.
func (p *Process) EpsFromV(xt, t, v *Node) *Node {
	s := p.Schedule
	return Add(Mul(p.extract(s.SqrtOneMinusAlphaBar, t, xt), xt), Mul(p.extract(s.SqrtAlphaBar, t, v), v))
}

// ScoreFromEps returns the score ∇ log q_t(x_t) ≈ s_θ = −ε̂/√(1−ᾱ_t).
func (p *Process) ScoreFromEps(t, eps *Node) *Node {
	return Neg(Div(eps, p.extract(p.Schedule.SqrtOneMinusAlphaBar, t, eps)))
}

// EpsFromScore returns ε̂ = −√(1−ᾱ_t) s.
func (p *Process) EpsFromScore(t, score *Node) *Node {
	return Neg(Mul(score, p.extract(p.Schedule.SqrtOneMinusAlphaBar, t, score)))
}

// Split separates a denoiser's output into the prediction and, for a
// learned-variance denoiser, the variance channels v (nil otherwise).
func (den Denoiser) Split(out *Node) (pred, v *Node) {
	return SplitOutput(out, den.LearnedVariance)
}

// X0AndEps converts a prediction of type pred at x_t into both x̂₀ and ε̂.
func (p *Process) X0AndEps(pred Prediction, xt, t, out *Node) (x0, eps *Node) {
	switch pred {
	case PredictEpsilon:
		return p.X0FromEps(xt, t, out), out
	case PredictX0:
		return out, p.EpsFromX0(xt, t, out)
	case PredictV:
		return p.X0FromV(xt, t, out), p.EpsFromV(xt, t, out)
	}
	exceptions.Panicf("diffusion: unknown prediction %v", pred)
	return nil, nil
}

// PMean is the reverse step p_θ(x_{t−1} | x_t) = N(Mean, e^{LogVariance} I)
// computed from a denoiser's output.
type PMean struct {
	// Mean is μ_θ(x_t, t) = μ̃_t(x̂₀, x_t), the posterior mean at the predicted x̂₀.
	Mean *Node
	// LogVariance is log σ²_t, shape [B, 1, ...] for fixed variances, like x_t when learned.
	LogVariance *Node
	// X0 is the predicted clean sample x̂₀ (after clipping when asked).
	X0 *Node
	// Eps is the predicted noise ε̂ (consistent with the clipped x̂₀).
	Eps *Node
}

// PMeanVariance computes p_θ(x_{t−1} | x_t) from the denoiser output out at
// steps t. variance is used unless the denoiser learns its variance (then
// Learned is used). With clip, x̂₀ is clipped to [−1, 1] before it enters the
// mean (for pixel data when sampling; never in the bound, never in latent space).
func (p *Process) PMeanVariance(den Denoiser, out, xt, t *Node, variance VarianceType, clip bool) PMean {
	pred, v := den.Split(out)
	if den.LearnedVariance {
		variance = Learned
	} else if variance == Learned {
		exceptions.Panicf("diffusion: Learned variance needs a denoiser with LearnedVariance")
	}
	x0, eps := p.X0AndEps(den.Prediction, xt, t, pred)
	if clip {
		x0 = ClipScalar(x0, -1, 1)
		eps = p.EpsFromX0(xt, t, x0)
	}
	mean, _, _ := p.QPosterior(x0, xt, t)
	return PMean{Mean: mean, LogVariance: p.logVariance(variance, t, v, xt), X0: x0, Eps: eps}
}

// logVariance returns log σ²_t of p_θ for the given variance type, from the
// tables of [Process.logVarianceTables].
func (p *Process) logVariance(variance VarianceType, t, v, like *Node) *Node {
	small, large, logBeta := p.logVarianceTables()
	switch variance {
	case FixedSmall:
		return p.extract(small, t, like)
	case FixedLarge:
		return p.extract(large, t, like)
	case Learned:
		minLog := p.extract(small, t, like)
		maxLog := p.extract(logBeta, t, like)
		frac := MulScalar(AddScalar(v, 1), 0.5)
		return Add(Mul(frac, maxLog), Mul(OneMinus(frac), minLog))
	}
	exceptions.Panicf("diffusion: unknown variance type %v", variance)
	return nil
}

// logVarianceTables returns, on the host, the per-step log-variances of p_θ
// that [VarianceType] chooses from, indexed by step index i (paper step
// t = i+1):
//
//	small[i]   = log β̃_t, with log β̃_1 = −∞ clipped to log β̃_2 (log β_1 when T = 1): FixedSmall, Learned's v = −1;
//	large[i]   = log β_t, except large[0] = log β̃_2 when T > 1 (as improved DDPM): FixedLarge;
//	logBeta[i] = log β_t: Learned's v = 1.
//
// small is the schedule's own PosteriorLogVarianceClipped (not to be
// modified). Training ([Process.PMeanVariance]) and the bound
// ([BoundEvaluator]) both read these tables.
func (p *Process) logVarianceTables() (small, large, logBeta []float64) {
	s := p.Schedule
	logBeta = make([]float64, s.T)
	for i, b := range s.Beta {
		logBeta[i] = math.Log(b)
	}
	large = append([]float64{}, logBeta...)
	if s.T > 1 {
		large[0] = math.Log(s.PosteriorVariance[1])
	}
	return s.PosteriorLogVarianceClipped, large, logBeta
}
