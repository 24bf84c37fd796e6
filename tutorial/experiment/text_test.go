package experiment

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/captions"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// mnistCLIP is DefaultCLIP("mnist"), computed once: it captions and
// measures the 60,000 training images.
var mnistCLIP = sync.OnceValues(func() (Config, error) { return DefaultCLIP("mnist") })

func defaultCLIP(t *testing.T) Config {
	t.Helper()
	c, err := mnistCLIP()
	if err != nil {
		t.Fatalf("DefaultCLIP(mnist): %v", err)
	}
	return c
}

// TestDefaultCLIP: the defaults of a CLIP run validate; the tokenizer is
// the captions' vocabulary after the special tokens, and the text encoder
// reads exactly its ids; datasets without captions are refused.
func TestDefaultCLIP(t *testing.T) {
	c := defaultCLIP(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultCLIP(mnist) does not validate: %v", err)
	}
	if !c.IsCLIP() || c.IsText() || c.CLIP == nil || c.Tokenizer == nil {
		t.Fatalf("DefaultCLIP(mnist): IsCLIP %v, IsText %v, CLIP %v, tokenizer %v", c.IsCLIP(), c.IsText(), c.CLIP, c.Tokenizer)
	}
	vocab := c.Tokenizer.Vocab()
	if !slices.Equal(vocab[:len(text.Specials)], text.Specials[:]) {
		t.Errorf("the vocabulary starts %q, want the special tokens %q", vocab[:len(text.Specials)], text.Specials)
	}
	words := slices.Sorted(slices.Values(vocab[len(text.Specials):]))
	if want := captions.Vocabulary(); !slices.Equal(words, want) {
		t.Errorf("the tokenizer's words (%d) differ from captions.Vocabulary() (%d):\n got %q\nwant %q", len(words), len(want), words, want)
	}
	if c.Tokenizer.Len() != CaptionMaxLen {
		t.Errorf("the tokenizer writes %d ids, want CaptionMaxLen = %d", c.Tokenizer.Len(), CaptionMaxLen)
	}
	e := c.CLIP.Text.WithDefaults()
	if e.VocabSize != c.Tokenizer.VocabSize() || e.MaxLen != c.Tokenizer.Len() {
		t.Errorf("the text encoder reads %d ids of %d, the tokenizer writes %d of %d", e.MaxLen, e.VocabSize, c.Tokenizer.Len(), c.Tokenizer.VocabSize())
	}
	if cc := c.CLIP.WithDefaults(); cc.ImageSize != 28 || cc.InChannels != 1 {
		t.Errorf("the CLIP takes %d×%d×%d images, want 28×28×1", cc.ImageSize, cc.ImageSize, cc.InChannels)
	}
	for _, ds := range []string{"fashion-mnist", "moons"} {
		_, err := DefaultCLIP(ds)
		if err == nil || !strings.Contains(err.Error(), "no captions") || !strings.Contains(err.Error(), ds) {
			t.Errorf("DefaultCLIP(%q): %v, want an error saying %s has no captions", ds, err, ds)
		}
	}
}

