package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestMixtureHostFormulas checks LogDensity against the plain sum of
// Gaussian densities (no log-sum-exp), Score against central differences of
// LogDensity, and that At of the marginal under VP matches sampling: the
// marginal's mean is m(t) Σ w μ.
func TestMixtureHostFormulas(t *testing.T) {
	mix := testMixture(t)
	for _, x := range [][]float64{{2, 0}, {0.5, 1.1}, {-1, -1.5}, {0, 0}} {
		p := 0.0
		for k, mu := range mix.Means {
			v := mix.Stds[k] * mix.Stds[k]
			d2 := (x[0]-mu[0])*(x[0]-mu[0]) + (x[1]-mu[1])*(x[1]-mu[1])
			p += mix.Weights[k] * math.Exp(-d2/(2*v)) / (2 * math.Pi * v)
		}
		if got := mix.LogDensity(x); math.Abs(got-math.Log(p)) > 1e-10*math.Max(1, math.Abs(got)) {
			t.Errorf("x=%v: LogDensity %.12g, direct sum %.12g", x, got, math.Log(p))
		}
		s := mix.Score(x)
		const h = 1e-6
		for i := range x {
			xp := append([]float64(nil), x...)
			xm := append([]float64(nil), x...)
			xp[i] += h
			xm[i] -= h
			fd := (mix.LogDensity(xp) - mix.LogDensity(xm)) / (2 * h)
			if math.Abs(s[i]-fd) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Errorf("x=%v: Score[%d] = %.8g, finite differences %.8g", x, i, s[i], fd)
			}
		}
	}
	// The host sampler: empirical mass of each component.
	pts := mix.Sample(rand.New(rand.NewPCG(5, 6)), 20000)
	count, _, _ := modeStats(mix, pts)
	for k, w := range mix.Weights {
		if p := float64(count[k]) / 20000; math.Abs(p-w) > 4*math.Sqrt(w*(1-w)/20000) {
			t.Errorf("Sample: mode %d mass %.4f, want %.4f", k, p, w)
		}
	}
	// RingMixture(8, 2, 0.1) is gaussians8: centres 2(cos kπ/4, sin kπ/4).
	ring, err := RingMixture(8, 2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if c := ring.Means[3]; math.Abs(c[0]+math.Sqrt2) > 1e-12 || math.Abs(c[1]-math.Sqrt2) > 1e-12 || ring.Weights[3] != 0.125 {
		t.Errorf("RingMixture(8, 2, 0.1): mean 3 %v weight %v, want (−√2, √2), 1/8", c, ring.Weights[3])
	}
}

// TestMixtureScoreFnMatchesHost compares the graph score (float64 and
// float32) with the host Score of Mixture.At(sde, t) at several points and
// times, including a point 1000 units away (finite thanks to the
// max-subtracted softmax; the host reference is stable too).
func TestMixtureScoreFnMatchesHost(t *testing.T) {
	mix := testMixture(t)
	pts := [][]float64{{2, 0}, {0.5, 1.1}, {-1, -1.5}, {0, 0}, {1000, -700}, {0.62, 1.9}}
	times := []float64{1e-3, 0.05, 0.3, 0.7, 1, 0.5}
	for _, sde := range allSDEs(t)[:3] {
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			fn := mix.ScoreFn(sde)
			exec, err := model.NewExec(tb(), model.NewStore(), func(scope *model.Scope, x, tt *Node) *Node {
				return ConvertDType(fn(scope, ConvertDType(x, dt), ConvertDType(tt, dt), cond.Nodes{}), dtypes.Float64)
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Call(rowsTensor(pts), tensors.FromFlatDataAndDimensions(times, len(times)))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float64](out[0])
			for i, p := range pts {
				want := mix.At(sde, times[i]).Score(p)
				for a := range want {
					tol := 1e-9 * math.Max(1, math.Abs(want[a]))
					if dt == dtypes.Float32 {
						tol = 2e-4 * math.Max(1, math.Abs(want[a]))
					}
					if g := got[2*i+a]; math.IsNaN(g) || math.Abs(g-want[a]) > tol {
						t.Errorf("%s %s x=%v t=%g: score[%d] = %.9g, host %.9g", sde.Name(), dt, p, times[i], a, g, want[a])
					}
				}
			}
			exec.Finalize()
		}
	}
}
