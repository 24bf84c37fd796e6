package schedules

import (
	"math"
	"testing"
)

// The SDE marginals are checked against RK4 integration of the moment ODEs,
// dm/dt = f m and dv/dt = 2 f v + g², in two ways: with β(t) written out in
// the test, and with the types' own DriftDiffusion (a consistency check
// between the closed forms and the coefficients).

var rk4Times = []float64{0.01, 0.1, 0.3, 0.5, 0.8, 1}

func TestVPSDEMarginal(t *testing.T) {
	for _, p := range []struct{ lo, hi float64 }{{0.1, 20}, {1, 5}, {3, 3}, {0, 0}} {
		sde := VPSDE{BetaMin: p.lo, BetaMax: p.hi}
		beta := func(t float64) float64 { return p.lo + (p.hi-p.lo)*t }
		ode := func(t float64, y []float64) []float64 {
			b := beta(t)
			return []float64{-0.5 * b * y[0], b * (1 - y[1])}
		}
		odeCoef := func(t float64, y []float64) []float64 {
			f, g := sde.DriftDiffusion(t)
			return []float64{f * y[0], 2*f*y[1] + g*g}
		}
		for _, tt := range rk4Times {
			want := rk4(ode, []float64{1, 0}, 0, tt, 4000)
			wantC := rk4(odeCoef, []float64{1, 0}, 0, tt, 4000)
			mean, std := sde.Marginal(tt)
			checkNear(t, "VP mean", mean, want[0], 1e-10, 1e-14)
			checkNear(t, "VP variance", std*std, want[1], 1e-10, 1e-14)
			checkNear(t, "VP mean (DriftDiffusion)", mean, wantC[0], 1e-10, 1e-14)
			checkNear(t, "VP variance (DriftDiffusion)", std*std, wantC[1], 1e-10, 1e-14)
			checkNear(t, "VP std² + mean² = 1", std*std+mean*mean, 1, 0, 1e-15)
			checkNear(t, "VP β(t)", sde.Beta(tt), beta(tt), 1e-15, 0)
		}
	}
	d := DefaultVPSDE()
	if d.BetaMin != 0.1 || d.BetaMax != 20 {
		t.Errorf("DefaultVPSDE() = %+v", d)
	}
	// Song et al.'s closed form at t = 1: exp(−¼·19.9 − ½·0.1).
	mean, _ := d.Marginal(1)
	checkNear(t, "VP mean(1)", mean, math.Exp(-0.25*19.9-0.05), 1e-15, 0)
	// The zero value is the noiseless process.
	m0, s0 := VPSDE{}.Marginal(0.7)
	if m0 != 1 || s0 != 0 {
		t.Errorf("zero VPSDE Marginal = %v, %v, want 1, 0", m0, s0)
	}
}

func TestSubVPSDEMarginal(t *testing.T) {
	for _, p := range []struct{ lo, hi float64 }{{0.1, 20}, {1, 5}, {2, 0.5}} {
		sde := SubVPSDE{BetaMin: p.lo, BetaMax: p.hi}
		beta := func(t float64) float64 { return p.lo + (p.hi-p.lo)*t }
		// State (m, v, B) with B' = β integrated alongside, so that the
		// test never uses the closed form of ∫β.
		ode := func(t float64, y []float64) []float64 {
			b := beta(t)
			return []float64{-0.5 * b * y[0], -b*y[1] + b*(1-math.Exp(-2*y[2])), b}
		}
		odeCoef := func(t float64, y []float64) []float64 {
			f, g := sde.DriftDiffusion(t)
			return []float64{f * y[0], 2*f*y[1] + g*g}
		}
		vp := VPSDE(sde)
		for _, tt := range rk4Times {
			want := rk4(ode, []float64{1, 0, 0}, 0, tt, 4000)
			wantC := rk4(odeCoef, []float64{1, 0}, 0, tt, 4000)
			mean, std := sde.Marginal(tt)
			checkNear(t, "sub-VP mean", mean, want[0], 1e-10, 1e-14)
			checkNear(t, "sub-VP variance", std*std, want[1], 1e-9, 1e-14)
			checkNear(t, "sub-VP mean (DriftDiffusion)", mean, wantC[0], 1e-10, 1e-14)
			checkNear(t, "sub-VP variance (DriftDiffusion)", std*std, wantC[1], 1e-9, 1e-14)
			checkNear(t, "sub-VP std = 1 − mean²", std, 1-mean*mean, 1e-12, 1e-15)
			if _, vpStd := vp.Marginal(tt); !(std < vpStd) {
				t.Errorf("t=%v: sub-VP std %v not below VP std %v", tt, std, vpStd)
			}
		}
	}
	d := DefaultSubVPSDE()
	if d.BetaMin != 0.1 || d.BetaMax != 20 {
		t.Errorf("DefaultSubVPSDE() = %+v", d)
	}
}

