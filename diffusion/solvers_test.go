package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/internal/tensorutil"
)

// flowError runs solver s (which must stop at MinTime) from the points x at
// t = 1 with the exact denoiser of N(mu, std²) data on levels, and returns
// the largest error against the exact solution of the probability-flow ODE
// at MinTime (GaussianFlow), and the number of model evaluations.
func flowError(t *testing.T, levels NoiseLevels, s Solver, x []float64, mu, std float64) (float64, int) {
	t.Helper()
	start := tensors.FromFlatDataAndDimensions(append([]float64(nil), x...), len(x), 1)
	res, err := Run(tb(), nil, GaussianModel(levels, mu, std), s, len(x), []int{1}, SampleOptions{Start: start, DType: dtypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	want := GaussianFlow(x, levels.At(1), levels.At(levels.MinTime()), mu, std)
	worst := 0.0
	for i, v := range res.Values {
		worst = math.Max(worst, math.Abs(v-want[i]))
	}
	return worst, res.NFE
}

// slope fits log err = a + b log n by least squares and returns −b, the
// order of convergence.
func slope(ns []int, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	for i, n := range ns {
		x, y := math.Log(float64(n)), math.Log(errs[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	k := float64(len(ns))
	return -(k*sxy - sx*sy) / (k*sxx - sx*sx)
}

// TestSolverOrders measures each deterministic solver's order of convergence
// on the probability-flow ODE of Gaussian data, whose exact solution is
// known in closed form (GaussianFlow): the error at MinTime against the
// number of steps must fall with the slope of the method's order on a
// log-log scale — 1 for DDIM (DPM-Solver-1), 2 for DPM-Solver++(2M),
// DPM-Solver++(2S) and EDM's Heun. The NFE of each solve must match the
// solver's documented count.
func TestSolverOrders(t *testing.T) {
	const mu, std = 0.5, 0.4
	vp := testVP()
	rng := rand.New(rand.NewPCG(3, 4))
	x := randVec(rng, 32, 1)
	// Step counts in each method's asymptotic range: a multistep method
	// extrapolates x̂₀ over λ steps of ≈ 9.6/n, so it needs n ≥ 16 on the VP
	// process, and ≥ 64 with time-uniform steps, which are wide in λ near
	// the data.
	ns, long := []int{16, 32, 64, 128}, []int{64, 128, 256, 512}
	cases := []struct {
		name     string
		ns       []int
		solver   func(n int) Solver
		nfe      func(n int) int
		min, max float64 // accepted range of the measured order
	}{
		{"DDIM", ns, func(n int) Solver { return DDIM{Steps: n, StopAtMinTime: true} }, func(n int) int { return n - 1 }, 0.85, 1.25},
		{"DPM-Solver++(2M)", ns, func(n int) Solver { return DPMSolverPP2M{Steps: n, StopAtMinTime: true} }, func(n int) int { return n - 1 }, 1.75, 2.6},
		{"DPM-Solver++(2M) time-uniform", long, func(n int) Solver { return DPMSolverPP2M{Steps: n, Spacing: "linspace", StopAtMinTime: true} },
			func(n int) int { return n - 1 }, 1.75, 2.6},
		{"DPM-Solver++(2M) Karras spacing", ns, func(n int) Solver { return DPMSolverPP2M{Steps: n, Spacing: "karras", StopAtMinTime: true} },
			func(n int) int { return n - 1 }, 1.75, 2.6},
		{"DPM-Solver++(2S)", ns, func(n int) Solver { return DPMSolverPP2S{Steps: n, StopAtMinTime: true} }, func(n int) int { return 2*n - 2 }, 1.75, 2.6},
		{"EDM Heun", ns, func(n int) Solver { return EDM{Steps: n, StopAtMinTime: true} }, func(n int) int { return 2*n - 2 }, 1.75, 2.6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := c.ns
			errs := make([]float64, len(ns))
			for i, n := range ns {
				var nfe int
				errs[i], nfe = flowError(t, vp, c.solver(n), x, mu, std)
				if want := c.nfe(n); nfe != want {
					t.Errorf("%d steps: %d model evaluations, want %d", n, nfe, want)
				}
			}
			order := slope(ns, errs)
			t.Logf("errors %.3g at %v steps: order %.2f", errs, ns, order)
			if order < c.min || order > c.max {
				t.Errorf("measured order %.2f, want within [%.2f, %.2f] (errors %.3g)", order, c.min, c.max, errs)
			}
		})
	}
}

// TestFastSolversReproduceGaussian samples Gaussian data with the exact
// denoiser on DDPM's discrete linear schedule (T = 1000) with each fast
// solver at its default 20 levels, ending at the data: the samples' mean and
// variance must match the data's within 4 Monte-Carlo standard errors plus
// an allowance for the discretisation of about twice the bias measured with
// this seed (for comparison, DDIM with 50 steps is 13% low: see
// TestSamplersMatchGaussianRecursion).
func TestFastSolversReproduceGaussian(t *testing.T) {
	const mu, std, n = 0.5, 0.4, 4000
	p := mustProcess(t, mustSchedule(t, "linear", 1000))
	m := p.Model(GaussianOptimalDenoiser(p.Schedule, mu, std))
	for _, c := range []struct {
		s     Solver
		nfe   int
		allow float64 // relative, on the variance
	}{{DPMSolverPP2M{}, 20, 0.07}, {DPMSolverPP2S{}, 19, 0.2}, {EDM{}, 39, 0.22}} {
		t.Run(fmt.Sprintf("%T", c.s), func(t *testing.T) {
			res, err := Run(tb(), nil, m, c.s, n, []int{1}, SampleOptions{Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			mean, v := meanVar(res.Values)
			tolM := 4*std/math.Sqrt(n) + 0.01
			tolV := 4*std*std*math.Sqrt(2.0/n) + c.allow*std*std
			t.Logf("mean %.4f variance %.4f (data %.2f, %.2f), %d model evaluations", mean, v, mu, std*std, res.NFE)
			if math.Abs(mean-mu) > tolM || math.Abs(v-std*std) > tolV {
				t.Errorf("mean %.4f ± %.4f, variance %.4f ± %.4f; want %.2f and %.2f", mean, tolM, v, tolV, mu, std*std)
			}
			if res.NFE != c.nfe {
				t.Errorf("%d model evaluations, want %d", res.NFE, c.nfe)
			}
		})
	}
}

// TestDriverOptions checks the driver's bookkeeping: batches give the same
// samples as one batch (the generator is shared in order), the same seed
// repeats a run, and bad input is refused with a clear message.
func TestDriverOptions(t *testing.T) {
	p := mustProcess(t, mustSchedule(t, "linear", 50))
	m := p.Model(GaussianOptimalDenoiser(p.Schedule, 0, 1))
	one, err := Sample(tb(), nil, m, DDIM{Steps: 5}, 10, []int{3}, SampleOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Sample(tb(), nil, m, DDIM{Steps: 5}, 10, []int{3}, SampleOptions{Seed: 9})
	a, _ := tensorutil.Float64s(one)
	b, _ := tensorutil.Float64s(again)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("the same seed gave different samples")
		}
	}
	batched, err := Run(tb(), nil, m, DDIM{Steps: 5}, 10, []int{3}, SampleOptions{Seed: 9, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if batched.TotalNFE != 15 || batched.NFE != 5 {
		t.Errorf("3 batches of 5 steps: NFE %d, total %d", batched.NFE, batched.TotalNFE)
	}
	// DDIM η = 0 draws only the starting noise, in batch order: the same samples.
	for i := range a {
		if math.Abs(a[i]-batched.Values[i]) > 1e-6 {
			t.Fatalf("batched sampling differs at %d: %g vs %g", i, batched.Values[i], a[i])
		}
	}
	for name, run := range map[string]func() error{
		"n = 0": func() error { _, err := Run(tb(), nil, m, DDIM{}, 0, []int{3}, SampleOptions{}); return err },
		"start rows": func() error {
			_, err := Run(tb(), nil, m, DDIM{}, 4, []int{3}, SampleOptions{Start: tensors.FromFlatDataAndDimensions(make([]float64, 9), 3, 3)})
			return err
		},
		"int dtype": func() error {
			_, err := Run(tb(), nil, m, DDIM{}, 2, []int{3}, SampleOptions{DType: dtypes.Int32})
			return err
		},
		"nil solver": func() error { _, err := Run(tb(), nil, m, nil, 2, []int{3}, SampleOptions{}); return err },
		"continuous spacing": func() error {
			_, err := Run(tb(), nil, GaussianModel(testVP(), 0, 1), DDIM{Steps: 3, Spacing: "leading"}, 2, []int{3}, SampleOptions{})
			return err
		},
	} {
		if err := run(); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
