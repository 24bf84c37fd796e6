package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestSampleBaselines samples a tiny VAE and GAN trained on gaussians8:
// the CSV (header and one line a sample) and the scatter plot are written,
// and the JSON holds the 2-D figures, finite, and the time per sample.
func TestSampleBaselines(t *testing.T) {
	for _, c := range []experiment.Config{experiment.DefaultVAE("gaussians8"), experiment.DefaultGAN("gaussians8")} {
		dir := t.TempDir()
		cmdtest.Train(t, backendForTest(t), c, dir, 3, 16)
		base := filepath.Join(dir, "s")
		argsTo := func(base string) []string {
			args := []string{"--model-path", dir, "--num-samples", "50", "--seed", "3", "--out", base, "--json"}
			if c.IsVAE() {
				args = append(args, "--decoder-noise")
			}
			return args
		}
		out, err := sampleStdout(argsTo(base)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.Stage, err, out)
		}
		csv, err := os.ReadFile(base + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); lines[0] != "x,y" || len(lines) != 51 {
			t.Errorf("%s: CSV starts %q with %d lines, want x,y and 50 samples", c.Stage, lines[0], len(lines)-1)
		}
		if st, err := os.Stat(base + ".png"); err != nil || st.Size() == 0 {
			t.Errorf("%s: no scatter plot: %v", c.Stage, err)
		}
		obj := cmdtest.LastJSON(t, out)
		for _, k := range []string{"nll_samples", "nll_data", "mmd2", "sliced_w2", "off_mode", "seconds", "seconds_per_sample"} {
			if v := cmdtest.Num(t, obj, k); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 && k != "nll_samples" && k != "nll_data" {
				t.Errorf("%s: %s = %v", c.Stage, k, v)
			}
		}
		if obj["sampler"] != c.Stage || obj["num_samples"] != 50.0 || !strings.Contains(obj["model"].(string), strings.ToUpper(c.Stage)) {
			t.Errorf("%s: sampler %v, num_samples %v, model %v", c.Stage, obj["sampler"], obj["num_samples"], obj["model"])
		}
		if c.IsVAE() && !strings.Contains(obj["sampler_desc"].(string), "p(x|z)") {
			t.Errorf("--decoder-noise not described: %v", obj["sampler_desc"])
		}
		// The same seed gives the same samples.
		again := filepath.Join(dir, "again")
		if out, err := sample(argsTo(again)...); err != nil {
			t.Fatalf("%s again: %v\n%s", c.Stage, err, out)
		}
		if b, _ := os.ReadFile(again + ".csv"); string(b) != string(csv) {
			t.Errorf("%s: the same --seed gave other samples", c.Stage)
		}
		// Flags that do not apply are refused, naming them, and nothing is written.
		bad := filepath.Join(dir, "bad")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--sampler", "ddim"}, "--sampler: not for"},
			{[]string{"--guidance", "2", "--sample-steps", "5"}, "--guidance, --sample-steps"},
			{[]string{"--class", "1"}, "--class"},
			{[]string{"--batch-size", "10"}, "--batch-size"},
		} {
			_, err := sample(append([]string{"--model-path", dir, "--num-samples", "5", "--out", bad}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), strings.ToUpper(c.Stage)) {
				t.Errorf("%s %v: %v, want an error naming %q and the %s", c.Stage, tc.args, err, tc.want, strings.ToUpper(c.Stage))
			}
			if _, serr := os.Stat(bad + ".csv"); serr == nil {
				t.Fatalf("%s %v: wrote %s.csv", c.Stage, tc.args, bad)
			}
		}
		if c.IsGAN() {
			if _, err := sample("--model-path", dir, "--num-samples", "5", "--out", bad, "--decoder-noise"); err == nil || !strings.Contains(err.Error(), "--decoder-noise") {
				t.Errorf("GAN --decoder-noise: %v", err)
			}
		}
	}
	// --decoder-noise on a diffusion checkpoint is refused.
	dir := t.TempDir()
	trainTiny(t, dir)
	if _, err := sample("--model-path", dir, "--num-samples", "5", "--out", filepath.Join(dir, "x"), "--decoder-noise"); err == nil || !strings.Contains(err.Error(), "VAE") {
		t.Errorf("--decoder-noise on a diffusion model: %v", err)
	}
}

// sampleStdout runs sample --quiet and returns its stdout (stderr follows
// it only on error).
func sampleStdout(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(append(args, "--quiet"), &out, &errb)
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// TestSampleBaselineImages samples a conv VAE and GAN trained for one step
// on 64 MNIST images: a PNG grid of 4 images, 2 a row.
func TestSampleBaselineImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles conv networks")
	}
	for _, c := range []experiment.Config{experiment.DefaultVAE("mnist"), experiment.DefaultGAN("mnist")} {
		c.TrainImages = 64
		dir := t.TempDir()
		cmdtest.Train(t, backendForTest(t), c, dir, 1, 4)
		base := filepath.Join(dir, "grid")
		out, err := sampleStdout("--model-path", dir, "--num-samples", "4", "--out", base+".png", "--json")
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.Stage, err, out)
		}
		if st, err := os.Stat(base + ".png"); err != nil || st.Size() == 0 {
			t.Errorf("%s: no grid: %v", c.Stage, err)
		}
		if obj := cmdtest.LastJSON(t, out); obj["grid_columns"] != 2.0 {
			t.Errorf("%s: grid_columns %v, want 2", c.Stage, obj["grid_columns"])
		}
	}
}
