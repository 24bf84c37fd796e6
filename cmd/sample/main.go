// Command sample draws samples from a checkpoint written by cmd/train.
//
//	go run ./cmd/sample --model-path out/gaussians8 --num-samples 2000 --sampler ddim --sample-steps 50 --out out/gaussians8/samples
//	go run ./cmd/sample --model-path out/mnist --num-samples 100 --out grid.png
//
// For images it writes a PNG grid (10×10 for 100 samples), clipping x̂₀ to
// [−1, 1] at every step unless --clip=false.
//
// For 2-D data it writes FILE.csv (header "x,y", one sample a line) and a
// scatter plot FILE.png, and prints quality figures: the mean negative
// log-likelihood of the samples under the true density (next to that of
// fresh data), MMD² and the sliced Wasserstein distance to fresh data, and,
// for gaussians8, the share of samples at each mode. Outputs are written
// atomically: on any error nothing is left half-written.
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
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model-path", "", "checkpoint file, or the folder holding model.ckpt (required)")
	n := fs.Int("num-samples", 2000, "number of samples")
	samplerName := fs.String("sampler", "ddpm", "ddpm (ancestral) or ddim")
	steps := fs.Int("sample-steps", 0, "number of sampling steps (0: every step for ddpm, 50 for ddim)")
	spacing := fs.String("spacing", "linspace", "how the kept steps are spread: linspace, leading, trailing (or ddim: improved DDPM's stride rule)")
	eta := fs.Float64("eta", 0, "DDIM η in [0, 1] (0: deterministic, 1: DDPM-like noise)")
	variance := fs.String("variance", "", "sampling variance when not learned: small (β̃) or large (β) (default: the checkpoint's)")
	clip := fs.Bool("clip", false, "clip the predicted x0 to [-1, 1] (default: on for images, off for 2-D data)")
	noEMA := fs.Bool("no-ema", false, "sample with the raw weights instead of their EMA")
	seed := fs.Int64("seed", 0, "random seed")
	batch := fs.Int("batch-size", 0, "samples denoised at once (0: all)")
	out := fs.String("out", "", "output: for 2-D data OUT.csv and OUT.png, for images the grid OUT.png (required)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case *modelPath == "":
		return errors.New("--model-path is required")
	case *out == "":
		return errors.New("--out is required")
	case *n <= 0:
		return fmt.Errorf("--num-samples must be > 0, got %d", *n)
	case *steps < 0:
		return fmt.Errorf("--sample-steps must be ≥ 0, got %d", *steps)
	case !(*eta >= 0 && *eta <= 1):
		return fmt.Errorf("--eta must be in [0, 1], got %g", *eta)
	}
	switch *spacing {
	case "linspace", "leading", "trailing", "ddim":
	default:
		return fmt.Errorf("unknown --spacing %q (want linspace, leading, trailing or ddim)", *spacing)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(*out, ".csv"), ".png")

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
	vt := cfg.SampleVariance()
	if *variance != "" {
		if vt, err = diffusion.ParseVarianceType(*variance); err != nil {
			return err
		}
		if vt == diffusion.Learned && !den.LearnedVariance {
			return fmt.Errorf("--variance learned: the model in %s does not learn its variance", path)
		}
	}
	clipX0 := cfg.ClipX0()
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "clip" {
			clipX0 = *clip
		}
	})
	useEMA := !*noEMA && diffusion.HasEMA(ck)
	store, err := diffusion.SamplingStore(ck, useEMA)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	var sampler diffusion.Sampler
	switch *samplerName {
	case "ddpm":
		sp := p
		if *steps > 0 && *steps != p.T() {
			if sp, err = p.RespaceSpec(spec(*spacing, *steps)); err != nil {
				return err
			}
		}
		sampler = diffusion.DDPM{P: sp, Variance: vt, ClipX0: clipX0}
	case "ddim":
		k := *steps
		if k == 0 {
			k = min(50, p.T())
		}
		sp, err := p.RespaceSpec(spec(*spacing, k))
		if err != nil {
			return err
		}
		sampler = diffusion.DDIM{P: sp, Eta: *eta, ClipX0: clipX0}
	default:
		return fmt.Errorf("unknown --sampler %q (want ddpm or ddim)", *samplerName)
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
	start := time.Now()
	x, err := diffusion.Sample(b, store, den, sampler, *n, cfg.DataDims(), diffusion.SampleOptions{
		Seed: *seed, BatchSize: *batch, Progress: progressW,
	})
	if err != nil {
		return err
	}
	weights := "EMA"
	switch {
	case ck.WeightsAreEMA:
		weights = "exported EMA"
	case !useEMA:
		weights = "raw"
	}
	fmt.Fprintf(stdout, "%d samples from %s (step %d, %s weights) with %s, %d steps, in %s\n",
		*n, path, ck.Step, weights, *samplerName, len(sampler.Steps()), time.Since(start).Round(time.Millisecond))
	if cfg.IsImage() {
		return writeImages(stdout, base, cfg, x)
	}
	return write2D(stdout, base, cfg, x, *samplerName, len(sampler.Steps()))
}

