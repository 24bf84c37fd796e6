package diffusion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// TestProcessAgainstFloat64 checks every per-step formula of the process in
// the graph against float64 formulas written from β alone, at indices that
// include the first and last steps (the off-by-one traps).
func TestProcessAgainstFloat64(t *testing.T) {
	for _, name := range []string{"linear", "cosine"} {
		s := mustSchedule(t, name, 100)
		p := mustProcess(t, s)
		r := newRef(s)
		rng := rand.New(rand.NewPCG(1, 2))
		const B, D = 6, 3
		steps := []int32{0, 1, 2, 50, 98, 99}
		x0 := randVec(rng, B*D, 0.7)
		xt := randVec(rng, B*D, 1)
		eps := randVec(rng, B*D, 1)
		T := func(v []float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(v, B, D) }
		outs := run(t, func(in []*Node) []*Node {
			x0, xt, eps, tt := in[0], in[1], in[2], in[3]
			pm, pv, plv := p.QPosterior(x0, xt, tt)
			qm, qv, qlv := p.QMeanVariance(x0, tt)
			return []*Node{
				p.QSample(x0, tt, eps), // 0
				pm, pv, plv,            // 1 2 3
				qm, qv, qlv, // 4 5 6
				p.X0FromEps(xt, tt, eps),        // 7
				p.EpsFromX0(xt, tt, x0),         // 8
				p.VFromX0Eps(x0, tt, eps),       // 9
				p.X0FromV(xt, tt, eps),          // 10 (eps used as a v value)
				p.EpsFromV(xt, tt, eps),         // 11
				p.ScoreFromEps(tt, eps),         // 12
				p.Target(PredictV, x0, tt, eps), // 13
				p.ModelTimesteps(tt),            // 14
			}
		}, T(x0), T(xt), T(eps), t32(steps))
		for b := range B {
			i := int(steps[b])
			ab, abPrev := r.abar[i], r.abarPrev[i]
			for d := range D {
				k := b*D + d
				mean, variance := r.posterior(i, x0[k], xt[k])
				logVarClipped := math.Log(variance)
				if i == 0 {
					_, v1 := r.posterior(1, 0, 0) // β̃ at the second step: β₂(1−ᾱ₁)/(1−ᾱ₂)
					logVarClipped = math.Log(v1)
				}
				checks := []struct {
					what      string
					got, want float64
				}{
					{"q_sample", outs[0][k], math.Sqrt(ab)*x0[k] + math.Sqrt(1-ab)*eps[k]},
					{"posterior mean", outs[1][k], mean},
					{"posterior variance", outs[2][b], variance},
					{"posterior clipped log-variance", outs[3][b], logVarClipped},
					{"q mean", outs[4][k], math.Sqrt(ab) * x0[k]},
					{"q variance", outs[5][b], 1 - ab},
					{"q log-variance", outs[6][b], math.Log(1 - ab)},
					{"x0 from eps", outs[7][k], (xt[k] - math.Sqrt(1-ab)*eps[k]) / math.Sqrt(ab)},
					{"eps from x0", outs[8][k], (xt[k] - math.Sqrt(ab)*x0[k]) / math.Sqrt(1-ab)},
					{"v", outs[9][k], math.Sqrt(ab)*eps[k] - math.Sqrt(1-ab)*x0[k]},
					{"x0 from v", outs[10][k], math.Sqrt(ab)*xt[k] - math.Sqrt(1-ab)*eps[k]},
					{"eps from v", outs[11][k], math.Sqrt(1-ab)*xt[k] + math.Sqrt(ab)*eps[k]},
					{"score", outs[12][k], -eps[k] / math.Sqrt(1-ab)},
					{"v target", outs[13][k], math.Sqrt(ab)*eps[k] - math.Sqrt(1-ab)*x0[k]},
				}
				_ = abPrev
				for _, c := range checks {
					if !close(c.got, c.want, 1e-9) {
						t.Errorf("%s, t=%d (index %d), %s: got %.12g, want %.12g", name, i+1, i, c.what, c.got, c.want)
					}
				}
			}
			if int(outs[14][b]) != i {
				t.Errorf("%s: unrespaced model timestep of index %d is %v", name, i, outs[14][b])
			}
		}
	}
}

// TestParametrizationsRoundTrip checks that converting a prediction to x̂₀
// and ε̂ and back is the identity for every parametrization, and that the
// pair (x̂₀, ε̂) reconstructs x_t.
func TestParametrizationsRoundTrip(t *testing.T) {
	s := mustSchedule(t, "cosine", 50)
	p := mustProcess(t, s)
	rng := rand.New(rand.NewPCG(3, 4))
	const B, D = 4, 2
	steps := []int32{0, 10, 30, 49}
	xt := randVec(rng, B*D, 1)
	out := randVec(rng, B*D, 1)
	T := func(v []float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(v, B, D) }
	for _, pred := range []Prediction{PredictEpsilon, PredictX0, PredictV} {
		outs := run(t, func(in []*Node) []*Node {
			xt, out, tt := in[0], in[1], in[2]
			x0, eps := p.X0AndEps(pred, xt, tt, out)
			recon := p.QSample(x0, tt, eps)
			var back *Node
			switch pred {
			case PredictEpsilon:
				back = eps
			case PredictX0:
				back = x0
			case PredictV:
				back = p.VFromX0Eps(x0, tt, eps)
			}
			return []*Node{recon, back}
		}, T(xt), T(out), t32(steps))
		for k := range xt {
			if !close(outs[0][k], xt[k], 1e-9) {
				t.Errorf("%v: √ᾱ x̂₀ + √(1−ᾱ) ε̂ = %g, want x_t = %g", pred, outs[0][k], xt[k])
			}
			if !close(outs[1][k], out[k], 1e-9) {
				t.Errorf("%v: round trip gave %g, want %g", pred, outs[1][k], out[k])
			}
		}
	}
}

