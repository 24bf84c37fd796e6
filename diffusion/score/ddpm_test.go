package score

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/unet"
)

// TestVPBetasRecoverDDPM checks that the VP SDE with β_min = 0.1,
// β_max = 20 discretised over N = 1000 steps gives DDPM's linear betas
// 1e-4 … 0.02 (schedules.LinearBetas), and that log ᾱ_i (a running sum of
// log(1 − β_j), computed here) approaches −B(u_i) at rate 1/N with the
// leading constant ½∫₀¹ β̄(t)² dt = ½(β_min² + β_min Δ + Δ²/3), Δ = β_max − β_min.
func TestVPBetasRecoverDDPM(t *testing.T) {
	sde := schedules.DefaultVPSDE()
	got, err := VPBetas(sde, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want, err := schedules.LinearBetas(1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Fatalf("β_%d = %.17g, DDPM linear %.17g", i, got[i], want[i])
		}
	}
	delta := sde.BetaMax - sde.BetaMin
	c := 0.5 * (sde.BetaMin*sde.BetaMin + sde.BetaMin*delta + delta*delta/3)
	var errs []float64
	for _, n := range []int{500, 1000, 2000} {
		b, err := VPBetas(sde, n)
		if err != nil {
			t.Fatal(err)
		}
		logA, worst := 0.0, 0.0
		for i, bi := range b {
			logA += math.Log1p(-bi)
			worst = max(worst, math.Abs(logA+sde.BetaIntegral(StepTime(i, n))))
		}
		t.Logf("N=%d: max |log ᾱ_i + B(u_i)| = %.5f, ×N = %.2f (leading constant %.2f)", n, worst, worst*float64(n), c)
		if r := worst * float64(n) / c; r < 0.95 || r > 1.05 {
			t.Errorf("N=%d: N·max error = %.3f, want ≈ %.3f (within 5%%)", n, worst*float64(n), c)
		}
		errs = append(errs, worst)
	}
	for i := 1; i < len(errs); i++ {
		if r := errs[i-1] / errs[i]; math.Abs(r-2) > 0.1 {
			t.Errorf("error ratio when doubling N = %.3f, want ≈ 2 (first order)", r)
		}
	}
	for _, c := range []struct {
		t    float64
		n, i int
	}{{0, 1000, 0}, {1, 1000, 999}, {0.5, 1000, 500}, {-0.1, 1000, 0}, {1.3, 10, 9}, {StepTime(17, 100), 100, 17}} {
		if got := TimeStep(c.t, c.n); got != c.i {
			t.Errorf("TimeStep(%v, %d) = %d, want %d", c.t, c.n, got, c.i)
		}
	}
}

