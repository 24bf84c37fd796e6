package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/internal/memcheck"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// evalJSON runs eval with --json and returns the text output and the JSON
// object of stdout's last line.
func evalJSON(t *testing.T, args ...string) (string, map[string]any) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append(args, "--json", "--quiet"), &out, &errb); err != nil {
		t.Fatalf("eval %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String(), cmdtest.LastJSON(t, out.String())
}

// A figure of the text output: the JSON key, the line's pattern and which
// submatch holds it.
type textFigure struct {
	key string
	re  *regexp.Regexp
	sub int
}

const numRe = `([-+]?[0-9.]+(?:e[-+]?\d+)?|NaN|[-+]Inf)`

var evalFigures = func() []textFigure {
	var figs []textFigure
	add := func(pattern string, keys ...string) {
		re := regexp.MustCompile(pattern)
		for i, k := range keys {
			if k != "" {
				figs = append(figs, textFigure{k, re, i + 1})
			}
		}
	}
	add(`^model: (\S+) \(step (\d+), (.*) weights; ([^;)]*)`, "checkpoint", "step", "weights", "model")
	add(`^bound on −log p_θ\(x₀\): `+numRe+` nats per example \(`+numRe+` bits/dim\) over (\d+) fresh`, "bound_nats", "bits_per_dim", "num_examples")
	add(`^  L₀ \(decoder\) `+numRe+`, Σ KL terms `+numRe+`, L_T \(prior\) `+numRe+` nats`, "l0_nats", "kl_nats", "prior_nats")
	add(`^true density on the same points: `+numRe+` nats`, "data_nll_nats")
	add(`^−log p_θ\(x\) through the probability-flow ODE: `+numRe+` ± `+numRe+` nats per example \(`+numRe+` bits/dim\) over (\d+) fresh`,
		"nll_nats", "nll_se_nats", "bits_per_dim", "num_examples")
	add(`^gap, an estimate of KL\(data ‖ model\) ≥ 0: `+numRe+` ± `+numRe+` nats`, "gap_nats", "gap_se_nats")
	add(`^bound: `+numRe+` bits/dim over (\d+) \S+ test images \(L₀ `+numRe+`, Σ KL `+numRe+`, L_T `+numRe+`\)`,
		"bits_per_dim", "num_examples", "l0_bits_per_dim", "kl_bits_per_dim", "prior_bits_per_dim")
	add(`^ODE likelihood: `+numRe+` ± `+numRe+` bits/dim over (\d+) `, "bits_per_dim", "bits_per_dim_se", "num_examples")
	add(`^drew (\d+) samples with (.*): (\d+) model evaluations(?: per batch \((\d+) in all\))?, (\d+) steps, in (\S+)$`,
		"num_samples", "sampler_desc", "nfe", "total_nfe", "steps", "sample_seconds")
	add(`^labels: (?:class (\d+) for every sample|cycling through classes 0…(\d+) .*); guidance w = `+numRe, "class", "classes", "guidance")
	add(`test accuracy `+numRe+`%`, "classifier_accuracy")
	add(`^  \d+ samples \(.*\)\s+`+numRe+`\s+`+numRe+` ± `+numRe+`$`, "samples_fd", "samples_kid", "samples_kid_std")
	add(`^  \d+ real training images\s+`+numRe+`\s+`+numRe+` ± `+numRe+`$`, "real_fd", "real_kid", "real_kid_std")
	add(`^autoencoder \(\d+×\d+×\d+ latents, scale `+numRe+`\): reconstruction of (\d+) \S+ test images: MSE `+numRe+` per pixel, PSNR `+numRe+` dB$`,
		"", "num_examples", "reconstruction_mse", "reconstruction_psnr")
	add(`^  their \d+ reconstructions\s+`+numRe+`\s+`+numRe+` ± `+numRe+`$`, "reconstruction_fd", "reconstruction_kid", "reconstruction_kid_std")
	add(`^  \d+ Gaussian-noise images\s+`+numRe+`\s+`+numRe+` ± `+numRe+`$`, "noise_fd", "noise_kid", "noise_kid_std")
	add(`^requested label: `+numRe+` of the samples classified as their label; diversity `+numRe, "label_accuracy", "diversity")
	add(`^−ELBO, a bound on −log p_θ\(x\): `+numRe+` ± `+numRe+` nats per example \(`+numRe+` bits/dim\) over (\d+) fresh \S+ points \(reconstruction `+numRe+`, KL `+numRe+` nats\)$`,
		"bound_nats", "bound_se_nats", "bits_per_dim", "num_examples", "reconstruction_nats", "kl_nats")
	add(`^−ELBO, a bound on −log P\(x\) of the 8-bit images: `+numRe+` bits/dim over (\d+) \S+ test images \(`+numRe+` ± `+numRe+` nats per image: reconstruction `+numRe+`, KL `+numRe+`;`,
		"bits_per_dim", "num_examples", "bound_nats", "bound_se_nats", "reconstruction_nats", "kl_nats")
	add(`^drew (\d+) samples \((.*)\) in (\S+): `+numRe+` ms per sample$`, "num_samples", "sampler_desc", "sample_seconds")
	add(`^true-density NLL: samples `+numRe+` nats, \d+ fresh data points `+numRe+` nats$`, "nll_samples", "nll_data")
	add(`^MMD² to the fresh data \(RBF, median bandwidth\): `+numRe+`$`, "mmd2")
	add(`; off-mode `+numRe+`; modes covered (\d+) of 8`, "off_mode", "modes_covered")
	add(`^evaluated in (\S+)$`, "seconds")
	return figs
}()

// checkFigures parses every figure of eval's text output and checks that
// the JSON object holds it, equal to the printed precision (durations
// exactly, the accuracy in percent), and that the keys of want are there.
func checkFigures(t *testing.T, out string, obj map[string]any, want ...string) {
	t.Helper()
	found := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		for _, f := range evalFigures {
			m := f.re.FindStringSubmatch(line)
			if m == nil || m[f.sub] == "" {
				continue
			}
			s, k := m[f.sub], f.key
			found[k] = true
			jv, ok := obj[k]
			if !ok {
				t.Errorf("JSON lacks %s (text %q)", k, s)
				continue
			}
			switch k {
			case "checkpoint", "weights", "model", "sampler_desc":
				if jv != s {
					t.Errorf("%s: JSON %v, text %q", k, jv, s)
				}
				continue
			case "seconds", "sample_seconds":
				d, err := time.ParseDuration(s)
				if j, ok := jv.(float64); err != nil || !ok || math.Abs(j-d.Seconds()) > 1e-9 {
					t.Errorf("%s: JSON %v, text %q", k, jv, s)
				}
				continue
			case "classes": // the text names the last class, K − 1
				v, _ := strconv.Atoi(s)
				s = strconv.Itoa(v + 1)
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s: %q is not a number", k, s)
			}
			j, ok := jv.(float64)
			if k == "classifier_accuracy" {
				j *= 100
			}
			if !ok {
				t.Errorf("%s: JSON %v (%T), text %s", k, jv, jv, s)
				continue
			}
			if math.Abs(j-v) > printedTolerance(s) {
				t.Errorf("%s: JSON %v, text %s", k, j, s)
			}
		}
	}
	if found["nfe"] && !found["total_nfe"] { // one batch: the text gives no total
		found["total_nfe"] = true
		if obj["total_nfe"] != obj["nfe"] {
			t.Errorf("one batch, but total_nfe %v ≠ nfe %v", obj["total_nfe"], obj["nfe"])
		}
	}
	for _, k := range want {
		if !found[k] {
			t.Errorf("the text lacks %s:\n%s", k, out)
		}
		if _, ok := obj[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

// printedTolerance is half a unit of the last printed digit of s.
func printedTolerance(s string) float64 {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "e"); i >= 0 {
		mant = s[:i]
		exp, _ = strconv.Atoi(s[i+1:])
	}
	digits := 0
	if i := strings.Index(mant, "."); i >= 0 {
		digits = len(mant) - i - 1
	}
	return 0.5*math.Pow(10, float64(exp-digits)) + 1e-12
}

// TestEvalJSON: the last line of stdout is one JSON object that holds every
// figure of the text output, equal to the printed digits, for the bound and
// the likelihood of 2-D checkpoints, unconditional and conditional.
func TestEvalJSON(t *testing.T) {
	dc := experiment.Default2D("moons")
	dc.Timesteps, dc.MLP.Hidden, dc.MLP.Blocks = 30, 16, 1
	ddpm := trainConfig(t, dc, 10)
	cc := dc
	cc.Dataset, cc.ClassCond, cc.PUncond = "gaussians8", true, 0.1
	cond := trainConfig(t, cc, 10)
	sc := trainConfig(t, tinyScore("vp"), 10)
	common := []string{"checkpoint", "step", "weights", "model", "num_examples", "bits_per_dim", "data_nll_nats", "seconds"}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"ddpm", []string{"--model-path", ddpm, "--num-examples", "40", "--plot", filepath.Join(t.TempDir(), "b.png")},
			[]string{"bound_nats", "l0_nats", "kl_nats", "prior_nats"}},
		{"conditional", []string{"--model-path", cond, "--num-examples", "30"}, []string{"bound_nats"}},
		{"score", []string{"--model-path", sc, "--num-examples", "20", "--solver", "heun", "--ode-steps", "5"},
			[]string{"nll_nats", "nll_se_nats", "gap_nats", "gap_se_nats"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, obj := evalJSON(t, c.args...)
			checkFigures(t, out, obj, append(common, c.want...)...)
			if c.name == "conditional" && !strings.Contains(out, "null condition ∅") {
				t.Errorf("the output does not say that the bound is the unconditional model's:\n%s", out)
			}
		})
	}
}

