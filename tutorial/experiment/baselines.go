package experiment

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/gan"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
	"github.com/godiffusion/diffusion-models/vae"
)

// StageVAE is [Config.Stage] of a run that trains a variational
// autoencoder (package vae) on the data itself, the baseline that
// diffusion models are compared with: an MLP VAE with a Gaussian decoder
// for the 2-D sets, a convolutional one with the discretised Gaussian
// decoder for 28×28×1 images.
const StageVAE = "vae"

// StageGAN is [Config.Stage] of a run that trains a GAN (package gan:
// non-saturating loss, R1 penalty, both players in one step) on the data
// itself: MLPs for the 2-D sets, a DCGAN-style pair for 28×28×1 images.
const StageGAN = "gan"

// IsVAE reports whether the run trains a VAE.
func (c Config) IsVAE() bool { return c.Stage == StageVAE }

// IsGAN reports whether the run trains a GAN.
func (c Config) IsGAN() bool { return c.Stage == StageGAN }

// IsBaseline reports whether the run trains one of the generative models
// diffusion is compared with (a VAE or a GAN) rather than a diffusion model
// or one of its parts.
func (c Config) IsBaseline() bool { return c.IsVAE() || c.IsGAN() }

// baselineImages reports whether a VAE or a GAN can be trained on the
// image dataset: the conv kinds take S×S×1 images (mnist, fashion-mnist).
func baselineImages(dataset string) bool {
	d := ImageDimsOf(dataset)
	return d != nil && d[2] == 1 && d[0] == d[1] && d[0]%4 == 0
}

// baselineDatasets lists the datasets a VAE or a GAN is trained on.
func baselineDatasets() []string {
	out := toy2d.Names()
	for _, d := range ImageDatasets() {
		if baselineImages(d) {
			out = append(out, d)
		}
	}
	return out
}

// DefaultVAE returns the defaults of a VAE run. 2-D data: vae.Config's
// defaults (MLP 128×128, 2-D latent, learned decoder variance), batch 128,
// Adam lr 3e-3 with 100 warm-up steps, EMA 0.995. Images (mnist,
// fashion-mnist): the conv VAE (16-D latent, discretised Gaussian decoder)
// for the dataset's images, batch 64, lr 1e-3 with 200 warm-up steps,
// gradient clip 1, EMA 0.999. Other datasets get the 2-D defaults, which
// Validate refuses.
func DefaultVAE(dataset string) Config {
	if IsImageDataset(dataset) {
		vc := vae.Config{Kind: vae.KindConv, ImageSize: ImageDimsOf(dataset)[0]}.WithDefaults()
		return Config{Dataset: dataset, Stage: StageVAE, VAE: &vc,
			BatchSize: 64, LearningRate: 1e-3, WarmupSteps: 200, GradClip: 1, EMA: 0.999}
	}
	vc := vae.Config{Kind: vae.KindMLP, DataDim: 2}.WithDefaults()
	return Config{Dataset: dataset, Stage: StageVAE, VAE: &vc,
		BatchSize: 128, LearningRate: 3e-3, WarmupSteps: 100, EMA: 0.995}
}

// DefaultGAN returns the defaults of a GAN run, with Adam β₁ = 0.5,
// β₂ = 0.99 (as DCGAN and the R1 paper). 2-D data: MLPs 64×64, 8-D noise,
// R1 γ = 0.1, batch 128, lr 1e-3, EMA 0.99 (gan's test covers all 8 modes
// of gaussians8 with these in 2,000 steps). Images (mnist, fashion-mnist):
// the DCGAN-style pair (64-D noise) with R1 γ = 10 (Mescheder et al.'s
// value for images in [−1, 1]), batch 64, lr 2e-4, EMA 0.999. Other
// datasets get the 2-D defaults, which Validate refuses.
func DefaultGAN(dataset string) Config {
	if IsImageDataset(dataset) {
		gc := gan.Config{Kind: gan.KindConv, ImageSize: ImageDimsOf(dataset)[0], R1Gamma: 10}.WithDefaults()
		return Config{Dataset: dataset, Stage: StageGAN, GAN: &gc,
			BatchSize: 64, LearningRate: 2e-4, Beta1: 0.5, Beta2: 0.99, EMA: 0.999}
	}
	gc := gan.Config{Kind: gan.KindMLP, DataDim: 2, Hidden: []int{64, 64}, R1Gamma: 0.1}.WithDefaults()
	return Config{Dataset: dataset, Stage: StageGAN, GAN: &gc,
		BatchSize: 128, LearningRate: 1e-3, Beta1: 0.5, Beta2: 0.99, EMA: 0.99}
}

