// Command sample draws samples from a checkpoint written by cmd/train.
//
//	go run ./cmd/sample --model-path out/gaussians8 --num-samples 2000 --sampler ddim --sample-steps 50 --out out/gaussians8/samples
//	go run ./cmd/sample --model-path out/mnist --num-samples 100 --sampler dpm++2m --out grid.png
//	go run ./cmd/sample --model-path out/g8-score --sampler ode --solver rk45 --out out/g8-score/ode
//	go run ./cmd/sample --model-path out/g8-cond --class 3 --guidance 2 --out out/g8-cond/class3 --json
//	go run ./cmd/sample --model-path notebooks/pretrained/mnist-t2i.ckpt --prompt "a thick 7 leaning left" --prompt "a small 2" --out grid.png
//	go run ./cmd/sample --model-path out/g8-vae --num-samples 2000 --out out/g8-vae/samples
//	go run ./cmd/sample --model-path out/mnist-gan --num-samples 100 --out gan.png
//
// A VAE or GAN checkpoint (cmd/train --model vae or gan) is sampled in one
// network pass: z ~ N(0, I), then the VAE's decoder mean m(z) (with
// --decoder-noise, a draw of p(x|z): m(z) + σ·ε, quantised to 8-bit levels
// for images) or the GAN's generator G(z) (its EMA weights unless --no-ema).
// The outputs and figures are those of a diffusion checkpoint below (2-D:
// CSV, scatter plot and quality figures; images: a PNG grid), plus the
// sampling time per example (JSON: sampler "vae" or "gan", sampler_desc,
// seconds, seconds_per_sample and the figures). Only --num-samples, --seed, --out, --json,
// --quiet, --no-ema, --ema-decay and --decoder-noise (VAE) apply: the sampler,
// conditioning and batching flags are refused.
// --sampler chooses the sampler (default: ddpm for DDPM checkpoints, pc for
// score checkpoints). These sample any checkpoint, a DDPM model on its own
// steps or a score model on its SDE's noise levels:
//
//   - ddpm: ancestral sampling, over --sample-steps steps (default: every
//     step of a DDPM checkpoint, 1000 for a score one) spread by --spacing
//     (linspace, the default, leading, trailing or ddim), with --variance
//     small (β̃) or large (β) (default: the checkpoint's; a model that learns
//     its variance uses it);
//   - ddim: --sample-steps steps (default 50) spread by --spacing, with
//     noise --eta η ∈ [0, 1] (default 0: deterministic);
//   - dpm++2m: DPM-Solver++(2M), second-order multistep, --sample-steps
//     levels (default 20), one model evaluation each;
//   - dpm++2s: DPM-Solver++(2S), second-order single-step, --sample-steps
//     levels (default 10): 2·steps − 1 model evaluations. Both
//     DPM-Solver++ samplers space their levels evenly in λ = log(α/σ)
//     (--spacing lambda, the default), as EDM spaces σ/α (karras), or by
//     any ddpm spacing;
//   - edm: Karras et al.'s deterministic Heun sampler on --sample-steps
//     Karras σ's (default 20) with exponent --rho (default 7): 2·steps − 1
//     model evaluations.
//
// ddpm, ddim, dpm++2m, dpm++2s and edm clip x̂₀ to [−1, 1] at every step for
// images and not for 2-D data; --clip or --clip=false overrides that. (On a
// DDPM checkpoint the fast samplers take the step nearest to each level they
// want, never the same step twice, so they may take fewer steps than asked.)
//
// These sample a score checkpoint (cmd/train --objective score), or a DDPM
// checkpoint trained with the linear schedule and T = 1000, whose prediction
// becomes the score of the VP SDE that this schedule discretises,
// s(x, t) = −ε̂(x, i)/√(1 − ᾱ_i), i = round(999 t) (score.DenoiserModel;
// other DDPM schedules are refused):
//
//   - pc (the default for score checkpoints): predictor–corrector (Song et
//     al. 2021), --sample-steps reverse-diffusion predictor steps (default
//     500), each after --corrector Langevin corrector steps (default 1) at
//     signal-to-noise ratio --snr (default 0.16 for the VE SDE, 0.01 for VP
//     and sub-VP): 1000 model evaluations by default;
//   - em: Euler–Maruyama on the reverse-time SDE, --sample-steps steps
//     (default 500);
//   - ode: the probability-flow ODE, deterministic given the starting noise,
//     with --solver heun (the default), euler or rk4 over --sample-steps
//     steps (default 100: 200 model evaluations with heun), or rk45, the
//     adaptive Dormand–Prince pair with tolerances --rtol and --atol
//     (default 1e-5), whose number of model evaluations is printed;
//   - langevin, for VE-SDE checkpoints only: annealed Langevin dynamics
//     (Song & Ermon 2019) over --levels noise levels (default 40),
//     --langevin-steps steps each (default 20), step size --step-size
//     (default 2e-5, NCSN's ε for σ_L = 0.01). The levels are σ(t) at
//     evenly spaced t from 1 to ε, NCSN's geometric σ's from 50 to 0.01.
//     (score.AnnealedLangevin would run on a VP model too, Langevin on each
//     perturbed marginal p_t, but on gaussians8 it gave samples 2.3 nats
//     from the true density against 0.7 for pc, so it is refused.)
//
// A flag that the sampler does not use (--eta without ddim, --rho without
// edm, --solver without ode, --snr without pc, ...) is an error.
//
// Class-conditional checkpoints (cmd/train --class-cond) take labels:
// --class K gives every sample the label K; --classes, the default, cycles
// through the labels 0…K−1 (sample i gets i mod K; for images, when K
// divides the number of samples, the samples are in class-major order and
// the grid is n/K images wide, so that row r holds class r); --classes=false
// gives every sample the null condition ∅ (the unconditional model).
// --guidance W applies classifier-free guidance,
// ε̃ = ε(x, ∅) + W (ε(x, c) − ε(x, ∅)): W = 1 (the default) is no guidance,
// W = 0 the unconditional model; each model evaluation then runs the
// network on a doubled batch. --class, --classes and --guidance are refused
// for an unconditional checkpoint.
//
// Text-conditional checkpoints (cmd/train --latent DIR --text CLIP) take
// prompts: --prompt P (repeated) and --prompts-file F (one prompt a line,
// blank lines and lines starting with # skipped), in that order; without
// them, the ten prompts "the digit 0" … "the digit 9". Each prompt gets a
// row of --num-samples/P images (default 8 a prompt; --num-samples must be
// a multiple of the number of prompts). Any string is a prompt: words
// outside the model's vocabulary are read as the unknown token, words
// beyond the encoder's 15 are dropped, and an empty prompt (no words) is
// the null condition, the unconditional model; each is said on stderr.
// --guidance defaults to experiment.DefaultTextGuidance (2) for them;
// --class and --classes are refused.
//
// A latent diffusion model (cmd/train --latent, or the bundle that its
// --export writes) samples latents with any of these samplers, without
// clipping, and decodes them with its autoencoder, decoder(z/s) with s the
// scale factor; the autoencoder must be the file it was trained with (its
// SHA-256 is checked: another file is refused with both hashes named).
//
// For images it writes a PNG grid (10×10 for 100 samples). The score
// samplers do not clip; the grid clips the final pixels.
//
// For 2-D data it writes FILE.csv (header "x,y", one sample a line; a third
// column "label" for a conditional checkpoint's labelled samples) and a
// scatter plot FILE.png, and prints quality figures: the mean negative
// log-likelihood of the samples under the true density (next to that of
// fresh data), MMD² and the sliced Wasserstein distance to fresh data, for
// gaussians8 the share of samples at each mode (its nearest centre, within
// 0.5) and off-mode, and for moons the share nearest each moon. The fresh
// data of a labelled run has the same labels as the samples (fresh point i
// drawn from class label_i). For a class-conditional gaussians8 or moons
// model it also prints the share of samples in the requested class's mode:
// for gaussians8, whose nearest centre within 0.5 is the label's (label k is
// the mode at angle kπ/4); for moons, whose nearest moon is the label's (0
// the outer, 1 the inner). The distance to a moon is the distance to its
// half circle: to the outer one (centre (0, 0), radius 1, y ≥ 0),
// |‖p‖ − 1| when p_y ≥ 0, else the distance to the nearer end (±1, 0); to the
// inner one (centre (1, 0.5), radius 1, y ≤ 0.5), |‖p − (1, 0.5)‖ − 1| when
// p_y ≤ 0.5, else the distance to the nearer end (0, 0.5) or (2, 0.5).
// (These rules are toy2d.Gaussians8.Mode and toy2d.Moons.Mode.)
//
// --json prints, as the last line of stdout after the human-readable lines,
// one JSON object with every figure they show: checkpoint, step, weights,
// model, sampler, sampler_desc, num_samples, seed, nfe (model evaluations
// per batch), total_nfe, steps (of a batch), seconds, outputs; for
// conditional checkpoints guidance, label_order and class (the requested
// label) or classes (K), or prompts (text-conditional); for 2-D data nll_samples, nll_data, mmd2,
// sliced_w2, mode_shares (gaussians8, moons), off_mode (gaussians8) and
// in_requested_mode (conditional gaussians8 and moons); for images
// grid_columns. Figures that are not finite are null.
//
// Other flags: --num-samples (default 2000), --seed, --batch-size (samples
// denoised at once; 0: all), --no-ema (the raw weights instead of their
// EMA), --ema-decay D (the moving average of decay D instead of the main
// one: an extra EMA of cmd/train --ema-decays, listed when the checkpoint
// has none of that decay; the JSON's weights is then "EMA D"), --quiet (no
// progress bar). Bad input (unknown names, flags that do
// not apply, labels or guidance the checkpoint cannot take, missing or
// corrupt checkpoints) exits non-zero with a message naming the problem and
// writes nothing. Outputs are written atomically: on any error nothing is
// left half-written.
//
// The first Ctrl-C (SIGINT) or SIGTERM stops sampling after the step in
// progress, writes nothing and exits with status 130 ("sample: interrupted;
// nothing written"); once the outputs are being written, they are finished
// first. A second Ctrl-C aborts at once. Other errors exit with status 1.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/internal/interrupt"
	"github.com/godiffusion/diffusion-models/internal/memcheck"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(interrupt.ExitStatus(err)) // 130 for an interrupt, else 1
	}
}

