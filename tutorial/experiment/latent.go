package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
	"github.com/godiffusion/diffusion-models/unet"
)

// StageAutoencoder is [Config.Stage] of a run that trains the autoencoder
// of latent diffusion.
const StageAutoencoder = "autoencoder"

// BundleScope is the scope under which a bundle ([Bundle]) keeps its
// autoencoder's weights: /autoencoder/model/....
const BundleScope = "autoencoder"

// LatentUNet is the UNet configuration of latent models by default (see
// unet.UNetConfigByName).
const LatentUNet = "latent"

// LatentCacheName is the file, beside an autoencoder's checkpoint, that
// holds the posterior means μ of its training set, so that latent models
// encode the training set once.
const LatentCacheName = "latents-train.ckpt"

// IsAutoencoder reports whether the run trains an autoencoder.
func (c Config) IsAutoencoder() bool { return c.Stage == StageAutoencoder }

// IsLatent reports whether the run is a latent diffusion model.
func (c Config) IsLatent() bool {
	return !c.IsAutoencoder() && (c.Latent != "" || c.AutoencoderBundled)
}

// DefaultAutoencoder returns the defaults of an autoencoder run on an image
// dataset: latent.Config's defaults (4 latent channels, two halvings, KL
// weight 1e-6) for the dataset's images (28×28×1 → 7×7×4 for MNIST,
// 32×32×3 → 8×8×4 for emoji-32, 64×64×3 → 16×16×4 for emoji), batch 64,
// Adam lr 1e-3 with 100 warm-up steps, gradient clip 1, EMA 0.999.
func DefaultAutoencoder(dataset string) Config {
	ae := latent.Config{}
	if d := ImageDimsOf(dataset); d != nil {
		ae.ImageSize, ae.InChannels = d[0], d[2]
	}
	return Config{
		Dataset: dataset, Stage: StageAutoencoder, Autoencoder: new(ae.WithDefaults()),
		BatchSize: 64, LearningRate: 1e-3, WarmupSteps: 100, GradClip: 1, EMA: 0.999,
	}
}

// validateAutoencoder checks an autoencoder run: an image dataset, an
// architecture that fits its images, no diffusion fields.
func (c Config) validateAutoencoder() error {
	if !c.IsImage() {
		return fmt.Errorf("experiment: an autoencoder is trained on images; %q is not an image dataset (%s)", c.Dataset, strings.Join(ImageDatasets(), ", "))
	}
	if c.Autoencoder == nil {
		return fmt.Errorf("experiment: an autoencoder run needs its architecture (autoencoder)")
	}
	if err := c.Autoencoder.Validate(); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	if err := fitsImages(*c.Autoencoder, c.Dataset, c.ImageDims()); err != nil {
		return err
	}
	if set := c.setFields(append(slices.Clone(diffusionFields), "vae", "gan")...); len(set) > 0 {
		return fmt.Errorf("experiment: %s: settings an autoencoder run does not use", strings.Join(set, ", "))
	}
	if c.BatchSize <= 0 {
		return fmt.Errorf("experiment: batch size must be > 0, got %d", c.BatchSize)
	}
	if err := c.validateTrainImages(); err != nil {
		return err
	}
	return c.trainConfig().Validate()
}

// diffusionFields are the fields (JSON names) of a diffusion run that the
// stages (autoencoder, CLIP) leave unset.
var diffusionFields = []string{"objective", "sde", "timesteps", "schedule", "prediction", "loss", "variance", "model",
	"unet", "timestep_sampler", "class_cond", "p_uncond", "latent", "autoencoder_sha256"}

