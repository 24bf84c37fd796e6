package diffusion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/godiffusion/diffusion-models/schedules"
)

// vpLevels is the continuous VP process (β from 0.1 to 20) as NoiseLevels,
// written here from schedules.VPSDE so that these tests need no score
// package.
type vpLevels struct{ s schedules.VPSDE }

func (v vpLevels) At(t float64) Level {
	if t <= 0 {
		return DataLevel
	}
	m, sd := v.s.Marginal(t)
	return Level{T: t, Alpha: m, Sigma: sd}
}
func (vpLevels) MinTime() float64  { return 1e-3 }
func (vpLevels) PriorStd() float64 { return 1 }
func (vpLevels) Discrete() int     { return 0 }

func testVP() NoiseLevels { return vpLevels{schedules.DefaultVPSDE()} }

// TestProcessTimeIndex checks the one conversion between step indices and
// continuous time, t_i = (i+1)/T, both ways, and the levels it gives.
func TestProcessTimeIndex(t *testing.T) {
	for _, T := range []int{1, 7, 1000} {
		p := mustProcess(t, mustSchedule(t, "cosine", T))
		for i := range T {
			ti := p.Time(i)
			if want := float64(i+1) / float64(T); ti != want {
				t.Fatalf("T=%d: Time(%d) = %g, want %g", T, i, ti, want)
			}
			if got := p.Index(ti); got != i {
				t.Fatalf("T=%d: Index(Time(%d)) = %d", T, i, got)
			}
			// Times within half a step of t_i snap to i.
			if got := p.Index(ti + 0.49/float64(T)); got != i {
				t.Fatalf("T=%d: Index just above t_%d = %d", T, i, got)
			}
			if got := p.Index(ti - 0.49/float64(T)); got != i {
				t.Fatalf("T=%d: Index just below t_%d = %d", T, i, got)
			}
			l := p.At(ti)
			if l.T != ti || !close(l.Alpha, math.Sqrt(p.Schedule.AlphaBar[i]), 1e-14) || !close(l.Sigma, math.Sqrt(1-p.Schedule.AlphaBar[i]), 1e-12) {
				t.Fatalf("T=%d: At(t_%d) = %+v", T, i, l)
			}
		}
		if p.Index(-3) != 0 || p.Index(7) != T-1 {
			t.Errorf("T=%d: Index does not clamp: %d, %d", T, p.Index(-3), p.Index(7))
		}
		if p.At(0) != DataLevel || p.At(-1) != DataLevel {
			t.Errorf("T=%d: At(0) = %+v, want the data", T, p.At(0))
		}
		if p.MinTime() != p.Time(0) || p.Discrete() != T || p.PriorStd() != 1 {
			t.Errorf("T=%d: MinTime %g, Discrete %d, PriorStd %g", T, p.MinTime(), p.Discrete(), p.PriorStd())
		}
	}
}

// TestGrids checks the grids of the solvers on a discrete and a continuous
// process: StepGrid against schedules.SpacedTimesteps and linspace,
// LambdaGrid evenly spaced in λ, KarrasGrid against schedules.KarrasSigmas.
func TestGrids(t *testing.T) {
	p := mustProcess(t, mustSchedule(t, "linear", 1000))
	vp := testVP()
	t.Run("step discrete", func(t *testing.T) {
		for _, spacing := range []string{"linspace", "leading", "trailing", "ddim"} {
			g, err := StepGrid(p, 10, spacing)
			if err != nil {
				t.Fatal(err)
			}
			spec := spacing + ":10"
			if spacing == "ddim" {
				spec = "ddim10"
			}
			kept, _ := schedules.SpacedTimesteps(1000, spec)
			for k, l := range g {
				if want := p.At(p.Time(kept[len(kept)-1-k])); l != want {
					t.Errorf("%s: level %d = %v, want %v", spacing, k, l, want)
				}
			}
		}
		all, _ := StepGrid(p, 0, "")
		if len(all) != 1000 || all[0].T != 1 || all[999] != p.At(p.MinTime()) {
			t.Errorf("all steps: %d levels from %v to %v", len(all), all[0], all[len(all)-1])
		}
	})
	t.Run("step continuous", func(t *testing.T) {
		g, err := StepGrid(vp, 5, "")
		if err != nil {
			t.Fatal(err)
		}
		for k, l := range g {
			want := 1 + (1e-3-1)*float64(k)/4
			if math.Abs(l.T-want) > 1e-15 {
				t.Errorf("level %d at t=%g, want %g", k, l.T, want)
			}
		}
		if _, err := StepGrid(vp, 5, "trailing"); err == nil {
			t.Errorf("trailing spacing on a continuous process was accepted")
		}
	})
	t.Run("lambda", func(t *testing.T) {
		g, err := LambdaGrid(vp, 9)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := vp.At(1).Lambda(), vp.At(1e-3).Lambda()
		for k, l := range g {
			if want := lo + (hi-lo)*float64(k)/8; math.Abs(l.Lambda()-want) > 1e-9 {
				t.Errorf("level %d: λ = %.12g, want %.12g", k, l.Lambda(), want)
			}
		}
		gd, _ := LambdaGrid(p, 20)
		for k := 1; k < len(gd); k++ {
			if !(gd[k].T < gd[k-1].T) || gd[k] != p.At(gd[k].T) {
				t.Errorf("discrete λ grid: level %d %v after %v", k, gd[k], gd[k-1])
			}
		}
	})
	t.Run("karras", func(t *testing.T) {
		g, err := KarrasGrid(vp, 12, 7)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := schedules.KarrasSigmas(12, vp.At(1e-3).ScaledSigma(), vp.At(1).ScaledSigma(), 7)
		for k, l := range g {
			if math.Abs(l.ScaledSigma()/want[k]-1) > 1e-9 {
				t.Errorf("level %d: σ/α = %.12g, want %.12g", k, l.ScaledSigma(), want[k])
			}
		}
	})
}

// TestConvertOutput checks that every parametrisation of the model's output
// gives back the x₀ and ε that made x = α x₀ + σ ε, for VP and non-VP levels.
func TestConvertOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lv := range []Level{{T: 0.3, Alpha: 0.8, Sigma: 0.6}, {T: 0.9, Alpha: 1, Sigma: 7.5}, {T: 0.1, Alpha: 0.99, Sigma: 0.02}} {
		x0, eps := randVec(rng, 6, 1), randVec(rng, 6, 1)
		x := make([]float64, 6)
		outs := map[Prediction][]float64{}
		for i := range x {
			x[i] = lv.Alpha*x0[i] + lv.Sigma*eps[i]
			outs[PredictEpsilon] = append(outs[PredictEpsilon], eps[i])
			outs[PredictX0] = append(outs[PredictX0], x0[i])
			outs[PredictV] = append(outs[PredictV], lv.Alpha*eps[i]-lv.Sigma*x0[i])
			outs[PredictScore] = append(outs[PredictScore], -eps[i]/lv.Sigma)
		}
		for pred, out := range outs {
			o, err := ConvertOutput(pred, x, out, lv)
			if err != nil {
				t.Fatal(err)
			}
			for i := range x {
				if !close(o.X0[i], x0[i], 1e-12) || !close(o.Eps[i], eps[i], 1e-12) {
					t.Errorf("%v at %v: x̂₀ %g ε̂ %g, want %g %g", pred, lv, o.X0[i], o.Eps[i], x0[i], eps[i])
				}
			}
		}
	}
}
