package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/tensorutil"
	"github.com/godiffusion/diffusion-models/schedules"
)

// trajectory samples B examples of D values with solver s and model m on the
// shared backend in float64, and returns the starting noise followed by the
// state after every step.
func trajectory(t *testing.T, m Model, s Solver, B, D int, seed int64) [][]float64 {
	t.Helper()
	var xs [][]float64
	opts := SampleOptions{Seed: seed, DType: dtypes.Float64, OnStep: func(_, k int, _ float64, x, _ *tensors.Tensor) {
		if k != len(xs)-1 {
			t.Fatalf("step %d reported after %d steps", k, len(xs)-1)
		}
		xs = append(xs, tensors.MustCopyFlatData[float64](x))
	}}
	d, err := NewDriver(tb(), nil, m, s, []int{D}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, err := d.Batch(0, B)
	if err != nil {
		t.Fatal(err)
	}
	start, err := tensorutil.FromFloat64s(b.stepper.Result(), dtypes.Float64, B, D)
	if err != nil {
		t.Fatal(err)
	}
	xs = append(xs, tensors.MustCopyFlatData[float64](start))
	for {
		done, err := b.Step()
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return xs
		}
	}
}

// TestDDPMStepAgainstFloat64 runs ancestral sampling over every step of a
// 100-step schedule with a hand-written model, for each variance choice and
// with x̂₀ clipping, and checks each step against float64 formulas with the
// Gaussian draws the driver made (replayed from the seed); at the last step
// (index 0) no noise may be added.
func TestDDPMStepAgainstFloat64(t *testing.T) {
	s := mustSchedule(t, "linear", 100)
	p := mustProcess(t, s)
	r := newRef(s)
	const B, D, seed = 4, 3, 11
	cases := []struct {
		variance VarianceType
		learned  bool
		clip     bool
	}{{FixedSmall, false, false}, {FixedLarge, false, false}, {Learned, true, false}, {FixedSmall, false, true}}
	for _, c := range cases {
		den := toyDenoiser(PredictEpsilon, c.learned)
		xs := trajectory(t, p.Model(den), DDPM{Variance: c.variance, ClipX0: c.clip}, B, D, seed)
		if len(xs) != s.T+1 {
			t.Fatalf("%d states, want %d", len(xs), s.T+1)
		}
		noise := NewNoise(seed)
		prior := noise.Normal(B * D)
		for k := range prior {
			if !close(xs[0][k], prior[k], 1e-12) {
				t.Fatalf("the starting point is not the seed's first normal draws")
			}
		}
		for k := range s.T {
			i := s.T - 1 - k // step index
			var z []float64
			if i > 0 {
				z = noise.Normal(B * D)
			}
			x := xs[k]
			for e := range B * D {
				eps, v := toyOutput(x[e], i, c.learned)
				x0 := (x[e] - math.Sqrt(1-r.abar[i])*eps) / math.Sqrt(r.abar[i])
				if c.clip {
					x0 = math.Max(-1, math.Min(1, x0))
				}
				mean, postVar := r.posterior(i, x0, x[e])
				var variance float64
				switch c.variance {
				case FixedSmall:
					variance = postVar
				case FixedLarge:
					variance = r.beta[i]
				case Learned:
					if i > 0 {
						variance = math.Exp((v+1)/2*math.Log(r.beta[i]) + (1-(v+1)/2)*math.Log(postVar))
					}
				}
				want := mean
				if i > 0 {
					want += math.Sqrt(variance) * z[e]
				}
				if got := xs[k+1][e]; !close(got, want, 1e-9) {
					t.Fatalf("variance %v clip %v, index %d: x_{t-1} = %.10g, want %.10g", c.variance, c.clip, i, got, want)
				}
			}
		}
	}
}

