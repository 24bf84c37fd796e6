// Package experiment describes one training run by name — data, schedule,
// model, objective, optimiser — and builds the diffusion objects from it. The
// train and sample commands and the notebooks share it, and checkpoints store
// it, so that a checkpoint always says how it was made.
package experiment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // the text-conditional denoiser is a graph function
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/gan"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
	"github.com/godiffusion/diffusion-models/unet"
	"github.com/godiffusion/diffusion-models/vae"
)

// Config is one training run. Its JSON form is stored in checkpoints.
//
// A run has one of two objectives. The DDPM objective (Objective empty) trains
// a denoiser on the discrete process given by Timesteps, Schedule,
// Prediction, Loss, Variance and TimestepSampler. The score objective
// (Objective "score") trains a score model by denoising score matching in
// continuous time under the forward SDE named by SDE; those six DDPM fields
// are then left zero (see [Config.WithScore]).
type Config struct {
	// Dataset names the training data (see Datasets).
	Dataset string `json:"dataset"`
	// Objective is "" (or "ddpm") for the DDPM objective, or "score" for
	// denoising score matching under SDE. Omitted from the JSON when empty,
	// so DDPM configurations keep their form (and cache keys).
	Objective string `json:"objective,omitempty"`
	// SDE names the forward SDE of the score objective: "vp", "subvp" or
	// "ve" (see score.NewSDE); empty for the DDPM objective.
	SDE string `json:"sde,omitempty"`
	// Timesteps is T, the number of diffusion steps (DDPM objective).
	Timesteps int `json:"timesteps"`
	// Schedule names the noise schedule (see schedules.Names; DDPM objective).
	Schedule string `json:"schedule"`
	// Prediction is what the model outputs: "eps", "x0" or "v" (DDPM objective).
	Prediction string `json:"prediction"`
	// Loss is "simple", "hybrid" or "vlb" (DDPM objective).
	Loss string `json:"loss"`
	// Variance of p_θ(x_{t−1} | x_t): "small" (β̃), "large" (β) or "learned".
	// Empty means "learned" for the hybrid loss and "small" otherwise (DDPM
	// objective).
	Variance string `json:"variance"`
	// Model names the network: "mlp" (2-D data) or "unet" (images).
	Model string `json:"model"`
	// MLP configures the MLP model.
	MLP unet.MLPConfig `json:"mlp"`
	// UNet names the UNet configuration (see unet.UNetConfigNames) when
	// Model is "unet".
	UNet string `json:"unet,omitempty"`
	// TimeEmbedding overrides the time embedding of the UNet named by UNet
	// (unet.UNetConfig.TimeEmbedding): "" keeps the configuration's
	// (sinusoidal for every named UNet), unet.TimeEmbeddingLinear embeds the
	// scalar t/T instead, the ablation of notebook 6. UNet models only;
	// omitted from the JSON when empty.
	TimeEmbedding string `json:"time_embedding,omitempty"`
	// NoAttention removes the self-attention of the UNet named by UNet: its
	// middle AttentionBlock and those of its AttentionResolutions, the
	// ablation of notebook 6. Unconditional and class-conditional UNets
	// only (a text-conditional UNet reads its prompt through attention);
	// omitted from the JSON when false.
	NoAttention bool `json:"no_attention,omitempty"`
	// BatchSize is the number of examples per step.
	BatchSize int `json:"batch_size"`
	// LearningRate is Adam's step size.
	LearningRate float64 `json:"lr"`
	// WarmupSteps ramps the learning rate up linearly.
	WarmupSteps int `json:"warmup_steps"`
	// WeightDecay is AdamW's decoupled weight decay (0: Adam).
	WeightDecay float64 `json:"weight_decay"`
	// Beta1 and Beta2 are Adam's moment decays (0: the defaults 0.9 and
	// 0.999); GAN runs use 0.5 and 0.99. Omitted from the JSON when zero,
	// so other configurations keep their form (and cache keys).
	Beta1 float64 `json:"beta1,omitempty"`
	Beta2 float64 `json:"beta2,omitempty"`
	// GradClip is the global gradient-norm clip (0: none).
	GradClip float64 `json:"grad_clip"`
	// EMA is the decay of the weights' moving average (0: none).
	EMA float64 `json:"ema"`
	// TimestepSampler is "uniform" or "loss-aware" (DDPM objective).
	TimestepSampler string `json:"timestep_sampler"`
	// ClassCond makes the model class-conditional on the dataset's labels
	// (see [Config.Classes]); omitted from the JSON when false, so
	// unconditional configurations keep their form (and cache keys).
	ClassCond bool `json:"class_cond,omitempty"`
	// PUncond is the probability of training an example with the null
	// condition ∅ instead of its label (classifier-free guidance); only for
	// class-conditional runs, where cmd/train defaults it to
	// DefaultPUncond.
	PUncond float64 `json:"p_uncond,omitempty"`
	// Seed fixes initial weights, data order, noise and timesteps.
	Seed int64 `json:"seed"`
	// TrainImages, when > 0, trains on the first TrainImages images of an
	// image dataset's training split only (0: all of them). An
	// autoencoder's scale factor and latent cache, and a latent model's
	// latents, cover those images.
	TrainImages int `json:"train_images,omitempty"`

	// Precision is the arithmetic of the denoiser's training steps: "" (or
	// "f32") for float32, "bf16" or "f16" for mixed precision (see
	// diffusion.TrainConfig.Precision: float32 master weights, Adam moments
	// and moving averages; the network in bfloat16 or float16; "f16" with
	// dynamic loss scaling at the trainer's defaults). DDPM runs only
	// (pixel, latent and text-conditional models, MLP or UNet): the score
	// objective's trainer and the stages' (autoencoder, CLIP, VAE, GAN)
	// refuse it. It changes the weights, hence the cache key, but not the
	// model: sampling and evaluation run in float32 whatever it was.
	// Omitted from the JSON when empty, so other configurations keep their
	// form (and cache keys).
	Precision string `json:"precision,omitempty"`
	// GradCheckpoint turns on gradient checkpointing in the denoiser's
	// network (unet.UNetConfig.GradCheckpoint or
	// unet.MLPConfig.GradCheckpoint): the backward pass recomputes each
	// block's activations instead of keeping them, less memory for more
	// time. Diffusion runs only (DDPM or score; the stages' networks have no
	// checkpointed blocks). It changes neither the variables nor the model,
	// and the gradients only in the order of a few float32 additions, so
	// cmd/train --resume may switch it (the one field it lets change). It
	// does change the cache key (Key hashes the stored JSON): the weights it
	// trains are not bit for bit those trained without it, and a cached
	// model is the one its configuration trains; configurations without it
	// keep their keys, since it is omitted from the JSON when false.
	GradCheckpoint bool `json:"grad_checkpoint,omitempty"`
	// EMADecays are extra moving averages of the weights kept beside EMA's
	// (diffusion.TrainConfig.EMADecays: each in (0, 1), none repeated, none
	// equal to EMA), so that one run can be sampled with several (cmd/sample
	// and cmd/eval --ema-decay). Diffusion models, VAEs and GANs only: an
	// autoencoder or a CLIP is used through its EMA alone. Omitted from the
	// JSON when empty.
	EMADecays []float64 `json:"ema_decays,omitempty"`

	// Stage is "" for a diffusion model, or StageAutoencoder for the
	// autoencoder of latent diffusion, trained on the images with
	// latent.Config.Loss (the diffusion fields are then left zero; see
	// [DefaultAutoencoder]).
	Stage string `json:"stage,omitempty"`
	// Autoencoder is the autoencoder's architecture: the one a
	// StageAutoencoder run trains, or, for a latent diffusion model, a copy
	// of its autoencoder's (nil for pixel models).
	Autoencoder *latent.Config `json:"autoencoder,omitempty"`
	// LatentScale is the latent scale factor s: measured on the training set
	// at the end of a StageAutoencoder run, copied into the latent models
	// trained on it.
	LatentScale float64 `json:"latent_scale,omitempty"`
	// Latent is the autoencoder a latent diffusion model works with: the
	// folder (holding model.ckpt) or checkpoint file given to cmd/train
	// --latent ("" for pixel models and for bundles).
	Latent string `json:"latent,omitempty"`
	// AutoencoderSHA256 is the SHA-256 of that autoencoder's checkpoint
	// file when the latent model was created; sampling, evaluating or
	// resuming with another file there is refused.
	AutoencoderSHA256 string `json:"autoencoder_sha256,omitempty"`
	// AutoencoderBundled marks a sampling file that carries its
	// autoencoder's weights (cmd/train --export of a latent model) under
	// the scope BundleScope.
	AutoencoderBundled bool `json:"autoencoder_bundled,omitempty"`

	// CLIP is the mini-CLIP's architecture: the one a StageCLIP run trains,
	// or, for a text-conditional model, a copy of its CLIP's, whose text
	// encoder (CLIP.Text) it uses, frozen (nil for other models).
	CLIP *clip.Config `json:"clip,omitempty"`
	// Tokenizer turns prompts into the token ids the text encoder reads:
	// trained on the dataset's captions for a StageCLIP run, and copied
	// into the text-conditional models that use its CLIP.
	Tokenizer *text.Tokenizer `json:"tokenizer,omitempty"`
	// Text is the CLIP whose text encoder a text-conditional model uses:
	// the folder (holding model.ckpt) or checkpoint file given to cmd/train
	// --text ("" for other models).
	Text string `json:"text,omitempty"`
	// TextSHA256 is the SHA-256 of that CLIP's checkpoint file when the
	// model was created; evaluating with another file there is refused.
	TextSHA256 string `json:"text_sha256,omitempty"`
	// CLIPBundled marks a sampling file that carries its CLIP's weights
	// (cmd/train --export of a text-conditional model) under the scope
	// CLIPBundleScope.
	CLIPBundled bool `json:"clip_bundled,omitempty"`

	// VAE is the architecture of a StageVAE run (nil for other runs).
	VAE *vae.Config `json:"vae,omitempty"`
	// GAN is the architecture of a StageGAN run (nil for other runs).
	GAN *gan.Config `json:"gan,omitempty"`
}