func TestVESDE(t *testing.T) {
	for _, sde := range []VESDE{DefaultVESDE(), {SigmaMin: 0.002, SigmaMax: 80}, {SigmaMin: 1, SigmaMax: 2}} {
		if got := sde.Sigma(0); !near(got, sde.SigmaMin, 1e-15, 0) {
			t.Errorf("σ(0) = %v, want σ_min = %v", got, sde.SigmaMin)
		}
		if got := sde.Sigma(1); !near(got, sde.SigmaMax, 1e-14, 0) {
			t.Errorf("σ(1) = %v, want σ_max = %v", got, sde.SigmaMax)
		}
		// Geometric: log σ is linear in t, equal ratios over equal steps.
		r := sde.Sigma(0.1) / sde.Sigma(0)
		for k := 1; k < 10; k++ {
			tt := float64(k) / 10
			checkNear(t, "σ ratio", sde.Sigma(tt+0.1)/sde.Sigma(tt), r, 1e-12, 0)
			checkNear(t, "log σ", math.Log(sde.Sigma(tt)), math.Log(sde.SigmaMin)+tt*math.Log(sde.SigmaMax/sde.SigmaMin), 1e-13, 1e-14)
		}
		// dv/dt = g² from v(0) = σ_min² gives σ(t)² (Song et al.'s
		// convention); g² = d[σ²]/dt = 2σ² ln(σ_max/σ_min) written here.
		sigma := func(t float64) float64 {
			return math.Exp(math.Log(sde.SigmaMin) + t*math.Log(sde.SigmaMax/sde.SigmaMin))
		}
		ode := func(t float64, y []float64) []float64 {
			s := sigma(t)
			return []float64{2 * s * s * math.Log(sde.SigmaMax/sde.SigmaMin)}
		}
		odeCoef := func(t float64, y []float64) []float64 {
			f, g := sde.DriftDiffusion(t)
			if f != 0 {
				panic("VE drift must be 0")
			}
			return []float64{g * g}
		}
		for _, tt := range rk4Times {
			want := rk4(ode, []float64{sde.SigmaMin * sde.SigmaMin}, 0, tt, 4000)
			wantC := rk4(odeCoef, []float64{sde.SigmaMin * sde.SigmaMin}, 0, tt, 4000)
			mean, std := sde.Marginal(tt)
			if mean != 1 {
				t.Errorf("VE mean = %v, want 1", mean)
			}
			checkNear(t, "VE variance", std*std, want[0], 1e-10, 0)
			checkNear(t, "VE variance (DriftDiffusion)", std*std, wantC[0], 1e-10, 0)
		}
	}
}

func TestSDEValidate(t *testing.T) {
	good := []interface{ Validate() error }{
		DefaultVPSDE(), DefaultSubVPSDE(), DefaultVESDE(), VPSDE{}, SubVPSDE{}, VPSDE{BetaMin: 5, BetaMax: 1},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v, want nil", s, err)
		}
	}
	bad := []struct {
		sde  interface{ Validate() error }
		want string
	}{
		{VPSDE{BetaMin: -0.1, BetaMax: 20}, "VPSDE.Validate: BetaMin = -0.1"},
		{VPSDE{BetaMin: 0.1, BetaMax: math.NaN()}, "VPSDE.Validate: BetaMax = NaN"},
		{VPSDE{BetaMin: 0.1, BetaMax: math.Inf(1)}, "BetaMax = +Inf"},
		{SubVPSDE{BetaMin: math.NaN()}, "SubVPSDE.Validate: BetaMin = NaN"},
		{VESDE{}, "VESDE.Validate: SigmaMin = 0"},
		{VESDE{SigmaMin: 50, SigmaMax: 0.01}, "SigmaMin = 50, SigmaMax = 0.01"},
		{VESDE{SigmaMin: math.NaN(), SigmaMax: 1}, "SigmaMin = NaN"},
		{VESDE{SigmaMin: 1, SigmaMax: math.Inf(1)}, "SigmaMax = +Inf"},
	}
	for _, tc := range bad {
		checkErr(t, tc.sde.Validate(), tc.want)
	}
}
