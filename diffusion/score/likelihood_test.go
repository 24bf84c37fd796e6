package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

// likelihoodPoints returns a handful of 2-D points: three mixture draws, a
// point between two modes, the origin and a far point.
func likelihoodPoints(mix *Mixture) [][]float64 {
	pts := mix.Sample(rand.New(rand.NewPCG(3, 4)), 3)
	return append(pts, []float64{1.3, 0.9}, []float64{0, 0}, []float64{3, -2.5})
}

func rowsTensor(rows [][]float64) *tensors.Tensor {
	flat := make([]float64, 0, len(rows)*len(rows[0]))
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(rows), len(rows[0]))
}

// TestLogLikelihoodMatchesMixture integrates the probability-flow ODE of the
// exact mixture score and compares log p_ε(x) with the mixture's closed form
// at t = ε (Mixture.At(sde, ε).LogDensity, a log-sum-exp of Gaussians). With
// the exact p_1 as prior the only error is the ODE solver's; with the
// default prior N(0, σ_p² I) the prior mismatch adds |log p_1 − log prior|
// at x(1), bounded here by 0.05 nats (VP: m(1) = 0.0066; VE: σ_max = 50)
// for the points drawn from the mixture; the others are left out there, as
// the ODE carries a point far in the tails to |x(1)| ≫ σ_p, where the
// mismatch (linear in x(1)) is larger.
func TestLogLikelihoodMatchesMixture(t *testing.T) {
	mix := testMixture(t)
	pts := likelihoodPoints(mix)
	vp, _ := NewSDE("vp")
	ve, _ := NewSDE("ve")
	cases := []struct {
		name  string
		sde   SDE
		opts  LikelihoodOptions
		exact bool    // use the exact p_1 as prior
		tol   float64 // nats
	}{
		{"vp/rk45/exact-prior", vp, LikelihoodOptions{Solver: RK45, RTol: 1e-7, ATol: 1e-7}, true, 2e-3},
		{"ve/rk45/exact-prior", ve, LikelihoodOptions{Solver: RK45, RTol: 1e-7, ATol: 1e-7}, true, 2e-3},
		{"subvp/rk45/exact-prior", SubVP(schedules.DefaultSubVPSDE()), LikelihoodOptions{Solver: RK45, RTol: 1e-7, ATol: 1e-7}, true, 2e-3},
		// Fixed steps on a uniform grid resolve the fast change near t = ε
		// poorly (RK4 with 200 steps is off by nats): they need ~1000 steps.
		{"vp/rk4/exact-prior", vp, LikelihoodOptions{Solver: RK4, Steps: 1000}, true, 2e-2},
		{"vp/heun/exact-prior", vp, LikelihoodOptions{Solver: Heun, Steps: 1000}, true, 3e-2},
		{"vp/rk45/default-prior", vp, DefaultLikelihoodOptions(), false, 0.05},
		{"ve/rk45/default-prior", ve, DefaultLikelihoodOptions(), false, 0.05},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			if c.exact {
				opts.PriorLogDensity = mix.At(c.sde, 1).LogDensity
			}
			got, err := LogLikelihood(tb(), nil, mix.Model(c.sde), rowsTensor(pts), opts)
			if err != nil {
				t.Fatal(err)
			}
			target := mix.At(c.sde, c.sde.MinTime())
			worst := 0.0
			for i, p := range pts {
				if !c.exact && i >= 3 {
					break
				}
				want := target.LogDensity(p)
				worst = max(worst, math.Abs(got[i]-want))
				if math.Abs(got[i]-want) > c.tol {
					t.Errorf("x=%v: log p = %.5f, want %.5f ± %g", p, got[i], want, c.tol)
				}
			}
			t.Logf("worst |log p − exact| = %.2e nats", worst)
		})
	}
}

