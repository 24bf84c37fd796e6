package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/schedules"
)

// stepAndNoise runs one sampler step and, from the same RNG state, the
// Gaussian draw the step would use, returning x_next and z.
func stepAndNoise(t *testing.T, s Sampler, den Denoiser, x []float64, B, D int, tIdx []int32, seed int64) (next, z []float64) {
	t.Helper()
	rng, err := RNGStateFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	outs := run(t, func(in []*Node) []*Node {
		xn, _, _ := s.Step(model.NewStore().RootScope(), den, in[0], in[1], nil, in[2])
		_, zz := RandomNormal(in[2], in[0].Shape())
		return []*Node{xn, zz}
	}, tensors.FromFlatDataAndDimensions(x, B, D), t32(tIdx), rng)
	return outs[0], outs[1]
}

// TestDDPMStepAgainstFloat64 checks one ancestral step, for each variance
// choice and with x̂₀ clipping, against float64 formulas; at the first step
// (index 0) no noise may be added.
func TestDDPMStepAgainstFloat64(t *testing.T) {
	s := mustSchedule(t, "linear", 100)
	p := mustProcess(t, s)
	r := newRef(s)
	rng := rand.New(rand.NewPCG(7, 8))
	const B, D = 4, 3
	steps := []int32{0, 1, 40, 99}
	x := randVec(rng, B*D, 1.5)
	cases := []struct {
		variance VarianceType
		learned  bool
		clip     bool
	}{{FixedSmall, false, false}, {FixedLarge, false, false}, {Learned, true, false}, {FixedSmall, false, true}}
	for _, c := range cases {
		den := toyDenoiser(PredictEpsilon, c.learned)
		next, z := stepAndNoise(t, DDPM{P: p, Variance: c.variance, ClipX0: c.clip}, den, x, B, D, steps, 11)
		for b := range B {
			i := int(steps[b])
			for d := range D {
				k := b*D + d
				eps, v := toyOutput(x[k], i, c.learned)
				x0 := (x[k] - math.Sqrt(1-r.abar[i])*eps) / math.Sqrt(r.abar[i])
				if c.clip {
					x0 = math.Max(-1, math.Min(1, x0))
				}
				mean, postVar := r.posterior(i, x0, x[k])
				_, beta2Tilde := r.posterior(1, 0, 0)
				var variance float64
				switch c.variance {
				case FixedSmall:
					variance = postVar
				case FixedLarge:
					variance = r.beta[i]
				case Learned:
					lo := math.Log(postVar)
					if i == 0 {
						lo = math.Log(beta2Tilde)
					}
					variance = math.Exp((v+1)/2*math.Log(r.beta[i]) + (1-(v+1)/2)*lo)
				}
				want := mean
				if i > 0 {
					want += math.Sqrt(variance) * z[k]
				}
				if !close(next[k], want, 1e-9) {
					t.Errorf("variance %v clip %v, index %d: x_{t-1} = %.10g, want %.10g", c.variance, c.clip, i, next[k], want)
				}
			}
		}
	}
}

