package experiment

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/captions"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// StageCLIP is [Config.Stage] of a run that trains the mini-CLIP of
// text-to-image models: an image encoder and a text encoder trained
// contrastively on the dataset's captioned images (clip.Config.Loss).
const StageCLIP = "clip"

// TextUNet is the UNet configuration of text-conditional models by default
// (see unet.UNetConfigByName): the "latent" UNet with cross-attention.
const TextUNet = "latent-text"

// TextEncoderScope is the scope, under the model scope, of a
// text-conditional model's text encoder: its CLIP's text encoder, copied in
// when training starts and frozen (diffusion.TrainConfig.Frozen), so that
// the model's own checkpoint holds every weight it samples with.
const TextEncoderScope = "text_encoder"

// CLIPBundleScope is the scope under which a text-conditional model's
// bundle ([Bundle]) keeps its CLIP's weights (/clip/model/...), which
// cmd/eval needs for the CLIP score.
const CLIPBundleScope = "clip"

// CaptionMaxLen is the length of the encoded prompts: the start token and
// up to 15 words (captions have at most 9).
const CaptionMaxLen = 16

// DefaultTextGuidance is the classifier-free guidance weight w with which
// text-conditional models are sampled and evaluated when none is given.
// On the pretrained MNIST model (1,000 samples from test captions), w = 1
// reads 87% of the digits right, w = 2 99% at a Fréchet distance of 14,
// w = 3 99.6% at 40: 2 follows the prompts without spoiling the images.
const DefaultTextGuidance = 2.0

// captionStream separates the captions' generator from the data order's.
const captionStream = 0x51ed270b27a1f3c5

// IsCLIP reports whether the run trains a mini-CLIP.
func (c Config) IsCLIP() bool { return c.Stage == StageCLIP }

// IsText reports whether the run is a text-conditional diffusion model.
func (c Config) IsText() bool { return c.Stage == "" && c.CLIP != nil }

// HasCaptions reports whether the dataset's images have captions (package
// tutorial/captions): MNIST only.
func HasCaptions(dataset string) bool { return dataset == "mnist" }

// Captioner makes the captions of a set of images from their labels and
// measured attributes (captions.Measure, captions.DefaultThresholds): each
// time an image is drawn it gets a new sentence, from a generator seeded by
// (seed, step), so that a resumed run sees the same captions.
type Captioner struct {
	// Labels are the images' digits.
	Labels []uint8
	// Levels are the images' measured attribute levels.
	Levels []captions.Levels
	seed   uint64
}

// NewCaptioner measures the attributes of every image of set.
func NewCaptioner(set *mnist.Set, seed int64) (*Captioner, error) {
	if !HasCaptions(set.Name) {
		return nil, fmt.Errorf("experiment: %s has no captions (only mnist has)", set.Name)
	}
	attrs, err := captions.MeasureSet(set.Pixels, set.N, set.H, set.W)
	if err != nil {
		return nil, err
	}
	lv := make([]captions.Levels, len(attrs))
	for i, a := range attrs {
		lv[i] = captions.DefaultThresholds.Levels(a)
	}
	return &Captioner{Labels: set.Labels[:set.N], Levels: lv, seed: uint64(seed)}, nil
}

// Captions returns the captions of the images idx drawn at a step.
func (c *Captioner) Captions(step int64, idx []int) []string {
	rng := rand.New(rand.NewPCG(c.seed^captionStream, uint64(step)))
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = captions.Caption(int(c.Labels[j]), c.Levels[j], rng)
	}
	return out
}

// CaptionTokenizer returns the tokenizer of a dataset's captions: trained
// (text.Train) on one caption of every training image, with
// CaptionMaxLen ids per prompt.
func CaptionTokenizer(dataset string) (*text.Tokenizer, error) {
	set, err := LoadImages(dataset, "train")
	if err != nil {
		return nil, err
	}
	cap, err := NewCaptioner(set, 0)
	if err != nil {
		return nil, err
	}
	idx := make([]int, set.N)
	for i := range idx {
		idx[i] = i
	}
	return text.Train(cap.Captions(0, idx), CaptionMaxLen, 1)
}

