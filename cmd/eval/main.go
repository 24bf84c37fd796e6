// Command eval measures a trained model.
//
//	go run ./cmd/eval --model-path out/g8 --num-examples 500 --plot out/g8/bound.png
//	go run ./cmd/eval --model-path out/mnist --samples 1000 --num-examples 100
//	go run ./cmd/eval --model-path out/mnist-cond --sampler dpm++2m --guidance 2 --json
//	go run ./cmd/eval --model-path out/g8-vae --num-examples 2000 --samples 2000
//
// For a DDPM checkpoint it computes the variational bound of fresh data,
// term by term. For the 2-D datasets the bound uses a Gaussian decoder, so it
// bounds the model's negative log-density; it is printed in nats per example
// next to the true density's value on the same data (the data's entropy),
// which no model can beat on average. For images the bound uses the
// discretized decoder and is reported in bits/dim over --num-examples test
// images. --plot draws every term of the bound against t.
//
// A score checkpoint (cmd/train --objective score) has no bound: eval
// reports its exact log-likelihood through the probability-flow ODE
// (score.LogLikelihood), integrated with --solver (rk45, the adaptive
// Dormand–Prince pair, by default; euler, heun or rk4 with --ode-steps
// steps, default 100) and the divergence of the ODE's velocity computed by
// --divergence: exact (D backward passes), or Hutchinson's unbiased
// estimator with Rademacher (hutchinson) or Gaussian (gaussian) probes. For
// the 2-D datasets it prints the mean −log p_θ of --num-examples fresh
// points in nats (exact divergence by default) next to the true density's on
// the same points and their paired difference, an estimate of
// KL(data ‖ model). For images it prints bits/dim of --num-examples test
// images (default 16: each costs hundreds of UNet passes) under uniform
// dequantization, with the Hutchinson estimator by default. --plot is
// refused for a score checkpoint, and the likelihood's flags for a DDPM one.
//
// The bound and the likelihood of a class-conditional checkpoint are those
// of its unconditional model: every example gets the null condition ∅.
// --num-examples 0 skips them for an image checkpoint whose samples are
// scored (the bound of a UNet takes minutes).
//
// For images it then draws --samples images (default 1000 for a DDPM
// checkpoint, 0 for a score one) and compares them with the test set by the
// classifier-based Fréchet distance and KID (features of this project's
// classifier, package tutorial/classifier, cached in --cache: not comparable
// with published FID), next to the same figures for real training images
// and for Gaussian noise, which set the scale. The samples are drawn as
// cmd/sample draws them (package internal/samplers): --sampler (default
// ddim; any sampler of cmd/sample that the checkpoint can use, with its
// default settings) over --sample-steps steps spread by --spacing (as
// cmd/sample's) (0: the sampler's default, 50
// for ddim), x̂₀ clipped; for a class-conditional checkpoint --class K
// gives every sample the label K, --classes (the default) cycles through
// the labels, and --guidance W applies classifier-free guidance (1: none).
// These flags are refused for 2-D checkpoints (cmd/sample prints the sample
// figures of 2-D data), and --class, --classes and --guidance for an
// unconditional checkpoint.
//
// A latent diffusion model (cmd/train --latent, or its exported bundle) has
// no bound in pixel space: eval reports instead its autoencoder's
// reconstruction of --num-examples test images (MSE per pixel, on [−1, 1]
// with the reconstructions clipped, and PSNR = 10·log₁₀(4/MSE) dB), and
// with the samples, decoded, one more row in the table: the reconstructions
// of the same real training images, whose Fréchet distance is the floor a
// latent model on this autoencoder can reach. An autoencoder checkpoint
// (cmd/train --stage autoencoder) gets the reconstruction figures and the
// FD/KID of --samples training images and of their reconstructions.
//
// A text-conditional model's samples are drawn from prompts: a caption of
// each of the first --samples test images (guidance --guidance, default
// experiment.DefaultTextGuidance = 2). Besides the Fréchet distance, eval
// then reports how well they follow their prompts: the digit accuracy (the
// share whose digit, as the classifier reads it, is the prompt's), the
// attribute accuracy (the share of the attributes the prompts name —
// thickness, slant, size — that the samples have, as measured by
// tutorial/captions, next to its chance level: real test images of the
// prompt's digit) and the CLIP score (the mean cosine similarity of the
// mini-CLIP's embeddings of each sample and its prompt, next to the real
// test images' with the same captions). A CLIP checkpoint (cmd/train
// --stage clip) gets its zero-shot figures on --num-examples test images:
// digit accuracy over the prompts "a 0" … "a 9", and for each attribute
// the retrieval accuracy over three prompts naming the image's digit with
// each level.
//
// A VAE or GAN checkpoint (cmd/train --model vae or gan) is evaluated by
// what both define: for a VAE its negative ELBO (one draw z ~ q(z|x) an
// example, the KL in closed form) of --num-examples fresh 2-D points in
// nats, next to the true density's on the same points, or of test images in
// bits/dim (the discretised decoder on the 8-bit images in [−1, 1], no
// dequantisation, as the DDPM bound); then --samples samples (default 1000)
// drawn in one network pass (the VAE's decoder mean, or with
// --decoder-noise a draw of p(x|z); the GAN's G(z)), with the time per
// sample: for 2-D data their mean NLL under the true density next to as
// many fresh points', MMD² to those points, and for gaussians8 the mode
// shares, the off-mode share and the modes covered (holding at least 1/32 of
// the samples; moons: the moon shares); for images the classifier Fréchet
// distance and KID beside real images and noise (--cache). The sampler,
// conditioning and bound flags are refused, and --num-examples for a GAN.
// JSON keys: bound_nats, bound_se_nats, bits_per_dim, reconstruction_nats,
// kl_nats, data_nll_nats, num_examples, num_samples, sampler, sampler_desc,
// sample_seconds, sample_seconds_per_example, nll_samples, nll_data, mmd2,
// mode_shares, off_mode, modes_covered, and the image figures above.
//
// The weights evaluated are the checkpoint's EMA (when it has one); --no-ema
// takes the raw weights, --ema-decay D the moving average of decay D (an
// extra EMA of cmd/train --ema-decays, or the main one's decay; a decay the
// checkpoint has no average of is refused with those it has listed).
//
// --json prints, as the last line of stdout after the human-readable lines,
// one JSON object with every figure they show: checkpoint, step, weights,
// model, num_examples and seconds (the whole evaluation); for a DDPM
// checkpoint bits_per_dim (the bound) and its terms (2-D: bound_nats,
// l0_nats, kl_nats, prior_nats; images: l0_bits_per_dim, kl_bits_per_dim,
// prior_bits_per_dim); for a score checkpoint bits_per_dim and
// bits_per_dim_se (and, 2-D, nll_nats, nll_se_nats, gap_nats, gap_se_nats);
// for 2-D data data_nll_nats (the true density's); for samples samples_fd,
// samples_kid, samples_kid_std, real_fd, real_kid, real_kid_std, noise_fd,
// noise_kid, noise_kid_std, classifier_accuracy, num_samples, sampler,
// sampler_desc, nfe (model evaluations per batch), total_nfe, steps,
// sample_seconds, and for conditional checkpoints guidance, label_order,
// class or classes, label_accuracy (the share of samples the classifier reads
// as their requested label) and diversity (the mean distance between the
// classifier features of two samples of the same label, relative to real
// images of the same labels: 1 is as varied as the data); for latent models
// and autoencoders reconstruction_mse, reconstruction_psnr,
// reconstruction_fd, reconstruction_kid and reconstruction_kid_std; for
// text-conditional models digit_accuracy, attribute_accuracy,
// attribute_chance, thickness_accuracy, slant_accuracy, size_accuracy,
// clip_score and real_clip_score; for a CLIP temperature,
// zero_shot_digit_accuracy and zero_shot_thickness_accuracy (slant, size).
// Figures that are not finite are null.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

