package samplers

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestOpenEMA writes a checkpoint with raw weights, the main EMA (decay
// 0.995) and two extra EMAs by hand and opens it: --ema-decay picks an
// extra average (weights "EMA 0.99") or, by its decay, the main one; 0 is
// Open's choice; a decay without an average is refused, listing those the
// checkpoint has (an exported file too, saying why); with --no-ema, or out
// of (0, 1), it is refused.
func TestOpenEMA(t *testing.T) {
	dir := t.TempDir()
	cfg := experiment.Default2D("gaussians8")
	cfg.EMADecays = []float64{0.99, 0.9999}
	w := func(v float32) *tensors.Tensor { return tensors.FromFlatDataAndDimensions([]float32{v}, 1) }
	path := filepath.Join(dir, "model.ckpt")
	if err := diffusion.WriteCheckpoint(path, &diffusion.Checkpoint{Config: cfg.JSON(), Step: 7, Variables: map[string]*tensors.Tensor{
		"/model/w": w(1), "/ema/model/w": w(2), "/ema-0.99/model/w": w(3), "/ema-0.9999/model/w": w(4),
	}}); err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(dir, "exported.ckpt")
	if err := diffusion.WriteCheckpoint(exported, &diffusion.Checkpoint{Config: cfg.JSON(), Step: 7, WeightsAreEMA: true,
		Variables: map[string]*tensors.Tensor{"/model/w": w(2)}}); err != nil {
		t.Fatal(err)
	}
	value := func(o *Checkpoint) float32 {
		t.Helper()
		for v := range o.Store.IterVariables() {
			val, err := v.Value()
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[float32](val)[0]
		}
		t.Fatalf("%s: empty store", o.Path)
		return 0
	}
	for _, tc := range []struct {
		path    string
		noEMA   bool
		decay   float64
		weights string
		value   float32
	}{
		{path, false, 0, "EMA", 2},
		{path, true, 0, "raw", 1},
		{path, false, 0.99, "EMA 0.99", 3},
		{dir, false, 0.9999, "EMA 0.9999", 4},
		{path, false, 0.995, "EMA", 2}, // the main EMA, by its decay
		{exported, false, 0.995, "exported EMA", 2},
	} {
		o, err := OpenEMA(tc.path, tc.noEMA, tc.decay)
		if err != nil {
			t.Fatalf("OpenEMA(%s, %v, %g): %v", tc.path, tc.noEMA, tc.decay, err)
		}
		if o.Weights != tc.weights || value(o) != tc.value {
			t.Errorf("OpenEMA(%s, %v, %g): %s weights, w = %g; want %s, %g", tc.path, tc.noEMA, tc.decay, o.Weights, value(o), tc.weights, tc.value)
		}
	}
	for _, tc := range []struct {
		path  string
		noEMA bool
		decay float64
		want  []string
	}{
		{path, false, 0.5, []string{path + ": --ema-decay 0.5: the checkpoint holds no average of that decay", "the main EMA (decay 0.995, the default)", "extra EMAs of decays 0.99, 0.9999"}},
		{exported, false, 0.99, []string{"--ema-decay 0.99", "exported sampling file keeps only the weights it was exported with"}},
		{path, true, 0.99, []string{"--ema-decay 0.99 and --no-ema: choose one"}},
		{path, false, 1, []string{"--ema-decay must be in (0, 1)"}},
		{path, false, -0.5, []string{"--ema-decay must be in (0, 1)"}},
	} {
		_, err := OpenEMA(tc.path, tc.noEMA, tc.decay)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("OpenEMA(%s, %v, %g): error %v, want one containing %q", tc.path, tc.noEMA, tc.decay, err, want)
			}
		}
	}
}