// DefaultCLIP returns the defaults of a mini-CLIP run on a captioned
// dataset: clip.Config's defaults for its images, with the text encoder of
// the captions' tokenizer, batch 128 (every other example of a batch is a
// negative), Adam lr 1e-3 with 100 warm-up steps, gradient clip 1, EMA 0.999.
func DefaultCLIP(dataset string) (Config, error) {
	if !HasCaptions(dataset) {
		return Config{}, fmt.Errorf("experiment: a CLIP is trained on captioned images; %q has no captions (mnist has)", dataset)
	}
	tok, err := CaptionTokenizer(dataset)
	if err != nil {
		return Config{}, err
	}
	d := ImageDimsOf(dataset)
	cc := clip.Config{Text: tok.EncoderConfig(), ImageSize: d[0], InChannels: d[2]}.WithDefaults()
	return Config{
		Dataset: dataset, Stage: StageCLIP, CLIP: &cc, Tokenizer: tok,
		BatchSize: 128, LearningRate: 1e-3, WarmupSteps: 100, GradClip: 1, EMA: 0.999,
	}, nil
}

// validateTokenizer checks that the run has a tokenizer whose ids the
// CLIP's text encoder reads.
func (c Config) validateTokenizer() error {
	if c.Tokenizer == nil {
		return fmt.Errorf("experiment: a text model needs its tokenizer (tokenizer)")
	}
	if err := c.Tokenizer.Validate(); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	if err := c.CLIP.Validate(); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	e := c.CLIP.Text.WithDefaults()
	if e.VocabSize != c.Tokenizer.VocabSize() || e.MaxLen != c.Tokenizer.Len() {
		return fmt.Errorf("experiment: the text encoder reads %d ids of a %d-token vocabulary, the tokenizer writes %d of %d",
			e.MaxLen, e.VocabSize, c.Tokenizer.Len(), c.Tokenizer.VocabSize())
	}
	return nil
}

// validateCLIP checks a CLIP run: a captioned dataset, an architecture
// that fits its images, a matching tokenizer, no diffusion fields.
func (c Config) validateCLIP() error {
	if !HasCaptions(c.Dataset) {
		return fmt.Errorf("experiment: a CLIP is trained on captioned images; %q has no captions (mnist has)", c.Dataset)
	}
	if c.CLIP == nil {
		return fmt.Errorf("experiment: a CLIP run needs its architecture (clip)")
	}
	if err := c.validateTokenizer(); err != nil {
		return err
	}
	cc := c.CLIP.WithDefaults()
	if d := c.ImageDims(); cc.ImageSize != d[0] || cc.InChannels != d[2] {
		return fmt.Errorf("experiment: the CLIP takes %d×%d×%d images but %s has %d×%d×%d", cc.ImageSize, cc.ImageSize, cc.InChannels, c.Dataset, d[0], d[1], d[2])
	}
	unused := append(slices.Clone(diffusionFields), "autoencoder", "latent_scale", "autoencoder_bundled", "clip_bundled", "mlp", "text", "text_sha256", "vae", "gan")
	if set := c.setFields(unused...); len(set) > 0 {
		return fmt.Errorf("experiment: %s: settings a CLIP run does not use", strings.Join(set, ", "))
	}
	if c.BatchSize < 2 {
		return fmt.Errorf("experiment: a CLIP batch needs ≥ 2 examples (the others are each one's negatives), got %d", c.BatchSize)
	}
	if err := c.validateTrainImages(); err != nil {
		return err
	}
	return c.trainConfig().Validate()
}

