package diffusion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	dmath "github.com/godiffusion/diffusion-models/math"
)

// toyDenoiser is a hand-written model: prediction = 0.3·x_t + 0.002·t, and,
// with learned variance, v = 0.8·tanh(x_t).
func toyDenoiser(pred Prediction, learned bool) Denoiser {
	return Denoiser{Prediction: pred, LearnedVariance: learned, Fn: func(_ *model.Scope, xt, t *Node, _ cond.Nodes) *Node {
		tf := ConvertDType(ExpandAxes(t, -1), xt.DType())
		out := Add(MulScalar(xt, 0.3), MulScalar(tf, 0.002))
		if learned {
			out = Concatenate([]*Node{out, MulScalar(Tanh(xt), 0.8)}, -1)
		}
		return out
	}}
}

func toyOutput(xt float64, t int, learned bool) (pred, v float64) {
	return 0.3*xt + 0.002*float64(t), 0.8 * math.Tanh(xt)
}

// TestLossesAgainstFloat64 checks L_simple for every prediction type and
// the VLB terms (KL and decoder) against float64 references.
func TestLossesAgainstFloat64(t *testing.T) {
	s := mustSchedule(t, "linear", 200)
	p := mustProcess(t, s)
	r := newRef(s)
	rng := rand.New(rand.NewPCG(5, 6))
	const B, D = 5, 4
	steps := []int32{0, 1, 7, 120, 199}
	x0 := make([]float64, B*D)
	for i := range x0 {
		x0[i] = dmath.Quantize8Bit(math.Tanh(rng.NormFloat64())) // 8-bit data in [−1, 1]
	}
	noise := randVec(rng, B*D, 1)
	T := func(v []float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(v, B, D) }
	for _, pred := range []Prediction{PredictEpsilon, PredictX0, PredictV} {
		for _, learned := range []bool{false, true} {
			den := toyDenoiser(pred, learned)
			kind := LossSimple
			if learned {
				kind = LossHybrid
			}
			outs := run(t, func(in []*Node) []*Node {
				terms := p.Losses(model.NewStore().RootScope(), den, in[0], in[2], in[1], cond.Nodes{}, LossConfig{Kind: kind, Variance: FixedSmall})
				res := []*Node{terms.Loss, terms.MSE}
				if terms.VB != nil {
					res = append(res, terms.VB)
				}
				return res
			}, T(x0), T(noise), t32(steps))
			for b := range B {
				i := int(steps[b])
				ab := r.abar[i]
				var mse, kl, nll float64
				for d := range D {
					k := b*D + d
					xt := math.Sqrt(ab)*x0[k] + math.Sqrt(1-ab)*noise[k]
					o, v := toyOutput(xt, i, learned)
					var target, x0hat float64
					switch pred {
					case PredictEpsilon:
						target = noise[k]
						x0hat = (xt - math.Sqrt(1-ab)*o) / math.Sqrt(ab)
					case PredictX0:
						target = x0[k]
						x0hat = o
					case PredictV:
						target = math.Sqrt(ab)*noise[k] - math.Sqrt(1-ab)*x0[k]
						x0hat = math.Sqrt(ab)*xt - math.Sqrt(1-ab)*o
					}
					mse += (target - o) * (target - o) / D
					// p_θ: posterior at x̂₀ with variance learned between β̃ (clipped) and β.
					meanP, _ := r.posterior(i, x0hat, xt)
					meanQ, varQ := r.posterior(i, x0[k], xt)
					_, beta2Tilde := r.posterior(1, 0, 0)
					logVarQ := math.Log(varQ)
					if i == 0 {
						logVarQ = math.Log(beta2Tilde)
					}
					frac := (v + 1) / 2
					logVarP := frac*math.Log(r.beta[i]) + (1-frac)*logVarQ
					kl += dmath.NormalKL(meanQ, logVarQ, meanP, logVarP) / D
					// The graph floors each dimension's log-probability at LogProbFloor (as improved DDPM does).
					nll -= math.Max(dmath.DiscretizedGaussianLogLikelihood(x0[k], meanP, logVarP), dmath.LogProbFloor) / D
				}
				if !close(outs[1][b], mse, 1e-9) {
					t.Errorf("%v learned=%v t-index %d: MSE %g, want %g", pred, learned, i, outs[1][b], mse)
				}
				if !learned {
					if !close(outs[0][b], mse, 1e-9) {
						t.Errorf("%v: L_simple %g, want %g", pred, outs[0][b], mse)
					}
					continue
				}
				vb := kl / math.Ln2
				if i == 0 {
					vb = nll / math.Ln2 // the first step is the decoder, not a KL
				}
				if !close(outs[2][b], vb, 1e-7) {
					t.Errorf("%v t-index %d: VB term %g bits/dim, want %g", pred, i, outs[2][b], vb)
				}
				hybrid := mse + DefaultHybridLambda*float64(s.T)*vb
				if !close(outs[0][b], hybrid, 1e-7) {
					t.Errorf("%v t-index %d: hybrid loss %g, want %g", pred, i, outs[0][b], hybrid)
				}
			}
		}
	}
}