// setFields returns, sorted, the fields among names (JSON names, each one
// of those listed here) that c sets.
func (c Config) setFields(names ...string) []string {
	on := map[string]bool{
		"objective": c.Objective != "", "sde": c.SDE != "", "timesteps": c.Timesteps != 0, "schedule": c.Schedule != "",
		"prediction": c.Prediction != "", "loss": c.Loss != "", "variance": c.Variance != "", "model": c.Model != "",
		"unet": c.UNet != "", "timestep_sampler": c.TimestepSampler != "", "class_cond": c.ClassCond,
		"p_uncond": c.PUncond != 0, "latent": c.Latent != "", "autoencoder": c.Autoencoder != nil,
		"autoencoder_sha256": c.AutoencoderSHA256 != "", "latent_scale": c.LatentScale != 0,
		"autoencoder_bundled": c.AutoencoderBundled, "clip_bundled": c.CLIPBundled,
		"mlp": c.MLP != (unet.MLPConfig{}), "text": c.Text != "", "text_sha256": c.TextSHA256 != "",
		"clip": c.CLIP != nil, "tokenizer": c.Tokenizer != nil, "vae": c.VAE != nil, "gan": c.GAN != nil,
	}
	var set []string
	for _, name := range names {
		if on[name] {
			set = append(set, name)
		}
	}
	slices.Sort(set)
	return set
}

// fitsImages reports whether the autoencoder ae takes the images of dataset (dims).
func fitsImages(ae latent.Config, dataset string, dims []int) error {
	if d := ae.ImageDims(); d[0] != dims[0] || d[1] != dims[1] || d[2] != dims[2] {
		return fmt.Errorf("experiment: the autoencoder takes %d×%d×%d images but %s has %d×%d×%d", d[0], d[1], d[2], dataset, dims[0], dims[1], dims[2])
	}
	return nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateLatent checks the latent fields of a diffusion run (nothing for
// a pixel model).
func (c Config) validateLatent() error {
	if !c.IsLatent() {
		if c.Autoencoder != nil || c.AutoencoderSHA256 != "" || c.LatentScale != 0 {
			return fmt.Errorf("experiment: autoencoder settings without an autoencoder (latent)")
		}
		return nil
	}
	switch {
	case !c.IsImage():
		return fmt.Errorf("experiment: a latent model needs an image dataset, got %q", c.Dataset)
	case c.IsScore():
		return fmt.Errorf("experiment: latent models train with the DDPM objective (its checkpoints sample with every sampler, the SDE ones included)")
	case c.Model != "unet":
		return fmt.Errorf("experiment: a latent model's network is a UNet, got %q", c.Model)
	case c.Autoencoder == nil:
		return fmt.Errorf("experiment: a latent model needs its autoencoder's architecture (autoencoder)")
	case !sha256Hex.MatchString(c.AutoencoderSHA256):
		return fmt.Errorf("experiment: a latent model needs its autoencoder's SHA-256 (64 hex digits), got %q", c.AutoencoderSHA256)
	case !(c.LatentScale > 0):
		return fmt.Errorf("experiment: a latent model needs its autoencoder's scale factor > 0, got %g", c.LatentScale)
	}
	if err := c.Autoencoder.Validate(); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	return fitsImages(*c.Autoencoder, c.Dataset, c.ImageDims())
}

// AutoencoderFile returns the checkpoint file of an autoencoder given as a
// folder (its model.ckpt) or a file.
func AutoencoderFile(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, "model.ckpt")
	}
	return path
}

// readAutoencoder reads the autoencoder checkpoint at path and its
// configuration, refusing anything but a finished autoencoder run.
func readAutoencoder(path string) (*diffusion.Checkpoint, Config, error) {
	ck, c, err := readStage(path, StageAutoencoder, "autoencoder")
	if err != nil {
		return nil, Config{}, err
	}
	if !(c.LatentScale > 0) {
		return nil, Config{}, fmt.Errorf("experiment: the autoencoder %s has no scale factor: its training did not finish", AutoencoderFile(path))
	}
	return ck, c, nil
}

