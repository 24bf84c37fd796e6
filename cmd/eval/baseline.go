package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
	"github.com/godiffusion/diffusion-models/vae"
)

// baselineEval holds the settings of evalBaseline.
type baselineEval struct {
	n, samples   int
	seed         int64
	cacheDir     string
	given        map[string]bool
	decoderNoise bool
	quiet, json  bool
}

// samplesStream is the PCG stream of the fresh 2-D points the samples of a
// VAE or GAN are compared with (the bound's points use freshDataStream).
const samplesStream = 778

// evalBaseline evaluates a VAE or GAN checkpoint: for a VAE the negative
// ELBO of fresh data (2-D: nats, next to the data's entropy) or of test
// images (bits/dim, discretised decoder, as DDPM's bound); then the figures
// of o.samples samples drawn in one network pass, with the time per
// sample: 2-D, their NLL under the true density, MMD² to fresh data and
// the modes (gaussians8: shares, off-mode, modes covered; moons: shares);
// images, the classifier Fréchet distance and KID beside real images and
// noise.
func evalBaseline(stdout, stderr io.Writer, ck *samplers.Checkpoint, o baselineEval) error {
	cfg := ck.Config
	what := strings.ToUpper(cfg.Stage)
	takes := []string{"model-path", "samples", "seed", "no-ema", "ema-decay", "json", "quiet"}
	if cfg.IsVAE() {
		takes = append(takes, "num-examples", "decoder-noise")
	}
	if cfg.IsImage() {
		takes = append(takes, "cache")
	}
	var not []string
	for name := range o.given {
		if !slices.Contains(takes, name) {
			not = append(not, "--"+name)
		}
	}
	slices.Sort(not)
	if len(not) > 0 {
		why := "eval draws its samples in one pass (no sampler, no conditioning)"
		if cfg.IsGAN() {
			why += "; a GAN has no likelihood, so no --num-examples"
		}
		return fmt.Errorf("%s: not for %s, a %s checkpoint: %s; it takes --%s", strings.Join(not, ", "), ck.Path, what, why, strings.Join(takes[1:], ", --"))
	}
	n := o.n
	if cfg.IsGAN() {
		n = 0
	}
	if n == 0 && o.samples == 0 {
		return errors.New("nothing to evaluate: --samples 0 (and --num-examples 0, or a GAN, which has no likelihood)")
	}
	var progress io.Writer = stderr
	if o.quiet {
		progress = nil
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	start := time.Now()
	model := samplers.DescribeModel(cfg)
	fmt.Fprintf(stdout, "model: %s (step %d, %s weights; %s)\n", ck.Path, ck.Checkpoint.Step, ck.Weights, model)
	obj := map[string]any{"checkpoint": ck.Path, "step": ck.Checkpoint.Step, "weights": ck.Weights, "model": model}
	if n > 0 {
		v, err := cfg.OpenVAE(b, ck.Store)
		if err != nil {
			return err
		}
		if err := evalELBO(stdout, progress, cfg, v, n, o.seed, obj); err != nil {
			return err
		}
	}
	if o.samples > 0 {
		if err := evalBaselineSamples(stdout, stderr, progress, b, cfg, ck, o, obj); err != nil {
			return err
		}
	}
	took := time.Since(start).Round(time.Millisecond)
	fmt.Fprintf(stdout, "evaluated in %s\n", took)
	obj["seconds"] = took.Seconds()
	if o.json {
		return samplers.WriteJSON(stdout, obj)
	}
	return nil
}

// evalELBO reports the VAE's negative ELBO (one draw z ~ q(z|x) per
// example, the KL in closed form): for 2-D data over n fresh points in nats
// next to the true density's, for images over the first n test images in
// bits/dim (the 8-bit images in [−1, 1], discretised decoder, no
// dequantisation: the scaling of DDPM's bound).
func evalELBO(stdout, progress io.Writer, cfg experiment.Config, v *vae.VAE, n int, seed int64, obj map[string]any) error {
	var x []float32
	var pts []toy2d.Point
	var ds toy2d.Dataset
	if cfg.IsImage() {
		test, err := experiment.LoadImages(cfg.Dataset, "test")
		if err != nil {
			return err
		}
		sub := test.Subset(n)
		x, n = sub.Pixels, sub.N
	} else {
		var err error
		if ds, err = toy2d.ByName(cfg.Dataset); err != nil {
			return err
		}
		pts = ds.Sample(rand.New(rand.NewPCG(uint64(seed), freshDataStream)), n)
		x = toy2d.Flatten32(pts)
	}
	res, err := v.ELBO(x, n, vae.ELBOOptions{Seed: uint64(seed), Progress: progress})
	if err != nil {
		return err
	}
	rec, kl := mean(res.Reconstruction), mean(res.KL)
	obj["bound_nats"], obj["bound_se_nats"], obj["bits_per_dim"], obj["num_examples"] = res.Mean, res.StdErr, res.BitsPerDim, n
	obj["reconstruction_nats"], obj["kl_nats"] = rec, kl
	if cfg.IsImage() {
		fmt.Fprintf(stdout, "−ELBO, a bound on −log P(x) of the 8-bit images: %.3f bits/dim over %d %s test images (%.1f ± %.1f nats per image: reconstruction %.1f, KL %.1f; discretised decoder, no dequantisation, as the DDPM bound)\n",
			res.BitsPerDim, n, cfg.Dataset, res.Mean, res.StdErr, rec, kl)
		return nil
	}
	fmt.Fprintf(stdout, "−ELBO, a bound on −log p_θ(x): %.3f ± %.3f nats per example (%.3f bits/dim) over %d fresh %s points (reconstruction %.3f, KL %.3f nats)\n",
		res.Mean, res.StdErr, res.BitsPerDim, n, cfg.Dataset, rec, kl)
	entropy := toy2d.MeanNLL(ds, pts)
	fmt.Fprintf(stdout, "true density on the same points: %.3f nats (the data's entropy; no model can do better on average)\n", entropy)
	obj["data_nll_nats"] = entropy
	return nil
}

// evalBaselineSamples draws o.samples samples and reports their figures.
func evalBaselineSamples(stdout, stderr, progress io.Writer, b compute.Backend, cfg experiment.Config, ck *samplers.Checkpoint, o baselineEval, obj map[string]any) error {
	opts := experiment.GenerateOptions{Seed: o.seed, DecoderNoise: o.decoderNoise, Progress: progress}
	n := o.samples
	start := time.Now()
	gen, err := cfg.Generate(b, ck.Store, n, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", ck.Path, err)
	}
	el := time.Since(start)
	took := el.Round(time.Millisecond)
	per := el.Seconds() / float64(n)
	desc := cfg.GenerateDesc(opts)
	fmt.Fprintf(stdout, "drew %d samples (%s) in %s: %.4g ms per sample\n", n, desc, took, 1000*per)
	obj["num_samples"], obj["sampler"], obj["sampler_desc"] = n, cfg.Stage, desc
	obj["sample_seconds"], obj["sample_seconds_per_example"] = took.Seconds(), per
	if !cfg.IsImage() {
		return samples2D(stdout, cfg, gen, o.seed, obj)
	}
	for i, v := range gen { // the images as shown: a VAE's mean may leave [−1, 1]
		gen[i] = float32(math.Max(-1, math.Min(1, float64(v))))
	}
	clf, _, err := classifier.LoadOrTrain(b, cfg.Dataset, o.cacheDir, stderr)
	if err != nil {
		return err
	}
	test, err := experiment.LoadImages(cfg.Dataset, "test")
	if err != nil {
		return err
	}
	train, err := experiment.LoadImages(cfg.Dataset, "train")
	if err != nil {
		return err
	}
	testFeats, err := clf.Features(b, test.Pixels)
	if err != nil {
		return fmt.Errorf("the %s test images: %w", cfg.Dataset, err)
	}
	noise := make([]float32, n*test.ImageSize())
	rng := rand.New(rand.NewPCG(uint64(o.seed), 5))
	for i := range noise {
		noise[i] = float32(max(-1, min(1, rng.NormFloat64())))
	}
	fmt.Fprintf(stdout, "classifier-based Fréchet distance and KID against the %d %s test images (this project's classifier, test accuracy %.2f%%; not comparable with published FID):\n",
		test.N, cfg.Dataset, 100*clf.TestAccuracy)
	obj["classifier_accuracy"] = clf.TestAccuracy
	return fdTable(stdout, b, clf, testFeats, n, []fdRow{
		{"samples", fmt.Sprintf("%d samples (%s)", n, cfg.Stage), gen, nil},
		{"real", fmt.Sprintf("%d real training images", n), train.Subset(n).Pixels, nil},
		{"noise", fmt.Sprintf("%d Gaussian-noise images", n), noise, nil},
	}, obj)
}

// samples2D reports the figures of 2-D samples: their mean NLL under the
// true density beside that of as many fresh points, MMD² to those points,
// and the modes.
func samples2D(stdout io.Writer, cfg experiment.Config, gen []float32, seed int64, obj map[string]any) error {
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	pts, err := toy2d.FromFlat32(gen)
	if err != nil {
		return err
	}
	fresh := ds.Sample(rand.New(rand.NewPCG(uint64(seed), samplesStream)), len(pts))
	nll, nllData := toy2d.MeanNLL(ds, pts), toy2d.MeanNLL(ds, fresh)
	fmt.Fprintf(stdout, "true-density NLL: samples %.3f nats, %d fresh data points %.3f nats\n", nll, len(fresh), nllData)
	obj["nll_samples"], obj["nll_data"] = nll, nllData
	a, f := metrics.Points2D(pts), metrics.Points2D(fresh)
	m, err := metrics.MMD2RBF(a, f, metrics.MedianBandwidth(a, f))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "MMD² to the fresh data (RBF, median bandwidth): %.5f\n", m)
	obj["mmd2"] = m
	l, ok := ds.(toy2d.Labeled)
	if !ok {
		return nil
	}
	cov := toy2d.ModeCoverage(l, pts)
	shares := cov.Shares
	var sb strings.Builder
	for _, v := range shares {
		fmt.Fprintf(&sb, " %.3f", v)
	}
	obj["mode_shares"] = shares
	if _, isG8 := ds.(toy2d.Gaussians8); !isG8 {
		fmt.Fprintf(stdout, "moon shares (nearest moon: outer, inner):%s\n", sb.String())
		return nil
	}
	fmt.Fprintf(stdout, "mode shares (within 0.5 of a centre):%s; off-mode %.3f; modes covered %d of %d (≥ 1/%d of the samples each)\n",
		sb.String(), cov.OffMode, cov.Covered, len(shares), int(float64(len(shares))/toy2d.CoveredShare))
	obj["off_mode"], obj["modes_covered"] = cov.OffMode, cov.Covered
	return nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
