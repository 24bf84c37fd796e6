package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// trainConfig trains c for 20 steps at batch 16 and writes dir/model.ckpt.
func trainConfig(t *testing.T, c experiment.Config, dir string) string {
	t.Helper()
	c.MLP.Hidden, c.MLP.Blocks = 16, 1
	return cmdtest.Train(t, backendForTest(t), c, dir, 20, 16)
}

// trainScore writes a small score checkpoint under the SDE named sde into a new folder.
func trainScore(t *testing.T, sde string) string {
	t.Helper()
	dir := t.TempDir()
	trainConfig(t, experiment.Default2D("gaussians8").WithScore(sde), dir)
	return dir
}

// zeroWeights rewrites the checkpoint in dir with every variable set to
// zero, so that the network's output, hence ε̂ and the score, is 0.
func zeroWeights(t *testing.T, dir string) {
	t.Helper()
	cmdtest.ZeroWeights(t, filepath.Join(dir, "model.ckpt"))
}

// readCSV returns the samples of base.csv after checking its header ("x,y",
// or "x,y,label" for labelled samples, whose labels it drops).
func readCSV(t *testing.T, base string) [][2]float64 {
	t.Helper()
	raw, err := os.ReadFile(base + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	cols := 2
	switch lines[0] {
	case "x,y":
	case "x,y,label":
		cols = 3
	default:
		t.Fatalf("%s.csv starts %q, want the header x,y or x,y,label", base, lines[0])
	}
	pts := make([][2]float64, 0, len(lines)-1)
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != cols {
			t.Fatalf("%s.csv: bad line %q", base, l)
		}
		x, err1 := strconv.ParseFloat(f[0], 64)
		y, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s.csv: bad line %q", base, l)
		}
		pts = append(pts, [2]float64{x, y})
	}
	return pts
}

var evalsRe = regexp.MustCompile(`: (\d+) model evaluations`)

// TestSampleScore runs every score sampler on small score checkpoints and
// checks the files (header and one line per sample, a plot), the quality
// figures, and the number of model evaluations: steps × (1 + corrector) for
// pc, steps × (1, 2, 4) for the euler, heun and rk4 solvers, levels × steps
// for langevin, and > 0 for the adaptive rk45. Without --sampler a score
// checkpoint samples with pc and 500 steps.
func TestSampleScore(t *testing.T) {
	vp, ve := trainScore(t, "vp"), trainScore(t, "ve")
	cases := []struct {
		name      string
		dir       string
		args      []string
		label     string
		wantEvals int // -1: any positive count
	}{
		{"pc", vp, []string{"--sampler", "pc", "--sample-steps", "5", "--corrector", "2"}, "pc 5 steps, 2 corrector, snr 0.01", 15},
		{"pc/ve", ve, []string{"--sampler", "pc", "--sample-steps", "4", "--snr", "0.2"}, "pc 4 steps, 1 corrector, snr 0.2", 8},
		{"default", vp, nil, "pc 500 steps, 1 corrector, snr 0.01", 1000},
		{"em", vp, []string{"--sampler", "em", "--sample-steps", "7"}, "em 7 steps", 7},
		{"ode/euler", vp, []string{"--sampler", "ode", "--solver", "euler", "--sample-steps", "6"}, "ode euler 6 steps", 6},
		{"ode/heun", ve, []string{"--sampler", "ode", "--sample-steps", "5"}, "ode heun 5 steps", 10},
		{"ode/rk4", vp, []string{"--sampler", "ode", "--solver", "rk4", "--sample-steps", "3"}, "ode rk4 3 steps", 12},
		{"ode/rk45", vp, []string{"--sampler", "ode", "--solver", "rk45", "--rtol", "1e-3", "--atol", "1e-3"}, "ode rk45 (adaptive)", -1},
		{"langevin", ve, []string{"--sampler", "langevin", "--levels", "3", "--langevin-steps", "2"}, "langevin 3 levels × 2 steps, step size 2e-05", 6},
	}
	const n = 50
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "s")
			out, err := sample(append([]string{"--model-path", c.dir, "--num-samples", strconv.Itoa(n), "--out", base}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if pts := readCSV(t, base); len(pts) != n {
				t.Errorf("CSV holds %d samples, want %d", len(pts), n)
			}
			if st, err := os.Stat(base + ".png"); err != nil || st.Size() == 0 {
				t.Errorf("no scatter plot: %v", err)
			}
			if !strings.Contains(out, "with "+c.label+":") {
				t.Errorf("output does not describe the sampler as %q:\n%s", c.label, out)
			}
			m := evalsRe.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("output lacks the number of model evaluations:\n%s", out)
			}
			if got, _ := strconv.Atoi(m[1]); (c.wantEvals < 0 && got <= 0) || (c.wantEvals >= 0 && got != c.wantEvals) {
				t.Errorf("%d model evaluations, want %d", got, c.wantEvals)
			}
			if !strings.Contains(out, "mode shares") || !strings.Contains(out, "NLL") {
				t.Errorf("output lacks the quality figures:\n%s", out)
			}
		})
	}
}

