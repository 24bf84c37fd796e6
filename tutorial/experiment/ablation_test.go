package experiment

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/unet"
)

// TestUNetAblations: TimeEmbedding and NoAttention are left out of the JSON
// (and so of the cache key) when unset, change the key when set, survive
// the round trip and reach the UNet's configuration, which then has fewer
// parameters without attention and a 1→E first time layer with the linear
// embedding (unet.UNetConfig.Summary counts them independently).
func TestUNetAblations(t *testing.T) {
	base := DefaultImages("mnist")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(base.JSON(), &top); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"time_embedding", "no_attention"} {
		if _, ok := top[name]; ok {
			t.Errorf("DefaultImages(mnist)'s JSON holds %q", name)
		}
	}
	if base.Ablations() != "" {
		t.Errorf("DefaultImages(mnist).Ablations() = %q, want none", base.Ablations())
	}
	ref, err := base.unetConfig(false)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{Key(base, 10): true}
	for _, tc := range []struct {
		name  string
		set   func(*Config)
		check func(uc unet.UNetConfig) bool
	}{
		{"linear", func(c *Config) { c.TimeEmbedding = unet.TimeEmbeddingLinear }, func(uc unet.UNetConfig) bool {
			// Linear 1→E instead of E→E: E·E − E fewer weights.
			e := uc.WithDefaults().TimeEmbedDim
			return uc.TimeEmbedding == unet.TimeEmbeddingLinear && ref.NumParams()-uc.NumParams() == e*e-e
		}},
		{"sinusoidal", func(c *Config) { c.TimeEmbedding = unet.TimeEmbeddingSinusoidal }, func(uc unet.UNetConfig) bool {
			return uc.NumParams() == ref.NumParams()
		}},
		{"no attention", func(c *Config) { c.NoAttention = true }, func(uc unet.UNetConfig) bool {
			// The middle AttentionBlock of C channels: GroupNorm 2C, qkv C·3C+3C, proj C·C+C.
			c := uc.WithDefaults()
			ch := c.BaseChannels * c.ChannelMults[len(c.ChannelMults)-1]
			return uc.NoMiddleAttention && ref.NumParams()-uc.NumParams() == 2*ch+3*ch*ch+3*ch+ch*ch+ch
		}},
	} {
		c := base
		tc.set(&c)
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		back, err := FromJSON(c.JSON())
		if err != nil || back.TimeEmbedding != c.TimeEmbedding || back.NoAttention != c.NoAttention {
			t.Errorf("%s: round trip %+v, %v", tc.name, back, err)
		}
		if k := Key(c, 10); keys[k] {
			t.Errorf("%s: key %s is another configuration's", tc.name, k)
		} else {
			keys[k] = true
		}
		if want := map[string]string{"linear": "linear time embedding", "sinusoidal": "sinusoidal time embedding", "no attention": "no attention"}[tc.name]; c.Ablations() != want {
			t.Errorf("%s: Ablations() = %q, want %q", tc.name, c.Ablations(), want)
		}
		uc, err := c.unetConfig(false)
		if err != nil || !tc.check(uc) {
			t.Errorf("%s: UNet %+v (%d parameters against %d), %v", tc.name, uc, uc.NumParams(), ref.NumParams(), err)
		}
	}
}

// TestUNetAblationsValidate: bad values, and the ablations where they do
// not apply, are refused naming the field.
func TestUNetAblationsValidate(t *testing.T) {
	im := DefaultImages("mnist")
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"unknown embedding", func() Config { c := im; c.TimeEmbedding = "cubic"; return c }(), `unknown time_embedding "cubic"`},
		{"mlp, linear", func() Config { c := Default2D("moons"); c.TimeEmbedding = unet.TimeEmbeddingLinear; return c }(), "ablations of the UNet"},
		{"mlp, no attention", func() Config { c := Default2D("moons"); c.NoAttention = true; return c }(), "ablations of the UNet"},
		{"score, linear", func() Config { c := im.WithScore("vp"); c.TimeEmbedding = unet.TimeEmbeddingLinear; return c }(), "continuous"},
		{"latent-text UNet", func() Config { c := im; c.UNet = "latent-text"; c.NoAttention = true; return c }(), "no_attention"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