// defaultSamples is --samples for DDPM image checkpoints.
const defaultSamples = 1000

// sampleFlags are the flags of the samples eval scores (images only).
var sampleFlags = []string{"samples", "sampler", "sample-steps", "spacing", "cache", "class", "classes", "guidance"}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model-path", "", "checkpoint file, or the folder holding model.ckpt (required)")
	n := fs.Int("num-examples", 500, fmt.Sprintf("fresh data examples to evaluate (%d test images for a score model's ODE likelihood); 0 skips the bound or likelihood of an image checkpoint whose samples are scored", defaultScoreImages))
	seed := fs.Int64("seed", 0, "seed of the data and of the noise")
	noEMA := fs.Bool("no-ema", false, "use the raw weights instead of their EMA")
	emaDecay := fs.Float64("ema-decay", 0, "evaluate with the moving average of the weights of this decay: one of the extra EMAs of cmd/train --ema-decays, or the main EMA's decay (0: the main EMA)")
	plot := fs.String("plot", "", "DDPM checkpoints: write a PNG of the bound's terms against t")
	samples := fs.Int("samples", defaultSamples, "images: samples to compare with the test set (0: none; default 1000 for DDPM checkpoints, 0 for score ones)")
	samplerName := fs.String("sampler", "ddim", "images: sampler of the samples: ddpm, ddim, dpm++2m, dpm++2s, edm, em, pc, ode or langevin (as cmd/sample)")
	sampleSteps := fs.Int("sample-steps", 0, "images: steps of the sampler (0: its default; 50 for ddim)")
	spacing := fs.String("spacing", "", "images: how the sampler spreads its steps, as cmd/sample's --spacing (ddpm, ddim: linspace, leading, trailing, ddim; dpm++2m, dpm++2s: lambda, karras or those)")
	class := fs.Int("class", -1, "images, class-conditional checkpoints: give every sample the label K")
	classes := fs.Bool("classes", false, "images, class-conditional checkpoints: cycle through all labels (the default)")
	guidance := fs.Float64("guidance", 1, "images, class-conditional checkpoints: classifier-free guidance weight W ≥ 0 (1: none)")
	cacheDir := fs.String("cache", "out/classifiers", "images: folder caching the trained classifiers")
	divName := fs.String("divergence", "", "score checkpoints: divergence in the ODE likelihood: exact, hutchinson (Rademacher probes) or gaussian (default: exact for 2-D data, hutchinson for images)")
	solverName := fs.String("solver", "rk45", "score checkpoints: ODE solver of the likelihood: rk45 (adaptive), euler, heun or rk4")
	odeSteps := fs.Int("ode-steps", defaultODESteps, "score checkpoints with a fixed-step --solver: number of steps")
	jsonOut := fs.Bool("json", false, "print every figure as one JSON object on the last line of stdout")
	quiet := fs.Bool("quiet", false, "no progress bar")
	decoderNoise := fs.Bool("decoder-noise", false, "VAE checkpoints: samples are draws of p(x|z) instead of the decoder's mean m(z)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if *modelPath == "" {
		return errors.New("--model-path is required")
	}
	if *n < 0 || *n > diffusion.MaxBatch {
		return fmt.Errorf("--num-examples must be 0 to %d, got %d", diffusion.MaxBatch, *n)
	}
	if *samples < 0 || *samples > diffusion.MaxBatch {
		return fmt.Errorf("--samples must be 0 to %d, got %d", diffusion.MaxBatch, *samples)
	}
	solver, err := score.ParseSolver(*solverName)
	if err != nil {
		return fmt.Errorf("--solver: %w", err)
	}
	if *odeSteps < 1 {
		return fmt.Errorf("--ode-steps must be ≥ 1, got %d", *odeSteps)
	}
	if given["ode-steps"] && solver == score.RK45 {
		return errors.New("--ode-steps applies to the fixed-step solvers (euler, heun, rk4), not --solver rk45 (adaptive)")
	}
	var div score.DivergenceMethod
	if *divName != "" {
		if div, err = parseDivergence(*divName); err != nil {
			return err
		}
	}
	ck, err := samplers.OpenEMA(*modelPath, *noEMA, *emaDecay)
	if err != nil {
		return err
	}
	path, cfg := ck.Path, ck.Config
	if given["samples"] && *samples > 0 && cfg.IsImage() && !hasClassifier(cfg.Dataset) {
		return fmt.Errorf("--samples: %s has no classifier here, so its samples cannot be scored (FD and KID need one: mnist, fashion-mnist); use --samples 0", cfg.Dataset)
	}
	if cfg.IsBaseline() {
		return evalBaseline(stdout, stderr, ck, baselineEval{n: *n, samples: *samples, seed: *seed, cacheDir: *cacheDir,
			given: given, decoderNoise: *decoderNoise, quiet: *quiet, json: *jsonOut})
	}
	if given["decoder-noise"] {
		return fmt.Errorf("--decoder-noise applies to VAE checkpoints; %s holds another model", path)
	}
	nSamples := *samples
	if cfg.IsImage() && !hasClassifier(cfg.Dataset) {
		nSamples = 0
	}
	if cfg.IsAutoencoder() {
		return evalAutoencoderOnly(stdout, stderr, ck, *n, nSamples, given, *cacheDir, *quiet, *jsonOut)
	}
	if cfg.IsCLIP() {
		return evalCLIPOnly(stdout, stderr, ck, *n, given, *jsonOut)
	}
	for _, fl := range []string{"plot", "divergence", "solver", "ode-steps"} {
		switch {
		case !given[fl]:
		case cfg.IsScore() && fl == "plot":
			return fmt.Errorf("--%s applies to DDPM checkpoints (the bound), but %s holds a score model (%s SDE), evaluated by its ODE likelihood", fl, path, cfg.SDE)
		case !cfg.IsScore() && fl != "plot":
			return fmt.Errorf("--%s applies to score checkpoints (the ODE likelihood), but %s holds a DDPM model, evaluated by its bound", fl, path)
		}
	}
	if cfg.IsScore() && !given["samples"] {
		nSamples = 0
	}
	// The samples: checked in full before anything runs.
	var sampler *samplers.Sampler
	var labels *samplers.Labels
	cs := samplers.CondSettings{Class: *class, Classes: *classes, Guidance: *guidance, Given: given}
	if cfg.IsText() {
		labels, err = textLabels(cfg, path, max(nSamples, 1), *seed, cs)
	} else {
		labels, err = samplers.Conditioning(cfg, path, max(nSamples, 1), false, cs)
	}
	if err != nil {
		return err
	}
	for _, fl := range sampleFlags {
		switch {
		case !given[fl]:
		case !cfg.IsImage():
			return fmt.Errorf("--%s applies to image checkpoints, whose samples eval scores; %s holds a model of 2-D %s data (cmd/sample prints the figures of 2-D samples)", fl, path, cfg.Dataset)
		case nSamples == 0 && fl != "samples" && fl != "cache":
			return fmt.Errorf("--%s applies to the samples, but there are none (--samples 0)", fl)
		}
	}
	if cfg.IsImage() && nSamples > 0 {
		if sampler, err = samplers.Build(cfg, path, samplers.Settings{
			Name: *samplerName, Steps: *sampleSteps, Spacing: *spacing,
			Given:  map[string]bool{"sample-steps": given["sample-steps"], "spacing": given["spacing"]},
			Solver: samplers.DefaultSolver, Corrector: samplers.DefaultCorrector,
		}); err != nil {
			return err
		}
	}
	if cfg.IsLatent() && given["plot"] {
		return fmt.Errorf("--plot draws the bound's terms, but %s is a latent model: eval reports its autoencoder's reconstructions instead of a bound", path)
	}
	if *n == 0 && (!cfg.IsImage() || sampler == nil) {
		return fmt.Errorf("--num-examples 0 skips the bound or likelihood, which leaves nothing to evaluate: it is for image checkpoints with --samples > 0")
	}
	m, err := cfg.SamplingModel()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
	}
	if labels.Warning != "" && sampler != nil {
		fmt.Fprintln(stderr, labels.Warning)
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	var ae *latent.Autoencoder
	if cfg.IsLatent() {
		if ae, err = cfg.OpenAutoencoder(b, ck.Checkpoint); err != nil {
			return err
		}
	}
	var clipModel *clip.Model
	if cfg.IsText() && sampler != nil {
		if clipModel, err = cfg.OpenCLIP(b, ck.Checkpoint); err != nil {
			return err
		}
	}
	if sampler != nil {
		if err := checkSampleMemory(b, cfg, ck.Store, sampler, labels, nSamples, *seed); err != nil {
			return err
		}
	}
	start := time.Now()
	null := ""
	if cfg.Classes() > 0 && *n > 0 && ae == nil {
		what := "bound"
		if cfg.IsScore() {
			what = "likelihood"
		}
		null = fmt.Sprintf("; the %s of the unconditional model, every example with the null condition ∅", what)
	}
	fmt.Fprintf(stdout, "model: %s (step %d, %s weights; %s%s)\n", path, ck.Checkpoint.Step, ck.Weights, samplers.DescribeModel(cfg), null)
	obj := map[string]any{"checkpoint": path, "step": ck.Checkpoint.Step, "weights": ck.Weights, "model": samplers.DescribeModel(cfg)}
	// The test split, read once for the bound or likelihood and the samples.
	var test *mnist.Set
	if cfg.IsImage() {
		if test, err = experiment.LoadImages(cfg.Dataset, "test"); err != nil {
			return err
		}
	}
	switch {
	case *n == 0:
		fmt.Fprintln(stdout, "--num-examples 0: no bound or likelihood")
	case ae != nil:
		err = evalReconstruction(stdout, progressW, ae, test, *n, obj)
	case cfg.IsScore():
		o := scoreOptions{n: *n, seed: *seed, solver: solver, steps: *odeSteps, divergence: div}
		if *divName == "" && cfg.IsImage() {
			o.divergence = score.HutchinsonRademacher
		}
		if !given["num-examples"] && cfg.IsImage() {
			o.n = defaultScoreImages
		}
		err = evalScore(stdout, progressW, b, cfg, m, ck.Store, test, o, obj)
	case cfg.IsImage():
		err = evalBoundImages(stdout, progressW, b, cfg, m, ck.Store, test, *n, *seed, *plot, obj)
	default:
		err = evalBound2D(stdout, progressW, b, cfg, m, ck.Store, *n, *seed, *plot, obj)
	}
	if err != nil {
		return err
	}
	if sampler != nil {
		if err := evalSamples(stdout, stderr, progressW, b, cfg, test, ck.Store, sampler, labels, sampleOptions{
			n: nSamples, seed: *seed, cacheDir: *cacheDir, ae: ae, clip: clipModel}, obj); err != nil {
			return err
		}
	}
	took := time.Since(start).Round(time.Millisecond)
	fmt.Fprintf(stdout, "evaluated in %s\n", took)
	obj["seconds"] = took.Seconds()
	if *jsonOut {
		return samplers.WriteJSON(stdout, obj)
	}
	return nil
}

