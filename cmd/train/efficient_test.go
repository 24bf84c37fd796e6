package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// tinyMNIST are flags for the "small" UNet on MNIST that train in about a
// second (batch 4, T = 50).
var tinyMNIST = []string{"--dataset", "mnist", "--timesteps", "50", "--batch-size", "4", "--quiet"}

// TestTrainMixedPrecision trains tiny bf16 models (the MLP on gaussians8
// with extra EMAs, the small UNet on MNIST): the checkpoint's configuration
// records the precision and the extra decays, the checkpoint holds the
// averages, the losses are finite and not those of float32 (so the
// precision reached the trainer) but close to them; --resume keeps bf16
// without the flag, refuses another --precision or other --ema-decays, and
// accepts the same ones (--ema-decays in another order too).
func TestTrainMixedPrecision(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"mlp", append([]string{"--dataset", "gaussians8", "--ema-decays", "0.99,0.9"}, tiny...)},
		{"unet", tinyMNIST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unet" && testing.Short() {
				t.Skip("compiles and runs a UNet")
			}
			dir := t.TempDir()
			bf := filepath.Join(dir, "bf16")
			f32 := filepath.Join(dir, "f32")
			if out, err := train(t, append([]string{"--steps", "3", "--out", bf, "--precision", "bf16"}, tc.args...)...); err != nil {
				t.Fatalf("bf16: %v\n%s", err, out)
			}
			if out, err := train(t, append([]string{"--steps", "3", "--out", f32}, tc.args...)...); err != nil {
				t.Fatalf("f32: %v\n%s", err, out)
			}
			ck, c := readCk(t, filepath.Join(bf, CheckpointName))
			ck32, c32 := readCk(t, filepath.Join(f32, CheckpointName))
			if c.Precision != "bf16" || c32.Precision != "" || !strings.Contains(string(ck.Config), `"precision":"bf16"`) {
				t.Errorf("precision in the configurations: %q and %q (want bf16 and empty); stored %s", c.Precision, c32.Precision, ck.Config)
			}
			wantDecays := []float64(nil)
			if tc.name == "mlp" {
				wantDecays = []float64{0.9, 0.99}
			}
			if !slices.Equal(c.EMADecays, wantDecays) || !slices.Equal(diffusion.ExtraEMADecays(ck), wantDecays) {
				t.Errorf("extra EMAs: configuration %v, checkpoint %v; want %v", c.EMADecays, diffusion.ExtraEMADecays(ck), wantDecays)
			}
			same := true
			for i, l := range ck.Losses {
				l32 := ck32.Losses[i]
				if math.IsNaN(l) || math.IsInf(l, 0) || math.Abs(l-l32) > 0.02*math.Abs(l32) {
					t.Errorf("step %d: bf16 loss %v, f32 loss %v: want finite and within 2%%", i+1, l, l32)
				}
				same = same && l == l32
			}
			if same {
				t.Errorf("bf16 losses %v are float32's, bit for bit: the precision did not reach the trainer", ck.Losses)
			}
			if tc.name != "mlp" {
				return
			}
			// Resume: another precision is refused, the stored one kept.
			for _, p := range []string{"f32", "f16"} {
				if _, err := train(t, "--out", bf, "--resume", "--steps", "5", "--precision", p, "--quiet"); err == nil || !strings.Contains(err.Error(), "--precision") {
					t.Errorf("resume with --precision %s: error %v, want one naming --precision", p, err)
				}
			}
			if _, err := train(t, "--out", bf, "--resume", "--steps", "5", "--ema-decays", "0.9", "--quiet"); err == nil || !strings.Contains(err.Error(), "--ema-decays") {
				t.Errorf("resume with other --ema-decays: error %v, want one naming --ema-decays", err)
			}
			if out, err := train(t, "--out", bf, "--resume", "--steps", "4", "--quiet"); err != nil {
				t.Fatalf("resume: %v\n%s", err, out)
			}
			if out, err := train(t, "--out", bf, "--resume", "--steps", "5", "--precision", "bf16", "--ema-decays", "0.9,0.99", "--quiet"); err != nil {
				t.Fatalf("resume with the same --precision and --ema-decays: %v\n%s", err, out)
			}
			ck, c = readCk(t, filepath.Join(bf, CheckpointName))
			if ck.Step != 5 || c.Precision != "bf16" || !slices.Equal(diffusion.ExtraEMADecays(ck), wantDecays) {
				t.Errorf("resumed checkpoint: step %d, precision %q, extra EMAs %v; want 5, bf16, %v", ck.Step, c.Precision, diffusion.ExtraEMADecays(ck), wantDecays)
			}
		})
	}
}

