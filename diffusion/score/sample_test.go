package score

import (
	"math"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/schedules"
)

// samplerCase is one sampler run with the exact mixture score; mass, mean
// and vr are the allowances for its discretisation error (absolute on mode
// masses and means, relative on variances), set at about twice the biases
// measured with 30,000 samples. toData marks the solvers of package
// diffusion, which end at the data (t = 0) rather than at MinTime.
type samplerCase struct {
	name           string
	sde            SDE
	solver         diffusion.Solver
	toData         bool
	mass, mean, vr float64
}

func samplerCases() []samplerCase {
	vp, _ := NewSDE("vp")
	ve, _ := NewSDE("ve")
	subvp := SubVP(schedules.DefaultSubVPSDE())
	return []samplerCase{
		{"EM/vp", vp, EulerMaruyama{Steps: 500}, false, 0.005, 0.01, 0.04},
		{"EM/ve", ve, EulerMaruyama{Steps: 500}, false, 0.005, 0.01, 0.04},
		{"PC/vp", vp, PredictorCorrector{Steps: 500, Corrector: 1}, false, 0.005, 0.01, 0.06},
		{"PC/ve", ve, PredictorCorrector{Steps: 200, Corrector: 1}, false, 0.005, 0.01, 0.1},
		{"ODE-Euler/vp", vp, ODE{Steps: 500, Solver: Euler}, false, 0.005, 0.01, 0.05},
		{"ODE-Heun/vp", vp, ODE{Steps: 100, Solver: Heun}, false, 0.005, 0.01, 0.05},
		{"ODE-Heun/ve", ve, ODE{Steps: 100, Solver: Heun}, false, 0.005, 0.01, 0.04},
		{"ODE-RK4/subvp", subvp, ODE{Steps: 50, Solver: RK4}, false, 0.005, 0.01, 0.04},
		{"ODE-RK45/vp", vp, ODE{Solver: RK45}, false, 0.005, 0.01, 0.04},
		{"Langevin/ve", ve, AnnealedLangevin{Levels: 40, StepsPerLevel: 20, StepSize: 1e-4}, false, 0.02, 0.01, 0.08},
		{"DDIM/vp", vp, diffusion.DDIM{Steps: 100}, true, 0.005, 0.01, 0.2},
		{"DDIM η=1/subvp", subvp, diffusion.DDIM{Steps: 200, Eta: 1}, true, 0.005, 0.01, 0.2},
		{"DDPM/ve", ve, diffusion.DDPM{Steps: 500}, true, 0.005, 0.01, 0.07},
		{"DDPM/vp", vp, diffusion.DDPM{Steps: 500}, true, 0.005, 0.01, 0.16},
		{"DPM-Solver++(2M)/vp", vp, diffusion.DPMSolverPP2M{Steps: 50}, true, 0.005, 0.01, 0.06},
		{"DPM-Solver++(2M)/ve", ve, diffusion.DPMSolverPP2M{Steps: 50}, true, 0.005, 0.01, 0.05},
		{"DPM-Solver++(2S)/subvp", subvp, diffusion.DPMSolverPP2S{Steps: 30}, true, 0.005, 0.01, 0.14},
		{"EDM/ve", ve, diffusion.EDM{Steps: 30}, true, 0.005, 0.01, 0.05},
	}
}

// TestSamplersReproduceMixture runs every sampler with the exact score of the
// test mixture as the model (no training) and checks that the samples have
// the mixture's per-mode masses, means and variances at t = ε (the target
// p_ε, computed in closed form by Mixture.At). Tolerances: 4 standard errors
// of each estimate (binomial √(p(1−p)/n) for masses, s_k/√n_k for means,
// v_k √(2/(D n_k)) for variances, √(2/(D n)) for the variance error pooled
// over modes) plus the case's discretisation allowance.
func TestSamplersReproduceMixture(t *testing.T) {
	const n = 4000
	mix := testMixture(t)
	for _, c := range samplerCases() {
		t.Run(c.name, func(t *testing.T) {
			x, err := diffusion.Sample(tb(), nil, mix.Model(c.sde), c.solver, n, []int{2}, diffusion.SampleOptions{Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			if got := x.Shape().Dimensions; len(got) != 2 || got[0] != n || got[1] != 2 {
				t.Fatalf("samples shaped %v, want [%d 2]", got, n)
			}
			target := mix.At(c.sde, c.sde.MinTime())
			if c.toData {
				target = mix
			}
			count, mean, variance := modeStats(target, toRows(t, x))
			worstMass, worstMean, worstVar, pooled := 0.0, 0.0, 0.0, 0.0
			for k, w := range target.Weights {
				p := float64(count[k]) / n
				tol := 4*math.Sqrt(w*(1-w)/n) + c.mass
				worstMass = max(worstMass, math.Abs(p-w))
				if math.Abs(p-w) > tol {
					t.Errorf("mode %d: mass %.4f, want %.4f ± %.4f", k, p, w, tol)
				}
				nk := float64(count[k])
				sk := target.Stds[k]
				for a := range mean[k] {
					e := math.Abs(mean[k][a] - target.Means[k][a])
					worstMean = max(worstMean, e)
					if tol := 4*sk/math.Sqrt(nk) + c.mean; e > tol {
						t.Errorf("mode %d axis %d: mean %.4f, want %.4f ± %.4f", k, a, mean[k][a], target.Means[k][a], tol)
					}
				}
				r := variance[k]/(sk*sk) - 1
				pooled += r * nk / n
				worstVar = max(worstVar, math.Abs(r))
				if tol := 4*math.Sqrt(2/(2*nk)) + c.vr; math.Abs(r) > tol {
					t.Errorf("mode %d: variance %.5f, want %.5f (relative error %.3f > %.3f)", k, variance[k], sk*sk, r, tol)
				}
			}
			if tol := 4*math.Sqrt(2/(2.0*n)) + c.vr; math.Abs(pooled) > tol {
				t.Errorf("pooled relative variance error %.3f > %.3f", pooled, tol)
			}
			t.Logf("worst errors: mass %.4f, mean %.4f, relative variance %.3f (pooled %+.3f)", worstMass, worstMean, worstVar, pooled)
		})
	}
}
