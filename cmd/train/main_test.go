package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/internal/memcheck"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// tiny are flags for a model that trains in well under a second.
var tiny = []string{"--timesteps", "50", "--hidden", "16", "--blocks", "1", "--batch-size", "16", "--quiet"}

func train(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestTrainAndResume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	args := append([]string{"--dataset", "moons", "--steps", "20", "--out", dir}, tiny...)
	if out, err := train(t, args...); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	for _, f := range []string{"model.ckpt", "loss.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// Without --resume an existing run is never overwritten.
	if _, err := train(t, args...); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("second run into the same folder: error %v, want one suggesting --resume", err)
	}
	// A flag that disagrees with the checkpoint is refused, naming it.
	if _, err := train(t, "--out", dir, "--resume", "--steps", "30", "--lr", "0.5", "--quiet"); err == nil || !strings.Contains(err.Error(), "--lr") {
		t.Errorf("resume with another --lr: error %v, want one naming --lr", err)
	}
	// Resuming with only --steps continues the run.
	if out, err := train(t, "--out", dir, "--resume", "--steps", "30", "--quiet"); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 30 || len(ck.Losses) != 30 {
		t.Errorf("resumed checkpoint at step %d with %d losses, want 30 and 30", ck.Step, len(ck.Losses))
	}
}

// TestTrainClassCond trains class-conditional models: --class-cond records
// the labels' use and the default p_uncond of 0.1 in the checkpoint,
// --p-uncond sets it, the training batches carry labels (the trained model
// reads them: its class embedding exists), and resuming with another
// --p-uncond is refused.
func TestTrainClassCond(t *testing.T) {
	for _, c := range []struct {
		args  []string
		p     float64
		model string
	}{
		{[]string{"--dataset", "gaussians8", "--class-cond"}, 0.1, "mlp"},
		{[]string{"--dataset", "moons", "--class-cond", "--p-uncond", "0.25"}, 0.25, "mlp"},
		{[]string{"--dataset", "mnist", "--class-cond", "--unet-config", "small", "--batch-size", "4", "--timesteps", "50"}, 0.1, "unet"},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		args := append([]string{"--steps", "3", "--out", dir, "--quiet"}, c.args...)
		if c.model == "mlp" {
			args = append(args, tiny...)
		}
		if out, err := train(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
		ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := experiment.FromJSON(ck.Config)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.ClassCond || cfg.PUncond != c.p || cfg.Model != c.model {
			t.Errorf("%v: configuration class_cond %v, p_uncond %g, model %s; want true, %g, %s", c.args, cfg.ClassCond, cfg.PUncond, cfg.Model, c.p, c.model)
		}
		want := "/model/class_embedding/embeddings"
		if _, ok := ck.Variables[want]; !ok {
			t.Errorf("%v: no %s in the checkpoint", c.args, want)
		}
		if c.model == "mlp" {
			if _, err := train(t, "--out", dir, "--resume", "--steps", "5", "--p-uncond", "0.5", "--quiet"); err == nil || !strings.Contains(err.Error(), "--p-uncond") {
				t.Errorf("resume with another --p-uncond: %v", err)
			}
		}
	}
}

func TestTrainBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "spirals"}, "spirals"},
		{[]string{"--schedule", "quadratic"}, "quadratic"},
		{[]string{"--loss", "l1"}, "l1"},
		{[]string{"--prediction", "noise"}, "noise"},
		{[]string{"--steps", "0"}, "--steps"},
		{[]string{"--activation", "tanh"}, "tanh"},
		{[]string{"--bogus-flag"}, "bogus-flag"},
		{[]string{"--p-uncond", "0.2"}, "--class-cond"},
		{[]string{"--p-uncond", "0"}, "--class-cond"}, // Config.Validate would let p_uncond 0 through
		{[]string{"--dataset", "swissroll", "--class-cond"}, "no class labels"},
		{[]string{"--class-cond", "--p-uncond", "1"}, "p_uncond"},
		{[]string{"extra-argument"}, "extra-argument"},
		// Refused before a graph runs, with a batch that fits (the MLP's
		// step needs ~1 TiB at 1e8 examples: no test machine has it).
		{[]string{"--batch-size", "100000000"}, "try --batch-size"},
		{[]string{"--batch-size", "2000000000"}, "batch size must be 1 to 1073741824"},
	}
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "run")
		args := append(append([]string{"--out", dir}, tiny...), c.args...)
		if _, err := train(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "model.ckpt")); err == nil {
			t.Errorf("%v: a checkpoint was written despite the error", c.args)
		}
	}
	if _, err := train(t, "--steps", "5"); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("missing --out: error %v", err)
	}
	if _, err := train(t, "--out", t.TempDir(), "--resume", "--steps", "5"); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Errorf("--resume without a checkpoint: error %v", err)
	}
}