// TestEvalSampleRefusals: the flags of the samples eval scores are refused
// for 2-D checkpoints, and the conditioning flags for an unconditional one
// (naming the file), before anything is written or printed.
func TestEvalSampleRefusals(t *testing.T) {
	dc := experiment.Default2D("moons")
	dc.Timesteps, dc.MLP.Hidden, dc.MLP.Blocks = 30, 16, 1
	ddpm := trainConfig(t, dc, 2)
	cc := dc
	cc.ClassCond, cc.PUncond = true, 0.1
	cond := trainConfig(t, cc, 2)
	plot := filepath.Join(t.TempDir(), "bound.png")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--model-path", ddpm, "--sampler", "ddim"}, []string{"--sampler", "image checkpoints", "2-D moons"}},
		{[]string{"--model-path", ddpm, "--sample-steps", "5"}, []string{"--sample-steps", "image checkpoints"}},
		{[]string{"--model-path", ddpm, "--class", "1"}, []string{"--class", "not conditional", filepath.Join(ddpm, "model.ckpt")}},
		{[]string{"--model-path", ddpm, "--guidance", "2"}, []string{"--guidance", "not conditional"}},
		{[]string{"--model-path", cond, "--class", "1"}, []string{"--class", "image checkpoints"}},
		{[]string{"--model-path", cond, "--class", "2"}, []string{"--class 2", "out of range", "0…1"}},
		{[]string{"--model-path", cond, "--class", "0", "--classes"}, []string{"--class", "--classes"}},
		{[]string{"--model-path", cond, "--guidance", "-1"}, []string{"--guidance", "-1"}},
		{[]string{"--model-path", ddpm, "--samples", "-1"}, []string{"--samples", "-1"}},
	} {
		assertRefused(t, append(c.args, "--plot", plot), c.want)
		if _, err := os.Stat(plot); err == nil {
			t.Fatalf("%v: --plot written despite the error", c.args[2:])
		}
	}
}