// TestDDIMStepAgainstFloat64 checks the DDIM update (x̂₀ first, then the
// direction and the noise with σ = η √((1−ᾱ')/(1−ᾱ)) √(1−ᾱ/ᾱ')) on a
// respaced schedule, including its last step, which lands on ᾱ = 1.
func TestDDIMStepAgainstFloat64(t *testing.T) {
	s := mustSchedule(t, "cosine", 1000)
	p := mustProcess(t, s)
	rp, err := p.RespaceSpec("linspace:10")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const B, D = 4, 2
	steps := []int32{0, 1, 5, 9}
	x := randVec(rng, B*D, 1)
	for _, pred := range []Prediction{PredictEpsilon, PredictX0, PredictV} {
		for _, eta := range []float64{0, 0.5, 1} {
			den := toyDenoiser(pred, false)
			next, z := stepAndNoise(t, DDIM{P: rp, Eta: eta}, den, x, B, D, steps, 13)
			for b := range B {
				i := int(steps[b])
				orig := rp.Schedule.Timesteps[i]
				a := s.AlphaBar[orig] // ᾱ_t of the original schedule at the kept step
				aPrev := 1.0
				if i > 0 {
					aPrev = s.AlphaBar[rp.Schedule.Timesteps[i-1]]
				}
				sigma := eta * math.Sqrt((1-aPrev)/(1-a)) * math.Sqrt(1-a/aPrev)
				for d := range D {
					k := b*D + d
					o, _ := toyOutput(x[k], orig, false)
					var x0, eps float64
					switch pred {
					case PredictEpsilon:
						eps = o
						x0 = (x[k] - math.Sqrt(1-a)*eps) / math.Sqrt(a)
					case PredictX0:
						x0 = o
						eps = (x[k] - math.Sqrt(a)*x0) / math.Sqrt(1-a)
					case PredictV:
						x0 = math.Sqrt(a)*x[k] - math.Sqrt(1-a)*o
						eps = math.Sqrt(1-a)*x[k] + math.Sqrt(a)*o
					}
					want := math.Sqrt(aPrev)*x0 + math.Sqrt(1-aPrev-sigma*sigma)*eps
					if eta != 0 {
						want += sigma * z[k]
					}
					if i == 0 && !close(want, x0, 1e-12) {
						t.Fatalf("reference: the last DDIM step must return x̂₀")
					}
					if !close(next[k], want, 1e-9) {
						t.Errorf("%v η=%g index %d: got %.10g, want %.10g", pred, eta, i, next[k], want)
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
	return Denoiser{Prediction: pred, Fn: func(scope *model.Scope, xt, tt, cond *Node) *Node {
		eps := base.Fn(scope, xt, tt, cond)
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
	ddim50, ddpm100 := respace("linspace:50"), respace("linspace:100")
	cases := []struct {
		name    string
		sampler Sampler
		pred    Prediction
		kind    string
		eta     float64
	}{
		{"DDPM 1000 steps β̃", DDPM{P: p, Variance: FixedSmall}, PredictEpsilon, "ddpm-small", 0},
		{"DDPM 1000 steps β", DDPM{P: p, Variance: FixedLarge}, PredictEpsilon, "ddpm-large", 0},
		{"DDPM 100 respaced steps x0-pred", DDPM{P: ddpm100, Variance: FixedSmall}, PredictX0, "ddpm-small", 0},
		{"DDIM η=0 1000 steps", DDIM{P: p}, PredictEpsilon, "ddim", 0},
		{"DDIM η=0 50 steps", DDIM{P: ddim50}, PredictEpsilon, "ddim", 0},
		{"DDIM η=0 50 steps v-pred", DDIM{P: ddim50}, PredictV, "ddim", 0},
		{"DDIM η=1 50 steps", DDIM{P: ddim50, Eta: 1}, PredictEpsilon, "ddim", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantM, wantV := gaussianRecursion(c.sampler.Process().Schedule, c.kind, c.eta, mu, std)
			// With all 1000 steps the output is within 2% of σ²: β̃ slightly under-
			// and β slightly over-disperses (Ho et al.'s lower and upper bounds).
			if len(c.sampler.Steps()) == 1000 && math.Abs(wantV-std*std) > 0.02*std*std {
				t.Fatalf("recursion: 1000 steps should nearly reproduce σ² = %g, got %g", std*std, wantV)
			}
			den := optimalAs(s, c.pred, mu, std)
			x, err := Sample(tb(), model.NewStore(), den, c.sampler, n, []int{D}, SampleOptions{Seed: 21})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := floats(x)
			m, s2 := meanVar(v)
			N := float64(len(v))
			tolM := 4 * math.Sqrt(wantV/N)
			tolV := 4 * wantV * math.Sqrt(2/(N-1))
			t.Logf("mean %.4f (exact %.4f ± %.4f), variance %.4f (exact %.4f ± %.4f; data σ² = %.2f)", m, wantM, tolM, s2, wantV, tolV, std*std)
			if math.Abs(m-wantM) > tolM || math.Abs(s2-wantV) > tolV {
				t.Errorf("samples have mean %.4f and variance %.4f; want %.4f ± %.4f and %.4f ± %.4f", m, s2, wantM, tolM, wantV, tolV)
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
	den := GaussianOptimalDenoiser(s, mu, std)
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
		ddim := DDIM{P: rp}
		lat, err := Encode(b, model.NewStore(), den, ddim, x0, SampleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := Sample(b, model.NewStore(), den, ddim, n, []int{1}, SampleOptions{XT: lat})
		if err != nil {
			t.Fatal(err)
		}
		bv, _ := floats(back)
		A, c := encodeDecodeAffine(rp.Schedule, mu, std)
		var worst float64
		for i := range bv {
			if want := A*data[i] + c; !close(bv[i], want, 1e-9) {
				t.Fatalf("%d steps: decode(encode(x_%d)) = %.12g, exact affine map gives %.12g", k, i, bv[i], want)
			}
			worst = math.Max(worst, math.Abs(bv[i]-data[i]))
		}
		lv, _ := floats(lat)
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
