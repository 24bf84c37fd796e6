package experiment

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/latent"
)

// TestLatentValidate: configurations of the autoencoder stage and of latent
// models that cannot work are refused, naming what is wrong.
func TestLatentValidate(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	lat := func(f func(*Config)) Config {
		c := DefaultImages("mnist")
		c.UNet = LatentUNet
		c.Latent, c.AutoencoderSHA256, c.LatentScale = "out/ae", sum, 1.2
		c.Autoencoder = new(latent.Config{}.WithDefaults())
		if f != nil {
			f(&c)
		}
		return c
	}
	ae := func(f func(*Config)) Config {
		c := DefaultAutoencoder("mnist")
		f(&c)
		return c
	}
	if err := lat(nil).Validate(); err != nil {
		t.Fatalf("a good latent configuration refused: %v", err)
	}
	if err := DefaultAutoencoder("fashion-mnist").Validate(); err != nil {
		t.Fatalf("a good autoencoder configuration refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"colour autoencoder on mnist", ae(func(c *Config) { c.Autoencoder = &latent.Config{ImageSize: 64, InChannels: 3} }), "takes 64×64×3 images but mnist has 28×28×1"},
		{"latent model whose autoencoder does not fit", lat(func(c *Config) { c.Autoencoder = &latent.Config{ImageSize: 64, InChannels: 3} }), "64×64×3"},
		{"autoencoder with diffusion fields", ae(func(c *Config) { c.Timesteps, c.ClassCond = 1000, true }), "class_cond, timesteps"},
		{"autoencoder on 2-D data", ae(func(c *Config) { c.Dataset = "moons" }), "not an image dataset"},
		{"autoencoder without architecture", ae(func(c *Config) { c.Autoencoder = nil }), "architecture"},
		{"unknown stage", lat(func(c *Config) { c.Stage = "diffusion-gan" }), "unknown stage"},
		{"bad hash", lat(func(c *Config) { c.AutoencoderSHA256 = "abc" }), "SHA-256"},
		{"no scale", lat(func(c *Config) { c.LatentScale = 0 }), "scale factor"},
		{"score objective", lat(func(c *Config) { *c = c.WithScore("vp") }), "DDPM objective"},
		{"mlp", lat(func(c *Config) { c.Model = "mlp" }), "UNet"},
		{"autoencoder fields on a pixel model", func() Config { c := DefaultImages("mnist"); c.LatentScale = 2; return c }(), "without an autoencoder"},
		{"negative train_images", lat(func(c *Config) { c.TrainImages = -1 }), "train_images"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if d := lat(nil).DataDims(); len(d) != 3 || d[0] != 7 || d[1] != 7 || d[2] != 4 {
		t.Errorf("latent DataDims %v, want [7 7 4]", d)
	}
	if d := lat(nil).ImageDims(); d[0] != 28 || d[2] != 1 {
		t.Errorf("latent ImageDims %v, want [28 28 1]", d)
	}
	if lat(nil).ClipX0() {
		t.Errorf("a latent model clips x̂₀ (latents are not in [−1, 1])")
	}
}

// TestLatentCache: the cache serves a prefix of what it holds, for the
// autoencoder and dataset it was written for only.
func TestLatentCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), LatentCacheName)
	dims := []int{2, 2, 1}
	v := make([]float32, 3*4)
	for i := range v {
		v[i] = float32(i)
	}
	sum := strings.Repeat("0", 64)
	if err := writeLatentCache(path, sum, "mnist", dims, v, 3); err != nil {
		t.Fatal(err)
	}
	got, err := readLatentCache(path, sum, "mnist", 2, dims)
	if err != nil || len(got) != 8 || got[7] != 7 {
		t.Errorf("prefix of 2: %v, %v", got, err)
	}
	for _, tc := range []struct {
		sum, dataset string
		n            int
	}{
		{strings.Repeat("1", 64), "mnist", 3},
		{sum, "fashion-mnist", 3},
		{sum, "mnist", 4},
	} {
		if got, err := readLatentCache(path, tc.sum, tc.dataset, tc.n, dims); err != nil || got != nil {
			t.Errorf("%+v: got %v, %v; want a miss", tc, got, err)
		}
	}
	if got, err := readLatentCache(filepath.Join(t.TempDir(), "none"), sum, "mnist", 1, dims); err != nil || got != nil {
		t.Errorf("missing cache: %v, %v", got, err)
	}
}
