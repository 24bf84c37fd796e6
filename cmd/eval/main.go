// Command eval measures a trained model.
//
//	go run ./cmd/eval --model-path out/g8 --num-examples 500 --plot out/g8/bound.png
//	go run ./cmd/eval --model-path out/mnist --samples 1000 --num-examples 100
//
// It computes the variational bound of fresh data, term by term. For the 2-D
// datasets the bound uses a Gaussian decoder, so it bounds the model's
// negative log-density; it is printed in nats per example next to the true
// density's value on the same data (the data's entropy), which no model can
// beat on average. For images the bound uses the discretized decoder and is
// reported in bits/dim over test images; then --samples images are drawn and
// compared with the test set by the classifier-based Fréchet distance and
// KID (features of this project's classifier, package tutorial/classifier:
// not comparable with published FID), next to the same figures for real
// training images and for Gaussian noise, which set the scale. --plot draws
// every term of the bound against t.
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
// dequantization, with the Hutchinson estimator by default. The flags of the
// bound (--plot, --samples, --sample-steps, --cache) are refused for a score
// checkpoint, and the likelihood's flags for a DDPM one.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model-path", "", "checkpoint file, or the folder holding model.ckpt (required)")
	n := fs.Int("num-examples", 500, fmt.Sprintf("fresh data examples to evaluate (%d test images for a score model's ODE likelihood)", defaultScoreImages))
	seed := fs.Int64("seed", 0, "seed of the data and of the noise")
	noEMA := fs.Bool("no-ema", false, "use the raw weights instead of their EMA")
	plot := fs.String("plot", "", "write a PNG of the bound's terms against t")
	samples := fs.Int("samples", 1000, "images: samples to compare with the test set (0: none)")
	sampleSteps := fs.Int("sample-steps", 100, "images: DDIM steps used to draw the samples")
	cacheDir := fs.String("cache", "out/classifiers", "images: folder caching the trained classifiers")
	divName := fs.String("divergence", "", "score checkpoints: divergence in the ODE likelihood: exact, hutchinson (Rademacher probes) or gaussian (default: exact for 2-D data, hutchinson for images)")
	solverName := fs.String("solver", "rk45", "score checkpoints: ODE solver of the likelihood: rk45 (adaptive), euler, heun or rk4")
	odeSteps := fs.Int("ode-steps", defaultODESteps, "score checkpoints with a fixed-step --solver: number of steps")
	quiet := fs.Bool("quiet", false, "no progress bar")
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
	if *n <= 0 {
		return fmt.Errorf("--num-examples must be > 0, got %d", *n)
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
	path := *modelPath
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "model.ckpt")
	}
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		return err
	}
	cfg, err := experiment.FromJSON(ck.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, fl := range []string{"plot", "samples", "sample-steps", "cache", "divergence", "solver", "ode-steps"} {
		boundFlag := fl == "plot" || fl == "samples" || fl == "sample-steps" || fl == "cache"
		switch {
		case !given[fl]:
		case cfg.IsScore() && boundFlag:
			return fmt.Errorf("--%s applies to DDPM checkpoints (the bound), but %s holds a score model (%s SDE), evaluated by its ODE likelihood", fl, path, cfg.SDE)
		case !cfg.IsScore() && !boundFlag:
			return fmt.Errorf("--%s applies to score checkpoints (the ODE likelihood), but %s holds a DDPM model, evaluated by its bound", fl, path)
		}
	}
	store, err := diffusion.SamplingStore(ck, !*noEMA && diffusion.HasEMA(ck))
	if err != nil {
		return err
	}
	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
	}
	if cfg.IsScore() {
		if _, _, _, err := cfg.BuildScore(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		o := scoreOptions{n: *n, seed: *seed, solver: solver, steps: *odeSteps, divergence: div}
		if *divName == "" && cfg.IsImage() {
			o.divergence = score.HutchinsonRademacher
		}
		if !given["num-examples"] && cfg.IsImage() {
			o.n = defaultScoreImages
		}
		backend.Log = stderr
		b, err := backend.New()
		if err != nil {
			return err
		}
		return evalScore(stdout, progressW, b, cfg, store, o)
	}
	p, den, _, err := cfg.Build()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	if cfg.IsImage() {
		return evalImages(stdout, stderr, progressW, b, cfg, p, den, store, imageOptions{
			bound: *n, samples: *samples, sampleSteps: *sampleSteps, seed: *seed, plot: *plot, cacheDir: *cacheDir})
	}
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	pts := ds.Sample(rand.New(rand.NewPCG(uint64(*seed), 777)), *n)
	x0 := tensors.FromFlatDataAndDimensions(toy2d.Flatten32(pts), *n, 2)
	res, err := diffusion.VLB(b, store, den, p, x0, diffusion.VLBOptions{
		Seed: *seed, Variance: cfg.SampleVariance(), Decoder: cfg.Decoder(), Progress: progressW,
	})
	if err != nil {
		return err
	}
	toNats := 2 * math.Ln2 // bits/dim × 2 dims × ln 2
	fmt.Fprintf(stdout, "bound on −log p_θ(x₀): %.3f nats per example (%.3f bits/dim) over %d fresh %s points\n",
		res.Total*toNats, res.Total, *n, cfg.Dataset)
	fmt.Fprintf(stdout, "  L₀ (decoder) %.3f, Σ KL terms %.3f, L_T (prior) %.2e nats\n",
		res.Terms[0]*toNats, (res.Total-res.Terms[0]-res.Prior)*toNats, res.Prior*toNats)
	fmt.Fprintf(stdout, "true density on the same points: %.3f nats (the data's entropy; no model can do better on average)\n",
		toy2d.MeanNLL(ds, pts))
	if *plot != "" {
		if err := plotTerms(*plot, res.Terms, toNats, "nats per example"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *plot)
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
