package experiment

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/gan"
	"github.com/godiffusion/diffusion-models/vae"
)

// TestBaselineDefaults: the defaults of VAE and GAN runs are valid on the
// 2-D sets and on mnist and fashion-mnist, with the kind and shape of the
// data, and survive JSON and FromJSON unchanged; the GAN's Adam betas are
// recorded.
func TestBaselineDefaults(t *testing.T) {
	for _, ds := range []string{"gaussians8", "moons", "swissroll", "mnist", "fashion-mnist"} {
		for _, c := range []Config{DefaultVAE(ds), DefaultGAN(ds)} {
			if err := c.Validate(); err != nil {
				t.Errorf("%s %s: default refused: %v", c.Stage, ds, err)
				continue
			}
			kind := "mlp"
			if IsImageDataset(ds) {
				kind = "conv"
			}
			var got string
			if c.IsVAE() {
				got = c.VAE.Kind
			} else {
				got = c.GAN.Kind
			}
			if got != kind {
				t.Errorf("%s %s: kind %q, want %q", c.Stage, ds, got, kind)
			}
			back, err := FromJSON(c.JSON())
			if err != nil || len(Diff(c, back)) != 0 {
				t.Errorf("%s %s: JSON round trip: %v, diff %v", c.Stage, ds, err, Diff(c, back))
			}
			if !c.IsBaseline() || c.IsAutoencoder() || c.IsLatent() || c.IsText() || c.IsScore() {
				t.Errorf("%s %s: predicates wrong", c.Stage, ds)
			}
		}
	}
	g := DefaultGAN("gaussians8")
	if tc := g.trainConfig(); tc.Beta1 != 0.5 || tc.Beta2 != 0.99 {
		t.Errorf("GAN Adam betas %g, %g; want 0.5, 0.99", tc.Beta1, tc.Beta2)
	}
	// A diffusion configuration's JSON does not mention the new fields.
	for _, k := range []string{`"vae"`, `"gan"`, `"beta1"`, `"beta2"`} {
		if strings.Contains(string(Default2D("moons").JSON()), k) {
			t.Errorf("a diffusion configuration's JSON holds %s", k)
		}
	}
}

// TestBaselineValidate: VAE and GAN runs that cannot work are refused,
// naming what is wrong.
func TestBaselineValidate(t *testing.T) {
	mod := func(c Config, f func(*Config)) Config {
		f(&c)
		return c
	}
	v, g := DefaultVAE("gaussians8"), DefaultGAN("moons")
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"GAN on colour emoji", DefaultGAN("emoji"), "64×64×3"},
		{"VAE on colour emoji-32", DefaultVAE("emoji-32"), "32×32×3"},
		{"unknown dataset", DefaultVAE("spirals"), `unknown dataset "spirals"`},
		{"no architecture", mod(v, func(c *Config) { c.VAE = nil }), "architecture (vae)"},
		{"no GAN architecture", mod(g, func(c *Config) { c.GAN = nil }), "architecture (gan)"},
		{"conv VAE on 2-D data", mod(v, func(c *Config) { c.VAE = &vae.Config{Kind: vae.KindConv} }), "takes examples shaped [28 28 1]"},
		{"mlp GAN on mnist", mod(DefaultGAN("mnist"), func(c *Config) { c.GAN = &gan.Config{} }), `use kind "conv"`},
		{"bad architecture", mod(g, func(c *Config) { c.GAN = &gan.Config{R1Gamma: -1} }), "R1Gamma"},
		{"diffusion fields", mod(v, func(c *Config) { c.Timesteps, c.Model = 1000, "mlp" }), "model, timesteps"},
		{"both architectures", mod(v, func(c *Config) { c.GAN = &gan.Config{} }), "gan: settings a VAE run does not use"},
		{"class_cond", mod(g, func(c *Config) { c.ClassCond = true }), "class_cond"},
		{"batch", mod(g, func(c *Config) { c.BatchSize = 0 }), "batch size"},
		{"beta", mod(g, func(c *Config) { c.Beta1 = 1 }), "betas"},
		{"train_images on 2-D", mod(v, func(c *Config) { c.TrainImages = 10 }), "train_images"},
		{"vae on a diffusion run", mod(Default2D("moons"), func(c *Config) { c.VAE = &vae.Config{} }), "without their stage"},
		{"vae on an autoencoder", mod(DefaultAutoencoder("mnist"), func(c *Config) { c.VAE = &vae.Config{} }), "vae"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	bad := mod(g, func(c *Config) { c.BatchSize = 0 })
	if _, err := LoadOrTrain(backend.MustShared(), bad, 1, t.TempDir(), nil, nil); err == nil || !strings.Contains(err.Error(), "batch size") {
		t.Errorf("LoadOrTrain of an invalid GAN: %v", err)
	}
}

