package samplers

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestCycle: cycled labels are i mod k; class-major labels, when k divides
// n, put class r in row r of a grid n/k wide (n = 100, k = 10: row r is
// samples 10r … 10r+9); otherwise they cycle.
func TestCycle(t *testing.T) {
	labels, order := Cycle(100, 10, true)
	if order != OrderClassMajor {
		t.Fatalf("order %q", order)
	}
	for i, l := range labels {
		if row := i / 10; int(l) != row {
			t.Fatalf("sample %d (row %d of a 10-wide grid) has label %d", i, row, l)
		}
	}
	for _, c := range []struct {
		n, k       int
		classMajor bool
	}{{100, 10, false}, {25, 10, true}, {9, 8, false}} {
		labels, order := Cycle(c.n, c.k, c.classMajor)
		if order != OrderCycled || len(labels) != c.n {
			t.Errorf("%+v: order %q, %d labels", c, order, len(labels))
		}
		for i, l := range labels {
			if int(l) != i%c.k {
				t.Errorf("%+v: sample %d has label %d, want %d", c, i, l, i%c.k)
			}
		}
	}
}

// TestConditioning: defaults and refusals of the conditioning flags.
func TestConditioning(t *testing.T) {
	uncond := experiment.Default2D("gaussians8")
	cond := uncond
	cond.ClassCond, cond.PUncond = true, 0.1
	given := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	l, err := Conditioning(cond, "c.ckpt", 16, false, CondSettings{})
	if err != nil || l.Order != OrderCycled || l.K != 8 || l.Guidance != 1 || len(l.Labels) != 16 || l.Labels[9] != 1 {
		t.Errorf("default: %+v, %v", l, err)
	}
	if l, err := Conditioning(uncond, "u.ckpt", 16, false, CondSettings{}); err != nil || l.Conditional() || l.Labels != nil {
		t.Errorf("unconditional default: %+v, %v", l, err)
	}
	if l, err := Conditioning(cond, "c.ckpt", 4, false, CondSettings{Class: 7, Guidance: 0, Given: given("class", "guidance")}); err != nil ||
		l.Order != OrderClass || l.Guidance != 0 || l.Labels[3] != 7 {
		t.Errorf("--class 7 --guidance 0: %+v, %v", l, err)
	}
	noPUncond := cond
	noPUncond.PUncond = 0
	if l, err := Conditioning(noPUncond, "c.ckpt", 4, false, CondSettings{Guidance: 2, Given: given("guidance")}); err != nil || !strings.Contains(l.Warning, "p_uncond 0") {
		t.Errorf("guidance without p_uncond: %+v, %v", l, err)
	}
	for _, c := range []struct {
		cfg  experiment.Config
		s    CondSettings
		want string
	}{
		{uncond, CondSettings{Class: 0, Given: given("class")}, "u.ckpt is not conditional"},
		{uncond, CondSettings{Guidance: 1, Given: given("guidance")}, "not conditional"},
		{cond, CondSettings{Class: 8, Given: given("class")}, "0…7"},
		{cond, CondSettings{Class: 1, Classes: true, Given: given("class", "classes")}, "exclude"},
		{cond, CondSettings{Guidance: math.Inf(1), Given: given("guidance")}, "finite"},
		{cond, CondSettings{Guidance: -1, Given: given("guidance")}, "≥ 0"},
	} {
		if _, err := Conditioning(c.cfg, "u.ckpt", 4, false, c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", c.s, err, c.want)
		}
	}
}

// TestBuildDefaults: the default sampler and step counts of each
// checkpoint kind, as the solvers see them.
func TestBuildDefaults(t *testing.T) {
	ddpm := experiment.Default2D("gaussians8")
	vp := ddpm.WithScore("vp")
	img := experiment.DefaultImages("mnist")
	for _, c := range []struct {
		cfg    experiment.Config
		name   string
		want   diffusion.Solver
		desc   string
		useSDE bool // the model's levels are an SDE (not a discrete process)
	}{
		{ddpm, "", diffusion.DDPM{Steps: 0, Spacing: "linspace"}, "ddpm 1000 steps (linspace spacing), small variance", false},
		{ddpm, "ddim", diffusion.DDIM{Steps: 50, Spacing: "linspace"}, "ddim 50 steps (linspace spacing), η 0", false},
		{img, "ddim", diffusion.DDIM{Steps: 50, Spacing: "linspace", ClipX0: true}, "ddim 50 steps (linspace spacing), η 0, x̂₀ clipped", false},
		{ddpm, "dpm++2m", diffusion.DPMSolverPP2M{Steps: 20, Spacing: "lambda"}, "dpm++2m 20 steps (lambda spacing)", false},
		{ddpm, "dpm++2s", diffusion.DPMSolverPP2S{Steps: 10, Spacing: "lambda"}, "dpm++2s 10 steps (lambda spacing)", false},
		{ddpm, "dpm++2m karras", diffusion.DPMSolverPP2M{Steps: 20, Spacing: "karras"}, "dpm++2m 20 steps (karras spacing)", false},
		{img, "edm", diffusion.EDM{Steps: 20, Rho: 7, ClipX0: true}, "edm 20 steps, ρ 7, x̂₀ clipped", false},
		{vp, "", score.PredictorCorrector{Steps: 500, Corrector: 1, SNR: score.DefaultSNRVP}, "pc 500 steps, 1 corrector, snr 0.01", true},
		{vp, "ddpm", diffusion.DDPM{Steps: 1000, Spacing: "linspace"}, "ddpm 1000 steps (linspace spacing), small variance", true},
		{ddpm, "em", score.EulerMaruyama{Steps: 500}, "em 500 steps", true},
		{ddpm, "ode", score.ODE{Steps: 100, Solver: score.Heun}, "ode heun 100 steps", true},
	} {
		name, spacing, _ := strings.Cut(c.name, " ")
		s, err := Build(c.cfg, "x.ckpt", Settings{Name: name, Spacing: spacing, Solver: score.Heun, Corrector: 1})
		if err != nil {
			t.Errorf("%s %q: %v", c.cfg.Dataset, c.name, err)
			continue
		}
		if s.Solver != c.want || s.Desc != c.desc {
			t.Errorf("%s %q: solver %#v (%q), want %#v (%q)", c.cfg.Dataset, c.name, s.Solver, s.Desc, c.want, c.desc)
		}
		if _, isSDE := s.Model.Levels.(score.SDE); isSDE != c.useSDE {
			t.Errorf("%s %q: model levels %T", c.cfg.Dataset, c.name, s.Model.Levels)
		}
	}
}

// TestWriteJSON: one line, keys sorted, non-finite numbers as null.
func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]any{"b": math.Inf(1), "a": []float64{1, math.NaN()}, "c": 2.5}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), `{"a":[1,null],"b":null,"c":2.5}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var obj map[string]any
	if err := json.Unmarshal(b.Bytes(), &obj); err != nil {
		t.Error(err)
	}
}

func TestWeights(t *testing.T) {
	for _, tc := range []struct {
		exported, useEMA bool
		want             string
	}{
		{false, true, "EMA"},
		{false, false, "raw"},
		{true, false, "exported EMA"},
		{true, true, "exported EMA"},
	} {
		if got := Weights(&diffusion.Checkpoint{WeightsAreEMA: tc.exported}, tc.useEMA); got != tc.want {
			t.Errorf("Weights(WeightsAreEMA=%v, useEMA=%v) = %q, want %q", tc.exported, tc.useEMA, got, tc.want)
		}
	}
}