// validateBaseline checks a VAE or GAN run: a dataset it takes, an
// architecture of the kind and shape of the data, no settings of other
// runs.
func (c Config) validateBaseline() error {
	what, stage := "a VAE", StageVAE
	if c.IsGAN() {
		what, stage = "a GAN", StageGAN
	}
	switch {
	case IsImageDataset(c.Dataset) && !baselineImages(c.Dataset):
		d := ImageDimsOf(c.Dataset)
		return fmt.Errorf("experiment: %s is trained on 2-D data or on square grayscale images; %s has %d×%d×%d images (datasets: %s)",
			what, c.Dataset, d[0], d[1], d[2], strings.Join(baselineDatasets(), ", "))
	case !IsImageDataset(c.Dataset):
		if _, err := toy2d.ByName(c.Dataset); err != nil {
			return fmt.Errorf("experiment: unknown dataset %q for %s (want one of %s)", c.Dataset, what, strings.Join(baselineDatasets(), ", "))
		}
	}
	var kind string
	var dims []int
	switch {
	case c.IsVAE() && c.VAE == nil:
		return fmt.Errorf("experiment: a VAE run needs its architecture (vae)")
	case c.IsGAN() && c.GAN == nil:
		return fmt.Errorf("experiment: a GAN run needs its architecture (gan)")
	case c.IsVAE():
		if err := c.VAE.Validate(); err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		kind, dims = c.VAE.WithDefaults().Kind, c.VAE.DataDims()
	default:
		if err := c.GAN.Validate(); err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		kind, dims = c.GAN.WithDefaults().Kind, c.GAN.DataDims()
	}
	want := c.ImageDims()
	if !slices.Equal(dims, want) {
		wantKind := "mlp"
		if c.IsImage() {
			wantKind = "conv"
		}
		return fmt.Errorf("experiment: the %s %s takes examples shaped %v but %s has %v (use kind %q with the data's shape; see Default%s)",
			kind, strings.ToUpper(stage), dims, c.Dataset, want, wantKind, strings.ToUpper(stage))
	}
	unused := append(slices.Clone(diffusionFields), "autoencoder", "latent_scale", "autoencoder_bundled", "clip_bundled", "mlp",
		"text", "text_sha256", "clip", "tokenizer")
	if c.IsVAE() {
		unused = append(unused, "gan")
	} else {
		unused = append(unused, "vae")
	}
	if set := c.setFields(unused...); len(set) > 0 {
		return fmt.Errorf("experiment: %s: settings %s run does not use", strings.Join(set, ", "), what)
	}
	if c.BatchSize <= 0 || c.BatchSize > diffusion.MaxBatch {
		return fmt.Errorf("experiment: batch size must be 1 to %d, got %d", diffusion.MaxBatch, c.BatchSize)
	}
	if err := c.validateTrainImages(); err != nil {
		return err
	}
	return c.trainConfig().Validate()
}

