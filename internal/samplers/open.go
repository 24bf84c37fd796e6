package samplers

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// Checkpoint is a checkpoint opened for sampling by [Open].
type Checkpoint struct {
	// Path is the checkpoint file: the model path, or model.ckpt in it when
	// the model path is a folder.
	Path string
	// Checkpoint is the checkpoint as read from Path.
	Checkpoint *diffusion.Checkpoint
	// Config is the checkpoint's experiment configuration.
	Config experiment.Config
	// Store holds the weights to sample with: the checkpoint's EMA of the
	// weights when it has one and noEMA is false, else the raw weights.
	Store *model.Store
	// Weights names those weights (see [Weights]).
	Weights string
}

// Open reads the checkpoint at modelPath (a file, or a folder holding
// model.ckpt) and its configuration, and loads the weights to sample with:
// their EMA unless noEMA is set or the checkpoint has none. A checkpoint
// that cannot be read is an error from diffusion.ReadCheckpoint; a bad
// configuration or missing weights are errors prefixed with the checkpoint's
// path.
func Open(modelPath string, noEMA bool) (*Checkpoint, error) {
	path := modelPath
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "model.ckpt")
	}
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	cfg, err := experiment.FromJSON(ck.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	useEMA := !noEMA && diffusion.HasEMA(ck)
	store, err := diffusion.SamplingStore(ck, useEMA)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Checkpoint{Path: path, Checkpoint: ck, Config: cfg, Store: store, Weights: Weights(ck, useEMA)}, nil
}