// TestTrainF16 trains the MLP in float16 with loss scaling: the
// checkpoint holds the loss scale and the count of skipped steps, and the
// summary names the skipped steps exactly when there were some.
func TestTrainF16(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "f16")
	out, err := train(t, append([]string{"--dataset", "gaussians8", "--steps", "20", "--out", dir, "--precision", "f16"}, tiny...)...)
	if err != nil {
		t.Fatalf("f16: %v\n%s", err, out)
	}
	ck, c := readCk(t, filepath.Join(dir, CheckpointName))
	if c.Precision != "f16" {
		t.Errorf("precision %q, want f16", c.Precision)
	}
	scale, ok1 := ck.Variables["/train/loss_scale"]
	sk, ok2 := ck.Variables["/train/skipped_steps"]
	if !ok1 || !ok2 {
		t.Fatalf("the f16 checkpoint lacks /train/loss_scale or /train/skipped_steps")
	}
	skipped := tensors.MustCopyFlatData[int64](sk)[0]
	if s := tensors.MustCopyFlatData[float32](scale)[0]; !(s > 0) {
		t.Errorf("loss scale %v", s)
	}
	if skipped > 0 {
		want := "f16: " + strconv.FormatInt(skipped, 10) + " of the 20 steps skipped"
		if !strings.Contains(out, want) {
			t.Errorf("%d steps skipped, but the output lacks %q:\n%s", skipped, want, out)
		}
	} else if strings.Contains(out, "skipped") {
		t.Errorf("no step skipped, but the output says:\n%s", out)
	}
}

// TestTrainGradCheckpoint: --grad-checkpoint trains to the losses of the
// same run without it (float32; the gradients differ at most in the order
// of a few additions) with the same variables, and is recorded; a resume
// may switch it (the one flag that may change), keeping the stored setting
// without the flag.
func TestTrainGradCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"mlp", append([]string{"--dataset", "moons"}, tiny...)},
		{"unet", tinyMNIST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unet" && testing.Short() {
				t.Skip("compiles and runs a UNet")
			}
			dir := t.TempDir()
			on, off := filepath.Join(dir, "on"), filepath.Join(dir, "off")
			if out, err := train(t, append([]string{"--steps", "4", "--out", on, "--grad-checkpoint"}, tc.args...)...); err != nil {
				t.Fatalf("--grad-checkpoint: %v\n%s", err, out)
			}
			if out, err := train(t, append([]string{"--steps", "4", "--out", off}, tc.args...)...); err != nil {
				t.Fatalf("without: %v\n%s", err, out)
			}
			ckOn, cOn := readCk(t, filepath.Join(on, CheckpointName))
			ckOff, cOff := readCk(t, filepath.Join(off, CheckpointName))
			if !cOn.GradCheckpoint || cOff.GradCheckpoint {
				t.Errorf("grad_checkpoint recorded as %v and %v, want true and false", cOn.GradCheckpoint, cOff.GradCheckpoint)
			}
			for i, l := range ckOn.Losses {
				if d := math.Abs(l - ckOff.Losses[i]); d > 1e-5*math.Abs(ckOff.Losses[i]) {
					t.Errorf("step %d: loss %v with checkpointing, %v without", i+1, l, ckOff.Losses[i])
				}
			}
			for p, v := range ckOff.Variables {
				w, ok := ckOn.Variables[p]
				if !ok || !slices.Equal(w.Shape().Dimensions, v.Shape().Dimensions) {
					t.Errorf("variable %s %v: with checkpointing %v", p, v.Shape(), w)
				}
			}
			if len(ckOn.Variables) != len(ckOff.Variables) {
				t.Errorf("%d variables with checkpointing, %d without", len(ckOn.Variables), len(ckOff.Variables))
			}
			if tc.name != "mlp" {
				return
			}
			// Resume: the stored setting is kept; the flag switches it.
			for _, s := range []struct {
				args []string
				want bool
			}{{nil, true}, {[]string{"--grad-checkpoint=false"}, false}, {nil, false}, {[]string{"--grad-checkpoint"}, true}} {
				steps := strconv.Itoa(len(ckOn.Losses) + 1)
				if out, err := train(t, append([]string{"--out", on, "--resume", "--steps", steps, "--quiet"}, s.args...)...); err != nil {
					t.Fatalf("resume %v: %v\n%s", s.args, err, out)
				}
				ckOn, cOn = readCk(t, filepath.Join(on, CheckpointName))
				if cOn.GradCheckpoint != s.want {
					t.Errorf("resumed with %v: grad_checkpoint %v, want %v", s.args, cOn.GradCheckpoint, s.want)
				}
			}
		})
	}
}

