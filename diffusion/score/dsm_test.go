package score_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/diffusion/score"
)

func dsmSDEs(t *testing.T) []score.SDE {
	t.Helper()
	var out []score.SDE
	for _, name := range []string{"vp", "subvp", "ve"} {
		s, err := score.NewSDE(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// dsmRun compiles fn on the shared backend with a fresh store seeded by seed
// and returns its outputs as float64 slices.
func dsmRun[F model.ExecGraphFn](t *testing.T, seed int64, fn F, args ...any) [][]float64 {
	t.Helper()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, seed)
	e, err := model.NewExec(backend.MustShared(), store, fn)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := e.Call(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		for _, v := range tensors.MustCopyFlatData[float32](o) {
			res[i] = append(res[i], float64(v))
		}
	}
	return res
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestDenoisingScoreMatchingValues checks the per-example loss at given t
// and z against a float64 evaluation of (1/D) Σ_d (σ(t) s(x_t)_d + z_d)² with
// x_t = m(t) x₀ + σ(t) z, m and σ from the SDE's float64 Marginal (package
// schedules), for the model s(x, t) = −a x + c(t) with c(t) = t.
func TestDenoisingScoreMatchingValues(t *testing.T) {
	const B, D, a = 6, 3, 0.7
	rng := rand.New(rand.NewPCG(1, 2))
	x0, z, ts := make([]float64, B*D), make([]float64, B*D), []float64{1e-3, 0.01, 0.1, 0.37, 0.8, 1}
	for i := range x0 {
		x0[i], z[i] = 2*rng.NormFloat64(), rng.NormFloat64()
	}
	fn := func(scope *model.Scope, x, tt *Node, _ cond.Nodes) *Node {
		return Add(MulScalar(x, -a), BroadcastToShape(ExpandAxes(tt, -1), x.Shape()))
	}
	for _, sde := range dsmSDEs(t) {
		t.Run(sde.Name(), func(t *testing.T) {
			got := dsmRun(t, 1, func(scope *model.Scope, x0, tt, z *Node) *Node {
				return score.DenoisingScoreMatching(scope, sde, fn, x0, tt, z, cond.Nodes{})
			}, tensors.FromFlatDataAndDimensions(f32(x0), B, D), f32(ts), tensors.FromFlatDataAndDimensions(f32(z), B, D))[0]
			for b := range B {
				m, s := sde.Marginal(ts[b])
				var want float64
				for d := range D {
					xt := m*x0[b*D+d] + s*z[b*D+d]
					r := s*(-a*xt+ts[b]) + z[b*D+d]
					want += r * r / D
				}
				if math.Abs(got[b]-want) > 1e-4*(1+want) {
					t.Errorf("t=%g: loss %g, want %g", ts[b], got[b], want)
				}
			}
		})
	}
}

// TestDSMMinimiserIsTrueScore trains nothing: for Gaussian data
// x₀ ~ N(μ, s² I) the marginal is p_t = N(m μ, v I) with v = m² s² + σ², its
// score is s*(x) = −(x − m μ)/v, and (derivation) with x₀ − μ = a:
//
//	σ s* + z = −σ m a/v + (1 − σ²/v) z,  so  E[(σ s*_d + z_d)²] = σ² m² s²/v² + (m² s²/v)² = m² s²/v,
//
// the smallest value the per-dimension DSM loss can take at t. DSMLoss of the
// exact score, with t ~ U(ε, 1) drawn inside, must average
// L* = E_t[m² s²/(m² s² + σ²)] (computed here by Simpson's rule in float64)
// within 5 standard errors of the Monte-Carlo mean. A score off by a constant
// c in every dimension must cost exactly E_t[σ² c²] more (the cross term
// vanishes because s* is the conditional mean of −z/σ), checked on the
// same draws, and so be larger.
func TestDSMMinimiserIsTrueScore(t *testing.T) {
	const N, D, s, c = 40000, 2, 0.7, 0.3
	mu := []float64{0.5, -1}
	rng := rand.New(rand.NewPCG(3, 4))
	x0 := make([]float32, N*D)
	for i := range x0 {
		x0[i] = float32(mu[i%D] + s*rng.NormFloat64())
	}
	muT := tensors.FromFlatDataAndDimensions(f32(mu), 1, D)
	for _, sde := range dsmSDEs(t) {
		t.Run(sde.Name(), func(t *testing.T) {
			trueScore := func(shift float64) score.ScoreFn {
				return func(scope *model.Scope, x, tt *Node, _ cond.Nodes) *Node {
					g := x.Graph()
					m, std := sde.GraphMarginal(tt)
					m, std = ExpandAxes(m, -1), ExpandAxes(std, -1)
					v := Add(MulScalar(Square(m), s*s), Square(std))
					center := Mul(m, Const(g, muT.Value()))
					return AddScalar(Neg(Div(Sub(x, center), v)), shift)
				}
			}
			outs := dsmRun(t, 5, func(scope *model.Scope, x0 *Node) (*Node, *Node, *Node) {
				g := x0.Graph()
				exact := score.DSMLoss(sde, trueScore(0))(scope, x0, cond.Nodes{})
				// Paired draws for the perturbed score.
				eps := sde.MinTime()
				tt := AddScalar(MulScalar(scope.RandomUniform(g, shapes.Make(x0.DType(), N)), 1-eps), eps)
				z := scope.RandomNormal(g, x0.Shape())
				a := score.DenoisingScoreMatching(scope, sde, trueScore(0), x0, tt, z, cond.Nodes{})
				b := score.DenoisingScoreMatching(scope, sde, trueScore(c), x0, tt, z, cond.Nodes{})
				return exact, a, Sub(b, a)
			}, tensors.FromFlatDataAndDimensions(x0, N, D))
			// Float64 references by Simpson's rule over t ∈ [ε, 1].
			lstar := simpson(func(tt float64) float64 {
				m, std := sde.Marginal(tt)
				return m * m * s * s / (m*m*s*s + std*std)
			}, sde.MinTime(), 1)
			extra := c * c * simpson(func(tt float64) float64 { _, std := sde.Marginal(tt); return std * std }, sde.MinTime(), 1)
			for _, chk := range []struct {
				name string
				xs   []float64
				want float64
			}{{"DSMLoss(exact score)", outs[0], lstar}, {"DSM(exact score), paired draws", outs[1], lstar},
				{"DSM(score + c) − DSM(exact)", outs[2], extra}} {
				mean, se := meanSE(chk.xs)
				t.Logf("%s: %.5f ± %.5f, closed form %.5f", chk.name, mean, se, chk.want)
				if math.Abs(mean-chk.want) > 5*se {
					t.Errorf("%s: Monte-Carlo mean %.5f ± %.5f, closed form %.5f", chk.name, mean, se, chk.want)
				}
			}
			if mean, se := meanSE(outs[2]); mean < 5*se {
				t.Errorf("the perturbed score's loss is not clearly larger: excess %.5f ± %.5f", mean, se)
			}
		})
	}
}

// simpson integrates f over [a, b] divided by b − a (the mean over U(a, b)),
// by composite Simpson's rule on 20,000 intervals.
func simpson(f func(float64) float64, a, b float64) float64 {
	const n = 20000
	h := (b - a) / n
	sum := f(a) + f(b)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(a+float64(i)*h)
	}
	return sum * h / 3 / (b - a)
}

func meanSE(xs []float64) (mean, se float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	v /= float64(len(xs) - 1)
	return mean, math.Sqrt(v / float64(len(xs)))
}