// evalBound2D reports the bound on −log p_θ of n fresh 2-D points in nats,
// term by term, next to the true density's on the same points.
func evalBound2D(stdout, progress io.Writer, b compute.Backend, cfg experiment.Config, m diffusion.Model, store *model.Store, n int, seed int64, plot string, obj map[string]any) error {
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	pts := ds.Sample(rand.New(rand.NewPCG(uint64(seed), freshDataStream)), n)
	x0 := tensors.FromFlatDataAndDimensions(toy2d.Flatten32(pts), n, 2)
	res, err := diffusion.VLB(b, store, m, x0, diffusion.VLBOptions{
		Seed: seed, Variance: cfg.SampleVariance(), Decoder: cfg.Decoder(), Progress: progress,
	})
	if err != nil {
		return err
	}
	toNats := 2 * math.Ln2 // bits/dim × 2 dims × ln 2
	total, l0, kl, prior := res.Total*toNats, res.Terms[0]*toNats, (res.Total-res.Terms[0]-res.Prior)*toNats, res.Prior*toNats
	fmt.Fprintf(stdout, "bound on −log p_θ(x₀): %.3f nats per example (%.3f bits/dim) over %d fresh %s points\n",
		total, res.Total, n, cfg.Dataset)
	fmt.Fprintf(stdout, "  L₀ (decoder) %.3f, Σ KL terms %.3f, L_T (prior) %.2e nats\n", l0, kl, prior)
	entropy := toy2d.MeanNLL(ds, pts)
	fmt.Fprintf(stdout, "true density on the same points: %.3f nats (the data's entropy; no model can do better on average)\n", entropy)
	obj["bound_nats"], obj["bits_per_dim"], obj["num_examples"] = total, res.Total, n
	obj["l0_nats"], obj["kl_nats"], obj["prior_nats"], obj["data_nll_nats"] = l0, kl, prior, entropy
	if plot != "" {
		if err := plotTerms(plot, res.Terms, toNats, "nats per example"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", plot)
		obj["outputs"] = []string{plot}
	}
	return nil
}

// plotTerms draws the bound's terms against t (scaled by scale, in unit).
func plotTerms(path string, terms []float64, scale float64, unit string) error {
	x := make([]float64, len(terms))
	y := make([]float64, len(terms))
	for i, v := range terms {
		x[i], y[i] = float64(i+1), v*scale
	}
	png, err := plots.LinesPNG([]plots.Series{{Name: "L(t−1); t = 1: the decoder", X: x, Y: y}},
		plots.Options{Title: "terms of the bound", XLabel: "t", YLabel: unit, LogY: true})
	if err != nil {
		return err
	}
	return plots.WriteFileAtomic(path, png)
}

// hasClassifier reports whether package classifier can score images of the
// dataset (its features give the Fréchet distance and KID).
func hasClassifier(dataset string) bool { return slices.Contains(mnist.Names(), dataset) }