// TestRespacedModelTimesteps checks that a respaced process calls the model
// with the original schedule's indices and keeps ᾱ at those steps.
func TestRespacedModelTimesteps(t *testing.T) {
	s := mustSchedule(t, "linear", 1000)
	p := mustProcess(t, s)
	rp, err := p.RespaceSpec("ddim10")
	if err != nil {
		t.Fatal(err)
	}
	if rp.T() != 10 {
		t.Fatalf("respaced T = %d, want 10", rp.T())
	}
	idx := []int32{0, 1, 9}
	outs := run(t, func(in []*Node) []*Node { return []*Node{rp.ModelTimesteps(in[0])} }, t32(idx))
	want := []float64{0, 100, 900} // ddim10 of 1000: stride 100
	for i := range idx {
		if outs[0][i] != want[i] {
			t.Errorf("model timestep of respaced index %d = %v, want %v", idx[i], outs[0][i], want[i])
		}
		if rp.Schedule.AlphaBar[idx[i]] != s.AlphaBar[int(want[i])] {
			t.Errorf("respaced ᾱ at %d differs from the original", idx[i])
		}
	}
}

// TestScoreOfOptimalDenoiser checks s = −ε̂/√(1−ᾱ_t) against the exact score
// of the marginal of Gaussian data, ∇log q_t(x) = −(x − √ᾱ_t μ)/(ᾱ_t σ² + 1 − ᾱ_t),
// and that EpsFromScore inverts ScoreFromEps.
func TestScoreOfOptimalDenoiser(t *testing.T) {
	const mu, std = -0.4, 0.7
	s := mustSchedule(t, "cosine", 200)
	p := mustProcess(t, s)
	den := GaussianOptimalDenoiser(s, mu, std)
	x := []float64{-2, -0.5, 0, 0.3, 1, 2.5}
	steps := []int32{0, 10, 50, 100, 150, 199}
	outs := run(t, func(in []*Node) []*Node {
		eps := den.Fn(nil, in[0], in[1], cond.Nodes{})
		score := p.ScoreFromEps(in[1], eps)
		return []*Node{score, p.EpsFromScore(in[1], score), eps}
	}, tensors.FromFlatDataAndDimensions(x, 6, 1), t32(steps))
	for i, xi := range x {
		a := s.AlphaBar[steps[i]]
		want := -(xi - math.Sqrt(a)*mu) / (a*std*std + 1 - a)
		if !close(outs[0][i], want, 1e-9) {
			t.Errorf("t-index %d: score %g, exact %g", steps[i], outs[0][i], want)
		}
		if !close(outs[1][i], outs[2][i], 1e-9) {
			t.Errorf("EpsFromScore(ScoreFromEps(ε)) = %g, want %g", outs[1][i], outs[2][i])
		}
	}
}

// TestChainMatchesClosedForm runs the Markov chain q(x_t | x_{t−1}) step by
// step in float64 and checks, at several t, that x_t − √ᾱ_t x₀ has mean 0
// and variance 1 − ᾱ_t (what QSample draws), within 4 standard errors.
func TestChainMatchesClosedForm(t *testing.T) {
	s := mustSchedule(t, "linear", 1000)
	rng := rand.New(rand.NewPCG(12, 34))
	const n = 20000
	x0 := make([]float64, n)
	for i := range x0 {
		x0[i] = 1.5 * math.Tanh(rng.NormFloat64()) // any data will do
	}
	x := append([]float64(nil), x0...)
	for step := 1; step <= s.T; step++ {
		b := s.Beta[step-1]
		for i := range x {
			x[i] = math.Sqrt(1-b)*x[i] + math.Sqrt(b)*rng.NormFloat64()
		}
		if step != 10 && step != 200 && step != 1000 {
			continue
		}
		ab := s.AlphaBar[step-1]
		var m, v float64
		for i := range x {
			r := x[i] - math.Sqrt(ab)*x0[i]
			m += r / n
			v += r * r / n
		}
		v -= m * m
		if se := math.Sqrt((1 - ab) / n); math.Abs(m) > 4*se {
			t.Errorf("t=%d: mean residual %g, want 0 ± %g", step, m, 4*se)
		}
		if se := (1 - ab) * math.Sqrt(2.0/n); math.Abs(v-(1-ab)) > 4*se {
			t.Errorf("t=%d: residual variance %g, want %g ± %g", step, v, 1-ab, 4*se)
		}
	}
}