// TestTrainMemoryRefused checks the refusal when memory is short (the
// available memory set through memcheck.EnvVar): an error that wraps
// ErrNotEnoughMemory, names both figures and a batch size, and writes nothing.
func TestTrainMemoryRefused(t *testing.T) {
	t.Setenv(memcheck.EnvVar, "1MiB")
	dir := filepath.Join(t.TempDir(), "run")
	_, err := train(t, append(append([]string{"--out", dir}, tiny...), "--batch-size", "100000")...)
	if !errors.Is(err, memcheck.ErrNotEnoughMemory) {
		t.Fatalf("error %v, want ErrNotEnoughMemory", err)
	}
	for _, want := range []string{"a training step on a batch of 100000 needs about", "only 1 MiB is available (" + memcheck.EnvVar + ")", "try --batch-size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s was created despite the refusal", dir)
	}
	t.Setenv(memcheck.EnvVar, "off")
	if _, err := train(t, append(append([]string{"--out", dir}, tiny...), "--batch-size", "100000", "--steps", "1")...); err != nil {
		t.Errorf("with the check off: %v", err)
	}
}

// TestTrainImages trains the "small" UNet on MNIST for two steps: the image
// defaults (unet model, batch 64) apply unless flags say otherwise.
func TestTrainImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a UNet")
	}
	dir := filepath.Join(t.TempDir(), "mnist")
	if out, err := train(t, "--dataset", "mnist", "--timesteps", "50", "--steps", "2", "--batch-size", "8", "--out", dir, "--quiet"); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := experiment.FromJSON(ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "unet" || c.UNet != "small" || c.BatchSize != 8 || c.Dataset != "mnist" || c.LearningRate != experiment.DefaultImages("mnist").LearningRate {
		t.Errorf("checkpoint configuration %+v: want the image defaults with batch 8", c)
	}
	if _, err := train(t, "--dataset", "mnist", "--model", "mlp", "--steps", "2", "--out", filepath.Join(t.TempDir(), "x"), "--quiet"); err == nil || !strings.Contains(err.Error(), "unet") {
		t.Errorf("an MLP on images: error %v, want one pointing to the unet model", err)
	}
}

func TestExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := train(t, append([]string{"--dataset", "moons", "--steps", "5", "--out", dir}, tiny...)...); err != nil {
		t.Fatal(err)
	}
	exp := filepath.Join(dir, "sampling.ckpt")
	if out, err := train(t, "--out", dir, "--resume", "--steps", "5", "--export", exp, "--quiet"); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	ck, err := diffusion.ReadCheckpoint(exp)
	if err != nil {
		t.Fatal(err)
	}
	for path := range ck.Variables {
		if !strings.HasPrefix(path, "/model/") {
			t.Errorf("exported checkpoint keeps %s", path)
		}
	}
	if ck.Step != 5 || len(ck.Variables) == 0 {
		t.Errorf("exported step %d with %d variables", ck.Step, len(ck.Variables))
	}

	// --export-raw writes the last step's weights: the training checkpoint's
	// /model/ tensors, where the default export holds their /ema/ copies.
	raw := filepath.Join(dir, "raw.ckpt")
	if out, err := train(t, "--out", dir, "--resume", "--steps", "5", "--export", raw, "--export-raw", "--quiet"); err != nil {
		t.Fatalf("export-raw: %v\n%s", err, out)
	}
	full, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := diffusion.ReadCheckpoint(raw)
	if err != nil {
		t.Fatal(err)
	}
	ema, err := diffusion.ReadCheckpoint(exp) // ReadCheckpoint again: the first read's tensors were not kept
	if err != nil {
		t.Fatal(err)
	}
	if rk.WeightsAreEMA || !ema.WeightsAreEMA || len(rk.Variables) != len(ema.Variables) {
		t.Errorf("raw export: EMA flag %v (EMA export %v), %d variables (EMA export %d)", rk.WeightsAreEMA, ema.WeightsAreEMA, len(rk.Variables), len(ema.Variables))
	}
	differs := false
	for path, v := range rk.Variables {
		want := tensors.MustCopyFlatData[float32](full.Variables[path])
		if got := tensors.MustCopyFlatData[float32](v); !slices.Equal(got, want) {
			t.Errorf("raw export's %s differs from the run's weights", path)
		}
		if e := tensors.MustCopyFlatData[float32](full.Variables["/ema"+path]); !slices.Equal(e, want) {
			differs = true
		}
	}
	if !differs {
		t.Errorf("the EMA equals the raw weights after 5 steps: the test cannot tell them apart")
	}
	if _, err := train(t, "--out", dir, "--resume", "--steps", "5", "--export-raw", "--quiet"); err == nil || !strings.Contains(err.Error(), "--export FILE") {
		t.Errorf("--export-raw without --export: %v", err)
	}
}