// MaxTimesteps is the largest T a configuration may have (Validate), so
// that a damaged checkpoint's configuration cannot make the schedule and
// the timestep sampler allocate without bound; DDPM uses 1,000, improved
// DDPM 4,000.
const MaxTimesteps = 100_000

// DefaultPUncond is the share of examples trained with the null condition
// in class-conditional runs when none is given (Ho & Salimans use 0.1–0.2).
const DefaultPUncond = 0.1

// Classes returns the number of class labels of the dataset (10 for MNIST
// and Fashion-MNIST, 9 emoji categories, 8 for gaussians8, 2 for moons), or
// 0 when it has none.
func Classes(dataset string) int {
	if IsImageDataset(dataset) {
		return imageClasses(dataset)
	}
	if ds, err := toy2d.ByName(dataset); err == nil {
		if l, ok := ds.(toy2d.Labeled); ok {
			return l.Classes()
		}
	}
	return 0
}

// Classes returns the number of classes the model is conditioned on: the
// dataset's when ClassCond, else 0.
func (c Config) Classes() int {
	if !c.ClassCond {
		return 0
	}
	return Classes(c.Dataset)
}

// Default2D is the default configuration for 2-D toy data.
func Default2D(dataset string) Config {
	return Config{
		Dataset: dataset, Timesteps: 1000, Schedule: "linear", Prediction: "eps", Loss: "simple",
		Model: "mlp", BatchSize: 256, LearningRate: 1e-3, WarmupSteps: 100, EMA: 0.995,
		TimestepSampler: "uniform", Seed: 0,
	}
}