// TestDDIMStepAgainstFloat64 checks every DDIM update (x̂₀ first, then the
// direction and the noise with σ = η √((1−ᾱ')/(1−ᾱ)) √(1−ᾱ/ᾱ')) on 10 of
// 1000 cosine steps, including its last step, which lands on ᾱ = 1 and must
// return x̂₀.
func TestDDIMStepAgainstFloat64(t *testing.T) {
	s := mustSchedule(t, "cosine", 1000)
	p := mustProcess(t, s)
	rp, err := p.RespaceSpec("linspace:10")
	if err != nil {
		t.Fatal(err)
	}
	kept := rp.Schedule.Timesteps
	const B, D, seed = 4, 2, 13
	for _, pred := range []Prediction{PredictEpsilon, PredictX0, PredictV} {
		for _, eta := range []float64{0, 0.5, 1} {
			den := toyDenoiser(pred, false)
			xs := trajectory(t, p.Model(den), DDIM{Steps: 10, Eta: eta}, B, D, seed)
			noise := NewNoise(seed)
			noise.Normal(B * D) // the starting point
			for k := range len(kept) {
				orig := kept[len(kept)-1-k]
				a := s.AlphaBar[orig] // ᾱ_t of the original schedule at the kept step
				aPrev := 1.0
				if k < len(kept)-1 {
					aPrev = s.AlphaBar[kept[len(kept)-2-k]]
				}
				sigma := eta * math.Sqrt((1-aPrev)/(1-a)) * math.Sqrt(1-a/aPrev)
				var z []float64
				if sigma != 0 {
					z = noise.Normal(B * D)
				}
				x := xs[k]
				for e := range B * D {
					o, _ := toyOutput(x[e], orig, false)
					var x0, eps float64
					switch pred {
					case PredictEpsilon:
						eps = o
						x0 = (x[e] - math.Sqrt(1-a)*eps) / math.Sqrt(a)
					case PredictX0:
						x0 = o
						eps = (x[e] - math.Sqrt(a)*x0) / math.Sqrt(1-a)
					case PredictV:
						x0 = math.Sqrt(a)*x[e] - math.Sqrt(1-a)*o
						eps = math.Sqrt(1-a)*x[e] + math.Sqrt(a)*o
					}
					want := math.Sqrt(aPrev)*x0 + math.Sqrt(1-aPrev-sigma*sigma)*eps
					if eta != 0 && sigma != 0 {
						want += sigma * z[e]
					}
					if k == len(kept)-1 && !close(want, x0, 1e-12) {
						t.Fatalf("reference: the last DDIM step must return x̂₀")
					}
					if got := xs[k+1][e]; !close(got, want, 1e-9) {
						t.Errorf("%v η=%g step %d (index %d): got %.10g, want %.10g", pred, eta, k, orig, got, want)
					}
				}
			}
		}
	}
	// η = 1 gives DDPM's posterior variance on the respaced steps.
	for i := 1; i < rp.T(); i++ {
		a, aPrev := rp.Schedule.AlphaBar[i], rp.Schedule.AlphaBarPrev[i]
		sigma2 := (1 - aPrev) / (1 - a) * (1 - a/aPrev)
		if !close(sigma2, rp.Schedule.PosteriorVariance[i], 1e-9) {
			t.Errorf("η=1: σ² = %g, β̃ of the respaced schedule = %g", sigma2, rp.Schedule.PosteriorVariance[i])
		}
	}
}

// optimalAs wraps the exact ε-denoiser of N(mean, std²) data so that it
// outputs x₀ or v instead, exercising the conversions inside the samplers.
func optimalAs(s *schedules.Schedule, pred Prediction, mean, std float64) Denoiser {
	base := GaussianOptimalDenoiser(s, mean, std)
	full := &Process{Schedule: s}
	return Denoiser{Prediction: pred, Fn: func(scope *model.Scope, xt, tt *Node, c cond.Nodes) *Node {
		eps := base.Fn(scope, xt, tt, c)
		x0 := full.X0FromEps(xt, tt, eps)
		switch pred {
		case PredictX0:
			return x0
		case PredictV:
			return full.VFromX0Eps(x0, tt, eps)
		}
		return eps
	}}
}

func meanVar(v []float64) (m, s2 float64) {
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	for _, x := range v {
		s2 += (x - m) * (x - m)
	}
	return m, s2 / float64(len(v)-1)
}

