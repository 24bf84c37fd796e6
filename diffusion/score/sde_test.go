package score

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/schedules"
)

func allSDEs(t *testing.T) []SDE {
	t.Helper()
	var out []SDE
	for _, name := range []string{"vp", "subvp", "ve"} {
		s, err := NewSDE(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name() != name {
			t.Errorf("NewSDE(%q).Name() = %q", name, s.Name())
		}
		out = append(out, s)
	}
	return append(out, VP(schedules.VPSDE{BetaMin: 0.5, BetaMax: 5}), VE(schedules.VESDE{SigmaMin: 0.1, SigmaMax: 3}))
}

// TestSDEMarginalSolvesMomentODEs checks each SDE's Marginal against an
// independent numerical solution (RK4, 20,000 steps) of the moment equations
// of a linear SDE, dm/dt = f m and dv/dt = 2 f v + g², built only from
// DriftDiffusion, from m(0) = 1 and v(0) = 0 (VP, sub-VP) or σ_min² (VE, Song
// et al.'s convention); and, for Song et al.'s default parameters (the others
// are not converged at t = 1), PriorStd against the std at t = 1.
func TestSDEMarginalSolvesMomentODEs(t *testing.T) {
	for i, sde := range allSDEs(t) {
		m0, s0 := sde.Marginal(0)
		if m0 != 1 {
			t.Errorf("%s: m(0) = %v, want 1", sde.Name(), m0)
		}
		m, v := 1.0, s0*s0
		const steps = 20000
		h := 1.0 / steps
		deriv := func(t, m, v float64) (float64, float64) {
			f, g := sde.DriftDiffusion(t)
			return f * m, 2*f*v + g*g
		}
		for k := range steps {
			tk := float64(k) * h
			a1, b1 := deriv(tk, m, v)
			a2, b2 := deriv(tk+h/2, m+h/2*a1, v+h/2*b1)
			a3, b3 := deriv(tk+h/2, m+h/2*a2, v+h/2*b2)
			a4, b4 := deriv(tk+h, m+h*a3, v+h*b3)
			m += h / 6 * (a1 + 2*a2 + 2*a3 + a4)
			v += h / 6 * (b1 + 2*b2 + 2*b3 + b4)
			if (k+1)%4000 == 0 {
				tt := float64(k+1) * h
				gm, gs := sde.Marginal(tt)
				if math.Abs(gm-m) > 1e-9*math.Max(1, m) || math.Abs(gs*gs-v) > 1e-9*math.Max(1, v) {
					t.Errorf("%s t=%.2f: Marginal = (%.10g, %.10g²), moment ODEs give (%.10g, %.10g²)", sde.Name(), tt, gm, gs, m, math.Sqrt(v))
				}
			}
		}
		_, s1 := sde.Marginal(1)
		if i < 3 && math.Abs(s1-sde.PriorStd()) > 1e-3*sde.PriorStd() {
			t.Errorf("%s: PriorStd %v, std at t=1 %v", sde.Name(), sde.PriorStd(), s1)
		}
		if e := sde.MinTime(); !(e > 0 && e < 0.01) {
			t.Errorf("%s: MinTime %v, want in (0, 0.01)", sde.Name(), e)
		}
	}
}

// TestSDEGraphMatchesFloat64 evaluates the graph marginal coefficients
// (GraphMarginal) on a grid of t (as a [3, 7] tensor, to exercise any shape)
// in float64 and float32 and compares them with the float64 Marginal.
func TestSDEGraphMatchesFloat64(t *testing.T) {
	ts := make([]float64, 21)
	for i := range ts {
		ts[i] = float64(i) / 20
	}
	ts[0] = 1e-5
	for _, sde := range allSDEs(t) {
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			exec, err := NewExec(tb(), func(tn *Node) []*Node {
				tn = ConvertDType(tn, dt)
				m, s := sde.GraphMarginal(tn)
				out := []*Node{m, s}
				for i, o := range out {
					out[i] = ConvertDType(o, dtypes.Float64)
				}
				return out
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Call(tensors.FromFlatDataAndDimensions(ts, 3, 7))
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-12
			if dt == dtypes.Float32 {
				tol = 1e-5
			}
			vals := make([][]float64, 2)
			for i := range vals {
				if got := outs[i].Shape().Dimensions; len(got) != 2 || got[0] != 3 || got[1] != 7 {
					t.Fatalf("%s: output %d shaped %v, want [3 7]", sde.Name(), i, got)
				}
				vals[i] = tensors.MustCopyFlatData[float64](outs[i])
			}
			for j, tt := range ts {
				m, s := sde.Marginal(tt)
				for i, want := range []float64{m, s} {
					if math.Abs(vals[i][j]-want) > tol*math.Max(1, math.Abs(want)) {
						t.Errorf("%s %s t=%g: graph coefficient %d = %.12g, float64 %.12g", sde.Name(), dt, tt, i, vals[i][j], want)
					}
				}
			}
			exec.Finalize()
		}
	}
}

// TestSDEWrappersMatchSchedules checks that the wrappers return exactly
// package schedules' coefficients (the formulas' one owner).
func TestSDEWrappersMatchSchedules(t *testing.T) {
	vp, sub, ve := schedules.DefaultVPSDE(), schedules.DefaultSubVPSDE(), schedules.DefaultVESDE()
	type fm interface {
		DriftDiffusion(float64) (float64, float64)
		Marginal(float64) (float64, float64)
	}
	for _, c := range []struct {
		name string
		got  SDE
		want fm
	}{{"vp", VP(vp), vp}, {"subvp", SubVP(sub), sub}, {"ve", VE(ve), ve}} {
		for _, tt := range []float64{0, 1e-3, 0.3, 0.77, 1} {
			f1, g1 := c.got.DriftDiffusion(tt)
			f2, g2 := c.want.DriftDiffusion(tt)
			m1, s1 := c.got.Marginal(tt)
			m2, s2 := c.want.Marginal(tt)
			if f1 != f2 || g1 != g2 || m1 != m2 || s1 != s2 {
				t.Errorf("%s t=%g: wrapper (%v %v %v %v), schedules (%v %v %v %v)", c.name, tt, f1, g1, m1, s1, f2, g2, m2, s2)
			}
		}
	}
	if VE(ve).PriorStd() != 50 || VP(vp).PriorStd() != 1 || SubVP(sub).PriorStd() != 1 {
		t.Errorf("prior stds: ve %v vp %v subvp %v, want 50, 1, 1", VE(ve).PriorStd(), VP(vp).PriorStd(), SubVP(sub).PriorStd())
	}
}