// DefaultImages is the default configuration for an image dataset
// ("mnist" or "fashion-mnist"): the "small" UNet, batch 64.
func DefaultImages(dataset string) Config {
	return Config{
		Dataset: dataset, Timesteps: 1000, Schedule: "linear", Prediction: "eps", Loss: "simple",
		Model: "unet", UNet: "small", BatchSize: 64, LearningRate: 1e-3, WarmupSteps: 200, EMA: 0.999,
		GradClip: 1, TimestepSampler: "uniform", Seed: 0,
	}
}

// Default returns the default configuration of a dataset: DefaultImages
// for image datasets, Default2D otherwise.
func Default(dataset string) Config {
	if IsImageDataset(dataset) {
		return DefaultImages(dataset)
	}
	return Default2D(dataset)
}

// ObjectiveScore is the Objective of score-based runs.
const ObjectiveScore = "score"

// IsScore reports whether the configuration trains a score model (Objective
// "score") rather than a DDPM denoiser.
func (c Config) IsScore() bool { return c.Objective == ObjectiveScore }

// ScoreLearningRate2D is Adam's step size for score models on 2-D data when
// none is given (cmd/train): DDPM's 2-D default of 1e-3 trained gaussians8's
// VP score model visibly worse in 3,000 steps (probability-flow ODE samples
// at 0.95 nats against 0.74 with 2e-3; diffusion/score's
// TestGaussians8ScoreQuality uses 2e-3).
const ScoreLearningRate2D = 2e-3

// WithScore returns c turned into a score-based run under the SDE named sde
// ("" means "vp"): Objective "score", and the fields that only the DDPM
// objective uses (Timesteps, Schedule, Prediction, Loss, Variance,
// TimestepSampler) cleared. Network, optimiser, data and seed are kept.
func (c Config) WithScore(sde string) Config {
	if sde == "" {
		sde = "vp"
	}
	c.Objective, c.SDE = ObjectiveScore, sde
	c.Timesteps, c.Schedule, c.Prediction, c.Loss, c.Variance, c.TimestepSampler = 0, "", "", "", "", ""
	return c
}

// DDPMOnlyFields lists, by JSON name, the fields that only the DDPM
// objective uses and a score-based configuration must leave zero.
func DDPMOnlyFields() []string {
	return []string{"timesteps", "schedule", "prediction", "loss", "variance", "timestep_sampler"}
}

// Datasets returns the dataset names a Config accepts.
func Datasets() []string { return append(toy2d.Names(), ImageDatasets()...) }

// IsImageDataset reports whether a dataset holds images (MNIST, Fashion-MNIST).
func IsImageDataset(name string) bool { return slices.Contains(ImageDatasets(), name) }