// TestSampleScoreSeed: the same seed gives the same samples, another seed others.
func TestSampleScoreSeed(t *testing.T) {
	dir := trainScore(t, "vp")
	draw := func(seed string) [][2]float64 {
		base := filepath.Join(t.TempDir(), "s")
		if out, err := sample("--model-path", dir, "--sampler", "em", "--sample-steps", "5", "--num-samples", "20", "--seed", seed, "--out", base); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return readCSV(t, base)
	}
	a, b, c := draw("3"), draw("3"), draw("4")
	same, other := true, false
	for i := range a {
		same = same && a[i] == b[i]
		other = other || a[i] != c[i]
	}
	if !same || !other {
		t.Errorf("seed 3 twice gave the same samples: %v; seed 4 gave others: %v", same, other)
	}
}

// TestSampleZeroScore samples with a score that is identically 0 (every
// weight zeroed): a score checkpoint and, through the DDPM–VP link, a DDPM
// one (linear schedule, T = 1000; ε̂ = 0). The probability-flow ODE of the
// VP SDE is then dx/dt = −½ β(t) x, solved by
//
//	x(ε) = x(1) e^{½ (B(1) − B(ε))},  B(t) = β_min t + ½ (β_max − β_min) t²,
//
// so samples from x(1) ~ N(0, I) have standard deviation
// e^{½ (B(1) − B(ε))} ≈ 152 (β_min = 0.1, β_max = 20, ε = 1e-3). The
// sample's standard deviation over 2·n coordinates has relative standard
// error 1/√(4n); the test allows 5 of them. A VE model would give 50 (its
// prior), a sign error 1/152.
func TestSampleZeroScore(t *testing.T) {
	const n = 500
	B := func(t float64) float64 { return 0.1*t + 0.5*(20-0.1)*t*t }
	want := math.Exp(0.5 * (B(1) - B(1e-3)))
	ddpm := t.TempDir()
	trainConfig(t, experiment.Default2D("gaussians8"), ddpm) // linear schedule, T = 1000
	for _, c := range []struct {
		name, dir string
		args      []string
	}{
		{"score/rk45", trainScore(t, "vp"), []string{"--solver", "rk45"}},
		{"ddpm/rk45", ddpm, []string{"--solver", "rk45"}},
		{"score/heun", trainScore(t, "vp"), []string{"--solver", "heun", "--sample-steps", "200"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			zeroWeights(t, c.dir)
			base := filepath.Join(t.TempDir(), "s")
			out, err := sample(append([]string{"--model-path", c.dir, "--sampler", "ode", "--num-samples", strconv.Itoa(n), "--seed", "5", "--out", base}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var ss float64
			for _, p := range readCSV(t, base) {
				ss += p[0]*p[0] + p[1]*p[1]
			}
			std := math.Sqrt(ss / (2 * n))
			if tol := 5 / math.Sqrt(4*n); math.Abs(std/want-1) > tol {
				t.Errorf("samples have std %.2f, want %.2f ± %.0f%%", std, want, 100*tol)
			}
		})
	}
}

// TestSampleScoreBadInput: a score sampler for a DDPM checkpoint that is not
// the VP SDE's discretisation, flags that do not apply to the sampler, bad
// values; each exits with an error naming the
// problem and writes nothing.
func TestSampleScoreBadInput(t *testing.T) {
	vp, ve := trainScore(t, "vp"), trainScore(t, "ve")
	ddpm50 := t.TempDir()
	trainTiny(t, ddpm50) // T = 50
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--model-path", ddpm50, "--sampler", "pc"}, []string{"DDPM", "T = 1000", "--sampler ddpm, ddim, dpm++2m, dpm++2s or edm"}},
		{[]string{"--model-path", vp, "--sampler", "langevin"}, []string{"langevin", "--sde ve", "vp"}},
		{[]string{"--model-path", vp, "--sampler", "ode", "--solver", "midpoint"}, []string{"--solver", "midpoint"}},
		{[]string{"--model-path", vp, "--snr", "-1"}, []string{"--snr", "-1"}},
		{[]string{"--model-path", vp, "--snr", "0"}, []string{"--snr"}},
		{[]string{"--model-path", vp, "--sampler", "em", "--sample-steps", "-3"}, []string{"--sample-steps", "-3"}},
		{[]string{"--model-path", vp, "--corrector", "-1"}, []string{"--corrector"}},
		{[]string{"--model-path", ve, "--sampler", "langevin", "--levels", "0"}, []string{"--levels"}},
		{[]string{"--model-path", ve, "--sampler", "langevin", "--step-size", "-1"}, []string{"--step-size"}},
		{[]string{"--model-path", vp, "--sampler", "em", "--eta", "0.5"}, []string{"--eta", "ddim", "em"}},
		{[]string{"--model-path", vp, "--sampler", "pc", "--solver", "rk4"}, []string{"--solver", "ode", "pc"}},
		{[]string{"--model-path", vp, "--sampler", "em", "--snr", "0.1"}, []string{"--snr", "pc", "em"}},
		{[]string{"--model-path", vp, "--clip"}, []string{"--clip", "pc"}},
		{[]string{"--model-path", ve, "--sampler", "langevin", "--sample-steps", "10"}, []string{"--sample-steps", "langevin"}},
		{[]string{"--model-path", vp, "--sampler", "ode", "--solver", "rk45", "--sample-steps", "10"}, []string{"--sample-steps", "rk45"}},
		{[]string{"--model-path", vp, "--sampler", "ode", "--rtol", "1e-3"}, []string{"--rtol", "rk45"}},
		{[]string{"--model-path", ddpm50, "--sampler", "ddpm", "--eta", "0.5"}, []string{"--eta", "ddim"}},
		{[]string{"--model-path", ddpm50, "--sampler", "ddim", "--variance", "large"}, []string{"--variance", "ddpm"}},
		{[]string{"--model-path", ddpm50, "--sampler", "ddpm", "--corrector", "2"}, []string{"--corrector", "pc"}},
	}
	for _, c := range cases {
		assertRefused(t, c.args, c.want)
	}
}

// TestSampleScoreImages writes a grid of 4 images from a two-step score UNet
// with the probability-flow ODE.
func TestSampleScoreImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a UNet")
	}
	dir := t.TempDir()
	cmdtest.Train(t, backendForTest(t), experiment.DefaultImages("mnist").WithScore("vp"), dir, 2, 8)
	out, err := sample("--model-path", dir, "--num-samples", "4", "--sampler", "ode", "--solver", "euler", "--sample-steps", "2", "--out", filepath.Join(dir, "grid.png"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(dir, "grid.png")); err != nil || st.Size() == 0 {
		t.Errorf("no grid: %v", err)
	}
	if !strings.Contains(out, "4 images, 2 a row") || !strings.Contains(out, "ode euler 2 steps: 2 model evaluations") {
		t.Errorf("output %q", out)
	}
}