// tinyScore are flags for a small score model (no DDPM-only flags).
var tinyScore = []string{"--hidden", "16", "--blocks", "1", "--batch-size", "16", "--quiet"}

// TestTrainScore trains a score model under each SDE, checks that the
// checkpoint's configuration records the objective and the SDE (and none of
// the DDPM-only fields) and rebuilds a model that samples, then resumes one
// run and refuses a resume that changes the SDE.
func TestTrainScore(t *testing.T) {
	for _, sde := range []string{"vp", "subvp", "ve"} {
		t.Run(sde, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			args := append([]string{"--dataset", "moons", "--objective", "score", "--sde", sde, "--steps", "20", "--out", dir}, tinyScore...)
			if out, err := train(t, args...); err != nil {
				t.Fatalf("train: %v\n%s", err, out)
			}
			ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := experiment.FromJSON(ck.Config)
			if err != nil {
				t.Fatal(err)
			}
			if c.Objective != "score" || c.SDE != sde || c.Timesteps != 0 || c.Schedule != "" || c.Loss != "" || ck.Step != 20 {
				t.Errorf("checkpoint configuration %+v at step %d: want objective score, sde %s, no DDPM fields, step 20", c, ck.Step, sde)
			}
			if c.LearningRate != 2e-3 { // the score default for 2-D data
				t.Errorf("learning rate %g without --lr, want 2e-3", c.LearningRate)
			}
			// What a sampling command does: rebuild the model from the configuration and sample.
			m, err := c.SamplingModel()
			if err != nil {
				t.Fatal(err)
			}
			store, err := diffusion.SamplingStore(ck, true)
			if err != nil {
				t.Fatal(err)
			}
			x, err := diffusion.Sample(backend.MustShared(), store, m, score.EulerMaruyama{Steps: 5}, 8, c.DataDims(), diffusion.SampleOptions{Seed: 1})
			if err != nil {
				t.Fatalf("sampling the trained score model: %v", err)
			}
			for _, v := range tensors.MustCopyFlatData[float32](x) {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("sample holds %v", v)
				}
			}
			if sde != "ve" {
				return
			}
			if _, err := train(t, "--out", dir, "--resume", "--steps", "30", "--sde", "vp", "--quiet"); err == nil || !strings.Contains(err.Error(), "--sde") {
				t.Errorf("resume with another --sde: error %v, want one naming --sde", err)
			}
			if out, err := train(t, "--out", dir, "--resume", "--steps", "30", "--objective", "score", "--quiet"); err != nil {
				t.Fatalf("resume: %v\n%s", err, out)
			}
			if ck, err = diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt")); err != nil || ck.Step != 30 || len(ck.Losses) != 30 {
				t.Errorf("resumed checkpoint: %v, want step 30 with 30 losses", err)
			}
		})
	}
}

func TestTrainScoreBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--sde", "vp"}, "--objective score"},
		{[]string{"--objective", "ddpm", "--sde", "ve"}, "--objective score"},
		{[]string{"--objective", "gan"}, "gan"},
		{[]string{"--objective", "score", "--sde", "cosine"}, "cosine"},
		{[]string{"--objective", "score", "--timesteps", "50"}, "--timesteps"},
		{[]string{"--objective", "score", "--loss", "hybrid", "--schedule", "cosine"}, "--loss, --schedule"},
		{[]string{"--objective", "score", "--timestep-sampler", "loss-aware"}, "--timestep-sampler"},
		{[]string{"--objective", "score", "--dataset", "mnist", "--model", "mlp"}, "unet"},
	}
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "run")
		args := append(append([]string{"--out", dir, "--steps", "2"}, tinyScore...), c.args...)
		if _, err := train(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "model.ckpt")); err == nil {
			t.Errorf("%v: a checkpoint was written despite the error", c.args)
		}
	}
}

// TestTrainScoreLearningRate checks that an explicit --lr wins over the
// score objective's 2-D default.
func TestTrainScoreLearningRate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	args := append([]string{"--dataset", "moons", "--objective", "score", "--lr", "5e-4", "--steps", "2", "--out", dir}, tinyScore...)
	if out, err := train(t, args...); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := experiment.FromJSON(ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	if c.LearningRate != 5e-4 {
		t.Errorf("learning rate %g with --lr 5e-4", c.LearningRate)
	}
}