// IsImage reports whether the configuration trains on images.
func (c Config) IsImage() bool { return IsImageDataset(c.Dataset) }

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	if err := c.validateEfficiency(); err != nil {
		return err
	}
	if c.IsAutoencoder() {
		return c.validateAutoencoder()
	}
	if c.IsCLIP() {
		return c.validateCLIP()
	}
	if c.IsBaseline() {
		return c.validateBaseline()
	}
	if c.Stage != "" {
		return fmt.Errorf("experiment: unknown stage %q (want %q, %q, %q, %q, or empty for a diffusion model)", c.Stage, StageAutoencoder, StageCLIP, StageVAE, StageGAN)
	}
	if c.VAE != nil || c.GAN != nil {
		return fmt.Errorf("experiment: vae or gan settings without their stage (stage %q or %q)", StageVAE, StageGAN)
	}
	if err := c.validateLatent(); err != nil {
		return err
	}
	if err := c.validateText(); err != nil {
		return err
	}
	if !c.IsImage() {
		if _, err := toy2d.ByName(c.Dataset); err != nil {
			return fmt.Errorf("experiment: unknown dataset %q (want one of %s)", c.Dataset, strings.Join(Datasets(), ", "))
		}
	}
	switch c.Objective {
	case "", "ddpm":
		if c.SDE != "" {
			return fmt.Errorf("experiment: sde %q applies to the score objective only (set objective to %q)", c.SDE, ObjectiveScore)
		}
	case ObjectiveScore:
		return c.validateScore()
	default:
		return fmt.Errorf("experiment: unknown objective %q (want ddpm or score)", c.Objective)
	}
	if c.Timesteps <= 0 || c.Timesteps > MaxTimesteps {
		return fmt.Errorf("experiment: timesteps must be in [1, %d], got %d", MaxTimesteps, c.Timesteps)
	}
	sched, err := schedules.New(c.Schedule, c.Timesteps)
	if err != nil {
		return fmt.Errorf("experiment: schedule: %w", err)
	}
	pred, err := diffusion.ParsePrediction(c.Prediction)
	if err != nil {
		return fmt.Errorf("experiment: prediction: %w", err)
	}
	if sched.AlphaBar[sched.T-1] == 0 && pred == diffusion.PredictEpsilon {
		return fmt.Errorf("experiment: schedule %q with T=%d reaches ᾱ_T = 0 (β_T = %g), where x₀ cannot be recovered from ε; use --prediction v or x0, or more timesteps",
			c.Schedule, c.Timesteps, sched.Beta[sched.T-1])
	}
	if _, err := diffusion.ParseLossKind(c.Loss); err != nil {
		return fmt.Errorf("experiment: loss: %w", err)
	}
	if _, err := c.variance(); err != nil {
		return err
	}
	if err := c.validateCommon(); err != nil {
		return err
	}
	if _, err := diffusion.NewTimestepSampler(c.TimestepSampler, c.Timesteps); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	_, _, tc, err := c.parts()
	if err != nil {
		return err
	}
	return tc.Validate()
}

// validateScore checks a score-based configuration.
func (c Config) validateScore() error {
	if _, err := score.NewSDE(c.SDE); err != nil {
		return fmt.Errorf("experiment: sde: %w", err)
	}
	set := map[string]bool{"timesteps": c.Timesteps != 0, "schedule": c.Schedule != "", "prediction": c.Prediction != "",
		"loss": c.Loss != "", "variance": c.Variance != "", "timestep_sampler": c.TimestepSampler != ""}
	for _, f := range DDPMOnlyFields() {
		if set[f] {
			return fmt.Errorf("experiment: %s applies to the DDPM objective only; a score-based run (objective %q) trains in continuous time under its SDE and leaves it empty (see Config.WithScore)", f, ObjectiveScore)
		}
	}
	if err := c.validateCommon(); err != nil {
		return err
	}
	return c.trainConfig().Validate()
}

// validateCommon checks the fields both objectives use: network, batch and
// conditioning.
func (c Config) validateCommon() error {
	if c.ClassCond && Classes(c.Dataset) == 0 {
		return fmt.Errorf("experiment: %s has no class labels, so a model cannot be class-conditional on it (labelled: gaussians8, moons, mnist, fashion-mnist)", c.Dataset)
	}
	if !(c.PUncond >= 0 && c.PUncond < 1) {
		return fmt.Errorf("experiment: p_uncond must be in [0, 1), got %g", c.PUncond)
	}
	if c.PUncond > 0 && !c.ClassCond && !c.IsText() {
		return fmt.Errorf("experiment: p_uncond %g applies to class-conditional and text-conditional models only (set class_cond)", c.PUncond)
	}
	switch c.Model {
	case "mlp":
		if c.IsImage() {
			return fmt.Errorf("experiment: the mlp model is for 2-D data; use --model unet for %s", c.Dataset)
		}
		if err := c.MLP.Validate(); err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		if c.TimeEmbedding != "" || c.NoAttention {
			return fmt.Errorf("experiment: time_embedding and no_attention are ablations of the UNet; the mlp model has its own embedding of t and no attention")
		}
	case "unet":
		if !c.IsImage() {
			return fmt.Errorf("experiment: the unet model is for images; use --model mlp for %s", c.Dataset)
		}
		uc, err := unet.UNetConfigByName(c.UNet)
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		if err := uc.Validate(); err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		if err := c.validateUNetAblation(uc); err != nil {
			return err
		}
	default:
		return fmt.Errorf("experiment: unknown model %q (want mlp or unet for a diffusion model; vae or gan as stages, cmd/train --model vae|gan)", c.Model)
	}
	if c.BatchSize <= 0 || c.BatchSize > diffusion.MaxBatch {
		return fmt.Errorf("experiment: batch size must be 1 to %d, got %d", diffusion.MaxBatch, c.BatchSize)
	}
	return c.validateTrainImages()
}

