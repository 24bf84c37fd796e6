package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestEvalExtraEMA evaluates a checkpoint with an extra EMA (cmd/train
// --ema-decays 0.9), trained past the EMA warm-up: --ema-decay 0.9 bounds
// those weights ("EMA 0.9", another bound than the main EMA's), a decay
// without an average and --ema-decay with --no-ema are refused; a VAE's
// extra EMA is evaluated too (the flag reaches VAE and GAN checkpoints).
func TestEvalExtraEMA(t *testing.T) {
	b := backend.MustShared()
	dir := t.TempDir()
	c := experiment.Default2D("moons")
	c.Timesteps, c.MLP.Hidden, c.MLP.Blocks = 30, 16, 1
	c.EMADecays = []float64{0.9}
	cmdtest.Train(t, b, c, dir, 100, 16)
	_, main := evalJSON(t, "--model-path", dir, "--num-examples", "50")
	_, extra := evalJSON(t, "--model-path", dir, "--num-examples", "50", "--ema-decay", "0.9")
	if main["weights"] != "EMA" || extra["weights"] != "EMA 0.9" {
		t.Errorf("weights %v and %v, want EMA and EMA 0.9", main["weights"], extra["weights"])
	}
	if cmdtest.Num(t, main, "bound_nats") == cmdtest.Num(t, extra, "bound_nats") {
		t.Errorf("the extra EMA's bound equals the main EMA's, %v: the same weights?", main["bound_nats"])
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ema-decay", "0.99"}, "--ema-decay 0.99: the checkpoint holds no average of that decay; it has the main EMA (decay 0.995, the default) and extra EMAs of decays 0.9"},
		{[]string{"--ema-decay", "0.9", "--no-ema"}, "choose one"},
	} {
		var out, errb bytes.Buffer
		if err := run(append([]string{"--model-path", dir, "--num-examples", "50", "--quiet"}, tc.args...), &out, &errb); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}

	v := experiment.DefaultVAE("gaussians8")
	v.EMADecays = []float64{0.9}
	vdir := t.TempDir()
	cmdtest.Train(t, b, v, vdir, 3, 16)
	if _, obj := evalJSON(t, "--model-path", vdir, "--num-examples", "20", "--samples", "20", "--ema-decay", "0.9"); obj["weights"] != "EMA 0.9" {
		t.Errorf("VAE: weights %v, want EMA 0.9", obj["weights"])
	}
}