// writeImages writes the samples as one PNG grid, ⌈√n⌉ images a row.
func writeImages(stdout io.Writer, base string, cfg experiment.Config, x *tensors.Tensor) error {
	dims := cfg.DataDims()
	h, w, c := dims[0], dims[1], dims[2]
	flat := tensors.MustCopyFlatData[float32](x)
	size := h * w * c
	n := len(flat) / size
	imgs := make([][]float32, n)
	for i := range imgs {
		imgs[i] = flat[i*size : (i+1)*size]
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
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
	fmt.Fprintf(stdout, "wrote %s.png (%d images, %d a row)\n", base, n, cols)
	return nil
}

// spec turns --spacing and a step count into a schedules.SpacedTimesteps spec.
func spec(spacing string, k int) string {
	if spacing == "ddim" {
		return fmt.Sprintf("ddim%d", k)
	}
	return fmt.Sprintf("%s:%d", spacing, k)
}

// write2D writes the CSV and the scatter plot, then prints quality figures.
func write2D(stdout io.Writer, base string, cfg experiment.Config, x *tensors.Tensor, sampler string, steps int) error {
	pts, err := toy2d.FromFlat32(tensors.MustCopyFlatData[float32](x))
	if err != nil {
		return err
	}
	var csv bytes.Buffer
	csv.WriteString("x,y\n")
	for _, q := range pts {
		fmt.Fprintf(&csv, "%g,%g\n", q[0], q[1])
	}
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	fresh := ds.Sample(rand.New(rand.NewPCG(12345, 67890)), len(pts))
	xs, ys := split(pts)
	fx, fy := split(fresh)
	lim := 3.0
	png, err := plots.ScatterPNG([]plots.Series{{Name: "data", X: fx, Y: fy}, {Name: "samples", X: xs, Y: ys}}, plots.Options{
		Title: fmt.Sprintf("%s: %d samples, %s %d steps", cfg.Dataset, len(pts), sampler, steps),
		Equal: true, XMin: &[]float64{-lim}[0], XMax: &lim, YMin: &[]float64{-lim}[0], YMax: &lim,
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

	nll := toy2d.MeanNLL(ds, pts)
	nllData := toy2d.MeanNLL(ds, fresh)
	fmt.Fprintf(stdout, "true-density NLL: samples %.3f nats, fresh data %.3f nats\n", nll, nllData)
	a, bpts := metrics.Points2D(pts), metrics.Points2D(fresh)
	if m, err := metrics.MMD2RBF(a, bpts, metrics.MedianBandwidth(a, bpts)); err == nil {
		fmt.Fprintf(stdout, "MMD² to fresh data (RBF, median bandwidth): %.5f\n", m)
	}
	if sw, err := metrics.SlicedWasserstein(a, bpts, 256, rand.New(rand.NewPCG(1, 2))); err == nil {
		fmt.Fprintf(stdout, "sliced Wasserstein-2 to fresh data: %.4f\n", sw)
	}
	if g, ok := ds.(toy2d.Gaussians8); ok {
		counts, outliers := g.ModeCounts(pts, 0.5)
		var sb strings.Builder
		for i, c := range counts {
			if i > 0 {
				sb.WriteString(" ")
			}
			fmt.Fprintf(&sb, "%.3f", float64(c)/float64(len(pts)))
		}
		fmt.Fprintf(stdout, "mode shares (within 0.5 of a centre): %s; off-mode %.3f\n", sb.String(), float64(outliers)/float64(len(pts)))
	}
	return nil
}

func split(pts []toy2d.Point) (xs, ys []float64) {
	xs = make([]float64, len(pts))
	ys = make([]float64, len(pts))
	for i, q := range pts {
		xs[i], ys[i] = q[0], q[1]
	}
	return xs, ys
}