// validateTrainImages checks TrainImages (≥ 0, and only for images).
func (c Config) validateTrainImages() error {
	if c.TrainImages < 0 || (c.TrainImages > 0 && !c.IsImage()) {
		return fmt.Errorf("experiment: train_images (%d) must be ≥ 0, and applies to image datasets only", c.TrainImages)
	}
	return nil
}

func (c Config) variance() (diffusion.VarianceType, error) {
	v := c.Variance
	if v == "" {
		if c.Loss == "hybrid" {
			v = "learned"
		} else {
			v = "small"
		}
	}
	vt, err := diffusion.ParseVarianceType(v)
	if err != nil {
		return 0, fmt.Errorf("experiment: variance: %w", err)
	}
	if c.Loss == "hybrid" && vt != diffusion.Learned {
		return 0, fmt.Errorf("experiment: the hybrid loss needs variance \"learned\", got %q", v)
	}
	return vt, nil
}

// parts builds the process, denoiser and training configuration.
func (c Config) parts() (*diffusion.Process, diffusion.Denoiser, diffusion.TrainConfig, error) {
	var den diffusion.Denoiser
	s, err := schedules.New(c.Schedule, c.Timesteps)
	if err != nil {
		return nil, den, diffusion.TrainConfig{}, fmt.Errorf("experiment: schedule: %w", err)
	}
	p, err := diffusion.NewProcess(s)
	if err != nil {
		return nil, den, diffusion.TrainConfig{}, err
	}
	pred, err := diffusion.ParsePrediction(c.Prediction)
	if err != nil {
		return nil, den, diffusion.TrainConfig{}, err
	}
	kind, err := diffusion.ParseLossKind(c.Loss)
	if err != nil {
		return nil, den, diffusion.TrainConfig{}, err
	}
	vt, err := c.variance()
	if err != nil {
		return nil, den, diffusion.TrainConfig{}, err
	}
	learned := vt == diffusion.Learned
	den = diffusion.Denoiser{Prediction: pred, LearnedVariance: learned}
	if c.Model == "unet" {
		uc, err := c.unetConfig(learned)
		if err != nil {
			return nil, den, diffusion.TrainConfig{}, err
		}
		den.Fn = unet.UNet(uc)
		if c.IsText() {
			// The prompts' ids (cond.Text) → the frozen text encoder's
			// tokens, which the UNet's cross-attention reads.
			net, enc := den.Fn, c.CLIP.Text
			den.Fn = func(scope *model.Scope, xt, t *Node, cn cond.Nodes) *Node {
				return net(scope, xt, t, enc.Context(scope.In(TextEncoderScope), xt.Graph(), cn, xt.Shape().Dimensions[0]))
			}
		}
	} else {
		den.Fn = unet.MLP(c.mlpConfig(learned))
	}
	tc := c.trainConfig()
	tc.TimestepSampler = c.TimestepSampler
	tc.Loss = diffusion.LossConfig{Kind: kind, Variance: vt, Decoder: c.Decoder()}
	return p, den, tc, nil
}

// mlpConfig returns the MLP of a run on 2-D data: MLP with the dataset's
// classes, gradient checkpointing when GradCheckpoint, and learned-variance
// outputs when learned.
func (c Config) mlpConfig(learned bool) unet.MLPConfig {
	mlp := c.MLP
	mlp.LearnedVariance = learned
	mlp.NumClasses = c.Classes()
	mlp.GradCheckpoint = c.GradCheckpoint
	return mlp
}

// unetConfig returns the UNet of a DDPM run: the named configuration for
// the data's (or latents') shape, its classes, the text encoder's width as
// the context of a text-conditional model, gradient checkpointing when
// GradCheckpoint, and learned-variance channels when learned.
func (c Config) unetConfig(learned bool) (unet.UNetConfig, error) {
	uc, err := unet.UNetConfigByName(c.UNet)
	if err != nil {
		return uc, err
	}
	uc.LearnedVariance = learned
	uc.GradCheckpoint = c.GradCheckpoint
	if c.TimeEmbedding != "" {
		uc.TimeEmbedding = c.TimeEmbedding
	}
	if c.NoAttention {
		uc.NoMiddleAttention, uc.AttentionResolutions = true, nil
	}
	uc.Timesteps = c.Timesteps
	d := c.DataDims() // the dataset's images, or the autoencoder's latents
	uc.ImageSize, uc.InChannels = d[0], d[2]
	uc.NumClasses = c.Classes()
	switch {
	case c.IsText():
		uc.ContextDim = c.CLIP.Text.WithDefaults().Width
	case uc.ContextDim > 0:
		return uc, fmt.Errorf("experiment: the UNet %q attends to a text encoder's output; it is for text-conditional models (cmd/train --text)", c.UNet)
	}
	return uc, nil
}