// TestHybridStopsGradientToMean checks that in the hybrid loss the bound
// trains only the variance: its gradient with respect to the weights of the
// mean is exactly zero, while in LossVLB it is not.
func TestHybridStopsGradientToMean(t *testing.T) {
	s := mustSchedule(t, "cosine", 100)
	p := mustProcess(t, s)
	den := Denoiser{Prediction: PredictEpsilon, LearnedVariance: true, Fn: func(scope *model.Scope, xt, _ *Node, _ cond.Nodes) *Node {
		g := xt.Graph()
		a := scope.VariableWithValue("a", 0.2).NodeValue(g)
		b := scope.VariableWithValue("b", -0.3).NodeValue(g)
		return Concatenate([]*Node{Mul(xt, a), Add(MulScalar(xt, 0), BroadcastToShape(b, xt.Shape()))}, -1)
	}}
	x0 := tensors.FromFlatDataAndDimensions([]float64{0.2, -0.5, 0.9, 0.1}, 4, 1)
	noise := tensors.FromFlatDataAndDimensions([]float64{0.3, -1.1, 0.4, 2.0}, 4, 1)
	steps := t32([]int32{3, 20, 50, 90})
	for _, kind := range []LossKind{LossHybrid, LossVLB} {
		store := model.NewStore()
		e, err := model.NewExec(tb(), store, func(scope *model.Scope, x0, noise, tt *Node) (*Node, *Node) {
			terms := p.Losses(scope, den, x0, tt, noise, cond.Nodes{}, LossConfig{Kind: kind})
			vbPart := ReduceAllSum(terms.VB)
			a := scope.GetVariable("a").NodeValue(x0.Graph())
			b := scope.GetVariable("b").NodeValue(x0.Graph())
			grads := Gradient(vbPart, a, b)
			return grads[0], grads[1]
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := e.Call(x0, noise, steps)
		if err != nil {
			t.Fatal(err)
		}
		da, db := tensors.ToScalar[float64](outs[0]), tensors.ToScalar[float64](outs[1])
		if kind == LossHybrid && (da != 0 || db == 0) {
			t.Errorf("hybrid: d(VB)/d(mean weight) = %g (want exactly 0), d(VB)/d(variance weight) = %g (want ≠ 0)", da, db)
		}
		if kind == LossVLB && (da == 0 || db == 0) {
			t.Errorf("vlb: gradients %g, %g should both be non-zero", da, db)
		}
	}
}

// TestPriorBPD checks L_T against the closed-form KL to N(0, 1).
func TestPriorBPD(t *testing.T) {
	s := mustSchedule(t, "linear", 1000)
	p := mustProcess(t, s)
	r := newRef(s)
	x0 := []float64{-1, -0.2, 0.5, 1, 0, 0.3}
	outs := run(t, func(in []*Node) []*Node { return []*Node{p.PriorBPD(in[0])} },
		tensors.FromFlatDataAndDimensions(x0, 3, 2))
	aT := r.abar[len(r.abar)-1]
	for b := range 3 {
		var kl float64
		for d := range 2 {
			m := math.Sqrt(aT) * x0[b*2+d]
			v := 1 - aT
			kl += 0.5 * (v + m*m - 1 - math.Log(v)) / 2
		}
		if want := kl / math.Ln2; !close(outs[0][b], want, 1e-9) {
			t.Errorf("prior bpd[%d] = %g, want %g", b, outs[0][b], want)
		}
	}
	if outs[0][0] > 1e-4 {
		t.Errorf("prior term of the linear schedule should be ≈ 0, got %g bits/dim", outs[0][0])
	}
}

var _ = shapes.Make

// TestGaussianDecoder checks L₀ with the continuous decoder against
// −log N(x₀; μ_θ, σ²) in float64 (per dimension, in bits).
func TestGaussianDecoder(t *testing.T) {
	s := mustSchedule(t, "linear", 100)
	p := mustProcess(t, s)
	r := newRef(s)
	x0 := []float64{1.7, -2.2, 0.3, 0.05}
	xt := []float64{1.6, -2.0, 0.4, 0.0}
	den := toyDenoiser(PredictEpsilon, false)
	outs := run(t, func(in []*Node) []*Node {
		tt := in[2]
		out := p.Predict(model.NewStore().RootScope(), den, in[1], tt, cond.Nodes{})
		pm := p.PMeanVariance(den, out, in[1], tt, FixedLarge, false)
		return []*Node{p.VBTerm(pm, in[0], in[1], tt, GaussianDecoder)}
	}, tensors.FromFlatDataAndDimensions(x0, 2, 2), tensors.FromFlatDataAndDimensions(xt, 2, 2), t32([]int32{0, 0}))
	_, beta2Tilde := r.posterior(1, 0, 0)
	for b := range 2 {
		var nll float64
		for d := range 2 {
			k := b*2 + d
			eps, _ := toyOutput(xt[k], 0, false)
			x0hat := (xt[k] - math.Sqrt(1-r.abar[0])*eps) / math.Sqrt(r.abar[0])
			mean, _ := r.posterior(0, x0hat, xt[k])
			v := beta2Tilde // FixedLarge uses β̃₂ at the first step
			nll += (0.5*math.Log(2*math.Pi*v) + (x0[k]-mean)*(x0[k]-mean)/(2*v)) / 2
		}
		if want := nll / math.Ln2; !close(outs[0][b], want, 1e-9) {
			t.Errorf("example %d: L₀ = %g bits/dim, want %g", b, outs[0][b], want)
		}
	}
}