// TestCLIPValidate: a CLIP run that cannot work is refused, naming what is
// wrong; its JSON form keeps the tokenizer.
func TestCLIPValidate(t *testing.T) {
	base := defaultCLIP(t)
	with := func(f func(*Config)) Config {
		c := base
		cc := *base.CLIP
		c.CLIP = &cc
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		c    Config
		want []string
	}{
		{"diffusion fields", with(func(c *Config) { c.Timesteps, c.ClassCond = 1000, true }), []string{"class_cond, timesteps", "CLIP"}},
		{"unet", with(func(c *Config) { c.UNet = "small" }), []string{"unet"}},
		{"p_uncond", with(func(c *Config) { c.PUncond = 0.1 }), []string{"p_uncond"}},
		{"text", with(func(c *Config) { c.Text = "out/clip" }), []string{"text"}},
		{"batch of 1", with(func(c *Config) { c.BatchSize = 1 }), []string{"≥ 2", "got 1"}},
		{"no tokenizer", with(func(c *Config) { c.Tokenizer = nil }), []string{"tokenizer"}},
		{"no architecture", with(func(c *Config) { c.CLIP = nil }), []string{"architecture"}},
		{"encoder of another vocabulary", with(func(c *Config) { c.CLIP.Text.VocabSize++ }), []string{"vocabulary"}},
		{"encoder of another length", with(func(c *Config) { c.CLIP.Text.MaxLen = 8 }), []string{"reads 8 ids"}},
		{"colour images", with(func(c *Config) { c.CLIP.InChannels = 3 }), []string{"28×28×3", "28×28×1"}},
		{"no captions", with(func(c *Config) { c.Dataset = "fashion-mnist" }), []string{"fashion-mnist", "no captions"}},
		{"negative train_images", with(func(c *Config) { c.TrainImages = -1 }), []string{"train_images"}},
		{"latent fields", with(func(c *Config) { c.LatentScale, c.AutoencoderSHA256 = 2, "x" }), []string{"autoencoder_sha256, latent_scale"}},
		{"bundle flags", with(func(c *Config) { c.AutoencoderBundled, c.CLIPBundled = true, true }), []string{"autoencoder_bundled, clip_bundled"}},
		{"mlp", with(func(c *Config) { c.MLP.Hidden = 5 }), []string{"mlp"}},
	} {
		err := tc.c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an error containing %q", tc.name, err, w)
			}
		}
	}

	back, err := FromJSON(base.JSON())
	if err != nil {
		t.Fatalf("FromJSON(JSON()): %v", err)
	}
	if err := back.Validate(); err != nil {
		t.Errorf("the CLIP configuration read back does not validate: %v", err)
	}
	if d := Diff(base, back); len(d) > 0 {
		t.Errorf("the JSON round trip changed %v", d)
	}
	if !slices.Equal(back.Tokenizer.Vocab(), base.Tokenizer.Vocab()) {
		t.Errorf("the tokenizer read back has another vocabulary")
	}
	for _, p := range []string{"a thick 7 leaning left", "the digit 3 written large", "", "🙂 purple seven"} {
		a, ra := base.Tokenizer.Encode(p)
		b, rb := back.Tokenizer.Encode(p)
		if !slices.Equal(a, b) || ra.Words != rb.Words || !slices.Equal(ra.Unknown, rb.Unknown) {
			t.Errorf("%q: ids %v (%+v) before the JSON round trip, %v (%+v) after", p, a, ra, b, rb)
		}
	}
}

// textConfig is a text-conditional configuration built by hand (no files):
// a latent model with the "latent-text" UNet and the default CLIP's
// architecture and tokenizer.
func textConfig(t *testing.T) Config {
	t.Helper()
	cl := defaultCLIP(t)
	c := DefaultImages("mnist")
	c.UNet = TextUNet
	c.Latent, c.AutoencoderSHA256, c.LatentScale = "out/ae", strings.Repeat("ab", 32), 1.1
	c.Autoencoder = new(latent.Config{}.WithDefaults())
	c.CLIP, c.Tokenizer = cl.CLIP, cl.Tokenizer
	c.Text, c.TextSHA256 = "out/clip", strings.Repeat("cd", 32)
	c.PUncond = DefaultPUncond
	return c
}

