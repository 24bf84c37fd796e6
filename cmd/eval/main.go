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
	n := fs.Int("num-examples", 500, "fresh data examples to evaluate")
	seed := fs.Int64("seed", 0, "seed of the data and of the noise")
	noEMA := fs.Bool("no-ema", false, "use the raw weights instead of their EMA")
	plot := fs.String("plot", "", "write a PNG of the bound's terms against t")
	samples := fs.Int("samples", 1000, "images: samples to compare with the test set (0: none)")
	sampleSteps := fs.Int("sample-steps", 100, "images: DDIM steps used to draw the samples")
	cacheDir := fs.String("cache", "out/classifiers", "images: folder caching the trained classifiers")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *modelPath == "" {
		return errors.New("--model-path is required")
	}
	if *n <= 0 {
		return fmt.Errorf("--num-examples must be > 0, got %d", *n)
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
	p, den, _, err := cfg.Build()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	store, err := diffusion.SamplingStore(ck, !*noEMA && diffusion.HasEMA(ck))
	if err != nil {
		return err
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
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
