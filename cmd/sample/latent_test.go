package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/latent"
)

// TestSampleLatent samples a latent model from its folder: the grid holds
// decoded 28×28 images (not 7×7 latents); a bundle without its folder
// samples the same images; the autoencoder itself is refused; and once the
// autoencoder file changes, the folder form is refused naming both hashes
// while the bundle still samples.
func TestSampleLatent(t *testing.T) {
	dir := t.TempDir()
	ae, ldm := cmdtest.LatentPair(t, backendForTest(t), dir, false)
	grid := filepath.Join(dir, "grid.png")
	out, err := sample("--model-path", ldm, "--num-samples", "4", "--sampler", "ddim", "--sample-steps", "5", "--out", grid)
	if err != nil {
		t.Fatalf("sample: %v\n%s", err, out)
	}
	if !strings.Contains(out, "latent DDPM model") {
		t.Errorf("the output does not say the model is latent:\n%s", out)
	}
	f, err := os.Open(grid)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// 2×2 images of 28 pixels with 2-pixel gaps, upscaled ×2: (2·28+3·2)·2 = 124.
	if w := img.Bounds().Dx(); w != 124 {
		t.Errorf("grid %d pixels wide, want 124 (four decoded 28×28 images)", w)
	}
	if _, err := sample("--model-path", ae, "--out", filepath.Join(dir, "ae.png")); err == nil || !strings.Contains(err.Error(), "autoencoder") {
		t.Errorf("sampling an autoencoder: %v", err)
	}
	if _, err := sample("--model-path", ldm, "--sampler", "ddim", "--clip", "--out", filepath.Join(dir, "clip.png")); err == nil || !strings.Contains(err.Error(), "latent") {
		t.Errorf("--clip on a latent model: %v", err)
	}

	bundlePath := filepath.Join(dir, "bundle.ckpt")
	cmdtest.WriteBundle(t, ldm, bundlePath)
	aeFile := filepath.Join(ae, "model.ckpt")
	want, _ := latent.FileSHA256(aeFile)
	if err := os.WriteFile(aeFile, []byte("another autoencoder"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := latent.FileSHA256(aeFile)
	_, err = sample("--model-path", ldm, "--num-samples", "4", "--sampler", "ddim", "--sample-steps", "5", "--out", filepath.Join(dir, "bad.png"))
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), got) {
		t.Errorf("sampling with another autoencoder: %v, want an error naming %s and %s", err, want, got)
	}
	if _, serr := os.Stat(filepath.Join(dir, "bad.png")); serr == nil {
		t.Errorf("the refused run wrote its grid")
	}
	grid2 := filepath.Join(dir, "grid2.png")
	if out, err := sample("--model-path", bundlePath, "--num-samples", "4", "--sampler", "ddim", "--sample-steps", "5", "--out", grid2); err != nil {
		t.Fatalf("sampling the bundle: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(grid)
	b, _ := os.ReadFile(grid2)
	if string(a) != string(b) {
		t.Errorf("the bundle's samples differ from the folder's (same seed, same EMA weights)")
	}
}
