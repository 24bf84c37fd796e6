package experiment

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/fuzzcheck"
	"github.com/godiffusion/diffusion-models/text"
)

// fuzzConfigs are valid configurations of every kind a checkpoint stores:
// 2-D DDPM and score runs, a pixel UNet, an autoencoder, a latent model, a
// CLIP, a text-conditional latent model, VAEs and GANs.
func fuzzConfigs(t testing.TB) []Config {
	t.Helper()
	tok, err := text.New([]string{"a", "seven", "thick"}, 6)
	if err != nil {
		t.Fatal(err)
	}
	cc := clip.Config{Text: tok.EncoderConfig(), ImageSize: 28, InChannels: 1}.WithDefaults()
	clipRun := Config{Dataset: "mnist", Stage: StageCLIP, CLIP: &cc, Tokenizer: tok,
		BatchSize: 128, LearningRate: 1e-3, WarmupSteps: 100, GradClip: 1, EMA: 0.999}
	lat := DefaultImages("mnist")
	lat.UNet, lat.Latent, lat.AutoencoderSHA256, lat.LatentScale = LatentUNet, "ae", strings.Repeat("0a", 32), 0.9
	lat.Autoencoder = DefaultAutoencoder("mnist").Autoencoder
	t2i := lat
	t2i.CLIP, t2i.Tokenizer, t2i.Text, t2i.TextSHA256, t2i.PUncond = &cc, tok, "clip", strings.Repeat("1b", 32), 0.1
	cls := Default2D("gaussians8")
	cls.ClassCond, cls.PUncond = true, 0.1
	return []Config{Default2D("moons"), Default2D("gaussians8").WithScore("ve"), cls, DefaultImages("mnist"),
		DefaultAutoencoder("mnist"), lat, clipRun, t2i, DefaultVAE("gaussians8"), DefaultVAE("mnist"), DefaultGAN("moons"), DefaultGAN("fashion-mnist")}
}

// FuzzFromJSON checks that reading a checkpoint's configuration either
// fails or gives a configuration that survives JSON and FromJSON unchanged
// and that Validate (which builds the schedule) checks without panicking;
// never a panic or an allocation out of proportion to the JSON.
func FuzzFromJSON(f *testing.F) {
	for _, c := range fuzzConfigs(f) {
		f.Add([]byte(c.JSON()))
	}
	for _, s := range []string{
		`{"dataset":"moons","timesteps":1000000000000,"schedule":"linear","prediction":"eps","loss":"simple","model":"mlp","batch_size":1}`,
		`{"dataset":"moons","timesteps":-1}`,
		`{"dataset":"mnist","latent":"x","autoencoder":null,"autoencoder_bundled":true}`,
		`{"dataset":"mnist","stage":"clip","clip":{},"tokenizer":{"max_len":99999999999,"vocab":["<pad>","<unk>","<bos>"]}}`,
		`{"dataset":"moons"} {"dataset":"mnist"}`,
		`{"dataset":"moons","bogus":1}`,
		`{"mlp":{"hidden":-1}}`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		var err error
		fuzzcheck.Alloc(t, fuzzcheck.Limit(len(b)), func() { c, err = FromJSON(b) })
		if err != nil {
			return
		}
		back, err := FromJSON(c.JSON())
		if err != nil {
			t.Fatalf("FromJSON(JSON()) of an accepted configuration: %v\n%s", err, c.JSON())
		}
		if d := Diff(back, c); len(d) > 0 {
			t.Fatalf("JSON and FromJSON changed %v", d)
		}
		if err := c.Validate(); err == nil {
			if c.Timesteps > MaxTimesteps {
				t.Fatalf("Validate accepted %d timesteps", c.Timesteps)
			}
			_ = c.DataDims()
			_ = c.Classes()
		}
	})
}

// FuzzLatentCache checks that a latent cache holding anything (any
// configuration, a tensor of any dtype and shape, or none) gives either
// the requested latents or nil, never a panic.
func FuzzLatentCache(f *testing.F) {
	const sum = "0a0a"
	f.Add([]byte(`{"autoencoder_sha256":"0a0a","dataset":"mnist"}`), uint8(0), []byte{3, 2, 2, 1}, uint8(2), true)
	f.Add([]byte(`{"autoencoder_sha256":"0a0a","dataset":"mnist"}`), uint8(1), []byte{3, 2, 2, 1}, uint8(2), true)
	f.Add([]byte(`{"autoencoder_sha256":"0a0a","dataset":"mnist"}`), uint8(0), []byte{0, 2, 2, 1}, uint8(0), true)
	f.Add([]byte(`{"autoencoder_sha256":"0a0a","dataset":"mnist"}`), uint8(0), []byte{1, 2, 2, 1}, uint8(2), true)
	f.Add([]byte(`{"autoencoder_sha256":"ffff","dataset":"mnist"}`), uint8(0), []byte{3, 2, 2, 1}, uint8(2), true)
	f.Add([]byte(`null`), uint8(0), []byte{}, uint8(2), false)
	f.Add([]byte(`{`), uint8(2), []byte{3}, uint8(1), true)
	dims := []int{2, 2, 1}
	dts := []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.Int32, dtypes.Uint8, dtypes.Bool}
	f.Fuzz(func(t *testing.T, config []byte, dtype uint8, shape []byte, n uint8, present bool) {
		ck := &diffusion.Checkpoint{Config: json.RawMessage(config), Variables: map[string]*tensors.Tensor{}}
		if present {
			d := make([]int, min(len(shape), 5))
			for i := range d {
				d[i] = int(shape[i] % 8)
			}
			ck.Variables[latentCacheVar] = tensors.FromShape(shapes.Make(dts[int(dtype)%len(dts)], d...))
		}
		mu := cachedLatents(ck, sum, "mnist", int(n), dims)
		if mu == nil {
			return
		}
		if len(mu) != int(n)*4 {
			t.Fatalf("%d latent values for %d images of %v", len(mu), n, dims)
		}
		v := ck.Variables[latentCacheVar]
		if v.DType() != dtypes.Float32 || !slices.Equal(v.Shape().Dimensions[1:], dims) {
			t.Fatalf("latents read from a %s tensor", v.Shape())
		}
	})
}
