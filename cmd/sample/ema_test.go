package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestSampleExtraEMA samples a checkpoint with an extra EMA (cmd/train
// --ema-decays 0.9), trained past the EMA warm-up (100 steps, so that the
// averages of decays 0.9 and 0.995 differ): --ema-decay 0.9 samples it
// ("EMA 0.9" weights, other samples than the main EMA's); a decay the
// checkpoint has no average of is refused listing those it has, as is
// --ema-decay with --no-ema, writing nothing. A VAE's extra EMA samples
// too.
func TestSampleExtraEMA(t *testing.T) {
	dir := t.TempDir()
	c := experiment.Default2D("gaussians8")
	c.Timesteps, c.MLP.Hidden, c.MLP.Blocks = 50, 16, 1
	c.EMADecays = []float64{0.9}
	cmdtest.Train(t, backendForTest(t), c, dir, 100, 16)
	csv := map[string]string{}
	for _, tc := range []struct {
		name    string
		args    []string
		weights string
	}{
		{"main", nil, "EMA"},
		{"extra", []string{"--ema-decay", "0.9"}, "EMA 0.9"},
		{"main-by-decay", []string{"--ema-decay", "0.995"}, "EMA"},
	} {
		base := filepath.Join(dir, tc.name)
		out, err := sampleStdout(append([]string{"--model-path", dir, "--num-samples", "20", "--sampler", "ddim", "--sample-steps", "5", "--out", base, "--json"}, tc.args...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		}
		if w := cmdtest.LastJSON(t, out)["weights"]; w != tc.weights {
			t.Errorf("%s: JSON weights %v, want %q", tc.name, w, tc.weights)
		}
		if !strings.Contains(out, tc.weights+" weights") {
			t.Errorf("%s: the output does not name the %s weights:\n%s", tc.name, tc.weights, out)
		}
		b, err := os.ReadFile(base + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		csv[tc.name] = string(b)
	}
	if csv["extra"] == csv["main"] || csv["main-by-decay"] != csv["main"] {
		t.Errorf("samples: the extra EMA's equal the main EMA's (%v), or the main EMA by its decay differs from it (%v)",
			csv["extra"] == csv["main"], csv["main-by-decay"] != csv["main"])
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ema-decay", "0.99"}, "--ema-decay 0.99: the checkpoint holds no average of that decay; it has the main EMA (decay 0.995, the default) and extra EMAs of decays 0.9"},
		{[]string{"--ema-decay", "0.9", "--no-ema"}, "--ema-decay 0.9 and --no-ema: choose one"},
		{[]string{"--ema-decay", "1"}, "--ema-decay must be in (0, 1)"},
	} {
		base := filepath.Join(dir, "bad")
		if _, err := sample(append([]string{"--model-path", dir, "--num-samples", "20", "--out", base}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if _, err := os.Stat(base + ".csv"); err == nil {
			t.Errorf("%v: wrote %s.csv despite the error", tc.args, base)
		}
	}

	v := experiment.DefaultVAE("gaussians8")
	v.EMADecays = []float64{0.9}
	vdir := t.TempDir()
	cmdtest.Train(t, backendForTest(t), v, vdir, 3, 16)
	out, err := sampleStdout("--model-path", vdir, "--num-samples", "20", "--ema-decay", "0.9", "--out", filepath.Join(vdir, "s"), "--json")
	if err != nil {
		t.Fatalf("VAE --ema-decay: %v\n%s", err, out)
	}
	if w := cmdtest.LastJSON(t, out)["weights"]; w != "EMA 0.9" {
		t.Errorf("VAE: JSON weights %v, want \"EMA 0.9\"", w)
	}
}