// Ablations describes the UNet ablations the configuration sets ("linear
// time embedding, no attention"), or returns "" when it sets none.
func (c Config) Ablations() string {
	var parts []string
	if c.TimeEmbedding != "" {
		parts = append(parts, c.TimeEmbedding+" time embedding")
	}
	if c.NoAttention {
		parts = append(parts, "no attention")
	}
	return strings.Join(parts, ", ")
}

// validateUNetAblation checks TimeEmbedding and NoAttention, the two
// ablations of a UNet run, against uc, the UNet that UNet names.
func (c Config) validateUNetAblation(uc unet.UNetConfig) error {
	switch c.TimeEmbedding {
	case "", unet.TimeEmbeddingSinusoidal, unet.TimeEmbeddingLinear:
	default:
		return fmt.Errorf("experiment: unknown time_embedding %q (want %s or %s)", c.TimeEmbedding, unet.TimeEmbeddingSinusoidal, unet.TimeEmbeddingLinear)
	}
	if c.TimeEmbedding == unet.TimeEmbeddingLinear && c.IsScore() {
		return fmt.Errorf("experiment: time_embedding %q embeds t/T of the discrete DDPM process; a score-based run's time is continuous (leave time_embedding empty)", c.TimeEmbedding)
	}
	if c.NoAttention && (c.IsText() || uc.ContextDim > 0) {
		return fmt.Errorf("experiment: no_attention: a text-conditional UNet reads its prompt through its attention blocks; the ablation is for unconditional and class-conditional models")
	}
	return nil
}

// trainConfig returns the optimiser settings both objectives share.
func (c Config) trainConfig() diffusion.TrainConfig {
	return diffusion.TrainConfig{
		LearningRate: c.LearningRate, WarmupSteps: c.WarmupSteps, WeightDecay: c.WeightDecay,
		Beta1: c.Beta1, Beta2: c.Beta2, GradClipNorm: c.GradClip, EMADecay: c.EMA, PUncond: c.PUncond, Seed: c.Seed,
		Precision: c.Precision, EMADecays: slices.Clone(c.EMADecays),
	}
}

// Precisions lists the values of Precision (the empty string, float32,
// is also accepted).
func Precisions() []string {
	return []string{diffusion.PrecisionF32, diffusion.PrecisionBF16, diffusion.PrecisionF16}
}

// IsMixedPrecision reports whether the configuration trains in mixed
// precision (Precision "bf16" or "f16").
func (c Config) IsMixedPrecision() bool {
	return c.Precision == diffusion.PrecisionBF16 || c.Precision == diffusion.PrecisionF16
}

// validateEfficiency checks Precision, GradCheckpoint and EMADecays against
// the kind of run: mixed precision for DDPM denoisers only (the other
// trainers are diffusion.NewTrainerWithLoss or NewTrainerWithTerms, which
// refuse it), gradient checkpointing for the diffusion networks (UNet,
// MLP) only, extra moving averages for every run but the autoencoder and
// the CLIP, whose users read their EMA alone.
func (c Config) validateEfficiency() error {
	switch c.Precision {
	case "", diffusion.PrecisionF32, diffusion.PrecisionBF16, diffusion.PrecisionF16:
	default:
		return fmt.Errorf("experiment: unknown precision %q (want %s, or empty for float32)", c.Precision, strings.Join(Precisions(), ", "))
	}
	stage := ""
	switch {
	case c.IsAutoencoder():
		stage = "an autoencoder"
	case c.IsCLIP():
		stage = "a CLIP"
	case c.IsVAE():
		stage = "a VAE"
	case c.IsGAN():
		stage = "a GAN"
	}
	if c.IsMixedPrecision() {
		switch {
		case stage != "":
			return fmt.Errorf("experiment: precision %q: mixed precision trains the denoiser of a DDPM run; %s run trains its own loss in float32 (leave precision empty)", c.Precision, stage)
		case c.IsScore():
			return fmt.Errorf("experiment: precision %q: mixed precision trains the denoiser of a DDPM run; the score objective's trainer (denoising score matching) trains in float32 (leave precision empty)", c.Precision)
		}
	}
	if c.GradCheckpoint && stage != "" {
		return fmt.Errorf("experiment: grad_checkpoint applies to the UNet and MLP of diffusion models; %s run's networks have no checkpointed blocks", stage)
	}
	if c.MLP.GradCheckpoint {
		return fmt.Errorf("experiment: mlp.GradCheckpoint is set: gradient checkpointing is switched by grad_checkpoint, for the MLP and the UNet alike")
	}
	if len(c.EMADecays) > 0 {
		if c.IsAutoencoder() || c.IsCLIP() {
			return fmt.Errorf("experiment: ema_decays %v: extra moving averages are for the models that sample (diffusion models, VAEs, GANs); %s is used through its EMA (ema) alone", c.EMADecays, stage)
		}
		for i, d := range c.EMADecays {
			switch {
			case !(d > 0 && d < 1):
				return fmt.Errorf("experiment: ema_decays: each decay must be in (0, 1), got %g", d)
			case d == c.EMA:
				return fmt.Errorf("experiment: ema_decays: %g is the main moving average's decay (ema); list only other decays", d)
			case slices.Contains(c.EMADecays[:i], d):
				return fmt.Errorf("experiment: ema_decays: %g is listed twice", d)
			}
		}
	}
	return nil
}

