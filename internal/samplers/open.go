package samplers

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
	// weights when it has one and noEMA is false, else the raw weights; or
	// the extra EMA that [OpenEMA] was asked for.
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
	return OpenEMA(modelPath, noEMA, 0)
}

// OpenEMA is [Open] that can pick, with emaDecay > 0 (the commands'
// --ema-decay), one of the checkpoint's moving averages by its decay: an
// extra one (cmd/train --ema-decays; see diffusion.SamplingStoreExtraEMA)
// or the main one when emaDecay is its decay (the configuration's EMA).
// emaDecay 0 means Open's choice. A decay the checkpoint has no average of
// is an error listing those it has; emaDecay with noEMA is refused.
func OpenEMA(modelPath string, noEMA bool, emaDecay float64) (*Checkpoint, error) {
	switch {
	case math.IsNaN(emaDecay) || emaDecay < 0 || emaDecay >= 1:
		return nil, fmt.Errorf("--ema-decay must be in (0, 1) (0: the main EMA), got %g", emaDecay)
	case noEMA && emaDecay > 0:
		return nil, fmt.Errorf("--ema-decay %g and --no-ema: choose one (--no-ema samples the raw weights, --ema-decay one of their moving averages)", emaDecay)
	}
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
	weights := Weights(ck, useEMA)
	var store *model.Store
	switch {
	case emaDecay == 0:
		store, err = diffusion.SamplingStore(ck, useEMA)
	case emaDecay == cfg.EMA && (diffusion.HasEMA(ck) || ck.WeightsAreEMA):
		// The main average, asked for by its decay.
		store, err = diffusion.SamplingStore(ck, true)
	case slices.Contains(diffusion.ExtraEMADecays(ck), emaDecay):
		store, err = diffusion.SamplingStoreExtraEMA(ck, emaDecay)
		weights = "EMA " + strconv.FormatFloat(emaDecay, 'g', -1, 64)
	default:
		return nil, fmt.Errorf("%s: --ema-decay %g: %s", path, emaDecay, describeAverages(ck, cfg))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Checkpoint{Path: path, Checkpoint: ck, Config: cfg, Store: store, Weights: weights}, nil
}

// describeAverages says which moving averages of the weights a checkpoint
// holds, for OpenEMA's error.
func describeAverages(ck *diffusion.Checkpoint, cfg experiment.Config) string {
	var have []string
	if diffusion.HasEMA(ck) || (ck.WeightsAreEMA && cfg.EMA > 0) {
		what := "the main EMA"
		if ck.WeightsAreEMA {
			what = "the exported weights, the main EMA"
		}
		have = append(have, fmt.Sprintf("%s (decay %g, the default)", what, cfg.EMA))
	}
	if extra := diffusion.ExtraEMADecays(ck); len(extra) > 0 {
		ds := make([]string, len(extra))
		for i, d := range extra {
			ds[i] = strconv.FormatFloat(d, 'g', -1, 64)
		}
		have = append(have, "extra EMAs of decays "+strings.Join(ds, ", "))
	}
	if len(have) == 0 {
		return "the checkpoint holds no moving average of the weights (sample its raw weights without --ema-decay)"
	}
	msg := "the checkpoint holds no average of that decay; it has " + strings.Join(have, " and ")
	if ck.WeightsAreEMA {
		msg += " (an exported sampling file keeps only the weights it was exported with; pick an extra EMA in the training checkpoint)"
	}
	return msg
}