// TestTextValidate: a hand-built text-conditional configuration validates
// and samples as a text model; the text fields that cannot work are
// refused, naming the problem.
func TestTextValidate(t *testing.T) {
	good := textConfig(t)
	if err := good.Validate(); err != nil {
		t.Fatalf("a good text configuration refused: %v", err)
	}
	if !good.IsText() || good.IsCLIP() {
		t.Fatalf("IsText %v, IsCLIP %v", good.IsText(), good.IsCLIP())
	}
	with := func(f func(*Config)) Config {
		c := textConfig(t)
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"class_cond", with(func(c *Config) { c.ClassCond = true }), "class_cond"},
		{"no CLIP path", with(func(c *Config) { c.Text, c.TextSHA256 = "", "" }), "needs its CLIP"},
		{"bad hash", with(func(c *Config) { c.TextSHA256 = "abc" }), "SHA-256"},
		{"pixel model", with(func(c *Config) {
			c.Latent, c.AutoencoderSHA256, c.LatentScale, c.Autoencoder, c.UNet = "", "", 0, nil, "small"
		}), "latent diffusion"},
		{"no tokenizer", with(func(c *Config) { c.Tokenizer = nil }), "tokenizer"},
		{"fashion-mnist", with(func(c *Config) { c.Dataset = "fashion-mnist" }), "captioned"},
		{"tokenizer without a CLIP", func() Config { c := DefaultImages("mnist"); c.Tokenizer = good.Tokenizer; return c }(), "without a CLIP"},
		{"text UNet without text", func() Config { c := DefaultImages("mnist"); c.UNet = TextUNet; return c }(), "text-conditional"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// The prompts of a text model: ids of the tokenizer, with its reports.
	cn, reports, err := good.Prompts([]string{"a thick 7", "purple"})
	if err != nil {
		t.Fatal(err)
	}
	ids := cn.Inputs[cond.Text]
	if d := ids.Shape().Dimensions; len(d) != 2 || d[0] != 2 || d[1] != CaptionMaxLen {
		t.Errorf("prompt ids shaped %v, want [2 %d]", d, CaptionMaxLen)
	}
	if len(reports) != 2 || len(reports[0].Unknown) != 0 || !slices.Equal(reports[1].Unknown, []string{"purple"}) {
		t.Errorf("reports %+v, want none unknown in the first, [purple] in the second", reports)
	}
	if _, _, err := DefaultImages("mnist").Prompts([]string{"a 7"}); err == nil {
		t.Errorf("a pixel model took prompts")
	}
}

func trainSubset(t *testing.T, n int) *mnist.Set {
	t.Helper()
	set, err := LoadImages("mnist", "train")
	if err != nil {
		t.Fatal(err)
	}
	return set.Subset(n)
}

// TestCaptioner: captions are a function of (seed, step, image), change
// from step to step, and Parse reads back the image's digit and every
// level the caption names, which is the image's measured level.
func TestCaptioner(t *testing.T) {
	set := trainSubset(t, 200)
	cp, err := NewCaptioner(set, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Labels) != set.N || len(cp.Levels) != set.N {
		t.Fatalf("captioner of %d images has %d labels and %d levels", set.N, len(cp.Labels), len(cp.Levels))
	}
	idx := make([]int, set.N)
	for i := range idx {
		idx[i] = (i * 7) % set.N
	}
	a := cp.Captions(5, idx)
	b := cp.Captions(5, idx)
	if !slices.Equal(a, b) {
		t.Errorf("the captions of the same (seed, step, images) differ")
	}
	again, _ := NewCaptioner(set, 3)
	if !slices.Equal(a, again.Captions(5, idx)) {
		t.Errorf("a new captioner with the same seed writes other captions")
	}
	other, _ := NewCaptioner(set, 4)
	if same := countSame(a, other.Captions(5, idx)); same > len(a)/2 {
		t.Errorf("seeds 3 and 4 give %d of %d identical captions", same, len(a))
	}
	if same := countSame(a, cp.Captions(6, idx)); same > len(a)/2 {
		t.Errorf("steps 5 and 6 give %d of %d identical captions", same, len(a))
	}
	named := 0
	for step := int64(0); step < 3; step++ {
		for i, s := range cp.Captions(step, idx) {
			j := idx[i]
			req, err := captions.Parse(s)
			if err != nil {
				t.Errorf("caption %q of image %d: %v", s, j, err)
				continue
			}
			if req.Digit != int(cp.Labels[j]) {
				t.Errorf("caption %q of image %d reads as digit %d, the image is a %d", s, j, req.Digit, cp.Labels[j])
			}
			lv := cp.Levels[j]
			for k, pair := range [3][2]captions.Level{{req.Levels.Thickness, lv.Thickness}, {req.Levels.Slant, lv.Slant}, {req.Levels.Size, lv.Size}} {
				if pair[0] == captions.Unspecified {
					continue
				}
				named++
				if pair[0] != pair[1] {
					t.Errorf("caption %q of image %d names %s %v, the image measures %v", s, j, captions.AttributeNames[k], pair[0], pair[1])
				}
			}
		}
	}
	if named == 0 {
		t.Errorf("no caption of %d names any attribute", 3*len(idx))
	}
	if _, err := NewCaptioner(&mnist.Set{Name: "fashion-mnist"}, 0); err == nil {
		t.Errorf("a captioner of fashion-mnist was made")
	}
}

func countSame(a, b []string) int {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

// TestCLIPData: a CLIP run's batches are images with the token ids of a
// caption of each image (BOS first), the same for the same step from a
// fresh Data, and the ids decode to captions of the batch's own digits.
func TestCLIPData(t *testing.T) {
	c := defaultCLIP(t)
	c.TrainImages, c.BatchSize, c.Seed = 64, 8, 5
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	set := trainSubset(t, 64)
	for _, step := range []int64{0, 3, 9} {
		x, cn, err := data.Batch(step, 8)
		if err != nil {
			t.Fatal(err)
		}
		if d := x.Shape().Dimensions; !slices.Equal(d, []int{8, 28, 28, 1}) {
			t.Fatalf("step %d: images shaped %v, want [8 28 28 1]", step, d)
		}
		ids, ok := cn.Inputs[cond.Text]
		if !ok || len(cn.Inputs) != 1 {
			t.Fatalf("step %d: condition inputs %v, want only %q", step, cn.Inputs, cond.Text)
		}
		if d := ids.Shape().Dimensions; !slices.Equal(d, []int{8, CaptionMaxLen}) {
			t.Fatalf("step %d: ids shaped %v, want [8 %d]", step, d, CaptionMaxLen)
		}
		flat := tensors.MustCopyFlatData[int32](ids)
		for i := range 8 {
			if flat[i*CaptionMaxLen] != text.BOSID {
				t.Errorf("step %d, example %d: ids %v do not start with BOS", step, i, flat[i*CaptionMaxLen:(i+1)*CaptionMaxLen])
			}
		}
		// The captions name the digits of the batch's images.
		idx := data.(captionData).b.Indices(step, 8)
		px := tensors.MustCopyFlatData[float32](x)
		size := set.ImageSize()
		for i, j := range idx {
			if !slices.Equal(px[i*size:(i+1)*size], set.Pixels[j*size:(j+1)*size]) {
				t.Errorf("step %d, example %d is not training image %d", step, i, j)
			}
			words := c.Tokenizer.Decode(flat[i*CaptionMaxLen : (i+1)*CaptionMaxLen])
			req, err := captions.Parse(words)
			if err != nil || req.Digit != int(set.Labels[j]) {
				t.Errorf("step %d, example %d: caption %q reads as digit %d (%v), the image is a %d", step, i, words, req.Digit, err, set.Labels[j])
			}
		}
		fresh, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		x2, cn2, _ := fresh.Batch(step, 8)
		if !slices.Equal(px, tensors.MustCopyFlatData[float32](x2)) || !slices.Equal(flat, tensors.MustCopyFlatData[int32](cn2.Inputs[cond.Text])) {
			t.Errorf("step %d: a fresh Data gives another batch", step)
		}
	}
	a, _, _ := data.Batch(0, 8)
	b, _, _ := data.Batch(1, 8)
	if slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
		t.Errorf("steps 0 and 1 give the same images")
	}
}

// TestTestCaptions: the evaluation prompts are captions of the first test
// images (of their digits), the same for the same seed, cycling through the
// images when more are asked for than the test set holds.
func TestTestCaptions(t *testing.T) {
	prompts, cp, test, err := TestCaptions("mnist", 30, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 30 || len(cp.Labels) != test.N {
		t.Fatalf("%d prompts, captioner of %d images (test set %d)", len(prompts), len(cp.Labels), test.N)
	}
	for i, p := range prompts {
		req, err := captions.Parse(p)
		if err != nil || req.Digit != int(test.Labels[i]) {
			t.Errorf("prompt %d %q reads as digit %d (%v), test image %d is a %d", i, p, req.Digit, err, i, test.Labels[i])
		}
	}
	again, _, _, _ := TestCaptions("mnist", 30, 1)
	if !slices.Equal(prompts, again) {
		t.Errorf("TestCaptions is not deterministic")
	}
	all, _, _, err := TestCaptions("mnist", test.N+2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != test.N+2 {
		t.Fatalf("%d prompts asked for, %d given", test.N+2, len(all))
	}
	for _, i := range []int{test.N, test.N + 1} {
		// The images cycle; the sentences are new draws.
		if req, err := captions.Parse(all[i]); err != nil || req.Digit != int(test.Labels[i-test.N]) {
			t.Errorf("prompt %d %q reads as digit %d (%v), want test image %d's digit %d", i, all[i], req.Digit, err, i-test.N, test.Labels[i-test.N])
		}
	}
	if _, _, _, err := TestCaptions("fashion-mnist", 3, 0); err == nil {
		t.Errorf("TestCaptions of fashion-mnist accepted")
	}
}