// errInterrupted is the error of a run stopped by SIGINT or SIGTERM before
// it wrote anything.
var errInterrupted = &interrupt.Error{Msg: "interrupted; nothing written"}

// onStep, if set, is called after every sampling step (tests use it to
// deliver signals at a known step).
var onStep func(batch, k int, t float64, x, x0 *tensors.Tensor)

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model-path", "", "checkpoint file, or the folder holding model.ckpt (required)")
	n := fs.Int("num-samples", 2000, "number of samples")
	samplerName := fs.String("sampler", "", "ddpm, ddim, dpm++2m, dpm++2s, edm (any checkpoint); em, pc, ode, langevin (score checkpoints, or DDPM ones with the linear T = 1000 schedule; langevin: VE only) (default: ddpm for DDPM checkpoints, pc for score ones)")
	steps := fs.Int("sample-steps", 0, "number of sampling steps (0: every step for ddpm (1000 on a score checkpoint), 50 for ddim, 20 for dpm++2m and edm, 10 for dpm++2s, 500 for em and pc, 100 for ode)")
	spacing := fs.String("spacing", "", "ddpm, ddim, dpm++2m, dpm++2s: how the steps are spread: linspace (ddpm, ddim default), leading, trailing, ddim (improved DDPM's stride rule) or, for dpm++, lambda (even in log-SNR, the default) or karras (EDM's σ spacing)")
	eta := fs.Float64("eta", 0, "ddim: η in [0, 1] (0: deterministic, 1: DDPM-like noise)")
	variance := fs.String("variance", "", "ddpm: sampling variance when not learned: small (β̃) or large (β) (default: the checkpoint's)")
	clip := fs.Bool("clip", false, "ddpm, ddim, dpm++2m, dpm++2s, edm: clip the predicted x0 to [-1, 1] (default: on for images, off for 2-D data)")
	rho := fs.Float64("rho", 7, "edm: exponent ρ of the Karras σ spacing")
	solverName := fs.String("solver", samplers.DefaultSolver.String(), "ode: euler, heun, rk4 (fixed steps) or rk45 (adaptive)")
	rtol := fs.Float64("rtol", score.DefaultRTol, "ode with --solver rk45: relative tolerance")
	atol := fs.Float64("atol", score.DefaultATol, "ode with --solver rk45: absolute tolerance")
	corrector := fs.Int("corrector", samplers.DefaultCorrector, "pc: Langevin corrector steps per predictor step (0: predictor only)")
	snr := fs.Float64("snr", 0, fmt.Sprintf("pc: signal-to-noise ratio r of the corrector (0: %g for the VE SDE, %g for VP and sub-VP)", score.DefaultSNRVE, score.DefaultSNRVP))
	levels := fs.Int("levels", samplers.DefaultLevels, "langevin: number of noise levels L")
	langevinSteps := fs.Int("langevin-steps", samplers.DefaultLangevinSteps, "langevin: Langevin steps T at each level")
	stepSize := fs.Float64("step-size", score.DefaultLangevinStepSize, "langevin: step size ε (the step at level i is ε σ_i²/σ_L²)")
	class := fs.Int("class", -1, "class-conditional checkpoints: give every sample the label K (-1: none)")
	classes := fs.Bool("classes", false, "class-conditional checkpoints: cycle through all labels, sample i getting i mod K (the default; for image grids one class per row when K divides --num-samples); --classes=false: the null condition")
	guidance := fs.Float64("guidance", 1, fmt.Sprintf("conditional checkpoints: classifier-free guidance weight W ≥ 0 (1: none, 0: unconditional; default %g for text-conditional ones)", experiment.DefaultTextGuidance))
	var prompts []string
	fs.Func("prompt", "text-conditional checkpoints: a prompt, such as \"a thick 7 leaning left\" (repeat the flag for more; one row of images each)", func(v string) error {
		prompts = append(prompts, v)
		return nil
	})
	promptsFile := fs.String("prompts-file", "", "text-conditional checkpoints: a file of prompts, one a line (blank lines and lines starting with # skipped), after those of --prompt")
	noEMA := fs.Bool("no-ema", false, "sample with the raw weights instead of their EMA")
	emaDecay := fs.Float64("ema-decay", 0, "sample with the moving average of the weights of this decay: one of the extra EMAs of cmd/train --ema-decays, or the main EMA's decay (0: the main EMA)")
	seed := fs.Int64("seed", 0, "random seed")
	batch := fs.Int("batch-size", 0, "samples denoised at once (0: all)")
	out := fs.String("out", "", "output: for 2-D data OUT.csv and OUT.png, for images the grid OUT.png (required)")
	jsonOut := fs.Bool("json", false, "print every figure as one JSON object on the last line of stdout")
	quiet := fs.Bool("quiet", false, "no progress bar")
	decoderNoise := fs.Bool("decoder-noise", false, "VAE checkpoints: draw x ~ p(x|z) instead of returning the decoder's mean m(z)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	switch {
	case *modelPath == "":
		return errors.New("--model-path is required")
	case *out == "":
		return errors.New("--out is required")
	case *n <= 0:
		return fmt.Errorf("--num-samples must be > 0, got %d", *n)
	case *n > diffusion.MaxBatch:
		return fmt.Errorf("--num-samples %d: at most %d in one run", *n, diffusion.MaxBatch)
	case *batch < 0:
		return fmt.Errorf("--batch-size must be ≥ 0, got %d", *batch)
	}
	solver, err := score.ParseSolver(*solverName)
	if err != nil {
		return fmt.Errorf("--solver: %w", err)
	}
	settings := samplers.Settings{
		Name: *samplerName, Steps: *steps, Spacing: *spacing, Eta: *eta, Variance: *variance, Clip: *clip, Rho: *rho,
		Solver: solver, RTol: *rtol, ATol: *atol, Corrector: *corrector, SNR: *snr,
		Levels: *levels, LangevinSteps: *langevinSteps, StepSize: *stepSize, Given: given,
	}
	base := strings.TrimSuffix(strings.TrimSuffix(*out, ".csv"), ".png")
	if *promptsFile != "" {
		more, err := readPrompts(*promptsFile)
		if err != nil {
			return err
		}
		prompts = append(prompts, more...)
	}

	ck, err := samplers.OpenEMA(*modelPath, *noEMA, *emaDecay)
	if err != nil {
		return err
	}
	path, cfg := ck.Path, ck.Config
	if cfg.IsAutoencoder() {
		return fmt.Errorf("%s is an autoencoder, which does not sample: train a latent model on it (cmd/train --latent %s) and sample that", path, *modelPath)
	}
	if cfg.IsBaseline() {
		return sampleBaseline(stdout, stderr, ck, baselineRun{n: *n, seed: *seed, base: base, given: given,
			decoderNoise: *decoderNoise, quiet: *quiet, json: *jsonOut})
	}
	if given["decoder-noise"] {
		return fmt.Errorf("--decoder-noise applies to VAE checkpoints; %s holds a diffusion model", path)
	}
	s, err := samplers.Build(cfg, path, settings)
	if err != nil {
		return err
	}
	if cfg.IsText() && !given["num-samples"] {
		rows := len(prompts)
		if rows == 0 {
			rows = len(samplers.DefaultPrompts())
		}
		*n = 8 * rows // a row of 8 images a prompt
	}
	labels, err := samplers.Conditioning(cfg, path, *n, cfg.IsImage(), samplers.CondSettings{
		Class: *class, Classes: *classes, Guidance: *guidance, Prompts: prompts, Given: given})
	if err != nil {
		return err
	}
	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
	}
	if labels.Warning != "" {
		fmt.Fprintln(stderr, labels.Warning)
	}

	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	var ae *latent.Autoencoder
	if cfg.IsLatent() {
		// Before sampling, so that a missing or different autoencoder costs nothing.
		if ae, err = cfg.OpenAutoencoder(b, ck.Checkpoint); err != nil {
			return err
		}
	}
	// Refused before any graph runs: a batch that cannot fit would otherwise
	// end the process in the middle of sampling.
	opts := diffusion.SampleOptions{Seed: *seed, BatchSize: *batch, Progress: progressW, OnStep: onStep}
	k0, what := *n, fmt.Sprintf("sampling %d examples in one batch", *n)
	if *batch > 0 && *batch < *n {
		k0, what = *batch, fmt.Sprintf("sampling %d examples in batches of %d", *n, *batch)
	}
	if err := memcheck.Check(b, what, "--batch-size", k0, func(k int) (float64, error) {
		o := opts
		o.BatchSize = k
		return samplers.Memory(b, ck.Store, s, labels, *n, cfg.DataDims(), o)
	}); err != nil {
		return err
	}
	// The first SIGINT or SIGTERM stops sampling after the step in progress
	// and writes nothing; once the outputs are being written (atomically),
	// they are finished. The second signal ends the process at once.
	var mu sync.Mutex
	var signalled, writing bool
	stop, release := interrupt.Watch(func(sig os.Signal) {
		mu.Lock()
		defer mu.Unlock()
		signalled = true
		nl := ""
		if progressW != nil {
			nl = "\n" // off the progress bar's line
		}
		if writing {
			fmt.Fprintf(stderr, "%ssample: %v: finishing the outputs being written (press Ctrl-C again to abort at once)\n", nl, sig)
		} else {
			fmt.Fprintf(stderr, "%ssample: %v: stopping after the current step; nothing will be written (press Ctrl-C again to abort at once)\n", nl, sig)
		}
	})
	defer release()
	opts.Stop = stop
	x, res, took, err := samplers.Draw(b, ck.Store, s, labels, *n, cfg.DataDims(), opts)
	if errors.Is(err, diffusion.ErrInterrupted) {
		return errInterrupted
	}
	if err != nil {
		return err
	}
	if ae != nil {
		img, err := ae.DecodeScaled(tensors.MustCopyFlatData[float32](x), *n, progressW)
		if err != nil {
			return err
		}
		x = tensors.FromFlatDataAndDimensions(img, append([]int{*n}, cfg.ImageDims()...)...)
	}
	mu.Lock()
	if signalled {
		mu.Unlock()
		return errInterrupted
	}
	writing = true
	mu.Unlock()
	fmt.Fprintf(stdout, "%d samples from %s (step %d, %s weights; %s) with %s: %s, in %s\n",
		*n, path, ck.Checkpoint.Step, ck.Weights, s.ModelDesc, s.Desc, samplers.Evaluations(res), took)
	if d := labels.Describe(); d != "" {
		fmt.Fprintln(stdout, d)
	}
	obj := map[string]any{
		"checkpoint": path, "step": ck.Checkpoint.Step, "weights": ck.Weights, "model": s.ModelDesc,
		"sampler": s.Name, "sampler_desc": s.Desc, "num_samples": *n, "seed": *seed,
	}
	samplers.RunJSON(obj, "", res, took)
	labels.JSON(obj)
	if cfg.IsImage() {
		err = writeImages(stdout, base, cfg, x, labels, obj)
	} else {
		err = write2D(stdout, base, cfg, x, s.Desc, labels, obj)
	}
	if err != nil {
		return err
	}
	if *jsonOut {
		return samplers.WriteJSON(stdout, obj)
	}
	return nil
}

