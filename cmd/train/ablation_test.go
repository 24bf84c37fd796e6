package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/unet"
)

// TestTrainUNetAblations trains the "small" UNet on MNIST for two steps
// with --time-embedding linear and --no-attention: the checkpoint records
// both, holds no middle attention weights and a time layer of one input,
// and a resume that disagrees is refused. loss.csv holds the loss of every
// step (the checkpoint's), and a run at its last step rewrites only it.
func TestTrainUNetAblations(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a UNet")
	}
	dir := filepath.Join(t.TempDir(), "mnist")
	if out, err := train(t, "--dataset", "mnist", "--timesteps", "50", "--steps", "2", "--batch-size", "4",
		"--time-embedding", "linear", "--no-attention", "--out", dir, "--quiet"); err != nil || !strings.Contains(out, "unet (linear time embedding, no attention) model") {
		t.Fatalf("train: %v\n%s", err, out)
	}
	ck, c := readCk(t, filepath.Join(dir, CheckpointName))
	if c.TimeEmbedding != unet.TimeEmbeddingLinear || !c.NoAttention {
		t.Errorf("checkpoint configuration: time embedding %q, no attention %v", c.TimeEmbedding, c.NoAttention)
	}
	timeIn := 0
	for path, v := range ck.Variables {
		if strings.Contains(path, "/middle/attn/") {
			t.Errorf("variable %s: the middle attention was not removed", path)
		}
		if strings.Contains(path, "/model/time_1/") && strings.HasSuffix(path, "weights") {
			timeIn = v.Shape().Dimensions[0]
		}
	}
	if timeIn != 1 {
		t.Errorf("the first time layer takes %d inputs, want 1 (t/T)", timeIn)
	}
	if _, err := train(t, "--out", dir, "--resume", "--steps", "3", "--time-embedding", "sinusoidal", "--quiet"); err == nil || !strings.Contains(err.Error(), "--time-embedding") {
		t.Errorf("resume with another --time-embedding: error %v, want one naming it", err)
	}

	csvPath := filepath.Join(dir, "loss.csv")
	checkCSV := func() {
		t.Helper()
		b, err := os.ReadFile(csvPath)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[0] != "step,loss" || len(lines) != 1+len(ck.Losses) {
			t.Fatalf("loss.csv: %q, want a header and %d rows", b, len(ck.Losses))
		}
		for i, l := range ck.Losses {
			step, v, _ := strings.Cut(lines[1+i], ",")
			got, err := strconv.ParseFloat(v, 64)
			if step != strconv.Itoa(i+1) || err != nil || math.Abs(got-l) > 1e-5*math.Abs(l) {
				t.Errorf("loss.csv row %d: %q, want step %d loss %g", i+1, lines[1+i], i+1, l)
			}
		}
	}
	checkCSV()
	if err := os.Remove(csvPath); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := train(t, "--out", dir, "--resume", "--steps", "2", "--quiet"); err != nil || !strings.Contains(out, "loss history") {
		t.Fatalf("resume at the last step: %v\n%s", err, out)
	}
	checkCSV()
	if after, err := os.ReadFile(filepath.Join(dir, CheckpointName)); err != nil || string(after) != string(before) {
		t.Errorf("rewriting loss.csv changed the checkpoint (%v)", err)
	}
	if _, err := train(t, "--out", dir, "--resume", "--steps", "2", "--loss-csv=false", "--quiet"); err == nil || !strings.Contains(err.Error(), "already at step 2") {
		t.Errorf("resume at the last step without loss.csv: error %v, want 'already at step 2'", err)
	}
}

// TestTrainUNetAblationsBadInput: the ablation flags with bad values or
// where they do not apply are refused, naming them, and nothing is written.
func TestTrainUNetAblationsBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "mnist", "--time-embedding", "cubic"}, `unknown time_embedding "cubic"`},
		{[]string{"--time-embedding", "linear"}, "ablations of the UNet"}, // gaussians8's MLP
		{[]string{"--no-attention"}, "ablations of the UNet"},
		{[]string{"--dataset", "mnist", "--model", "vae", "--no-attention"}, "--no-attention: not for --model vae"},
		{[]string{"--dataset", "mnist", "--objective", "score", "--time-embedding", "linear"}, "continuous"},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		args := append([]string{"--out", dir, "--steps", "2", "--quiet"}, c.args...)
		if _, err := train(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%v: %s was created despite the error", c.args, dir)
		}
	}
}
