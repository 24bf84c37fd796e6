// Package cmdtest writes the small checkpoints that the commands' tests
// sample and evaluate.
package cmdtest

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// Train trains c on backend b for steps steps on batches of batch and
// writes the checkpoint dir/model.ckpt, whose path it returns.
func Train(tb testing.TB, b compute.Backend, c experiment.Config, dir string, steps int64, batch int) string {
	tb.Helper()
	tr, err := c.NewTrainer(b)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := c.TrainingData(b, nil)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "model.ckpt")
	if err := tr.Run(data, diffusion.RunOptions{Steps: steps, BatchSize: batch, CheckpointPath: path, Config: c.JSON()}); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ZeroWeights rewrites the checkpoint at path with every floating-point
// variable set to zero, so that the network's output (hence ε̂ and the
// score) is identically 0: a model whose samples and likelihoods have
// closed forms.
func ZeroWeights(tb testing.TB, path string) {
	tb.Helper()
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		tb.Fatal(err)
	}
	for name, v := range ck.Variables {
		if v.DType().IsFloat() {
			ck.Variables[name] = tensors.FromShape(v.Shape())
		}
	}
	if err := diffusion.WriteCheckpoint(path, ck); err != nil {
		tb.Fatal(err)
	}
}

// LastJSON parses the last line of a command's stdout as the JSON object
// that --json prints there.
func LastJSON(tb testing.TB, out string) map[string]any {
	tb.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var obj map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &obj); err != nil {
		tb.Fatalf("the last line is not a JSON object: %v\n%s", err, out)
	}
	return obj
}

// Num returns obj[key] as a number, failing the test when it is not one.
func Num(tb testing.TB, obj map[string]any, key string) float64 {
	tb.Helper()
	v, ok := obj[key].(float64)
	if !ok {
		tb.Fatalf("JSON %s = %v (%T), want a number", key, obj[key], obj[key])
	}
	return v
}

// LatentImages is the number of MNIST training images the latent fixtures
// of [LatentPair] train and encode.
const LatentImages = 64

// LatentPair trains, on backend b, a tiny MNIST autoencoder (3 steps) in
// dir/ae, finishes it (scale factor, latent cache), and a latent diffusion
// model on it (2 steps, class-conditional when classCond) in dir/ldm; it
// returns the two folders. Both train on the first LatentImages images.
func LatentPair(tb testing.TB, b compute.Backend, dir string, classCond bool) (aeDir, ldmDir string) {
	tb.Helper()
	aeDir, ldmDir = filepath.Join(dir, "ae"), filepath.Join(dir, "ldm")
	ae := experiment.DefaultAutoencoder("mnist")
	ae.TrainImages = LatentImages
	aePath := Train(tb, b, ae, aeDir, 3, 8)
	if _, err := experiment.FinishAutoencoder(b, aePath, nil); err != nil {
		tb.Fatal(err)
	}
	c, err := experiment.NewLatent("mnist", aeDir)
	if err != nil {
		tb.Fatal(err)
	}
	c.TrainImages, c.Timesteps = LatentImages, 50
	if classCond {
		c.ClassCond, c.PUncond = true, 0.1
	}
	Train(tb, b, c, ldmDir, 2, 8)
	return aeDir, ldmDir
}

// WriteBundle writes to path the bundle (experiment.Bundle) of the latent
// model in dir: the form cmd/train --export writes.
func WriteBundle(tb testing.TB, dir, path string) {
	tb.Helper()
	ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, "model.ckpt"))
	if err != nil {
		tb.Fatal(err)
	}
	bundle, err := experiment.Bundle(ck)
	if err != nil {
		tb.Fatal(err)
	}
	if err := diffusion.WriteCheckpoint(path, bundle); err != nil {
		tb.Fatal(err)
	}
}

// TextModel trains, on backend b, the three parts of a tiny
// text-conditional MNIST model on the first LatentImages training images:
// a mini-CLIP (3 steps) in dir/clip, an autoencoder (3 steps, finished:
// scale factor and latent cache) in dir/ae, and a text-conditional latent
// model on both (2 steps, T = 50) in dir/ldm; it returns the three folders.
func TextModel(tb testing.TB, b compute.Backend, dir string) (clipDir, aeDir, ldmDir string) {
	tb.Helper()
	clipDir, aeDir, ldmDir = filepath.Join(dir, "clip"), filepath.Join(dir, "ae"), filepath.Join(dir, "ldm")
	cl, err := experiment.DefaultCLIP("mnist")
	if err != nil {
		tb.Fatal(err)
	}
	cl.TrainImages, cl.BatchSize = LatentImages, 8
	Train(tb, b, cl, clipDir, 3, 8)
	ae := experiment.DefaultAutoencoder("mnist")
	ae.TrainImages = LatentImages
	aePath := Train(tb, b, ae, aeDir, 3, 8)
	if _, err := experiment.FinishAutoencoder(b, aePath, nil); err != nil {
		tb.Fatal(err)
	}
	c, err := experiment.NewText("mnist", aeDir, clipDir)
	if err != nil {
		tb.Fatal(err)
	}
	c.TrainImages, c.Timesteps, c.BatchSize = LatentImages, 50, 8
	Train(tb, b, c, ldmDir, 2, 8)
	return clipDir, aeDir, ldmDir
}
