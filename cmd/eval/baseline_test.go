package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestEvalBaselines evaluates a tiny VAE and GAN trained on gaussians8: the
// JSON holds every figure of the text, finite; the VAE's bound in bits/dim
// is its nats over 2 ln 2 and it is not below the data's entropy by more
// than its noise allows (it bounds −log p_θ, whose mean is ≥ the entropy);
// the GAN has no bound. The flags that do not apply are refused.
func TestEvalBaselines(t *testing.T) {
	v, g := experiment.DefaultVAE("gaussians8"), experiment.DefaultGAN("gaussians8")
	vdir, gdir := t.TempDir(), t.TempDir()
	cmdtest.Train(t, backend.MustShared(), v, vdir, 3, 16)
	cmdtest.Train(t, backend.MustShared(), g, gdir, 3, 16)
	samples2D := []string{"num_samples", "sampler_desc", "sample_seconds", "nll_samples", "nll_data", "mmd2", "off_mode", "modes_covered", "seconds"}

	out, obj := evalJSON(t, "--model-path", vdir, "--num-examples", "50", "--samples", "100")
	checkFigures(t, out, obj, append([]string{"checkpoint", "model", "bound_nats", "bound_se_nats", "bits_per_dim", "num_examples",
		"reconstruction_nats", "kl_nats", "data_nll_nats"}, samples2D...)...)
	bound, se, bpd := cmdtest.Num(t, obj, "bound_nats"), cmdtest.Num(t, obj, "bound_se_nats"), cmdtest.Num(t, obj, "bits_per_dim")
	if want := bound / (2 * math.Ln2); math.Abs(bpd-want) > 1e-9 {
		t.Errorf("bits/dim %v, want bound %v / (2 ln 2) = %v", bpd, bound, want)
	}
	if rec, kl := cmdtest.Num(t, obj, "reconstruction_nats"), cmdtest.Num(t, obj, "kl_nats"); math.Abs(rec+kl-bound) > 1e-9 || kl < 0 {
		t.Errorf("reconstruction %v + KL %v ≠ bound %v (or KL < 0)", rec, kl, bound)
	}
	if entropy := cmdtest.Num(t, obj, "data_nll_nats"); bound < entropy-4*se-0.1 {
		t.Errorf("the VAE's bound %v ± %v nats is below the data's entropy %v", bound, se, entropy)
	}
	if per := cmdtest.Num(t, obj, "sample_seconds_per_example"); !(per > 0) {
		t.Errorf("sample_seconds_per_example %v", per)
	}
	if obj["modes_covered"].(float64) < 0 || obj["modes_covered"].(float64) > 8 {
		t.Errorf("modes_covered %v", obj["modes_covered"])
	}

	out, obj = evalJSON(t, "--model-path", gdir, "--samples", "100", "--seed", "2")
	checkFigures(t, out, obj, samples2D...)
	if _, ok := obj["bound_nats"]; ok {
		t.Errorf("a GAN got a bound: %v", obj["bound_nats"])
	}

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--model-path", gdir, "--num-examples", "10"}, []string{"--num-examples", "GAN", "no likelihood"}},
		{[]string{"--model-path", gdir, "--samples", "0"}, []string{"nothing to evaluate"}},
		{[]string{"--model-path", gdir, "--decoder-noise"}, []string{"--decoder-noise", "GAN"}},
		{[]string{"--model-path", vdir, "--sampler", "ddim", "--guidance", "2"}, []string{"--guidance, --sampler", "VAE"}},
		{[]string{"--model-path", vdir, "--plot", filepath.Join(vdir, "p.png")}, []string{"--plot"}},
		{[]string{"--model-path", vdir, "--cache", vdir}, []string{"--cache"}},
		{[]string{"--model-path", vdir, "--num-examples", "0", "--samples", "0"}, []string{"nothing to evaluate"}},
	} {
		assertRefused(t, c.args, c.want)
	}
}

// TestEvalBaselineImages evaluates a conv VAE and GAN trained for one step
// on 64 MNIST images: the VAE's bound in bits/dim on 4 test images (the
// bits/dim being its nats over 784 ln 2), and the FD and KID of 12 samples
// of each beside real images and noise.
func TestEvalBaselineImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles conv networks and trains a classifier")
	}
	cache := t.TempDir()
	seedClassifier(t, cache)
	for _, c := range []experiment.Config{experiment.DefaultVAE("mnist"), experiment.DefaultGAN("mnist")} {
		c.TrainImages = 64
		dir := t.TempDir()
		cmdtest.Train(t, backend.MustShared(), c, dir, 1, 4)
		args := []string{"--model-path", dir, "--samples", "12", "--cache", cache}
		want := []string{"samples_fd", "samples_kid", "real_fd", "noise_fd", "classifier_accuracy", "sample_seconds"}
		if c.IsVAE() {
			args = append(args, "--num-examples", "4")
			want = append(want, "bits_per_dim", "bound_nats", "num_examples")
		}
		out, obj := evalJSON(t, args...)
		checkFigures(t, out, obj, want...)
		if c.IsVAE() {
			bound, bpd := cmdtest.Num(t, obj, "bound_nats"), cmdtest.Num(t, obj, "bits_per_dim")
			if want := bound / (784 * math.Ln2); math.Abs(bpd-want) > 1e-9 || !(bpd > 0) {
				t.Errorf("bits/dim %v, want bound %v / (784 ln 2) = %v (> 0)", bpd, bound, want)
			}
		}
	}
}