// TestDenoiserScoreMatchesGaussianScore feeds diffusion.GaussianOptimalDenoiser
// (ε-prediction) through DenoiserScore and compares with the analytic score
// of N(μ, s²) data under the discrete schedule at the mapped step,
// −(x − √ᾱ μ)/(ᾱ s² + 1 − ᾱ), with ᾱ = ∏(1 − β_j) recomputed here; and with
// the VP SDE's continuous score, −(x − m μ)/(m² s² + σ²), within the O(1/N)
// discretisation gap.
func TestDenoiserScoreMatchesGaussianScore(t *testing.T) {
	const mu, sd = 0.5, 0.7
	sch, err := schedules.New("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.NewProcess(sch)
	if err != nil {
		t.Fatal(err)
	}
	fn := DenoiserScore(p, diffusion.GaussianOptimalDenoiser(sch, mu, sd))
	times := []float64{0.001, 0.02, 0.1, 0.35, 0.6, 0.9, 1}
	xs := []float64{0.3, -1.2, 2.0, 0.0, 1.5, -0.4, 0.8}
	exec, err := model.NewExec(tb(), model.NewStore(), func(scope *model.Scope, x, tt *Node) *Node {
		return fn(scope, Reshape(x, len(xs), 1), tt, cond.Nodes{})
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Call(tensors.FromFlatDataAndDimensions(xs, len(xs)), tensors.FromFlatDataAndDimensions(times, len(times)))
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float64](out[0])
	betas, _ := schedules.LinearBetas(1000)
	vp := VP(schedules.DefaultVPSDE())
	for j, tt := range times {
		i := int(math.Round(tt * 999))
		abar := 1.0
		for _, b := range betas[:i+1] {
			abar *= 1 - b
		}
		want := -(xs[j] - math.Sqrt(abar)*mu) / (abar*sd*sd + 1 - abar)
		if math.Abs(got[j]-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("t=%g: DenoiserScore %.10g, discrete Gaussian score %.10g", tt, got[j], want)
		}
		m, s := vp.Marginal(tt)
		cont := -(xs[j] - m*mu) / (m*m*sd*sd + s*s)
		if math.Abs(got[j]-cont) > 0.05*math.Max(1, math.Abs(cont)) {
			t.Errorf("t=%g: DenoiserScore %.6g, continuous VP score %.6g", tt, got[j], cont)
		}
	}
}

// TestDenoiserScoreSamples runs the probability-flow ODE (Heun, 100 steps)
// of the VP SDE with an ε-prediction denoiser converted by DenoiserScore and
// checks that the samples have the data's mean and std (4 standard errors
// plus 0.02 for the discrete/continuous mismatch).
func TestDenoiserScoreSamples(t *testing.T) {
	const mu, sd, n = 0.5, 0.7, 4000
	sch, _ := schedules.New("linear", 1000)
	p, _ := diffusion.NewProcess(sch)
	m := DenoiserModel(p, diffusion.GaussianOptimalDenoiser(sch, mu, sd), VP(schedules.DefaultVPSDE()))
	x, err := diffusion.Sample(tb(), nil, m, ODE{Steps: 100, Solver: Heun}, n, []int{1}, diffusion.SampleOptions{Seed: 3, DType: dtypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	v := toFloat64(t, x)
	mean, m2 := 0.0, 0.0
	for _, a := range v {
		mean += a
	}
	mean /= n
	for _, a := range v {
		m2 += (a - mean) * (a - mean)
	}
	std := math.Sqrt(m2 / (n - 1))
	t.Logf("mean %.4f (want %.2f), std %.4f (want %.2f)", mean, mu, std, sd)
	if math.Abs(mean-mu) > 4*sd/math.Sqrt(n)+0.02 {
		t.Errorf("mean %.4f, want %.4f", mean, mu)
	}
	if math.Abs(std-sd) > 4*sd/math.Sqrt(2*n)+0.02 {
		t.Errorf("std %.4f, want %.4f", std, sd)
	}
}

// TestMultiEvaluationSamplersWithVariables checks that the samplers that
// evaluate the model more than once per step graph (Heun, RK4, the
// predictor–corrector) work with a model that has variables: each call must
// be able to revisit the model's sub-scopes (before this was fixed, GoMLX
// panicked with "sub-scope already visited"). The model is a DDPM MLP whose
// variables a one-step trainer created, turned into a score by DenoiserScore.
func TestMultiEvaluationSamplersWithVariables(t *testing.T) {
	sch, _ := schedules.New("linear", 1000)
	p, _ := diffusion.NewProcess(sch)
	den := diffusion.Denoiser{Fn: unet.MLP(unet.MLPConfig{Hidden: 16, Blocks: 1, TimeDim: 8}), Prediction: diffusion.PredictEpsilon}
	tr, err := diffusion.NewTrainer(tb(), p, den, diffusion.TrainConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	x0 := tensors.FromValue([][]float32{{1, 0}, {0, 1}, {-1, 0}, {0, -1}})
	if _, err := tr.TrainStep(x0, cond.Condition{}); err != nil {
		t.Fatal(err)
	}
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := DenoiserModel(p, den, VP(schedules.DefaultVPSDE()))
	for _, s := range []diffusion.Solver{
		ODE{Steps: 4, Solver: Heun},
		ODE{Steps: 4, Solver: RK4},
		PredictorCorrector{Steps: 4, Corrector: 2, SNR: DefaultSNRVP},
	} {
		store, err := diffusion.SamplingStore(ck, false)
		if err != nil {
			t.Fatal(err)
		}
		x, err := diffusion.Sample(tb(), store, m, s, 8, []int{2}, diffusion.SampleOptions{Seed: 2})
		if err != nil {
			t.Fatalf("%T: %v", s, err)
		}
		for _, v := range tensors.MustCopyFlatData[float32](x) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%T: non-finite sample %v", s, v)
			}
		}
	}
}
