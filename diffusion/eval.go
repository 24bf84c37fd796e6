package diffusion

import (
	"fmt"
	"io"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	dmath "github.com/godiffusion/diffusion-models/math"
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
	// Cond is the condition of every example (zero for none).
	Cond cond.Condition
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// VLB computes the full variational bound of the examples x₀ under model m,
// whose noise levels must be a discrete [Process] (see [Process.Model]),
// visiting every step, with x_t drawn once per example and step. With the
// DiscretizedDecoder, x₀ must hold 8-bit data scaled to [−1, 1]. It is a
// [Run] of the [BoundEvaluator].
func VLB(backend compute.Backend, store *model.Store, m Model, x0 *tensors.Tensor, opts VLBOptions) (*VLBResult, error) {
	sh := x0.Shape()
	if sh.Rank() < 2 {
		return nil, fmt.Errorf("diffusion: VLB needs examples shaped [N, ...], got %s", sh)
	}
	p, ok := m.Levels.(*Process)
	if !ok {
		return nil, fmt.Errorf("diffusion: the variational bound needs a model of a discrete process, not %T", m.Levels)
	}
	n := sh.Dimensions[0]
	res, err := Run(backend, store, m, BoundEvaluator{Process: p, Variance: opts.Variance, Decoder: opts.Decoder},
		n, sh.Dimensions[1:], SampleOptions{Seed: opts.Seed, BatchSize: opts.BatchSize, Cond: opts.Cond, Start: x0, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	T := p.T()
	out := &VLBResult{Terms: make([]float64, T), PerExample: make([]float64, n)}
	for e := range n {
		row := res.Values[e*(T+1) : (e+1)*(T+1)]
		out.Prior += row[0] / float64(n)
		for i, v := range row {
			out.PerExample[e] += v
			if i > 0 {
				out.Terms[i-1] += v / float64(n)
			}
		}
	}
	out.Total = out.Prior
	for _, v := range out.Terms {
		out.Total += v
	}
	return out, nil
}

// BoundEvaluator computes the terms of the variational bound of its data
// (the run's starting points) under the model, in bits per dimension, in
// float64: for every step index i it draws x_i = √ᾱ_i x₀ + √(1−ᾱ_i) ε and
// queries the model there, then
//
//	i = 0:  L₀ = −log p_θ(x₀ | x₁), the decoder (discretized or Gaussian);
//	i ≥ 1:  L_i = KL(q(x_{i−1} | x_i, x₀) ‖ p_θ(x_{i−1} | x_i)),
//
// with p_θ's mean μ̃(x̂₀, x_i) (never clipped) and variance chosen by
// Variance (or learned), and the prior term L_T = KL(q(x_T | x₀) ‖ N(0, I)).
// Each example's Result row is [L_T, L₀, L₁, …, L_{T−1}]. The model must
// be Process's ([Process.Model]).
type BoundEvaluator struct {
	// Process is the diffusion process whose steps are visited.
	Process *Process
	// Variance is p_θ's variance when the model does not learn it.
	Variance VarianceType
	// Decoder is L₀'s likelihood.
	Decoder Decoder
}

// Label names the progress bar.
func (BoundEvaluator) Label() string { return "bound" }

// Start implements Solver.
func (e BoundEvaluator) Start(b *Batch) (Stepper, error) {
	if e.Process == nil || b.Levels != NoiseLevels(e.Process) {
		return nil, fmt.Errorf("diffusion: the bound evaluator needs the model of its own process")
	}
	if e.Variance == Learned && !b.LearnedVariance {
		return nil, fmt.Errorf("diffusion: a learned variance needs a model that learns it")
	}
	if b.D < 1 {
		return nil, fmt.Errorf("diffusion: the bound needs examples of at least one value, got %d", b.D)
	}
	T := e.Process.T()
	st := &boundStepper{e: e, b: b, terms: make([]float64, b.N*(T+1))}
	st.small, st.large, st.logBeta = e.Process.logVarianceTables()
	s := e.Process.Schedule
	aT, logVarT := s.SqrtAlphaBar[T-1], math.Log(s.OneMinusAlphaBar[T-1])
	for n := range b.N {
		var kl float64
		for _, x := range b.X[n*b.D : (n+1)*b.D] {
			kl += dmath.NormalKL(aT*x, logVarT, 0, 0)
		}
		st.terms[n*(T+1)] = dmath.NatsToBitsPerDim(kl, b.D)
	}
	return st, nil
}

type boundStepper struct {
	e     BoundEvaluator
	b     *Batch
	i     int
	xt    []float64
	terms []float64
	// p_θ's log-variance tables (see Process.logVarianceTables).
	small, large, logBeta []float64
}

func (st *boundStepper) Len() int { return st.e.Process.T() }

func (st *boundStepper) Next() (Query, bool) {
	p := st.e.Process
	if st.i >= p.T() {
		return Query{}, false
	}
	s := p.Schedule
	a, sd := s.SqrtAlphaBar[st.i], s.SqrtOneMinusAlphaBar[st.i]
	z := st.b.Noise.Normal(len(st.b.X))
	st.xt = make([]float64, len(z))
	for k, x := range st.b.X {
		st.xt[k] = a*x + sd*z[k]
	}
	return Query{X: st.xt, Level: p.At(p.Time(st.i))}, true
}

func (st *boundStepper) Tell(out Output) (*StepInfo, error) {
	p, s, i := st.e.Process, st.e.Process.Schedule, st.i
	variance := st.e.Variance
	if st.b.LearnedVariance {
		variance = Learned
	}
	c1, c2 := s.PosteriorMeanCoef1[i], s.PosteriorMeanCoef2[i]
	trueLogVar := s.PosteriorLogVarianceClipped[i] // q's log β̃ (clipped at the first step)
	smallLog, largeLog, logBeta := st.small[i], st.large[i], st.logBeta[i]
	T, D := p.T(), st.b.D
	for n := range st.b.N {
		var sum float64
		for k := n * D; k < (n+1)*D; k++ {
			x0, xt := st.b.X[k], st.xt[k]
			mean := c1*out.X0[k] + c2*xt
			var logVar float64
			switch variance {
			case FixedSmall:
				logVar = smallLog
			case FixedLarge:
				logVar = largeLog
			case Learned:
				frac := (out.V[k] + 1) / 2
				logVar = frac*logBeta + (1-frac)*smallLog
			default:
				return nil, fmt.Errorf("diffusion: unknown variance type %v", variance)
			}
			if i == 0 {
				if st.e.Decoder == GaussianDecoder {
					d := x0 - mean
					sum += 0.5 * (math.Log(2*math.Pi) + logVar + d*d*math.Exp(-logVar))
				} else {
					sum -= dmath.DiscretizedGaussianLogLikelihood(x0, mean, logVar)
				}
			} else {
				sum += dmath.NormalKL(c1*x0+c2*xt, trueLogVar, mean, logVar)
			}
		}
		st.terms[n*(T+1)+1+i] = dmath.NatsToBitsPerDim(sum, D)
	}
	st.i++
	return &StepInfo{K: i, T: p.Time(i), X: st.xt, X0: out.X0}, nil
}

func (st *boundStepper) Result() []float64 { return st.terms }