// Build returns the process, the denoiser and the training configuration of
// a DDPM run; a score-based configuration is refused (use BuildScore).
func (c Config) Build() (*diffusion.Process, diffusion.Denoiser, diffusion.TrainConfig, error) {
	if c.IsScore() {
		return nil, diffusion.Denoiser{}, diffusion.TrainConfig{}, fmt.Errorf("experiment: the configuration trains a score model (objective %q, sde %q); use BuildScore", c.Objective, c.SDE)
	}
	if err := c.Validate(); err != nil {
		return nil, diffusion.Denoiser{}, diffusion.TrainConfig{}, err
	}
	return c.parts()
}

// BuildScore returns the SDE, the score model and the training configuration
// of a score-based run. The model is the configured network (MLP for 2-D
// data, UNet for images) used as a noise predictor ε_θ and turned into a
// score by score.NoisePredictorModel: s_θ(x, t) = −ε_θ(c_in(t) x, 999 t)/σ(t).
// A DDPM configuration is refused (use Build).
func (c Config) BuildScore() (score.SDE, score.ScoreFn, diffusion.TrainConfig, error) {
	if !c.IsScore() {
		return nil, nil, diffusion.TrainConfig{}, fmt.Errorf("experiment: BuildScore needs objective %q, got %q (use Build)", ObjectiveScore, c.Objective)
	}
	if err := c.Validate(); err != nil {
		return nil, nil, diffusion.TrainConfig{}, err
	}
	sde, err := score.NewSDE(c.SDE)
	if err != nil {
		return nil, nil, diffusion.TrainConfig{}, fmt.Errorf("experiment: sde: %w", err)
	}
	var net diffusion.ModelFn
	if c.Model == "unet" {
		uc, err := c.unetConfig(false)
		if err != nil {
			return nil, nil, diffusion.TrainConfig{}, err
		}
		uc.Timesteps = 1000 // the linear time embedding sees 999 t / 1000 ∈ [0, 1)
		net = unet.UNet(uc)
	} else {
		net = unet.MLP(c.mlpConfig(false))
	}
	return sde, score.NoisePredictorModel(sde, net), c.trainConfig(), nil
}

// SamplingModel returns the model of the configuration as the sampling
// core sees it (diffusion.Model): a DDPM denoiser on its process's levels,
// or a score model on its SDE's, conditional on the class when ClassCond.
func (c Config) SamplingModel() (diffusion.Model, error) {
	var m diffusion.Model
	if c.IsScore() {
		sde, fn, _, err := c.BuildScore()
		if err != nil {
			return m, err
		}
		m = score.Model(sde, fn)
	} else {
		p, den, _, err := c.Build()
		if err != nil {
			return m, err
		}
		m = p.Model(den)
	}
	if c.ClassCond {
		m = m.WithClasses(c.Classes())
	}
	if c.IsText() {
		m = m.WithText()
	}
	return m, nil
}

// NewTrainer returns the trainer of the configuration's objective: a
// denoiser trainer (diffusion.NewTrainer) for DDPM runs, a denoising
// score-matching trainer (score.NewTrainer) for score-based runs, and for
// the stages (autoencoder, CLIP, VAE, GAN) a trainer of their own loss
// with its terms (diffusion.NewTrainerWithTerms).
func (c Config) NewTrainer(b compute.Backend) (*diffusion.Trainer, error) {
	if c.IsBaseline() {
		return c.newBaselineTrainer(b)
	}
	if c.IsAutoencoder() {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		ae := c.Autoencoder.WithDefaults()
		return diffusion.NewTrainerWithTerms(b, ae.Loss(), ae.TermNames(), c.trainConfig())
	}
	if c.IsCLIP() {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		cc := c.CLIP.WithDefaults()
		return diffusion.NewTrainerWithTerms(b, cc.Loss(), cc.TermNames(), c.trainConfig())
	}
	if c.IsScore() {
		sde, fn, tc, err := c.BuildScore()
		if err != nil {
			return nil, err
		}
		return score.NewTrainer(b, sde, fn, tc)
	}
	p, den, tc, err := c.Build()
	if err != nil {
		return nil, err
	}
	if !c.IsText() {
		return diffusion.NewTrainer(b, p, den, tc)
	}
	// The CLIP's text encoder, frozen.
	tc.Frozen = []string{TextEncoderScope}
	tr, err := diffusion.NewTrainer(b, p, den, tc)
	if err != nil {
		return nil, err
	}
	w, err := c.textEncoderWeights()
	if err != nil {
		return nil, err
	}
	return tr, tr.Preload(w)
}

