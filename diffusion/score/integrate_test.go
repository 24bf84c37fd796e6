package score

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// TestODEStepNumbers checks the step numbers and counts of the solvers
// built on the integrator, the ODE sampler (from t = 1 to ε) and the
// likelihood evaluator (from ε to 1), for every rule: OnStep sees
// k = 0, 1, 2, … (diffusion.StepInfo.K is the 0-based step number), as many
// steps as the run reports, Steps of them for a fixed-step rule, and the
// last one reaches the end of the solve; Len is Steps for a fixed-step rule
// and 0 for RK45 (not known in advance).
func TestODEStepNumbers(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	pts := likelihoodPoints(mix)
	const fixedSteps = 4
	for _, solver := range []Solver{Euler, Heun, RK4, RK45} {
		steps := fixedSteps
		if solver == RK45 {
			steps = 0
		}
		for _, c := range []struct {
			name   string
			s      diffusion.Solver
			start  *tensors.Tensor
			n      int
			tStart float64
			tEnd   float64
		}{
			{"ode", ODE{Solver: solver, Steps: steps}, nil, 8, 1, vp.MinTime()},
			{"likelihood", LikelihoodEvaluator{Solver: solver, Steps: steps}, rowsTensor(pts), len(pts), vp.MinTime(), 1},
		} {
			t.Run(c.name+"/"+solver.String(), func(t *testing.T) {
				var ks []int
				var ts []float64
				res, err := diffusion.Run(tb(), nil, mix.Model(vp), c.s, c.n, []int{2}, diffusion.SampleOptions{Seed: 1, Start: c.start,
					OnStep: func(_, k int, tt float64, _, _ *tensors.Tensor) {
						ks = append(ks, k)
						ts = append(ts, tt)
					}})
				if err != nil {
					t.Fatal(err)
				}
				if len(ks) == 0 || len(ks) != res.Steps {
					t.Fatalf("OnStep called %d times, the run reports %d steps", len(ks), res.Steps)
				}
				if solver != RK45 && len(ks) != fixedSteps {
					t.Errorf("%d steps, want Steps = %d", len(ks), fixedSteps)
				}
				for i, k := range ks {
					if k != i {
						t.Fatalf("step numbers %v, want 0, 1, 2, …", ks)
					}
				}
				if last := ts[len(ts)-1]; math.Abs(last-c.tEnd) > 1e-9 {
					t.Errorf("last step reaches t = %v, want %v", last, c.tEnd)
				}
				for i, tt := range ts {
					prev := c.tStart
					if i > 0 {
						prev = ts[i-1]
					}
					if (tt-prev)*(c.tEnd-c.tStart) <= 0 {
						t.Errorf("step %d reaches t = %v from %v, not towards %v", i, tt, prev, c.tEnd)
					}
				}
				x := make([]float64, 2*c.n)
				st, err := c.s.Start(&diffusion.Batch{Levels: vp, X: x, N: c.n, D: 2, Noise: diffusion.NewNoise(1)})
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Len(); got != steps {
					t.Errorf("Len() = %d, want %d", got, steps)
				}
			})
		}
	}
}
