package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// trainTiny writes a small checkpoint with the library (not the train command).
func trainTiny(t *testing.T, dir string) string {
	t.Helper()
	c := experiment.Default2D("gaussians8")
	c.Timesteps = 50
	c.MLP.Hidden, c.MLP.Blocks = 16, 1
	return cmdtest.Train(t, backendForTest(t), c, dir, 10, 16)
}

func sample(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(append(args, "--quiet"), &out, &errb)
	return out.String() + errb.String(), err
}

func TestSampleWritesCSVAndPNG(t *testing.T) {
	dir := t.TempDir()
	trainTiny(t, dir)
	for _, sampler := range []string{"ddpm", "ddim"} {
		base := filepath.Join(dir, "s-"+sampler)
		out, err := sample("--model-path", dir, "--num-samples", "100", "--sampler", sampler, "--sample-steps", "10", "--out", base)
		if err != nil {
			t.Fatalf("%s: %v\n%s", sampler, err, out)
		}
		csv, err := os.ReadFile(base + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
		if lines[0] != "x,y" || len(lines) != 101 {
			t.Errorf("%s: CSV starts %q and has %d lines, want header x,y and 100 samples", sampler, lines[0], len(lines)-1)
		}
		if st, err := os.Stat(base + ".png"); err != nil || st.Size() == 0 {
			t.Errorf("%s: no scatter plot: %v", sampler, err)
		}
		if !strings.Contains(out, "mode shares") || !strings.Contains(out, "NLL") {
			t.Errorf("%s: output lacks the quality figures:\n%s", sampler, out)
		}
	}
}

func TestSampleBadInput(t *testing.T) {
	dir := t.TempDir()
	ckpt := trainTiny(t, dir)
	corrupt := filepath.Join(dir, "corrupt.ckpt")
	raw, _ := os.ReadFile(ckpt)
	raw[len(raw)/3] ^= 1
	os.WriteFile(corrupt, raw, 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--model-path", dir, "--sampler", "euler"}, "euler"},
		{[]string{"--model-path", filepath.Join(dir, "nothing")}, "no checkpoint"},
		{[]string{"--model-path", corrupt}, "not a valid checkpoint"},
		{[]string{"--model-path", dir, "--num-samples", "0"}, "--num-samples"},
		{[]string{"--model-path", dir, "--eta", "-1"}, "--eta"},
		{[]string{"--model-path", dir, "--eta", "1.5"}, "--eta"},
		{[]string{"--model-path", dir, "--sampler", "ddim", "--sample-steps", "500"}, "500"},
		{[]string{"--model-path", dir, "--variance", "learned"}, "learn"},
		{[]string{"--model-path", dir, "--spacing", "random"}, "random"},
		{[]string{"--model-path", dir, "--num-samples", "100000000"}, "try --batch-size"},
		{[]string{"--model-path", dir, "--num-samples", "2000000000"}, "--num-samples 2000000000: at most"},
	}
	for _, c := range cases {
		base := filepath.Join(t.TempDir(), "out")
		_, err := sample(append(c.args, "--out", base)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
		for _, ext := range []string{".csv", ".png"} {
			if _, err := os.Stat(base + ext); err == nil {
				t.Errorf("%v: %s written despite the error", c.args, ext)
			}
		}
	}
}

// TestSampleImages writes a grid of 4 images from a two-step UNet.
func TestSampleImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a UNet")
	}
	dir := t.TempDir()
	c := experiment.DefaultImages("mnist")
	c.Timesteps = 50
	cmdtest.Train(t, backendForTest(t), c, dir, 2, 8)
	out, err := sample("--model-path", dir, "--num-samples", "4", "--sampler", "ddim", "--sample-steps", "3", "--out", filepath.Join(dir, "grid.png"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(dir, "grid.png")); err != nil || st.Size() == 0 {
		t.Errorf("no grid: %v", err)
	}
	if !strings.Contains(out, "4 images, 2 a row") {
		t.Errorf("output %q", out)
	}
}

// TestSampleImagesClassMajor samples a two-step class-conditional UNet:
// with 20 samples of 10 classes the grid is 2 images wide, one class a row
// (class-major labels), and with 7 samples, which 10 does not divide, the
// labels cycle and the grid is ⌈√7⌉ = 3 wide. Guidance runs the doubled
// batch.
func TestSampleImagesClassMajor(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a UNet")
	}
	dir := t.TempDir()
	c := experiment.DefaultImages("mnist")
	c.Timesteps, c.ClassCond, c.PUncond = 50, true, 0.1
	cmdtest.Train(t, backendForTest(t), c, dir, 2, 8)
	for _, tc := range []struct {
		n, cols int
		order   string
		args    []string
		line    string
	}{
		{20, 2, "class-major", []string{"--guidance", "2"}, "20 images, 2 a row; row r holds class r"},
		{7, 3, "cycled", nil, "7 images, 3 a row)"},
	} {
		grid := filepath.Join(t.TempDir(), "grid.png")
		out, obj := sampleJSON(t, append([]string{"--model-path", dir, "--num-samples", strconv.Itoa(tc.n), "--sampler", "dpm++2m", "--sample-steps", "2", "--out", grid}, tc.args...)...)
		if st, err := os.Stat(grid); err != nil || st.Size() == 0 {
			t.Errorf("no grid: %v", err)
		}
		if !strings.Contains(out, tc.line) {
			t.Errorf("output lacks %q:\n%s", tc.line, out)
		}
		if obj["label_order"] != tc.order || cmdtest.Num(t, obj, "grid_columns") != float64(tc.cols) || cmdtest.Num(t, obj, "classes") != 10 || cmdtest.Num(t, obj, "nfe") != 2 {
			t.Errorf("JSON %v, want label_order %s, grid_columns %d, classes 10, nfe 2", obj, tc.order, tc.cols)
		}
	}
}