// SampleVariance returns the sampling variance of p_θ implied by the
// configuration (learned models use their own).
func (c Config) SampleVariance() diffusion.VarianceType {
	v, _ := c.variance()
	return v
}

// Decoder returns the likelihood of the bound's last term: discretized for
// 8-bit images, Gaussian for the continuous 2-D datasets.
func (c Config) Decoder() diffusion.Decoder {
	if c.IsImage() && !c.IsLatent() {
		return diffusion.DiscretizedDecoder
	}
	return diffusion.GaussianDecoder
}

// ClipX0 reports whether samplers should clip x̂₀ to [−1, 1] (pixels: yes;
// latents and 2-D data: no).
func (c Config) ClipX0() bool { return c.IsImage() && !c.IsLatent() }

// DataDims returns the shape of one example the model works on: the
// latent's for a latent model ([7, 7, 4] for the MNIST autoencoder),
// [28, 28, 1] for images, [2] otherwise.
func (c Config) DataDims() []int {
	if c.IsLatent() {
		return c.Autoencoder.LatentDims()
	}
	return c.ImageDims()
}

// ImageDims returns the shape of one image of the dataset ([28, 28, 1] for
// MNIST, see ImageDimsOf), also for a latent model, whose samples decode to
// such images; [2] for 2-D data.
func (c Config) ImageDims() []int {
	if c.IsImage() {
		return ImageDimsOf(c.Dataset)
	}
	return []int{2}
}

// Data returns the training data: batches drawn from the dataset with a
// generator seeded by (Seed, step), so that resumed training sees the same
// batches; with ClassCond each batch carries its labels (cond.Class).
func (c Config) Data() (diffusion.Data, error) {
	if c.IsLatent() {
		return nil, fmt.Errorf("experiment: the training data of a latent model are its autoencoder's latents: use TrainingData")
	}
	if c.IsImage() {
		set, err := c.trainImages()
		if err != nil {
			return nil, err
		}
		if c.IsCLIP() {
			return c.newCaptionData(set, set, nil)
		}
		return imageData{b: mnist.NewBatches(set, uint64(c.Seed)^dataStream), dims: c.DataDims(), labels: c.ClassCond}, nil
	}
	ds, err := toy2d.ByName(c.Dataset)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	d := toyData{ds: ds, seed: uint64(c.Seed)}
	if c.ClassCond {
		l, ok := ds.(toy2d.Labeled)
		if !ok {
			return nil, fmt.Errorf("experiment: %s has no class labels", c.Dataset)
		}
		d.labeled = l
	}
	return d, nil
}

type toyData struct {
	ds      toy2d.Dataset
	labeled toy2d.Labeled // nil: no labels
	seed    uint64
}

// dataStream separates the data generator from the trainer's timestep generator.
const dataStream = 0x9e3779b97f4a7c15

func (d toyData) Batch(step int64, b int) (*tensors.Tensor, cond.Condition, error) {
	rng := rand.New(rand.NewPCG(d.seed^dataStream, uint64(step)))
	if d.labeled != nil {
		pts, labels := d.labeled.SampleLabeled(rng, b)
		return tensors.FromFlatDataAndDimensions(toy2d.Flatten32(pts), b, 2), cond.Classes(labels), nil
	}
	return tensors.FromFlatDataAndDimensions(toy2d.Flatten32(d.ds.Sample(rng, b)), b, 2), cond.Condition{}, nil
}

type imageData struct {
	b      *mnist.Batches
	dims   []int
	labels bool
}

func (d imageData) Batch(step int64, b int) (*tensors.Tensor, cond.Condition, error) {
	px, labels := d.b.Batch(step, b)
	x := tensors.FromFlatDataAndDimensions(px, append([]int{b}, d.dims...)...)
	if !d.labels {
		return x, cond.Condition{}, nil
	}
	l := make([]int32, len(labels))
	for i, v := range labels {
		l[i] = int32(v)
	}
	return x, cond.Classes(l), nil
}

// JSON returns the configuration's JSON form.
func (c Config) JSON() json.RawMessage {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		panic(err) // a Config always marshals
	}
	return b
}

// FromJSON parses a configuration stored in a checkpoint: one JSON object
// with no unknown fields and nothing after it. It does not validate the
// configuration ([Config.Validate] does).
func FromJSON(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("experiment: reading configuration: %w", err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, fmt.Errorf("experiment: reading configuration: data after the JSON object, which ends at byte %d", end)
	}
	return c, nil
}

// Diff lists the fields (by JSON name) whose values differ between a and b.
func Diff(a, b Config) []string {
	var diffs []string
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := range t.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			diffs = append(diffs, fmt.Sprintf("%s: %v vs %v", name, va.Field(i).Interface(), vb.Field(i).Interface()))
		}
	}
	return diffs
}