// readStage reads the checkpoint at path (a folder holding model.ckpt, or
// the file) of a run of stage (what names it in messages), refusing a
// missing file and a checkpoint of anything else.
func readStage(path, stage, what string) (*diffusion.Checkpoint, Config, error) {
	file := AutoencoderFile(path)
	ck, err := diffusion.ReadCheckpoint(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Config{}, fmt.Errorf("experiment: the %s %s is missing (train one with cmd/train --stage %s): %w", what, file, stage, err)
		}
		return nil, Config{}, fmt.Errorf("experiment: the %s: %w", what, err)
	}
	c, err := FromJSON(ck.Config)
	if err != nil {
		return nil, Config{}, fmt.Errorf("experiment: %s: %w", file, err)
	}
	if c.Stage != stage {
		return nil, Config{}, fmt.Errorf("experiment: %s is not %s %s checkpoint (stage %q; train one with cmd/train --stage %s)", file, article(what), what, c.Stage, stage)
	}
	return ck, c, nil
}

// article returns "an" before a vowel, else "a".
func article(word string) string {
	if strings.ContainsAny(word[:1], "aeiou") {
		return "an"
	}
	return "a"
}

// NewLatent returns the default configuration of a latent diffusion model on
// dataset over the autoencoder at aePath (a folder or a checkpoint file):
// DefaultImages with the "latent" UNet, and the autoencoder's architecture,
// scale factor and SHA-256 recorded. It is an error when the autoencoder is
// missing, corrupt, unfinished or does not take the dataset's images.
func NewLatent(dataset, aePath string) (Config, error) {
	if !IsImageDataset(dataset) {
		return Config{}, fmt.Errorf("experiment: a latent model needs an image dataset (%s), got %q", strings.Join(ImageDatasets(), ", "), dataset)
	}
	_, ae, err := readAutoencoder(aePath)
	if err != nil {
		return Config{}, err
	}
	sum, err := latent.FileSHA256(AutoencoderFile(aePath))
	if err != nil {
		return Config{}, err
	}
	c := DefaultImages(dataset)
	if err := fitsImages(*ae.Autoencoder, dataset, c.ImageDims()); err != nil {
		return Config{}, fmt.Errorf("%w (the autoencoder %s was trained on %s)", err, AutoencoderFile(aePath), ae.Dataset)
	}
	c.UNet = LatentUNet
	c.Latent, c.AutoencoderSHA256, c.LatentScale = aePath, sum, ae.LatentScale
	aeCfg := ae.Autoencoder.WithDefaults()
	c.Autoencoder = &aeCfg
	return c, nil
}

// OpenAutoencoder returns the autoencoder of a latent model: for a bundle,
// from the bundle's own checkpoint ck; otherwise from the file at c.Latent,
// after checking that its SHA-256 is the one c recorded (latent.CheckPair).
// The EMA weights are used when the autoencoder has them.
func (c Config) OpenAutoencoder(b compute.Backend, ck *diffusion.Checkpoint) (*latent.Autoencoder, error) {
	if !c.IsLatent() {
		return nil, fmt.Errorf("experiment: a %s model has no autoencoder", c.Dataset)
	}
	if c.AutoencoderBundled {
		if ck == nil {
			return nil, fmt.Errorf("experiment: opening a bundled autoencoder needs the bundle's checkpoint")
		}
		sub := &diffusion.Checkpoint{Variables: map[string]*tensors.Tensor{}}
		prefix := "/" + BundleScope
		for path, t := range ck.Variables {
			if rest, ok := strings.CutPrefix(path, prefix+"/"); ok {
				sub.Variables["/"+rest] = t
			}
		}
		store, err := diffusion.SamplingStore(sub, false)
		if err != nil {
			return nil, fmt.Errorf("experiment: the bundle's autoencoder: %w", err)
		}
		return latent.New(b, *c.Autoencoder, store, c.LatentScale)
	}
	aeCk, ae, err := c.pairedAutoencoder()
	if err != nil {
		return nil, err
	}
	store, err := diffusion.SamplingStore(aeCk, diffusion.HasEMA(aeCk))
	if err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", AutoencoderFile(c.Latent), err)
	}
	return latent.New(b, *ae.Autoencoder, store, ae.LatentScale)
}