// newBaselineTrainer returns the trainer of a VAE or GAN run: one
// objective with its terms (vae: reconstruction, kl; gan: discriminator,
// generator, r1) through diffusion.NewTrainerWithTerms.
func (c Config) newBaselineTrainer(b compute.Backend) (*diffusion.Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.IsVAE() {
		return diffusion.NewTrainerWithTerms(b, c.VAE.Loss(), vae.TermNames(), c.trainConfig())
	}
	return diffusion.NewTrainerWithTerms(b, c.GAN.Loss(), gan.TermNames(), c.trainConfig())
}

// OpenVAE returns the VAE of a VAE run with the weights in store (such as
// diffusion.SamplingStore of its checkpoint).
func (c Config) OpenVAE(b compute.Backend, store *model.Store) (*vae.VAE, error) {
	if !c.IsVAE() || c.VAE == nil {
		return nil, fmt.Errorf("experiment: not a VAE run (stage %q)", c.Stage)
	}
	return vae.New(b, *c.VAE, store)
}

// OpenGAN returns the GAN of a GAN run with the weights in store.
func (c Config) OpenGAN(b compute.Backend, store *model.Store) (*gan.GAN, error) {
	if !c.IsGAN() || c.GAN == nil {
		return nil, fmt.Errorf("experiment: not a GAN run (stage %q)", c.Stage)
	}
	return gan.New(b, *c.GAN, store)
}

// BaselineDesc names the model of a VAE or GAN run ("VAE, conv, 16-D
// latent", "GAN, mlp, 8-D noise, R1 γ = 0.1"); "" for other runs.
func (c Config) BaselineDesc() string {
	switch {
	case c.IsVAE() && c.VAE != nil:
		v := c.VAE.WithDefaults()
		return fmt.Sprintf("VAE, %s, %d-D latent", v.Kind, v.LatentDim)
	case c.IsGAN() && c.GAN != nil:
		g := c.GAN.WithDefaults()
		return fmt.Sprintf("GAN, %s, %d-D noise, R1 γ = %g", g.Kind, g.NoiseDim, g.R1Gamma)
	}
	return ""
}

// GenerateOptions configures [Config.Generate].
type GenerateOptions struct {
	// Seed seeds the draws of z (and of a VAE's decoder noise).
	Seed int64
	// DecoderNoise makes a VAE return draws of p(x|z) instead of the
	// decoder's mean m(z) (vae.SampleOptions.DecoderNoise); a GAN refuses it.
	DecoderNoise bool
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// Generate draws n examples (flat [n, ImageDims...]) from a trained VAE or
// GAN whose weights are in store: z ~ N(0, I), then the VAE's decoder (its
// mean, or a draw of p(x|z) with DecoderNoise) or the GAN's generator.
func (c Config) Generate(b compute.Backend, store *model.Store, n int, opts GenerateOptions) ([]float32, error) {
	switch {
	case c.IsVAE():
		v, err := c.OpenVAE(b, store)
		if err != nil {
			return nil, err
		}
		return v.Sample(n, vae.SampleOptions{Seed: uint64(opts.Seed), DecoderNoise: opts.DecoderNoise, Progress: opts.Progress})
	case c.IsGAN():
		if opts.DecoderNoise {
			return nil, fmt.Errorf("experiment: a GAN's generator is deterministic given z; decoder noise is for VAEs")
		}
		g, err := c.OpenGAN(b, store)
		if err != nil {
			return nil, err
		}
		return g.Sample(n, uint64(opts.Seed), opts.Progress)
	}
	return nil, fmt.Errorf("experiment: Generate draws from a VAE or a GAN; stage %q samples with a diffusion sampler", c.Stage)
}

// GenerateDesc describes how [Config.Generate] draws with opts.
func (c Config) GenerateDesc(opts GenerateOptions) string {
	switch {
	case c.IsVAE() && opts.DecoderNoise:
		return "z ~ N(0, I), x ~ p(x|z): one decoder pass"
	case c.IsVAE():
		return "z ~ N(0, I), the decoder's mean m(z): one decoder pass"
	case c.IsGAN():
		return "z ~ N(0, I), x = G(z): one generator pass"
	}
	return ""
}
