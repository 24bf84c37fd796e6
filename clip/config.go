package clip

import (
	"fmt"
	"math"

	"github.com/godiffusion/diffusion-models/text"
)

// Config configures a CLIP model. The zero value of a field means its
// default, except Text.VocabSize, which must be set (the tokenizer's, see
// text.Tokenizer.EncoderConfig).
type Config struct {
	// Text is the text encoder (package text's defaults: width 64, 2
	// layers, 4 heads).
	Text text.EncoderConfig `json:"text"`
	// ImageSize is the height and width of the images (default 28).
	ImageSize int `json:"image_size"`
	// InChannels is the number of image channels (default 1).
	InChannels int `json:"in_channels"`
	// ImageBase is the width of the image encoder's first convolution; its
	// two downsampling convolutions have 2·ImageBase channels (default 32).
	ImageBase int `json:"image_base"`
	// GroupNormGroups is the number of groups of the image encoder's
	// GroupNorms (default 8); it must divide ImageBase.
	GroupNormGroups int `json:"groupnorm_groups"`
	// EmbedDim is the size of the shared embedding space (default 64).
	EmbedDim int `json:"embed_dim"`
	// InitTemperature is the softmax temperature τ at initialisation: the
	// variable logit_scale starts at log(1/τ) (default 0.07, CLIP's).
	InitTemperature float64 `json:"init_temperature"`
}

// MaxLogitScale is the cap on the inverse temperature s = 1/τ (CLIP's):
// logit_scale is clipped at log(MaxLogitScale) before exponentiation.
const MaxLogitScale = 100

// WithDefaults returns the configuration with every zero field set to its
// default (Text's too, but its VocabSize).
func (c Config) WithDefaults() Config {
	c.Text = c.Text.WithDefaults()
	if c.ImageSize == 0 {
		c.ImageSize = 28
	}
	if c.InChannels == 0 {
		c.InChannels = 1
	}
	if c.ImageBase == 0 {
		c.ImageBase = 32
	}
	if c.GroupNormGroups == 0 {
		c.GroupNormGroups = 8
	}
	if c.EmbedDim == 0 {
		c.EmbedDim = 64
	}
	if c.InitTemperature == 0 {
		c.InitTemperature = 0.07
	}
	return c
}

// Validate reports a configuration that cannot be built, saying which field
// is wrong.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if err := c.Text.Validate(); err != nil {
		return fmt.Errorf("clip: invalid Config.Text: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("clip: invalid Config: "+format, args...)
	}
	switch {
	case c.ImageSize < 1:
		return bad("ImageSize must be ≥ 1, got %d", c.ImageSize)
	case c.InChannels < 1:
		return bad("InChannels must be ≥ 1, got %d", c.InChannels)
	case c.ImageBase < 1:
		return bad("ImageBase must be ≥ 1, got %d", c.ImageBase)
	case c.GroupNormGroups < 1 || c.ImageBase%c.GroupNormGroups != 0:
		return bad("GroupNormGroups must be ≥ 1 and divide ImageBase %d, got %d", c.ImageBase, c.GroupNormGroups)
	case c.EmbedDim < 1:
		return bad("EmbedDim must be ≥ 1, got %d", c.EmbedDim)
	case !(c.InitTemperature > 0) || math.IsInf(c.InitTemperature, 0):
		return bad("InitTemperature must be finite and > 0, got %g", c.InitTemperature)
	case c.InitTemperature < 1.0/MaxLogitScale:
		return bad("InitTemperature %g is below 1/%d, where the inverse temperature is capped", c.InitTemperature, MaxLogitScale)
	}
	return nil
}

// ImageDims returns the dimensions of one image, [ImageSize, ImageSize, InChannels].
func (c Config) ImageDims() []int {
	c = c.WithDefaults()
	return []int{c.ImageSize, c.ImageSize, c.InChannels}
}

// NumParams returns the number of trainable parameters, for C = InChannels,
// b = ImageBase, E = EmbedDim, D = Text.Width:
//
//	image  conv_in 9·C·b + b;  down_0 9·b·2b + 2b;  down_1 9·2b·2b + 2b;
//	       GroupNorms 2b + 2·(2·2b)                    = 54b² + (9C + 15)·b
//	image_proj  2b·E + E
//	text        Text.NumParams()
//	text_proj   D·E + E
//	logit_scale 1
func (c Config) NumParams() int {
	c = c.WithDefaults()
	b, e, d := c.ImageBase, c.EmbedDim, c.Text.Width
	image := 54*b*b + (9*c.InChannels+15)*b
	return image + (2*b*e + e) + c.Text.NumParams() + (d*e + e) + 1
}
