package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
)

// Trained is a model ready to sample: its configuration, checkpoint and the
// objects built from them.
type Trained struct {
	// Config is the configuration the model was trained with.
	Config Config
	// Steps is the number of training steps.
	Steps int64
	// Checkpoint holds the weights (raw and EMA) and the loss history.
	Checkpoint *diffusion.Checkpoint
	// Process and Denoiser are built from Config for a DDPM run (nil and zero
	// for a score-based run).
	Process  *diffusion.Process
	Denoiser diffusion.Denoiser
	// SDE and Score are built from Config for a score-based run (nil for a
	// DDPM run): the forward SDE and the score model, whose weights are in
	// Checkpoint under diffusion.ModelScope.
	SDE   score.SDE
	Score score.ScoreFn
	// Path is the checkpoint file in the cache folder.
	Path string
	// Loaded reports whether the model came from the cache (false: trained now).
	Loaded bool
}

// Key identifies a configuration trained for a number of steps: the first
// 12 hex digits of the SHA-256 of the configuration's JSON and the steps.
func Key(c Config, steps int64) string {
	h := sha256.Sum256(append(c.JSON(), fmt.Sprintf("\nsteps=%d", steps)...))
	return hex.EncodeToString(h[:6])
}

// CachePath is where LoadOrTrain keeps the model of c trained for steps.
func CachePath(cacheDir string, c Config, steps int64) string {
	return filepath.Join(cacheDir, fmt.Sprintf("%s-%s.ckpt", c.Dataset, Key(c, steps)))
}

// LoadOrTrain returns the model of configuration c trained for steps steps:
// from cacheDir when a checkpoint with the same key is there, otherwise by
// training it now and saving it there. It prints one line to log saying
// which happened and with which configuration, so a notebook never hides a
// stale model; a progress bar goes to progress (nil: none). A cached
// checkpoint whose stored configuration differs from c is an error, never
// silently used.
func LoadOrTrain(b compute.Backend, c Config, steps int64, cacheDir string, log, progress io.Writer) (*Trained, error) {
	if log == nil {
		log = io.Discard
	}
	if c.IsAutoencoder() {
		return nil, fmt.Errorf("experiment: LoadOrTrain trains diffusion models, VAEs and GANs; an autoencoder is trained with cmd/train --stage autoencoder (or c.NewTrainer) and finished with FinishAutoencoder")
	}
	path := CachePath(cacheDir, c, steps)
	t := &Trained{Config: c, Steps: steps, Path: path}
	var err error
	switch {
	case c.IsBaseline():
		err = c.Validate()
	case c.IsScore():
		t.SDE, t.Score, _, err = c.BuildScore()
	default:
		t.Process, t.Denoiser, _, err = c.Build()
	}
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("%s, %s, lr %g, batch %d, %d steps", c.Dataset, c.describe(), c.LearningRate, c.BatchSize, steps)
	ck, err := diffusion.ReadCheckpoint(path)
	switch {
	case err == nil:
		saved, ferr := FromJSON(ck.Config)
		if ferr != nil {
			return nil, ferr
		}
		if d := Diff(saved, c); len(d) > 0 || ck.Step != steps {
			return nil, fmt.Errorf("experiment: cached %s does not match the requested configuration (%v, step %d vs %d); delete it", path, d, ck.Step, steps)
		}
		fmt.Fprintf(log, "loaded cached model %s (%s)\n", filepath.Base(path), summary)
		t.Checkpoint, t.Loaded = ck, true
		return t, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	data, err := c.TrainingData(b, progress)
	if err != nil {
		return nil, err
	}
	tr, err := c.NewTrainer(b)
	if err != nil {
		return nil, err
	}
	if err := tr.Run(data, diffusion.RunOptions{Steps: steps, BatchSize: c.BatchSize, Progress: progress}); err != nil {
		return nil, err
	}
	if t.Checkpoint, err = tr.Checkpoint(c.JSON()); err != nil {
		return nil, err
	}
	if err := diffusion.WriteCheckpoint(path, t.Checkpoint); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "trained model %s now (%s); cached in %s\n", filepath.Base(path), summary, cacheDir)
	return t, nil
}

// describe names the model and objective of c for LoadOrTrain's line.
func (c Config) describe() string {
	if c.IsBaseline() {
		return c.BaselineDesc()
	}
	net := fmt.Sprintf("%s MLP %d×%d", c.MLP.WithDefaults().Activation, c.MLP.WithDefaults().Hidden, c.MLP.WithDefaults().Blocks)
	if c.Model == "unet" {
		net = fmt.Sprintf("%q UNet", c.UNet)
	}
	objective := fmt.Sprintf("T=%d %s, %s/%s", c.Timesteps, c.Schedule, c.Prediction, c.Loss)
	if c.IsScore() {
		objective = fmt.Sprintf("score matching, %s SDE", c.SDE)
	}
	return objective + ", " + net
}

// Generate draws n examples from a trained VAE or GAN with its EMA weights
// (where the checkpoint has them), as [Config.Generate] does.
func (t *Trained) Generate(b compute.Backend, n int, opts GenerateOptions) ([]float32, error) {
	store, err := diffusion.SamplingStore(t.Checkpoint, true)
	if err != nil {
		return nil, err
	}
	return t.Config.Generate(b, store, n, opts)
}

// Model returns the trained model as the sampling core sees it
// (Config.SamplingModel) and a store of its weights: the EMA weights when
// the checkpoint has them, else the raw ones.
func (t *Trained) Model() (diffusion.Model, *model.Store, error) {
	m, err := t.Config.SamplingModel()
	if err != nil {
		return m, nil, err
	}
	store, err := diffusion.SamplingStore(t.Checkpoint, true)
	return m, store, err
}