// writeImages writes the samples as one PNG grid: n/K images a row for
// class-major labels (row r holds class r), else ⌈√n⌉.
func writeImages(stdout io.Writer, base string, cfg experiment.Config, x *tensors.Tensor, labels *samplers.Labels, obj map[string]any) error {
	dims := cfg.ImageDims()
	h, w, c := dims[0], dims[1], dims[2]
	flat := tensors.MustCopyFlatData[float32](x)
	size := h * w * c
	n := len(flat) / size
	imgs := make([][]float32, n)
	for i := range imgs {
		imgs[i] = flat[i*size : (i+1)*size]
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := ""
	switch labels.Order {
	case samplers.OrderClassMajor:
		cols = n / labels.K
		rows = "; row r holds class r"
	case samplers.OrderPrompts:
		cols = n / len(labels.Rows)
		rows = "; row r holds prompt r"
	}
	img, err := plots.ImageGrid(imgs, h, w, c, cols, 2)
	if err != nil {
		return err
	}
	png, err := plots.EncodePNG(plots.Upscale(img, 2))
	if err != nil {
		return err
	}
	if err := plots.WriteFileAtomic(base+".png", png); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.png (%d images, %d a row%s)\n", base, n, cols, rows)
	if labels.Order == samplers.OrderPrompts {
		for r, p := range labels.Rows {
			fmt.Fprintf(stdout, "  row %d: %q\n", r+1, p)
		}
	}
	obj["outputs"] = []string{base + ".png"}
	obj["grid_columns"] = cols
	return nil
}

// write2D writes the CSV and the scatter plot (its title names the sampler,
// as described by label), then prints quality figures and adds them to obj.
func write2D(stdout io.Writer, base string, cfg experiment.Config, x *tensors.Tensor, label string, labels *samplers.Labels, obj map[string]any) error {
	pts, err := toy2d.FromFlat32(tensors.MustCopyFlatData[float32](x))
	if err != nil {
		return err
	}
	var csv bytes.Buffer
	if labels.Labels != nil {
		csv.WriteString("x,y,label\n")
		for i, q := range pts {
			fmt.Fprintf(&csv, "%g,%g,%d\n", q[0], q[1], labels.Labels[i])
		}
	} else {
		csv.WriteString("x,y\n")
		for _, q := range pts {
			fmt.Fprintf(&csv, "%g,%g\n", q[0], q[1])
		}
	}
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	fresh, err := freshData(ds, len(pts), labels.Labels)
	if err != nil {
		return err
	}
	xs, ys := split(pts)
	fx, fy := split(fresh)
	lim := 3.0
	title := fmt.Sprintf("%s: %d samples, %s", cfg.Dataset, len(pts), label)
	switch labels.Order {
	case samplers.OrderClass:
		title += fmt.Sprintf(", class %d", labels.Class)
	case samplers.OrderCycled, samplers.OrderClassMajor:
		title += ", all classes"
	case samplers.OrderNull:
		title += ", null condition"
	}
	if labels.Conditional() && labels.Guidance != 1 {
		title += fmt.Sprintf(", w = %g", labels.Guidance)
	}
	png, err := plots.ScatterPNG([]plots.Series{{Name: "data", X: fx, Y: fy}, {Name: "samples", X: xs, Y: ys}}, plots.Options{
		Title: title, Equal: true, XMin: &[]float64{-lim}[0], XMax: &lim, YMin: &[]float64{-lim}[0], YMax: &lim,
	})
	if err != nil {
		return err
	}
	// Both files are complete in memory; write them atomically.
	if err := plots.WriteFileAtomic(base+".csv", csv.Bytes()); err != nil {
		return err
	}
	if err := plots.WriteFileAtomic(base+".png", png); err != nil {
		os.Remove(base + ".csv")
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.csv and %s.png\n", base, base)
	obj["outputs"] = []string{base + ".csv", base + ".png"}

	data := "fresh data"
	if labels.Labels != nil {
		data = "fresh data of the same labels"
	}
	nll, nllData := toy2d.MeanNLL(ds, pts), toy2d.MeanNLL(ds, fresh)
	fmt.Fprintf(stdout, "true-density NLL: samples %.3f nats, %s %.3f nats\n", nll, data, nllData)
	obj["nll_samples"], obj["nll_data"] = nll, nllData
	a, bpts := metrics.Points2D(pts), metrics.Points2D(fresh)
	if m, err := metrics.MMD2RBF(a, bpts, metrics.MedianBandwidth(a, bpts)); err == nil {
		fmt.Fprintf(stdout, "MMD² to %s (RBF, median bandwidth): %.5f\n", data, m)
		obj["mmd2"] = m
	} else {
		fmt.Fprintf(stdout, "MMD² not computed: %v\n", err)
	}
	if sw, err := metrics.SlicedWasserstein(a, bpts, 256, rand.New(rand.NewPCG(1, 2))); err == nil {
		fmt.Fprintf(stdout, "sliced Wasserstein-2 to %s: %.4f\n", data, sw)
		obj["sliced_w2"] = sw
	} else {
		fmt.Fprintf(stdout, "sliced Wasserstein-2 not computed: %v\n", err)
	}
	if l, ok := ds.(toy2d.Labeled); ok {
		modes := make([]int, len(pts))
		for i, q := range pts {
			modes[i] = l.Mode(q)
		}
		modeFigures(stdout, l, modes, labels.Labels, obj)
	}
	return nil
}

// freshData draws n fresh points from the dataset (seeded as always, so
// that runs are comparable): unlabelled when labels is nil, else point i
// of class labels[i], taken in order from a labelled stream.
func freshData(ds toy2d.Dataset, n int, labels []int32) ([]toy2d.Point, error) {
	rng := rand.New(rand.NewPCG(12345, 67890))
	if labels == nil {
		return ds.Sample(rng, n), nil
	}
	l, ok := ds.(toy2d.Labeled)
	if !ok {
		return nil, fmt.Errorf("%s has no labels", ds.Name())
	}
	pool := make([][]toy2d.Point, l.Classes())
	out := make([]toy2d.Point, n)
	for i, want := range labels {
		for len(pool[want]) == 0 {
			pts, ls := l.SampleLabeled(rng, 4*l.Classes())
			for j, p := range pts {
				pool[ls[j]] = append(pool[ls[j]], p)
			}
		}
		out[i], pool[want] = pool[want][0], pool[want][1:]
	}
	return out, nil
}

func split(pts []toy2d.Point) (xs, ys []float64) {
	xs = make([]float64, len(pts))
	ys = make([]float64, len(pts))
	for i, q := range pts {
		xs[i], ys[i] = q[0], q[1]
	}
	return xs, ys
}

// maxPromptsFile bounds the size of a prompts file (a prompt is a short
// caption; each one samples a row of images).
const maxPromptsFile = 1 << 20

// readPrompts reads a prompts file: one prompt a line, blank lines and
// lines starting with # skipped.
func readPrompts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--prompts-file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPromptsFile+1))
	if err != nil {
		return nil, fmt.Errorf("--prompts-file %s: %w", path, err)
	}
	if len(data) > maxPromptsFile {
		return nil, fmt.Errorf("--prompts-file %s is larger than %d bytes: not a file of prompts", path, maxPromptsFile)
	}
	return parsePrompts(path, data)
}

// parsePrompts returns the prompts of the prompts file path (which only
// names it in errors) holding data.
func parsePrompts(path string, data []byte) ([]string, error) {
	var out []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--prompts-file %s has no prompts (one a line; blank lines and # comments are skipped)", path)
	}
	return out, nil
}
