package experiment

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// TestEfficiencyKeysUnchanged: configurations that do not set Precision,
// GradCheckpoint or EMADecays keep their JSON form and cache keys. The keys
// were computed by the code of commit c1585c1, before these fields (and
// unet.MLPConfig.GradCheckpoint, whose JSON name would have changed every
// key had it not been omitted when false) existed, from a copy made with
// git archive; the JSON must hold none of the new names, at the top or
// inside "mlp".
func TestEfficiencyKeysUnchanged(t *testing.T) {
	cc := Default2D("gaussians8")
	cc.ClassCond, cc.PUncond = true, 0.1
	for _, tc := range []struct {
		name string
		c    Config
		key  string
	}{
		{"Default2D(gaussians8)", Default2D("gaussians8"), "3cfdc03a8e16"},
		{"DefaultImages(mnist)", DefaultImages("mnist"), "a7f0d6f07ff6"},
		{"Default2D(moons).WithScore(vp)", Default2D("moons").WithScore(""), "fb881923937b"},
		{"class-cond gaussians8", cc, "4c27c5535ff8"},
		{"DefaultVAE(gaussians8)", DefaultVAE("gaussians8"), "4a02a8f36d7c"},
		{"DefaultGAN(mnist)", DefaultGAN("mnist"), "e84b76f7893d"},
		{"DefaultAutoencoder(mnist)", DefaultAutoencoder("mnist"), "5acdb7b5ba8a"},
	} {
		if got := Key(tc.c, 1000); got != tc.key {
			t.Errorf("%s: key %s, want %s (the key before mixed precision, checkpointing and extra EMAs)", tc.name, got, tc.key)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(tc.c.JSON(), &top); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"precision", "grad_checkpoint", "ema_decays"} {
			if _, ok := top[name]; ok {
				t.Errorf("%s: the JSON holds %q", tc.name, name)
			}
		}
		if strings.Contains(string(top["mlp"]), "GradCheckpoint") {
			t.Errorf("%s: the JSON's mlp holds GradCheckpoint: %s", tc.name, top["mlp"])
		}
	}
}

// TestEfficiencyConfig: the new fields survive the JSON round trip, change
// the cache key, reach the trainer's configuration (Precision, EMADecays)
// and the networks (GradCheckpoint, for the MLP and the UNet, DDPM and
// score), and Diff names them.
func TestEfficiencyConfig(t *testing.T) {
	base := Default2D("gaussians8")
	c := base
	c.Precision, c.GradCheckpoint, c.EMADecays = diffusion.PrecisionBF16, true, []float64{0.9, 0.9999}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	js := string(c.JSON())
	for _, want := range []string{`"precision": "bf16"`, `"grad_checkpoint": true`, `"ema_decays": [`} {
		if !strings.Contains(js, want) {
			t.Errorf("JSON lacks %s:\n%s", want, js)
		}
	}
	back, err := FromJSON(c.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) || len(Diff(back, c)) != 0 {
		t.Errorf("round trip: %+v, want %+v (diff %v)", back, c, Diff(back, c))
	}
	d := Diff(base, c)
	if len(d) != 3 || !strings.HasPrefix(d[0], "precision:") || !strings.HasPrefix(d[1], "grad_checkpoint:") || !strings.HasPrefix(d[2], "ema_decays:") {
		t.Errorf("Diff = %v, want precision, grad_checkpoint, ema_decays", d)
	}
	keys := map[string]bool{Key(base, 10): true}
	for _, m := range []func(*Config){
		func(c *Config) { c.Precision = diffusion.PrecisionBF16 },
		func(c *Config) { c.Precision = diffusion.PrecisionF16 },
		func(c *Config) { c.GradCheckpoint = true },
		func(c *Config) { c.EMADecays = []float64{0.9} },
	} {
		v := base
		m(&v)
		k := Key(v, 10)
		if keys[k] {
			t.Errorf("%+v: key %s is another configuration's", v, k)
		}
		keys[k] = true
	}

	_, _, tc, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	if tc.Precision != diffusion.PrecisionBF16 || !slices.Equal(tc.EMADecays, c.EMADecays) {
		t.Errorf("Build's TrainConfig: precision %q, extra EMAs %v", tc.Precision, tc.EMADecays)
	}
	if !c.mlpConfig(false).GradCheckpoint || base.mlpConfig(false).GradCheckpoint {
		t.Errorf("the MLP's GradCheckpoint does not follow the configuration's")
	}
	im := DefaultImages("mnist")
	im.GradCheckpoint = true
	if uc, err := im.unetConfig(false); err != nil || !uc.GradCheckpoint {
		t.Errorf("the UNet's GradCheckpoint: %v, %v", uc.GradCheckpoint, err)
	}
	sc := base.WithScore("vp")
	sc.GradCheckpoint, sc.EMADecays = true, []float64{0.9}
	if _, _, tc, err := sc.BuildScore(); err != nil || !slices.Equal(tc.EMADecays, []float64{0.9}) {
		t.Errorf("a score run with checkpointing and an extra EMA: %v, extra EMAs %v", err, tc.EMADecays)
	}
	// Extra EMAs apply to VAEs and GANs, whose trainers keep them.
	v := DefaultVAE("moons")
	v.EMADecays = []float64{0.9}
	if err := v.Validate(); err != nil {
		t.Errorf("a VAE with an extra EMA: %v", err)
	}
}