// pairedAutoencoder reads the autoencoder checkpoint of a latent model from
// c.Latent, after checking that the file is there and that its SHA-256 is
// the one c recorded (latent.CheckPair).
func (c Config) pairedAutoencoder() (*diffusion.Checkpoint, Config, error) {
	file := AutoencoderFile(c.Latent)
	if _, err := os.Stat(file); err != nil {
		return nil, Config{}, fmt.Errorf("experiment: the latent model's autoencoder %s is missing: %w", file, err)
	}
	if err := latent.CheckPair(file, c.AutoencoderSHA256); err != nil {
		return nil, Config{}, err
	}
	return readAutoencoder(file)
}

// FinishAutoencoder completes an autoencoder run whose checkpoint is at
// path: it encodes the whole training set with the EMA weights, measures
// the scale factor s = 1/std(μ) (latent.MeasureScale), rewrites the
// checkpoint with s in its configuration, and writes the posterior means
// into the latent cache beside it (LatentCacheName). It returns s.
func FinishAutoencoder(b compute.Backend, path string, log io.Writer) (float64, error) {
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		return 0, err
	}
	c, err := FromJSON(ck.Config)
	if err != nil {
		return 0, fmt.Errorf("experiment: %s: %w", path, err)
	}
	if !c.IsAutoencoder() {
		return 0, fmt.Errorf("experiment: %s is not an autoencoder checkpoint", path)
	}
	set, err := c.trainImages()
	if err != nil {
		return 0, err
	}
	store, err := diffusion.SamplingStore(ck, diffusion.HasEMA(ck))
	if err != nil {
		return 0, err
	}
	ae, err := latent.New(b, *c.Autoencoder, store, 0)
	if err != nil {
		return 0, err
	}
	mu, err := ae.Encode(set.Pixels, set.N, log)
	if err != nil {
		return 0, err
	}
	s, err := latent.MeasureScale(mu)
	if err != nil {
		return 0, err
	}
	c.LatentScale = s
	ck.Config = c.JSON()
	if err := diffusion.WriteCheckpoint(path, ck); err != nil {
		return 0, err
	}
	sum, err := latent.FileSHA256(path)
	if err != nil {
		return 0, err
	}
	return s, writeLatentCache(filepath.Join(filepath.Dir(path), LatentCacheName), sum, c.Dataset, ae.Config.LatentDims(), mu, set.N)
}

// latentCacheConfig identifies a latent cache: the autoencoder file's
// SHA-256 and the dataset it encodes.
type latentCacheConfig struct {
	AutoencoderSHA256 string `json:"autoencoder_sha256"`
	Dataset           string `json:"dataset"`
}

const latentCacheVar = "/latents"

func writeLatentCache(path, sum, dataset string, dims []int, mu []float32, n int) error {
	cfg := fmt.Appendf(nil, `{"autoencoder_sha256":%q,"dataset":%q}`, sum, dataset)
	t := tensors.FromFlatDataAndDimensions(mu, append([]int{n}, dims...)...)
	return diffusion.WriteCheckpoint(path, &diffusion.Checkpoint{Config: cfg, Variables: map[string]*tensors.Tensor{latentCacheVar: t}})
}