// TestTrainEfficiencyBadInput: --precision, --grad-checkpoint and
// --ema-decays where they do not apply, or with bad values, are refused
// with a message naming the flag, and nothing is written.
func TestTrainEfficiencyBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--precision", "fp8"}, `--precision "fp8"`},
		{[]string{"--precision", "bf16", "--objective", "score"}, "--precision bf16: mixed precision is for --objective ddpm"},
		{[]string{"--precision", "f16", "--model", "vae"}, "--precision: not for --model vae"},
		{[]string{"--precision", "bf16", "--model", "gan"}, "--precision: not for --model gan"},
		{[]string{"--grad-checkpoint", "--model", "vae"}, "--grad-checkpoint: not for --model vae"},
		{[]string{"--precision", "bf16", "--dataset", "mnist", "--stage", "autoencoder"}, "--precision: not for --stage autoencoder"},
		{[]string{"--grad-checkpoint", "--dataset", "mnist", "--stage", "clip"}, "--grad-checkpoint: not for --stage clip"},
		{[]string{"--ema-decays", "0.9", "--dataset", "mnist", "--stage", "autoencoder"}, "--ema-decays: not for --stage autoencoder"},
		{[]string{"--ema-decays", "0.9,x"}, "-ema-decays"},
		{[]string{"--ema-decays", "1.5"}, "ema_decays: each decay must be in (0, 1)"},
		{[]string{"--ema-decays", "0.9,0.9"}, "ema_decays: 0.9 is listed twice"},
		{[]string{"--ema-decays", "0.995"}, "ema_decays: 0.995 is the main moving average's decay"},
	}
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "run")
		args := append([]string{"--out", dir, "--steps", "2", "--quiet"}, c.args...)
		if _, err := train(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%v: %s was created despite the error", c.args, dir)
		}
	}
	// --ema-decays applies to a VAE; --grad-checkpoint on resuming one is refused.
	dir := filepath.Join(t.TempDir(), "vae")
	if out, err := train(t, "--dataset", "moons", "--model", "vae", "--batch-size", "8", "--steps", "2", "--ema-decays", "0.9", "--out", dir, "--quiet"); err != nil {
		t.Fatalf("VAE with --ema-decays: %v\n%s", err, out)
	}
	ck, _ := readCk(t, filepath.Join(dir, CheckpointName))
	if got := diffusion.ExtraEMADecays(ck); !slices.Equal(got, []float64{0.9}) {
		t.Errorf("VAE checkpoint's extra EMAs %v, want [0.9]", got)
	}
	before, err := os.ReadFile(filepath.Join(dir, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--grad-checkpoint"}, {"--precision", "bf16"}} {
		if _, err := train(t, append([]string{"--out", dir, "--resume", "--steps", "3", "--quiet"}, args...)...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("resuming a VAE with %v: error %v, want one naming %s", args, err, args[0])
		}
	}
	if after, err := os.ReadFile(filepath.Join(dir, CheckpointName)); err != nil || string(after) != string(before) {
		t.Errorf("the VAE checkpoint changed despite the refusals (%v)", err)
	}
}
