package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// baselineFlags are the flags that apply to a VAE or GAN checkpoint.
var baselineFlags = []string{"model-path", "num-samples", "seed", "out", "json", "quiet", "no-ema", "ema-decay", "decoder-noise"}

// baselineRun holds the settings of sampleBaseline.
type baselineRun struct {
	n            int
	seed         int64
	base         string
	given        map[string]bool
	decoderNoise bool
	quiet, json  bool
}

// sampleBaseline samples a VAE or GAN checkpoint in one network pass
// (experiment.Config.Generate) and writes the outputs as for a diffusion
// checkpoint: 2-D data, the CSV, the scatter plot and the quality figures;
// images, the grid.
func sampleBaseline(stdout, stderr io.Writer, ck *samplers.Checkpoint, r baselineRun) error {
	cfg := ck.Config
	what := strings.ToUpper(cfg.Stage)
	var not []string
	for name := range r.given {
		if !slices.Contains(baselineFlags, name) {
			not = append(not, "--"+name)
		}
	}
	slices.Sort(not)
	if len(not) > 0 {
		return fmt.Errorf("%s: not for %s, a %s checkpoint, which draws z ~ N(0, I) through its %s in one pass (it takes --num-samples, --seed, --out, --json, --quiet, --no-ema, --ema-decay%s)",
			strings.Join(not, ", "), ck.Path, what, map[bool]string{true: "decoder", false: "generator"}[cfg.IsVAE()],
			map[bool]string{true: " and --decoder-noise", false: ""}[cfg.IsVAE()])
	}
	if r.decoderNoise && !cfg.IsVAE() {
		return fmt.Errorf("--decoder-noise applies to VAE checkpoints; %s holds a GAN, whose generator is deterministic given z", ck.Path)
	}
	var progressW io.Writer = stderr
	if r.quiet {
		progressW = nil
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	opts := experiment.GenerateOptions{Seed: r.seed, DecoderNoise: r.decoderNoise, Progress: progressW}
	start := time.Now()
	flat, err := cfg.Generate(b, ck.Store, r.n, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", ck.Path, err)
	}
	took := time.Since(start).Round(time.Millisecond)
	desc := cfg.GenerateDesc(opts)
	perExample := time.Since(start).Seconds() / float64(r.n)
	model := samplers.DescribeModel(cfg)
	fmt.Fprintf(stdout, "%d samples from %s (step %d, %s weights; %s) with %s, in %s (%.3g ms per sample)\n",
		r.n, ck.Path, ck.Checkpoint.Step, ck.Weights, model, desc, took, 1000*perExample)
	obj := map[string]any{
		"checkpoint": ck.Path, "step": ck.Checkpoint.Step, "weights": ck.Weights, "model": model,
		"sampler": cfg.Stage, "sampler_desc": desc, "num_samples": r.n, "seed": r.seed,
		"seconds": took.Seconds(), "seconds_per_sample": perExample,
	}
	x := tensors.FromFlatDataAndDimensions(flat, append([]int{r.n}, cfg.ImageDims()...)...)
	labels := &samplers.Labels{}
	if cfg.IsImage() {
		err = writeImages(stdout, r.base, cfg, x, labels, obj)
	} else {
		label := "GAN generator"
		switch {
		case cfg.IsVAE() && r.decoderNoise:
			label = "VAE, x ~ p(x|z)"
		case cfg.IsVAE():
			label = "VAE decoder mean"
		}
		err = write2D(stdout, r.base, cfg, x, label, labels, obj)
	}
	if err != nil {
		return err
	}
	if r.json {
		return samplers.WriteJSON(stdout, obj)
	}
	return nil
}
