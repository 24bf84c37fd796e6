package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
)

// TestEvalLatent evaluates a tiny latent model, from its folder and as a
// bundle, and its autoencoder alone: the text and the JSON agree on every
// figure; PSNR = 10·log₁₀(4/MSE); the reconstructions' row comes with the
// samples'; the bound's flags are refused; and so is another autoencoder
// in the folder.
func TestEvalLatent(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an autoencoder and a latent UNet")
	}
	dir := t.TempDir()
	ae, ldm := cmdtest.LatentPair(t, backend.MustShared(), dir, true)
	cache := t.TempDir()
	seedClassifier(t, cache)
	bundlePath := filepath.Join(dir, "bundle.ckpt")
	cmdtest.WriteBundle(t, ldm, bundlePath)
	var first map[string]any
	for _, path := range []string{ldm, bundlePath} {
		out, obj := evalJSON(t, "--model-path", path, "--num-examples", "20", "--samples", "12", "--sample-steps", "3", "--cache", cache)
		checkFigures(t, out, obj, "reconstruction_mse", "reconstruction_psnr", "num_examples", "samples_fd", "samples_kid",
			"real_fd", "reconstruction_fd", "reconstruction_kid", "reconstruction_kid_std", "noise_fd", "label_accuracy", "diversity")
		mse, psnr := cmdtest.Num(t, obj, "reconstruction_mse"), cmdtest.Num(t, obj, "reconstruction_psnr")
		if want := 10 * math.Log10(4/mse); math.Abs(psnr-want) > 1e-9 {
			t.Errorf("%s: PSNR %v, 10·log₁₀(4/MSE %v) = %v", path, psnr, mse, want)
		}
		if !(mse > 0 && mse <= 4) {
			t.Errorf("%s: reconstruction MSE %v outside (0, 4]", path, mse)
		}
		if first == nil {
			first = obj
		} else if obj["reconstruction_mse"] != first["reconstruction_mse"] || obj["samples_fd"] != first["samples_fd"] {
			t.Errorf("the bundle's figures (MSE %v, FD %v) differ from the folder's (%v, %v)",
				obj["reconstruction_mse"], obj["samples_fd"], first["reconstruction_mse"], first["samples_fd"])
		}
	}
	out, obj := evalJSON(t, "--model-path", ae, "--num-examples", "20", "--samples", "12", "--cache", cache)
	checkFigures(t, out, obj, "reconstruction_mse", "reconstruction_psnr", "real_fd", "reconstruction_fd")
	if obj["reconstruction_mse"] != first["reconstruction_mse"] {
		t.Errorf("the autoencoder's own MSE %v differs from the latent model's report %v", obj["reconstruction_mse"], first["reconstruction_mse"])
	}
	assertRefused(t, []string{"--model-path", ldm, "--plot", filepath.Join(dir, "p.png"), "--cache", cache}, []string{"--plot", "latent"})
	assertRefused(t, []string{"--model-path", ae, "--sampler", "ddpm", "--cache", cache}, []string{"--sampler", "autoencoder"})
}