// seedClassifier writes into dir, where classifier.LoadOrTrain looks for
// the default MNIST classifier, one trained with the default configuration
// on 256 training images only (seconds instead of a minute): a poor
// classifier, but a real one, whose features the scores use.
func seedClassifier(t *testing.T, dir string) {
	t.Helper()
	train, err := mnist.Load("mnist", "train")
	if err != nil {
		t.Fatal(err)
	}
	c, err := classifier.Train(backend.MustShared(), train.Subset(256), classifier.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.TestAccuracy = 0.5
	if err := c.Save(classifier.CachePath(dir, "mnist", classifier.DefaultConfig())); err != nil {
		t.Fatal(err)
	}
}

// TestEvalImageSamples evaluates a two-step class-conditional UNet: the
// bound of 4 test images, then 12 samples drawn with the sampler, steps,
// labels and guidance given, scored against the test set. The JSON holds
// every figure of the text, the model evaluations are the sampler's
// (dpm++2m: one a level; dpm++2s: 2·steps − 1), and the flags that need
// samples are refused without them, as is a sampler the checkpoint cannot
// use.
func TestEvalImageSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a UNet")
	}
	c := experiment.DefaultImages("mnist")
	c.Timesteps, c.ClassCond, c.PUncond = 50, true, 0.1
	dir := trainConfig(t, c, 2)
	cache := t.TempDir()
	seedClassifier(t, cache)
	for _, tc := range []struct {
		args  []string
		nfe   float64
		class bool
	}{
		{[]string{"--sampler", "dpm++2m", "--sample-steps", "3", "--guidance", "2"}, 3, false},
		{[]string{"--sampler", "dpm++2s", "--sample-steps", "3", "--class", "7"}, 5, true},
	} {
		out, obj := evalJSON(t, append([]string{"--model-path", dir, "--num-examples", "4", "--samples", "12", "--cache", cache}, tc.args...)...)
		want := []string{"bits_per_dim", "l0_bits_per_dim", "kl_bits_per_dim", "prior_bits_per_dim", "num_samples", "sampler_desc", "nfe", "total_nfe",
			"steps", "sample_seconds", "guidance", "classifier_accuracy", "samples_fd", "samples_kid", "samples_kid_std", "real_fd", "real_kid",
			"real_kid_std", "noise_fd", "noise_kid", "noise_kid_std", "label_accuracy", "diversity", "seconds"}
		if tc.class {
			want = append(want, "class")
		} else {
			want = append(want, "classes")
		}
		checkFigures(t, out, obj, want...)
		if obj["nfe"] != tc.nfe || obj["sampler"] != tc.args[1] {
			t.Errorf("%v: nfe %v, sampler %v; want %v, %s", tc.args, obj["nfe"], obj["sampler"], tc.nfe, tc.args[1])
		}
		if acc, div := cmdtest.Num(t, obj, "label_accuracy"), cmdtest.Num(t, obj, "diversity"); acc < 0 || acc > 1 || !(div > 0) {
			t.Errorf("%v: label accuracy %v (want in [0, 1]), diversity %v (want > 0)", tc.args, acc, div)
		}
	}
	// --num-examples 0 skips the bound and scores the samples only.
	out, obj := evalJSON(t, "--model-path", dir, "--num-examples", "0", "--samples", "12", "--cache", cache, "--sampler", "ddim", "--sample-steps", "2")
	if _, ok := obj["bits_per_dim"]; ok || !strings.Contains(out, "no bound") {
		t.Errorf("--num-examples 0 computed a bound:\n%s", out)
	}
	checkFigures(t, out, obj, "samples_fd", "label_accuracy")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--samples", "0", "--sampler", "edm"}, []string{"--sampler", "--samples 0"}},
		{[]string{"--samples", "0", "--num-examples", "0"}, []string{"--num-examples 0", "nothing to evaluate"}},
		{[]string{"--samples", "0", "--class", "3"}, []string{"--class", "--samples 0"}},
		{[]string{"--sampler", "pc"}, []string{"DDPM", "T = 50", "--sampler pc"}},
		{[]string{"--class", "10"}, []string{"--class 10", "0…9"}},
	} {
		assertRefused(t, append([]string{"--model-path", dir, "--num-examples", "4", "--cache", cache}, tc.args...), tc.want)
	}
	// Samples that cannot fit in memory are refused before sampling, with a
	// number that fits (the available memory set through memcheck.EnvVar).
	t.Setenv(memcheck.EnvVar, "64MiB")
	assertRefused(t, []string{"--model-path", dir, "--num-examples", "0", "--cache", cache, "--samples", "100000"},
		[]string{"sampling 100000 images needs about", "only 64 MiB is available", "try --samples"})
}