// validateText checks the text fields of a diffusion run (nothing for
// other models).
func (c Config) validateText() error {
	if !c.IsText() {
		if c.Tokenizer != nil || c.Text != "" || c.TextSHA256 != "" || c.CLIPBundled {
			return fmt.Errorf("experiment: text settings (tokenizer, text, text_sha256) without a CLIP (clip)")
		}
		return nil
	}
	switch {
	case !c.IsLatent():
		return fmt.Errorf("experiment: text-conditional models are latent diffusion models (train with --latent and --text)")
	case !HasCaptions(c.Dataset):
		return fmt.Errorf("experiment: a text-conditional model needs captioned images; %q has none (mnist has)", c.Dataset)
	case c.ClassCond:
		return fmt.Errorf("experiment: a text-conditional model takes prompts, not class labels (class_cond)")
	case c.Text == "" && !c.CLIPBundled:
		return fmt.Errorf("experiment: a text-conditional model needs its CLIP (text)")
	case c.Text != "" && !sha256Hex.MatchString(c.TextSHA256):
		return fmt.Errorf("experiment: a text-conditional model needs its CLIP's SHA-256 (64 hex digits), got %q", c.TextSHA256)
	}
	return c.validateTokenizer()
}

// readCLIP reads the CLIP checkpoint at path (a folder holding model.ckpt,
// or the file) and its configuration, refusing anything but a CLIP run.
func readCLIP(path string) (*diffusion.Checkpoint, Config, error) {
	return readStage(path, StageCLIP, "CLIP")
}

// NewText returns the default configuration of a text-conditional latent
// diffusion model on dataset, over the autoencoder at aePath with the text
// encoder of the CLIP at clipPath (folders or checkpoint files): [NewLatent]
// with the "latent-text" UNet, the CLIP's architecture and tokenizer, its
// path and SHA-256 recorded, and the prompt dropped (replaced by the empty
// prompt, the null condition) for DefaultPUncond of the examples.
func NewText(dataset, aePath, clipPath string) (Config, error) {
	c, err := NewLatent(dataset, aePath)
	if err != nil {
		return Config{}, err
	}
	if !HasCaptions(dataset) {
		return Config{}, fmt.Errorf("experiment: a text-conditional model needs captioned images; %q has none (mnist has)", dataset)
	}
	_, cc, err := readCLIP(clipPath)
	if err != nil {
		return Config{}, err
	}
	if cc.Dataset != dataset {
		return Config{}, fmt.Errorf("experiment: the CLIP %s was trained on %s, not %s", AutoencoderFile(clipPath), cc.Dataset, dataset)
	}
	sum, err := latent.FileSHA256(AutoencoderFile(clipPath))
	if err != nil {
		return Config{}, err
	}
	c.UNet = TextUNet
	c.CLIP, c.Tokenizer = cc.CLIP, cc.Tokenizer
	c.Text, c.TextSHA256 = clipPath, sum
	c.PUncond = DefaultPUncond
	return c, nil
}

// pairedCLIP reads the CLIP checkpoint of a text-conditional model from
// c.Text, after checking its SHA-256 against the recorded one.
func (c Config) pairedCLIP() (*diffusion.Checkpoint, error) {
	file := AutoencoderFile(c.Text)
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("experiment: the text model's CLIP %s is missing: %w", file, err)
	}
	if err := latent.CheckPair(file, c.TextSHA256); err != nil {
		return nil, err
	}
	ck, _, err := readCLIP(file)
	return ck, err
}

