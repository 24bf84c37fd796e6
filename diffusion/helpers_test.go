package diffusion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/tensorutil"
	"github.com/godiffusion/diffusion-models/schedules"
)

// testBE, when set, is the backend the tests run on instead of the shared
// one (TestOnGPU sets it to a CUDA backend).
var testBE compute.Backend

// tb is the backend of the tests.
func tb() compute.Backend {
	if testBE != nil {
		return testBE
	}
	return backend.MustShared()
}

// ref holds per-step quantities recomputed in float64 from β alone, written
// differently from package schedules (running products, direct formulas), as
// an independent reference.
type ref struct {
	beta, abar, abarPrev []float64
}

func newRef(s *schedules.Schedule) ref {
	r := ref{beta: append([]float64(nil), s.Beta...)}
	prod := 1.0
	for _, b := range r.beta {
		r.abarPrev = append(r.abarPrev, prod)
		prod *= 1 - b
		r.abar = append(r.abar, prod)
	}
	return r
}

// posterior returns μ̃ and β̃ of q(x_{t−1} | x_t, x₀) at index i by Gaussian
// conditioning: prior x_{t−1} ~ N(√ᾱ_{t−1} x₀, 1−ᾱ_{t−1}), likelihood
// x_t | x_{t−1} ~ N(√α_t x_{t−1}, β_t).
func (r ref) posterior(i int, x0, xt float64) (mean, variance float64) {
	a := 1 - r.beta[i]
	priorVar := 1 - r.abarPrev[i]
	priorMean := math.Sqrt(r.abarPrev[i]) * x0
	if priorVar == 0 {
		return x0, 0
	}
	prec := 1/priorVar + a/r.beta[i]
	variance = 1 / prec
	mean = variance * (priorMean/priorVar + math.Sqrt(a)*xt/r.beta[i])
	return mean, variance
}

func mustSchedule(t *testing.T, name string, T int) *schedules.Schedule {
	t.Helper()
	s, err := schedules.New(name, T)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustProcess(t *testing.T, s *schedules.Schedule) *Process {
	t.Helper()
	p, err := NewProcess(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run executes fn on the shared backend and returns its outputs as float64 slices.
func run(t *testing.T, fn func(in []*Node) []*Node, args ...any) [][]float64 {
	t.Helper()
	e, err := NewExec(tb(), fn)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	outs, err := e.Call(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		if res[i], err = tensorutil.Float64s(o); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func close(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*(1+math.Abs(b))
}

func t32(v []int32) *tensors.Tensor { return tensors.FromValue(v) }

var _ = dtypes.Float64

// requireSameRun fails the test unless a resumed trainer repeated an
// uninterrupted one exactly: the same steps losses, bit for bit, and the same
// variables (weights, optimiser state, EMAs, step, generator) at the end.
func requireSameRun(t *testing.T, full, resumed *Trainer, steps int) {
	t.Helper()
	a, b := full.Losses(), resumed.Losses()
	if len(a) != steps || len(b) != steps {
		t.Fatalf("loss histories have %d and %d entries, want %d", len(a), len(b), steps)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: uninterrupted loss %v, resumed loss %v", i+1, a[i], b[i])
		}
	}
	ca, _ := full.Checkpoint(nil)
	cb, _ := resumed.Checkpoint(nil)
	if len(ca.Variables) != len(cb.Variables) {
		t.Fatalf("%d vs %d variables", len(ca.Variables), len(cb.Variables))
	}
	for name, ta := range ca.Variables {
		tb, ok := cb.Variables[name]
		if !ok || !ta.Equal(tb) {
			t.Errorf("variable %s differs after resuming", name)
		}
	}
}