// TestBaselineLoadOrTrain: LoadOrTrain trains a VAE and a GAN, says so,
// caches them, and the second call loads the same checkpoint (it says so
// too) whose samples equal the first's; Model refuses them (no denoiser).
func TestBaselineLoadOrTrain(t *testing.T) {
	b := backend.MustShared()
	dir := t.TempDir()
	for _, c := range []Config{DefaultVAE("moons"), DefaultGAN("gaussians8")} {
		c.BatchSize = 8
		var log strings.Builder
		first, err := LoadOrTrain(b, c, 3, dir, &log, nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := LoadOrTrain(b, c, 3, dir, &log, nil)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "trained model") || !strings.HasPrefix(lines[1], "loaded cached model") ||
			!strings.Contains(lines[0], strings.ToUpper(c.Stage)) {
			t.Errorf("%s: log %q", c.Stage, log.String())
		}
		if first.Loaded || !again.Loaded || again.Checkpoint.Step != 3 {
			t.Errorf("%s: loaded %v then %v at step %d", c.Stage, first.Loaded, again.Loaded, again.Checkpoint.Step)
		}
		x, err := first.Generate(b, 5, GenerateOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		y, err := again.Generate(b, 5, GenerateOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x, y) || len(x) != 10 {
			t.Errorf("%s: samples of the trained and the cached model differ: %v vs %v", c.Stage, x, y)
		}
		if _, _, err := again.Model(); err == nil {
			t.Errorf("%s: Model (a diffusion sampling model) accepted", c.Stage)
		}
	}
}

// TestBaselineTrainAndGenerate trains a VAE and a GAN on gaussians8 for a
// few steps through NewTrainer and Data, checkpoints them, resumes the
// VAE's run to the same weights as the uninterrupted run, and draws
// finite samples of the data's shape from both (Generate).
func TestBaselineTrainAndGenerate(t *testing.T) {
	b := backend.MustShared()
	for _, c := range []Config{DefaultVAE("gaussians8"), DefaultGAN("gaussians8")} {
		c.BatchSize = 16
		data, err := c.TrainingData(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		full, err := c.NewTrainer(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := full.Run(data, diffusion.RunOptions{Steps: 4, BatchSize: c.BatchSize}); err != nil {
			t.Fatal(err)
		}
		if got := len(full.TermNames()); got != 2 && got != 3 {
			t.Errorf("%s: %d terms", c.Stage, got)
		}
		path := filepath.Join(t.TempDir(), "model.ckpt")
		first, _ := c.NewTrainer(b)
		if err := first.Run(data, diffusion.RunOptions{Steps: 2, BatchSize: c.BatchSize, CheckpointPath: path, Config: c.JSON()}); err != nil {
			t.Fatal(err)
		}
		ck, err := diffusion.ReadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		second, _ := c.NewTrainer(b)
		if err := second.Restore(ck); err != nil {
			t.Fatal(err)
		}
		if err := second.Run(data, diffusion.RunOptions{Steps: 4, BatchSize: c.BatchSize}); err != nil {
			t.Fatal(err)
		}
		if a, z := full.Losses(), second.Losses(); a[3] != z[3] {
			t.Errorf("%s: resumed run's last loss %v, uninterrupted %v", c.Stage, z[3], a[3])
		}
		ck, err = diffusion.ReadCheckpoint(path) // Restore took the tensors of the first read
		if err != nil {
			t.Fatal(err)
		}
		store, err := diffusion.SamplingStore(ck, true)
		if err != nil {
			t.Fatal(err)
		}
		x, err := c.Generate(b, store, 7, GenerateOptions{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(x) != 14 {
			t.Fatalf("%s: %d values, want 14", c.Stage, len(x))
		}
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: sample value %v", c.Stage, v)
			}
		}
		if c.IsGAN() {
			if _, err := c.Generate(b, store, 1, GenerateOptions{DecoderNoise: true}); err == nil {
				t.Errorf("GAN with decoder noise accepted")
			}
		}
	}
	if _, err := Default2D("moons").Generate(b, nil, 1, GenerateOptions{}); err == nil {
		t.Errorf("Generate of a diffusion configuration accepted")
	}
}