// CLIPCheckpoint returns the sampling checkpoint of the CLIP of a run: the
// run's own for a CLIP run (ck), the bundled one, or the one at c.Text
// (checked against the recorded SHA-256); EMA weights when it has them.
func (c Config) CLIPCheckpoint(ck *diffusion.Checkpoint) (*diffusion.Checkpoint, error) {
	switch {
	case c.IsCLIP():
		if ck == nil {
			return nil, fmt.Errorf("experiment: opening a CLIP needs its checkpoint")
		}
	case c.IsText() && c.CLIPBundled:
		if ck == nil {
			return nil, fmt.Errorf("experiment: opening a bundled CLIP needs the bundle's checkpoint")
		}
		sub := &diffusion.Checkpoint{Variables: map[string]*tensors.Tensor{}}
		for path, t := range ck.Variables {
			if rest, ok := strings.CutPrefix(path, "/"+CLIPBundleScope+"/"); ok {
				sub.Variables["/"+rest] = t
			}
		}
		return sub, nil
	case c.IsText():
		var err error
		if ck, err = c.pairedCLIP(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("experiment: a %s model has no CLIP", c.Dataset)
	}
	return diffusion.ForSampling(ck, diffusion.HasEMA(ck))
}

// OpenCLIP returns the mini-CLIP of a CLIP run or of a text-conditional
// model (see [Config.CLIPCheckpoint]), ready to embed images and prompts.
func (c Config) OpenCLIP(b compute.Backend, ck *diffusion.Checkpoint) (*clip.Model, error) {
	sub, err := c.CLIPCheckpoint(ck)
	if err != nil {
		return nil, err
	}
	store, err := diffusion.SamplingStore(sub, false)
	if err != nil {
		return nil, fmt.Errorf("experiment: the CLIP: %w", err)
	}
	return clip.New(b, store, *c.CLIP)
}

// textEncoderWeights returns the weights of the text encoder that a new
// text-conditional model starts from: its CLIP's (EMA) text encoder, moved
// from /model/<clip.TextScope>/… to /model/<TextEncoderScope>/….
func (c Config) textEncoderWeights() (map[string]*tensors.Tensor, error) {
	sub, err := c.CLIPCheckpoint(nil)
	if err != nil {
		return nil, err
	}
	from := "/" + diffusion.ModelScope + "/" + clip.TextScope + "/"
	to := "/" + diffusion.ModelScope + "/" + TextEncoderScope + "/"
	out := map[string]*tensors.Tensor{}
	for path, t := range sub.Variables {
		if rest, ok := strings.CutPrefix(path, from); ok {
			out[to+rest] = t
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("experiment: the CLIP %s has no text encoder weights under %s", AutoencoderFile(c.Text), from)
	}
	return out, nil
}

// captionData serves a CLIP run's or a text-conditional model's batches:
// the images (or their latents) of set, each with a fresh caption of the
// image, encoded as token ids (cond.Text).
type captionData struct {
	b    *mnist.Batches
	dims []int
	cap  *Captioner
	tok  *text.Tokenizer
}

func (d captionData) Batch(step int64, b int) (*tensors.Tensor, cond.Condition, error) {
	idx := d.b.Indices(step, b)
	px, _ := d.b.Gather(idx)
	x := tensors.FromFlatDataAndDimensions(px, append([]int{len(idx)}, d.dims...)...)
	ids, _ := d.tok.EncodeBatch(d.cap.Captions(step, idx))
	return x, cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: ids}}, nil
}

// newCaptionData returns the captioned batches of data (images or latents
// of the images of set, in the same order).
func (c Config) newCaptionData(data, set *mnist.Set, log io.Writer) (diffusion.Data, error) {
	cp, err := NewCaptioner(set, c.Seed)
	if err != nil {
		return nil, err
	}
	_ = log
	return captionData{b: mnist.NewBatches(data, uint64(c.Seed)^dataStream), dims: c.DataDims(), cap: cp, tok: c.Tokenizer}, nil
}

// Prompts encodes prompts for a text-conditional model or a CLIP: the
// condition (cond.Text ids) and, for each prompt, what the tokenizer did
// with it (unknown words, truncation).
func (c Config) Prompts(prompts []string) (cond.Condition, []text.Report, error) {
	if c.Tokenizer == nil {
		return cond.Condition{}, nil, fmt.Errorf("experiment: a %s model takes no prompts (it is not text-conditional)", c.Dataset)
	}
	ids, reports := c.Tokenizer.EncodeBatch(prompts)
	return cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: ids}}, reports, nil
}