// gaussianRecursion returns the exact mean and variance of a sampler's output
// when the data are N(μ, σ²) and the model is the optimal denoiser: every
// update is then linear-Gaussian,
//
//	x_{t'} − √ᾱ' μ = K (x_t − √ᾱ μ) + σ_t z,  so  m' = K m,  V' = K² V + σ_t²,
//
// with x̂₀ = μ + √ᾱ σ² (x_t − √ᾱ μ)/V*_t, ε̂ = √(1−ᾱ) (x_t − √ᾱ μ)/V*_t and
// V*_t = ᾱ σ² + 1 − ᾱ. kind is "ddpm-small", "ddpm-large" or "ddim" (with eta).
func gaussianRecursion(sc *schedules.Schedule, kind string, eta, mu, std float64) (mean, variance float64) {
	m, v := 0.0, 1.0 // centred mean of x_T (x_T ~ N(0, 1), and √ᾱ_T μ is subtracted below)
	n := len(sc.Beta)
	m = -math.Sqrt(sc.AlphaBar[n-1]) * mu
	s2 := std * std
	for i := n - 1; i >= 0; i-- {
		a := sc.AlphaBar[i]
		aPrev := 1.0
		if i > 0 {
			aPrev = sc.AlphaBar[i-1]
		}
		vStar := a*s2 + 1 - a
		var K, noise float64
		switch kind {
		case "ddpm-small", "ddpm-large":
			beta := 1 - a/aPrev
			c1 := beta * math.Sqrt(aPrev) / (1 - a)
			c2 := (1 - aPrev) * math.Sqrt(1-beta) / (1 - a)
			K = c1*math.Sqrt(a)*s2/vStar + c2
			if i > 0 {
				if kind == "ddpm-small" {
					noise = beta * (1 - aPrev) / (1 - a)
				} else {
					noise = beta
				}
			}
		case "ddim":
			sig2 := eta * eta * (1 - aPrev) / (1 - a) * (1 - a/aPrev)
			K = (math.Sqrt(aPrev*a)*s2 + math.Sqrt(1-aPrev-sig2)*math.Sqrt(1-a)) / vStar
			noise = sig2
		}
		m = K * m
		v = K*K*v + noise
	}
	return m + mu, v
}

// TestSamplersMatchGaussianRecursion plugs the closed-form optimal denoiser
// of N(μ, σ²I) data into each sampler (no training) and checks the samples'
// mean and variance against the exact recursion above, within 4 Monte-Carlo
// standard errors (√(V/n) for the mean, V√(2/(n−1)) for the variance). With
// all 1000 steps DDPM reproduces the data distribution itself; few-step
// samplers shrink the variance slightly, and the recursion says by how much.
func TestSamplersMatchGaussianRecursion(t *testing.T) {
	const mu, std = 0.5, 0.4
	const n, D = 4000, 2
	s := mustSchedule(t, "linear", 1000)
	p := mustProcess(t, s)
	respace := func(spec string) *Process {
		rp, err := p.RespaceSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		return rp
	}
	cases := []struct {
		name    string
		solver  Solver
		process *Process // the steps the solver visits
		pred    Prediction
		kind    string
		eta     float64
	}{
		{"DDPM 1000 steps β̃", DDPM{Variance: FixedSmall}, p, PredictEpsilon, "ddpm-small", 0},
		{"DDPM 1000 steps β", DDPM{Variance: FixedLarge}, p, PredictEpsilon, "ddpm-large", 0},
		{"DDPM 100 respaced steps x0-pred", DDPM{Steps: 100}, respace("linspace:100"), PredictX0, "ddpm-small", 0},
		{"DDIM η=0 1000 steps", DDIM{}, p, PredictEpsilon, "ddim", 0},
		{"DDIM η=0 50 steps", DDIM{Steps: 50}, respace("linspace:50"), PredictEpsilon, "ddim", 0},
		{"DDIM η=0 50 steps v-pred", DDIM{Steps: 50}, respace("linspace:50"), PredictV, "ddim", 0},
		{"DDIM η=1 50 steps", DDIM{Steps: 50, Eta: 1}, respace("linspace:50"), PredictEpsilon, "ddim", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantM, wantV := gaussianRecursion(c.process.Schedule, c.kind, c.eta, mu, std)
			// With all 1000 steps the output is within 2% of σ²: β̃ slightly under-
			// and β slightly over-disperses (Ho et al.'s lower and upper bounds).
			if c.process.T() == 1000 && math.Abs(wantV-std*std) > 0.02*std*std {
				t.Fatalf("recursion: 1000 steps should nearly reproduce σ² = %g, got %g", std*std, wantV)
			}
			m := p.Model(optimalAs(s, c.pred, mu, std))
			x, err := Sample(tb(), model.NewStore(), m, c.solver, n, []int{D}, SampleOptions{Seed: 21})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := tensorutil.Float64s(x)
			mean, s2 := meanVar(v)
			N := float64(len(v))
			tolM := 4 * math.Sqrt(wantV/N)
			tolV := 4 * wantV * math.Sqrt(2/(N-1))
			t.Logf("mean %.4f (exact %.4f ± %.4f), variance %.4f (exact %.4f ± %.4f; data σ² = %.2f)", mean, wantM, tolM, s2, wantV, tolV, std*std)
			if math.Abs(mean-wantM) > tolM || math.Abs(s2-wantV) > tolV {
				t.Errorf("samples have mean %.4f and variance %.4f; want %.4f ± %.4f and %.4f ± %.4f", mean, s2, wantM, tolM, wantV, tolV)
			}
		})
	}
}

