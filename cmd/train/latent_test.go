package main

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// aeFlags train a tiny autoencoder on 64 MNIST images.
var aeFlags = []string{"--dataset", "mnist", "--stage", "autoencoder", "--batch-size", "8", "--train-images", "64", "--quiet"}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestLatentPipeline runs the commands of latent diffusion end to end: an
// autoencoder (its scale factor measured: s·μ of the cached latents has
// unit variance, recomputed here from the cache), a latent model on it that
// records the autoencoder's SHA-256, a resume, the export of a bundle, and
// the refusal to resume once another autoencoder sits in the folder.
func TestLatentPipeline(t *testing.T) {
	dir := t.TempDir()
	ae := filepath.Join(dir, "ae")
	out, err := train(t, append([]string{"--steps", "3", "--out", ae}, aeFlags...)...)
	if err != nil {
		t.Fatalf("autoencoder: %v\n%s", err, out)
	}
	for _, want := range []string{"mse ", "kl ", "latent scale factor"} {
		if !strings.Contains(out, want) {
			t.Errorf("the autoencoder's output lacks %q:\n%s", want, out)
		}
	}
	ck, err := diffusion.ReadCheckpoint(filepath.Join(ae, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	c, err := experiment.FromJSON(ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsAutoencoder() || c.LatentScale <= 0 {
		t.Fatalf("autoencoder checkpoint: stage %q, scale %v", c.Stage, c.LatentScale)
	}
	cache, err := diffusion.ReadCheckpoint(filepath.Join(ae, experiment.LatentCacheName))
	if err != nil {
		t.Fatal(err)
	}
	var lat *tensors.Tensor
	for _, v := range cache.Variables {
		lat = v
	}
	if got := lat.Shape().Dimensions; len(got) != 4 || got[0] != 64 || got[1] != 7 || got[2] != 7 || got[3] != 4 {
		t.Fatalf("latent cache shaped %v, want [64 7 7 4]", got)
	}
	var sum, sq float64
	mu := tensors.MustCopyFlatData[float32](lat)
	for _, v := range mu {
		sum += float64(v)
	}
	mean := sum / float64(len(mu))
	for _, v := range mu {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	if std := math.Sqrt(sq / float64(len(mu))); math.Abs(c.LatentScale*std-1) > 1e-4 {
		t.Errorf("scale %v × std of the cached latents %v = %v, want 1", c.LatentScale, std, c.LatentScale*std)
	}

	ldm := filepath.Join(dir, "ldm")
	bundle := filepath.Join(dir, "bundle.ckpt")
	ldmArgs := []string{"--dataset", "mnist", "--latent", ae, "--class-cond", "--timesteps", "50", "--batch-size", "8", "--train-images", "64", "--quiet", "--out", ldm}
	if out, err := train(t, append(ldmArgs, "--steps", "2")...); err != nil {
		t.Fatalf("latent model: %v\n%s", err, out)
	}
	ck, err = diffusion.ReadCheckpoint(filepath.Join(ldm, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := experiment.FromJSON(ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileSHA(t, filepath.Join(ae, CheckpointName)); lc.AutoencoderSHA256 != want {
		t.Errorf("the latent model recorded SHA-256 %s, the autoencoder's is %s", lc.AutoencoderSHA256, want)
	}
	if d := lc.DataDims(); len(d) != 3 || d[0] != 7 || d[2] != 4 || lc.LatentScale != c.LatentScale {
		t.Errorf("latent model: dims %v, scale %v (autoencoder's %v)", d, lc.LatentScale, c.LatentScale)
	}
	if out, err := train(t, "--out", ldm, "--resume", "--steps", "3", "--export", bundle, "--quiet"); err != nil {
		t.Fatalf("resume and export: %v\n%s", err, out)
	}
	b, err := diffusion.ReadCheckpoint(bundle)
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := experiment.FromJSON(b.Config)
	nAE := 0
	for path := range b.Variables {
		if strings.HasPrefix(path, "/"+experiment.BundleScope+"/") {
			nAE++
		}
	}
	if !bc.AutoencoderBundled || nAE == 0 || b.Step != 3 {
		t.Errorf("bundle: bundled %v, %d autoencoder tensors, step %d", bc.AutoencoderBundled, nAE, b.Step)
	}

	// Another autoencoder in the folder: resuming is refused, naming both hashes.
	other := filepath.Join(dir, "other")
	if out, err := train(t, append([]string{"--steps", "3", "--seed", "7", "--out", other}, aeFlags...)...); err != nil {
		t.Fatalf("second autoencoder: %v\n%s", err, out)
	}
	want, got := fileSHA(t, filepath.Join(ae, CheckpointName)), fileSHA(t, filepath.Join(other, CheckpointName))
	data, _ := os.ReadFile(filepath.Join(other, CheckpointName))
	if err := os.WriteFile(filepath.Join(ae, CheckpointName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(ldm, CheckpointName))
	_, err = train(t, "--out", ldm, "--resume", "--steps", "4", "--quiet")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), got) {
		t.Errorf("resume with another autoencoder: %v, want an error naming %s and %s", err, want, got)
	}
	after, _ := os.ReadFile(filepath.Join(ldm, CheckpointName))
	if string(before) != string(after) {
		t.Errorf("the refused resume changed the checkpoint")
	}
}

// TestLatentBadInput: each bad combination is refused with a message
// naming the problem, and nothing is written.
func TestLatentBadInput(t *testing.T) {
	dir := t.TempDir()
	pixel := filepath.Join(dir, "pixel")
	if out, err := train(t, "--dataset", "mnist", "--timesteps", "50", "--steps", "1", "--batch-size", "4", "--out", pixel, "--quiet"); err != nil {
		t.Fatalf("pixel model: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "mnist", "--latent", filepath.Join(dir, "nothing")}, "missing"},
		{[]string{"--dataset", "mnist", "--latent", pixel}, "not an autoencoder"},
		{[]string{"--dataset", "gaussians8", "--stage", "autoencoder"}, "not an image dataset"},
		{[]string{"--dataset", "mnist", "--stage", "autoencoder", "--timesteps", "50"}, "--timesteps"},
		{[]string{"--dataset", "mnist", "--stage", "autoencoder", "--class-cond"}, "--class-cond"},
		{[]string{"--dataset", "mnist", "--stage", "diffusion-gan"}, "the stages are"},
		{[]string{"--dataset", "mnist", "--kl-weight", "0.1"}, "--stage autoencoder only"},
		{[]string{"--dataset", "mnist", "--stage", "autoencoder", "--latent", pixel}, "--latent"},
		{[]string{"--dataset", "mnist", "--stage", "autoencoder", "--export", filepath.Join(dir, "x.ckpt")}, "--export"},
		{[]string{"--dataset", "mnist", "--stage", "autoencoder", "--train-images", "70000"}, "train_images"},
		{[]string{"--dataset", "moons", "--train-images", "10"}, "train_images"},
	} {
		out := filepath.Join(dir, "out")
		_, err := train(t, append(tc.args, "--steps", "1", "--out", out, "--quiet")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if _, serr := os.Stat(filepath.Join(out, CheckpointName)); serr == nil {
			t.Errorf("%v: a checkpoint was written", tc.args)
			os.RemoveAll(out)
		}
	}
}