// TestCaptions returns n prompts for evaluating a text-conditional model:
// one caption of each of the first n test images of dataset (cycling
// through the test set when n exceeds it), drawn with seed, with the
// captioner of the test set, whose digits and measured levels are the
// reference of captions.Align.
func TestCaptions(dataset string, n int, seed int64) ([]string, *Captioner, *mnist.Set, error) {
	test, err := LoadImages(dataset, "test")
	if err != nil {
		return nil, nil, nil, err
	}
	cp, err := NewCaptioner(test, seed)
	if err != nil {
		return nil, nil, nil, err
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i % test.N
	}
	return cp.Captions(0, idx), cp, test, nil
}

// ZeroShot holds a CLIP's zero-shot figures on captioned images: it is
// asked which of a few prompts fits each image best, and never trained on
// those images.
type ZeroShot struct {
	// Images is the number of images scored.
	Images int
	// DigitAccuracy is the share of the images whose most similar of the
	// ten prompts captions.Canonical(k) ("a 0", …, "a 9") names their digit
	// (chance 0.1).
	DigitAccuracy float64
	// Confusion counts the images of digit i that the CLIP read as digit j.
	Confusion [10][10]int
	// AttributeAccuracy holds, for thickness, slant and size, the share of
	// the images whose most similar of the three prompts naming the image's
	// digit with each level of that attribute ("a thin 3", "a regular 3",
	// "a thick 3") names the level measured on the image (chance about 1/3).
	AttributeAccuracy [3]float64
}

// CLIPZeroShot measures a CLIP's zero-shot digit classification and
// attribute retrieval on the first n images of set (their digits and
// measured levels in cp).
func CLIPZeroShot(m *clip.Model, tok *text.Tokenizer, set *mnist.Set, cp *Captioner, n int) (ZeroShot, error) {
	if n <= 0 || n > set.N {
		return ZeroShot{}, fmt.Errorf("experiment: zero-shot over %d images of a set of %d", n, set.N)
	}
	imgs, err := m.ImageEmbeddings(set.Pixels[:n*set.ImageSize()], n)
	if err != nil {
		return ZeroShot{}, err
	}
	// Prompts: the ten digits, then for each digit, attribute and level one.
	prompts := make([]string, 0, 10+10*3*3)
	for d := range 10 {
		prompts = append(prompts, captions.Canonical(d, captions.Levels{}))
	}
	for d := range 10 {
		for k := range 3 {
			for l := captions.Low; l <= captions.High; l++ {
				var lv captions.Levels
				*levelOf(&lv, k) = l
				prompts = append(prompts, captions.Canonical(d, lv))
			}
		}
	}
	ids, _ := tok.EncodeBatch(prompts)
	txt, err := m.TextEmbeddings(ids)
	if err != nil {
		return ZeroShot{}, err
	}
	sim := clip.Similarity(imgs, txt)
	z := ZeroShot{Images: n}
	var hits int
	var attrHits [3]int
	for i, row := range sim {
		d := int(cp.Labels[i])
		best := argmax(row[:10])
		z.Confusion[d][best]++
		if best == d {
			hits++
		}
		for k := range 3 {
			base := 10 + (d*3+k)*3
			if captions.Level(argmax(row[base:base+3])+1) == *levelOf(&cp.Levels[i], k) {
				attrHits[k]++
			}
		}
	}
	z.DigitAccuracy = float64(hits) / float64(n)
	for k := range 3 {
		z.AttributeAccuracy[k] = float64(attrHits[k]) / float64(n)
	}
	return z, nil
}

// levelOf returns the level of attribute k (0 thickness, 1 slant, 2 size).
func levelOf(lv *captions.Levels, k int) *captions.Level {
	switch k {
	case 0:
		return &lv.Thickness
	case 1:
		return &lv.Slant
	}
	return &lv.Size
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