// readLatentCache returns the cached means of the first n training images
// at path if they were written for the autoencoder with SHA-256 sum on
// dataset, for n images or more (nil, nil when absent, stale or too short).
func readLatentCache(path, sum, dataset string, n int, dims []int) ([]float32, error) {
	ck, err := diffusion.ReadCheckpoint(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return cachedLatents(ck, sum, dataset, n, dims), nil
}

// cachedLatents returns the means of the first n images held by the latent
// cache ck, a float32 tensor [≥ n, dims...], if it was written for the
// autoencoder with SHA-256 sum on dataset; nil when it was not, or holds
// anything else.
func cachedLatents(ck *diffusion.Checkpoint, sum, dataset string, n int, dims []int) []float32 {
	var lc latentCacheConfig
	if err := json.Unmarshal(ck.Config, &lc); err != nil || lc.AutoencoderSHA256 != sum || lc.Dataset != dataset {
		return nil
	}
	t, ok := ck.Variables[latentCacheVar]
	if !ok || n < 0 || t.DType() != dtypes.Float32 || t.Rank() != len(dims)+1 ||
		!slices.Equal(t.Shape().Dimensions[1:], dims) || t.Shape().Dimensions[0] < n {
		return nil
	}
	per := 1
	for _, d := range dims {
		per *= d
	}
	return tensors.MustCopyFlatData[float32](t)[:n*per]
}

// trainImages returns the training images: the dataset's training split,
// or its first TrainImages images.
func (c Config) trainImages() (*mnist.Set, error) {
	set, err := LoadImages(c.Dataset, "train")
	if err != nil {
		return nil, err
	}
	switch {
	case c.TrainImages < 0 || c.TrainImages > set.N:
		return nil, fmt.Errorf("experiment: train_images must be in [0, %d] for %s, got %d", set.N, c.Dataset, c.TrainImages)
	case c.TrainImages > 0:
		set = set.Subset(c.TrainImages)
	}
	return set, nil
}

// TrainingData returns the training data of any run: [Config.Data] for pixel
// models, 2-D data and autoencoders; for a latent model, s·μ of the training
// images under its autoencoder (checked against its recorded SHA-256), read
// from the latent cache beside the autoencoder or, when the cache is
// missing or stale, encoded now (progress to log) and cached there.
func (c Config) TrainingData(b compute.Backend, log io.Writer) (diffusion.Data, error) {
	if !c.IsLatent() {
		return c.Data()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	set, err := c.trainImages()
	if err != nil {
		return nil, err
	}
	ae, err := c.OpenAutoencoder(b, nil)
	if err != nil {
		return nil, err
	}
	file := AutoencoderFile(c.Latent)
	cache := filepath.Join(filepath.Dir(file), LatentCacheName)
	dims := c.DataDims()
	mu, err := readLatentCache(cache, c.AutoencoderSHA256, c.Dataset, set.N, dims)
	if err != nil {
		return nil, err
	}
	if mu == nil {
		if mu, err = ae.Encode(set.Pixels, set.N, log); err != nil {
			return nil, err
		}
		if err := writeLatentCache(cache, c.AutoencoderSHA256, c.Dataset, dims, mu, set.N); err != nil {
			return nil, err
		}
	}
	latent.Scale(mu, c.LatentScale)
	lat := &mnist.Set{Name: c.Dataset + "-latents", Split: "train", N: set.N, H: dims[0], W: dims[1], C: dims[2], Pixels: mu, Labels: set.Labels}
	if c.IsText() {
		return c.newCaptionData(lat, set, log)
	}
	return imageData{b: mnist.NewBatches(lat, uint64(c.Seed)^dataStream), dims: dims, labels: c.ClassCond}, nil
}

// Bundle returns the sampling file of a latent model: ForSampling of its
// checkpoint ck (EMA weights when it has them) plus its autoencoder's
// sampling weights under BundleScope, with AutoencoderBundled set, so that
// one file samples and evaluates. The autoencoder is read from c.Latent and
// checked against the recorded SHA-256.
func Bundle(ck *diffusion.Checkpoint) (*diffusion.Checkpoint, error) {
	c, err := FromJSON(ck.Config)
	if err != nil {
		return nil, err
	}
	if !c.IsLatent() || c.AutoencoderBundled {
		return nil, fmt.Errorf("experiment: only a latent model's training checkpoint is bundled with its autoencoder")
	}
	aeCk, _, err := c.pairedAutoencoder()
	if err != nil {
		return nil, err
	}
	out, err := diffusion.ForSampling(ck, diffusion.HasEMA(ck))
	if err != nil {
		return nil, err
	}
	aeS, err := diffusion.ForSampling(aeCk, diffusion.HasEMA(aeCk))
	if err != nil {
		return nil, err
	}
	for path, t := range aeS.Variables {
		out.Variables["/"+BundleScope+path] = t
	}
	c.AutoencoderBundled = true
	if c.IsText() {
		clipS, err := c.CLIPCheckpoint(nil)
		if err != nil {
			return nil, err
		}
		for path, t := range clipS.Variables {
			out.Variables["/"+CLIPBundleScope+path] = t
		}
		c.CLIPBundled = true
	}
	out.Config = c.JSON()
	return out, nil
}