// TestEfficiencyValidate: precision, grad_checkpoint and ema_decays are
// refused, with a message naming them, where they do not apply or with bad
// values.
func TestEfficiencyValidate(t *testing.T) {
	mod := func(c Config, f func(*Config)) Config {
		f(&c)
		return c
	}
	g8 := Default2D("gaussians8")
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"unknown precision", mod(g8, func(c *Config) { c.Precision = "fp8" }), `unknown precision "fp8"`},
		{"bf16 score", mod(g8.WithScore("vp"), func(c *Config) { c.Precision = "bf16" }), "the score objective's trainer"},
		{"f16 VAE", mod(DefaultVAE("moons"), func(c *Config) { c.Precision = "f16" }), "a VAE run trains its own loss in float32"},
		{"bf16 GAN", mod(DefaultGAN("moons"), func(c *Config) { c.Precision = "bf16" }), "a GAN run"},
		{"bf16 autoencoder", mod(DefaultAutoencoder("mnist"), func(c *Config) { c.Precision = "bf16" }), "an autoencoder run"},
		{"checkpointed VAE", mod(DefaultVAE("moons"), func(c *Config) { c.GradCheckpoint = true }), "grad_checkpoint applies to the UNet and MLP"},
		{"checkpointed autoencoder", mod(DefaultAutoencoder("mnist"), func(c *Config) { c.GradCheckpoint = true }), "grad_checkpoint"},
		{"mlp.GradCheckpoint", mod(g8, func(c *Config) { c.MLP.GradCheckpoint = true }), "switched by grad_checkpoint"},
		{"autoencoder extra EMA", mod(DefaultAutoencoder("mnist"), func(c *Config) { c.EMADecays = []float64{0.9} }), "ema_decays [0.9]: extra moving averages"},
		{"decay 1", mod(g8, func(c *Config) { c.EMADecays = []float64{1} }), "ema_decays: each decay must be in (0, 1)"},
		{"decay 0", mod(g8, func(c *Config) { c.EMADecays = []float64{0} }), "ema_decays: each decay must be in (0, 1)"},
		{"main decay", mod(g8, func(c *Config) { c.EMADecays = []float64{g8.EMA} }), "is the main moving average's decay (ema)"},
		{"repeated", mod(g8, func(c *Config) { c.EMADecays = []float64{0.9, 0.99, 0.9} }), "0.9 is listed twice"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	for _, p := range []string{"", "f32", "bf16", "f16"} {
		for _, c := range []Config{g8, DefaultImages("mnist")} {
			c.Precision = p
			if err := c.Validate(); err != nil {
				t.Errorf("%s with precision %q: %v", c.Dataset, p, err)
			}
		}
	}
}