// TestHutchinsonMatchesExactDivergence evaluates the divergence of the
// mixture's probability-flow velocity at one point: the exact one must match
// central finite differences of the float64 Mixture.Score, and the mean of
// 4000 Hutchinson estimates (Rademacher and Gaussian probes) must lie within
// 4 Monte-Carlo standard errors of it.
func TestHutchinsonMatchesExactDivergence(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	fn := mix.ScoreFn(vp)
	const probes = 4000
	x0 := []float64{1.2, 0.7}
	const tt = 0.3
	xs := make([]float64, 0, 2*probes)
	rng := rand.New(rand.NewPCG(1, 2))
	zr := make([]float64, 0, 2*probes)
	zg := make([]float64, 0, 2*probes)
	for range probes {
		xs = append(xs, x0...)
		zr = append(zr, float64(2*rng.IntN(2)-1), float64(2*rng.IntN(2)-1))
		zg = append(zg, rng.NormFloat64(), rng.NormFloat64())
	}
	f, g := vp.DriftDiffusion(tt)
	exec, err := model.NewExec(tb(), model.NewStore(), func(scope *model.Scope, x, zr, zg *Node) (*Node, *Node, *Node) {
		tb := Scalar(x.Graph(), dtypes.Float64, tt)
		tb = BroadcastToDims(tb, probes)
		// f̃ = f y − ½ g² s(y)
		vel := func(y *Node) *Node {
			return Sub(MulScalar(y, f), MulScalar(fn(scope, y, tb, cond.Nodes{}), 0.5*g*g))
		}
		_, exact := diffusion.Divergence(vel, x)
		_, hr := diffusion.HutchinsonDivergence(vel, x, zr)
		_, hg := diffusion.HutchinsonDivergence(vel, x, zg)
		return exact, hr, hg
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Call(tensors.FromFlatDataAndDimensions(xs, probes, 2),
		tensors.FromFlatDataAndDimensions(zr, probes, 2), tensors.FromFlatDataAndDimensions(zg, probes, 2))
	if err != nil {
		t.Fatal(err)
	}
	exact := tensors.MustCopyFlatData[float64](outs[0])[0]

	// Independent reference: ∇·f̃ = D f − ½ g² ∇·s with ∇·s by central
	// differences of the float64 mixture score at time t.
	pt := mix.At(vp, tt)
	const h = 1e-5
	divS := 0.0
	for i := range x0 {
		xp := append([]float64(nil), x0...)
		xm := append([]float64(nil), x0...)
		xp[i] += h
		xm[i] -= h
		divS += (pt.Score(xp)[i] - pt.Score(xm)[i]) / (2 * h)
	}
	want := 2*f - 0.5*g*g*divS
	if math.Abs(exact-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("exact divergence %.8f, finite differences %.8f", exact, want)
	}
	for k, name := range []string{"rademacher", "gaussian"} {
		est := tensors.MustCopyFlatData[float64](outs[k+1])
		mean, m2 := 0.0, 0.0
		for _, v := range est {
			mean += v
		}
		mean /= probes
		for _, v := range est {
			m2 += (v - mean) * (v - mean)
		}
		se := math.Sqrt(m2 / (probes - 1) / probes)
		t.Logf("%s: mean of %d probes %.4f ± %.4f (s.e.), exact %.4f", name, probes, mean, se, exact)
		if math.Abs(mean-exact) > 4*se {
			t.Errorf("%s Hutchinson mean %.4f, exact %.4f, more than 4 s.e. (%.4f) apart", name, mean, exact, se)
		}
	}
}

// TestLogLikelihoodHutchinson checks that the Hutchinson log-likelihood is
// unbiased: over 400 copies of one point (independent probes) its mean
// matches the exact-divergence value within 4 standard errors.
func TestLogLikelihoodHutchinson(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	const copies = 400
	rows := make([][]float64, copies)
	for i := range rows {
		rows[i] = []float64{1.5, 1.1}
	}
	exactOpts := DefaultLikelihoodOptions()
	exact, err := LogLikelihood(tb(), nil, mix.Model(vp), rowsTensor(rows[:1]), exactOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []DivergenceMethod{HutchinsonRademacher, HutchinsonGaussian} {
		opts := DefaultLikelihoodOptions()
		opts.Divergence, opts.Seed = m, 9
		got, err := LogLikelihood(tb(), nil, mix.Model(vp), rowsTensor(rows), opts)
		if err != nil {
			t.Fatal(err)
		}
		mean, m2 := 0.0, 0.0
		for _, v := range got {
			mean += v
		}
		mean /= copies
		for _, v := range got {
			m2 += (v - mean) * (v - mean)
		}
		se := math.Sqrt(m2 / (copies - 1) / copies)
		t.Logf("%v: mean %.4f ± %.4f (s.e.), exact %.4f", m, mean, se, exact[0])
		if math.Abs(mean-exact[0]) > 4*se+1e-3 {
			t.Errorf("%v: mean log p %.4f, exact-divergence value %.4f (s.e. %.4f)", m, mean, exact[0], se)
		}
	}
}

// TestBitsPerDim checks the dequantization and the change of variables: a
// density uniform on [−1, 1]^D (log p = −D ln 2) is uniform over the 256
// levels, exactly 8 bits/dim; and x = (k + u)/128 − 1 by direct arithmetic.
func TestBitsPerDim(t *testing.T) {
	for _, d := range []int{1, 2, 784} {
		got, err := BitsPerDim(-float64(d)*math.Ln2, d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-8) > 1e-12 {
			t.Errorf("D=%d: uniform density gives %.15f bits/dim, want 8", d, got)
		}
	}
	// A density 2^D times higher than uniform (log p = 0 on a cube of side 1) saves one bit per dimension.
	if got, _ := BitsPerDim(0, 3); math.Abs(got-7) > 1e-12 {
		t.Errorf("log p = 0 gives %v bits/dim, want 7", got)
	}
	x, err := Dequantize([]uint8{0, 255, 128}, []float64{0, 0.999, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{-1, (255.999 - 128) / 128, 0.5 / 128}
	for i := range x {
		if math.Abs(x[i]-want[i]) > 1e-15 {
			t.Errorf("Dequantize[%d] = %v, want %v", i, x[i], want[i])
		}
	}
}
