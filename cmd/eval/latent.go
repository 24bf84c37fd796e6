package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// evalReconstruction reports the autoencoder's reconstruction of the first
// n test images: the mean squared error per pixel (pixels in [−1, 1], the
// reconstructions clipped to that range, as they are shown) and the PSNR,
// 10·log₁₀(2²/MSE) dB (the peak-to-peak range is 2; the same figure as for
// 8-bit pixels with 255).
func evalReconstruction(stdout, progress io.Writer, ae *latent.Autoencoder, test *mnist.Set, n int, obj map[string]any) error {
	sub := test.Subset(n)
	rec, err := ae.Reconstruct(sub.Pixels, sub.N, progress)
	if err != nil {
		return err
	}
	mse := reconstructionMSE(sub.Pixels, rec)
	psnr := 10 * math.Log10(4/mse)
	l := ae.Config.LatentDims()
	fmt.Fprintf(stdout, "autoencoder (%d×%d×%d latents, scale %.4g): reconstruction of %d %s test images: MSE %.5f per pixel, PSNR %.2f dB\n",
		l[0], l[1], l[2], ae.Scale, sub.N, test.Name, mse, psnr)
	obj["num_examples"], obj["reconstruction_mse"], obj["reconstruction_psnr"] = sub.N, mse, psnr
	return nil
}

// reconstructionMSE is the mean of (clip(r) − x)² over all pixels.
func reconstructionMSE(x, r []float32) float64 {
	var se float64
	for i, v := range x {
		d := math.Max(-1, math.Min(1, float64(r[i]))) - float64(v)
		se += d * d
	}
	return se / float64(len(x))
}

// evalAutoencoderOnly evaluates an autoencoder checkpoint (cmd/train --stage
// autoencoder): the reconstruction of n test images, and the classifier
// Fréchet distance and KID of the reconstructions of `samples` training
// images next to those images' own: the floor of any latent model on it.
func evalAutoencoderOnly(stdout, stderr io.Writer, ck *samplers.Checkpoint, n, samples int, given map[string]bool, cacheDir string, quiet, jsonOut bool) error {
	for _, fl := range append([]string{"plot", "divergence", "solver", "ode-steps", "no-ema"}, sampleFlags...) {
		if given[fl] && fl != "samples" && fl != "cache" {
			return fmt.Errorf("--%s does not apply to %s, an autoencoder (eval reports its reconstructions; --num-examples, --samples and --cache apply)", fl, ck.Path)
		}
	}
	if n == 0 && samples == 0 {
		return errors.New("--num-examples 0 and --samples 0 leave nothing to evaluate")
	}
	cfg := ck.Config
	if !(cfg.LatentScale > 0) {
		return fmt.Errorf("%s: the autoencoder has no scale factor: its training did not finish", ck.Path)
	}
	var progress io.Writer = stderr
	if quiet {
		progress = nil
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	ae, err := latent.New(b, *cfg.Autoencoder, ck.Store, cfg.LatentScale)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(stdout, "model: %s (step %d, %s weights; autoencoder)\n", ck.Path, ck.Checkpoint.Step, ck.Weights)
	obj := map[string]any{"checkpoint": ck.Path, "step": ck.Checkpoint.Step, "weights": ck.Weights, "model": "autoencoder"}
	test, err := experiment.LoadImages(cfg.Dataset, "test")
	if err != nil {
		return err
	}
	if n > 0 {
		if err := evalReconstruction(stdout, progress, ae, test, n, obj); err != nil {
			return err
		}
	}
	if samples > 0 {
		clf, _, err := classifier.LoadOrTrain(b, cfg.Dataset, cacheDir, stderr)
		if err != nil {
			return err
		}
		train, err := experiment.LoadImages(cfg.Dataset, "train")
		if err != nil {
			return err
		}
		real := train.Subset(samples)
		rec, err := ae.Reconstruct(real.Pixels, real.N, progress)
		if err != nil {
			return err
		}
		testFeats, err := clf.Features(b, test.Pixels)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "classifier-based Fréchet distance and KID against the %d %s test images (this project's classifier; not comparable with published FID):\n", test.N, cfg.Dataset)
		if err := fdTable(stdout, b, clf, testFeats, real.N, []fdRow{
			{"real", fmt.Sprintf("%d real training images", real.N), real.Pixels, nil},
			{"reconstruction", fmt.Sprintf("their %d reconstructions", real.N), rec, nil},
		}, obj); err != nil {
			return err
		}
		obj["num_samples"] = real.N
	}
	took := time.Since(start).Round(time.Millisecond)
	fmt.Fprintf(stdout, "evaluated in %s\n", took)
	obj["seconds"] = took.Seconds()
	if jsonOut {
		return samplers.WriteJSON(stdout, obj)
	}
	return nil
}