// encodeDecodeAffine returns A and c such that decoding the encoding of x
// with the optimal denoiser of N(μ, σ²) data gives A·x + c: every encoding
// and decoding step is affine in x.
func encodeDecodeAffine(sc *schedules.Schedule, mu, std float64) (A, c float64) {
	s2 := std * std
	n := len(sc.Beta)
	abar := func(i int) float64 {
		if i < 0 {
			return 1
		}
		return sc.AlphaBar[i]
	}
	// eps(x, i) = e·x + f with the optimal denoiser at step i.
	epsCoef := func(i int) (e, f float64) {
		a := abar(i)
		v := a*s2 + 1 - a
		return math.Sqrt(1-a) / v, -math.Sqrt(1-a) * math.Sqrt(a) * mu / v
	}
	A, c = 1, 0        // x ↦ A x + c
	for i := range n { // encoding: from level i−1 to i, model at step i
		e, f := epsCoef(i)
		aP, a := abar(i-1), abar(i)
		// x0 = (x − √(1−aP) ε)/√aP ; x' = √a x0 + √(1−a) ε
		ex := math.Sqrt(a)/math.Sqrt(aP)*(1-math.Sqrt(1-aP)*e) + math.Sqrt(1-a)*e
		ef := -math.Sqrt(a)/math.Sqrt(aP)*math.Sqrt(1-aP)*f + math.Sqrt(1-a)*f
		A, c = ex*A, ex*c+ef
	}
	for i := n - 1; i >= 0; i-- { // decoding (DDIM η = 0)
		e, f := epsCoef(i)
		a, aP := abar(i), abar(i-1)
		// x0 = (x − √(1−a) ε)/√a ; x' = √aP x0 + √(1−aP) ε
		ex := math.Sqrt(aP)/math.Sqrt(a)*(1-math.Sqrt(1-a)*e) + math.Sqrt(1-aP)*e
		ef := -math.Sqrt(aP)/math.Sqrt(a)*math.Sqrt(1-a)*f + math.Sqrt(1-aP)*f
		A, c = ex*A, ex*c+ef
	}
	return A, c
}

// TestDDIMEncodeDecode checks deterministic encoding and decoding with the
// optimal denoiser of Gaussian data: the round trip equals, sample by
// sample, the exact affine map computed in float64; it approaches the
// identity as steps grow; and the latents are close to standard normal.
func TestDDIMEncodeDecode(t *testing.T) {
	const mu, std = 0.5, 0.4
	s := mustSchedule(t, "linear", 1000)
	p := mustProcess(t, s)
	m := p.Model(GaussianOptimalDenoiser(s, mu, std))
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 2000
	data := make([]float64, n)
	for i := range data {
		data[i] = mu + std*rng.NormFloat64()
	}
	x0 := tensors.FromFlatDataAndDimensions(data, n, 1)
	b := tb()
	var prevErr float64
	for _, k := range []int{20, 100, 1000} {
		rp, err := p.RespaceSpec(fmt.Sprintf("linspace:%d", k))
		if err != nil {
			t.Fatal(err)
		}
		lat, err := Encode(b, model.NewStore(), m, DDIMEncoder{Steps: k}, x0, SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := Sample(b, model.NewStore(), m, DDIM{Steps: k}, n, []int{1}, SampleOptions{Start: lat})
		if err != nil {
			t.Fatal(err)
		}
		bv, _ := tensorutil.Float64s(back)
		A, c := encodeDecodeAffine(rp.Schedule, mu, std)
		var worst float64
		for i := range bv {
			if want := A*data[i] + c; !close(bv[i], want, 1e-9) {
				t.Fatalf("%d steps: decode(encode(x_%d)) = %.12g, exact affine map gives %.12g", k, i, bv[i], want)
			}
			worst = math.Max(worst, math.Abs(bv[i]-data[i]))
		}
		lv, _ := tensorutil.Float64s(lat)
		m, v := meanVar(lv)
		t.Logf("%4d steps: round trip x ↦ %.5f x %+.5f, worst error %.2e; latents mean %.3f variance %.3f", k, A, c, worst, m, v)
		if prevErr > 0 && worst > prevErr/2 {
			t.Errorf("%d steps: round-trip error %.3g did not shrink (was %.3g)", k, worst, prevErr)
		}
		prevErr = worst
		if k == 1000 && (worst > 0.01 || math.Abs(m) > 0.1 || math.Abs(v-1) > 0.1) {
			t.Errorf("1000 steps: round-trip error %.3g, latents mean %.3f variance %.3f", worst, m, v)
		}
	}
}

var _ = fmt.Sprint
