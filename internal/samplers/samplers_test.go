package samplers

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

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
		s, err := Build(c.cfg, "x.ckpt", Settings{Name: name, Spacing: spacing, Solver: DefaultSolver, Corrector: DefaultCorrector})
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

// TestOpen writes checkpoints by hand and opens them: a folder means its
// model.ckpt; the store holds the EMA weights unless noEMA (or there are
// none); a configuration that does not parse and a checkpoint without model
// weights are errors naming the file; a missing one is ReadCheckpoint's.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, config []byte, vars map[string]*tensors.Tensor) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := diffusion.WriteCheckpoint(path, &diffusion.Checkpoint{Config: config, Step: 7, Variables: vars}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := experiment.Default2D("gaussians8")
	w := func(v float32) *tensors.Tensor { return tensors.FromFlatDataAndDimensions([]float32{v}, 1) }
	ckpt := write("model.ckpt", cfg.JSON(), map[string]*tensors.Tensor{"/model/w": w(1), "/ema/model/w": w(2)})
	value := func(o *Checkpoint) float32 {
		t.Helper()
		for v := range o.Store.IterVariables() {
			if v.Path() == "/model/w" {
				val, err := v.Value()
				if err != nil {
					t.Fatal(err)
				}
				return tensors.MustCopyFlatData[float32](val)[0]
			}
		}
		t.Fatalf("%s: the store has no /model/w", o.Path)
		return 0
	}
	for _, tc := range []struct {
		modelPath string
		noEMA     bool
		weights   string
		value     float32
	}{
		{dir, false, "EMA", 2},
		{ckpt, false, "EMA", 2},
		{dir, true, "raw", 1},
	} {
		o, err := Open(tc.modelPath, tc.noEMA)
		if err != nil {
			t.Fatalf("Open(%s, %v): %v", tc.modelPath, tc.noEMA, err)
		}
		if o.Path != ckpt || o.Checkpoint.Step != 7 || o.Config.Dataset != "gaussians8" || o.Weights != tc.weights || value(o) != tc.value {
			t.Errorf("Open(%s, %v): path %s, step %d, dataset %s, %s weights, w = %g; want %s, 7, gaussians8, %s, %g",
				tc.modelPath, tc.noEMA, o.Path, o.Checkpoint.Step, o.Config.Dataset, o.Weights, value(o), ckpt, tc.weights, tc.value)
		}
	}
	raw := write("raw.ckpt", cfg.JSON(), map[string]*tensors.Tensor{"/model/w": w(3)})
	if o, err := Open(raw, false); err != nil || o.Weights != "raw" || value(o) != 3 {
		t.Errorf("Open of a checkpoint without EMA: %+v, %v; want raw weights", o, err)
	}
	badCfg := write("bad-config.ckpt", []byte(`{"no_such_field": 1}`), map[string]*tensors.Tensor{"/model/w": w(1)})
	noWeights := write("no-weights.ckpt", cfg.JSON(), map[string]*tensors.Tensor{"/other/w": w(1)})
	missing := filepath.Join(dir, "missing.ckpt")
	_, readErr := diffusion.ReadCheckpoint(missing)
	if readErr == nil {
		t.Fatalf("ReadCheckpoint(%s) succeeded", missing)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{badCfg, badCfg + ": experiment: reading configuration"},
		{noWeights, noWeights + ": diffusion: checkpoint has no model weights"},
		{missing, readErr.Error()},
	} {
		if _, err := Open(tc.path, false); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Open(%s): error %v, want one starting %q", tc.path, err, tc.want)
		}
	}
}
