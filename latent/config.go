package latent

import (
	"fmt"
	"slices"
)

// Config configures an autoencoder. The zero value of a field means its
// default; the zero Config is the MNIST autoencoder (28×28×1 → 7×7×4).
type Config struct {
	// ImageSize is the height and width of the images (default 28). It must
	// be divisible by 2^(len(ChannelMults)−1).
	ImageSize int `json:"image_size"`
	// InChannels is the number of image channels (default 1).
	InChannels int `json:"in_channels"`
	// LatentChannels is the number of channels of the latent (default 4).
	LatentChannels int `json:"latent_channels"`
	// BaseChannels is the width of the first level (default 16).
	BaseChannels int `json:"base_channels"`
	// ChannelMults gives each level's width as a multiple of BaseChannels,
	// from full resolution down; each level after the first halves the
	// resolution (default [1, 2, 2]: 28 → 14 → 7).
	ChannelMults []int `json:"channel_mults"`
	// NumResBlocks is the number of residual blocks per level, in the
	// encoder and in the decoder (default 1).
	NumResBlocks int `json:"num_res_blocks"`
	// GroupNormGroups is the number of groups of every GroupNorm (default
	// 8); it must divide every width.
	GroupNormGroups int `json:"groupnorm_groups"`
	// KLWeight weighs the KL term of the loss (default 1e-6, Stable
	// Diffusion's; ignored by the plain autoencoder).
	KLWeight float64 `json:"kl_weight"`
	// Plain makes a plain autoencoder: the encoder outputs z directly, no
	// variance, no sampling and no KL term (the ablation of the KL
	// regularisation).
	Plain bool `json:"plain,omitempty"`
}

// DefaultKLWeight is the default of [Config.KLWeight].
const DefaultKLWeight = 1e-6

// WithDefaults returns the configuration with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ImageSize == 0 {
		c.ImageSize = 28
	}
	if c.InChannels == 0 {
		c.InChannels = 1
	}
	if c.LatentChannels == 0 {
		c.LatentChannels = 4
	}
	if c.BaseChannels == 0 {
		c.BaseChannels = 16
	}
	if len(c.ChannelMults) == 0 {
		c.ChannelMults = []int{1, 2, 2}
	}
	if c.NumResBlocks == 0 {
		c.NumResBlocks = 1
	}
	if c.GroupNormGroups == 0 {
		c.GroupNormGroups = 8
	}
	if c.KLWeight == 0 && !c.Plain {
		c.KLWeight = DefaultKLWeight
	}
	if c.Plain {
		c.KLWeight = 0
	}
	c.ChannelMults = slices.Clone(c.ChannelMults)
	return c
}

// Factor returns the downsampling factor f = 2^(len(ChannelMults)−1).
func (c Config) Factor() int {
	c = c.WithDefaults()
	return 1 << (len(c.ChannelMults) - 1)
}

// LatentSize returns the height and width of the latent, ImageSize/Factor.
func (c Config) LatentSize() int {
	c = c.WithDefaults()
	return c.ImageSize / c.Factor()
}

// ImageDims returns the dimensions of one image, [ImageSize, ImageSize, InChannels].
func (c Config) ImageDims() []int {
	c = c.WithDefaults()
	return []int{c.ImageSize, c.ImageSize, c.InChannels}
}

// LatentDims returns the dimensions of one latent, [LatentSize, LatentSize, LatentChannels].
func (c Config) LatentDims() []int {
	c = c.WithDefaults()
	s := c.LatentSize()
	return []int{s, s, c.LatentChannels}
}

// Validate reports a configuration that cannot be built, saying which field is wrong.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("latent: invalid autoencoder Config: "+format, args...)
	}
	switch {
	case c.ImageSize < 1:
		return bad("ImageSize must be ≥ 1, got %d", c.ImageSize)
	case c.InChannels < 1:
		return bad("InChannels must be ≥ 1, got %d", c.InChannels)
	case c.LatentChannels < 1:
		return bad("LatentChannels must be ≥ 1, got %d", c.LatentChannels)
	case c.BaseChannels < 1:
		return bad("BaseChannels must be ≥ 1, got %d", c.BaseChannels)
	case c.NumResBlocks < 1:
		return bad("NumResBlocks must be ≥ 1, got %d", c.NumResBlocks)
	case c.GroupNormGroups < 1:
		return bad("GroupNormGroups must be ≥ 1, got %d", c.GroupNormGroups)
	case c.KLWeight < 0:
		return bad("KLWeight must be ≥ 0, got %g", c.KLWeight)
	}
	for i, m := range c.ChannelMults {
		if m < 1 {
			return bad("ChannelMults[%d] must be ≥ 1, got %d", i, m)
		}
		if w := c.BaseChannels * m; w%c.GroupNormGroups != 0 {
			return bad("GroupNormGroups %d does not divide the width %d of level %d", c.GroupNormGroups, w, i)
		}
	}
	if f := c.Factor(); c.ImageSize%f != 0 {
		return bad("ImageSize %d is not divisible by %d (one halving per level after the first)", c.ImageSize, f)
	}
	return nil
}

// ForwardFLOPs returns the floating-point operations of the encoder and of
// the decoder on one image (one latent), counted as
// unet.UNetConfig.ForwardFLOPs counts them: 2·k²·Cin·Cout·H·W for each k×k
// convolution with an H×W output; normalisations and activations are not
// counted.
func (c Config) ForwardFLOPs() (encoder, decoder int64) {
	c = c.WithDefaults()
	conv := func(k, cin, cout, res int) int64 {
		return 2 * int64(k*k) * int64(cin) * int64(cout) * int64(res) * int64(res)
	}
	res := func(cin, cout, r int) int64 {
		n := conv(3, cin, cout, r) + conv(3, cout, cout, r)
		if cin != cout {
			n += conv(1, cin, cout, r)
		}
		return n
	}
	last := len(c.ChannelMults) - 1
	r := c.ImageSize
	ch := c.BaseChannels
	encoder = conv(3, c.InChannels, ch, r)
	for i, m := range c.ChannelMults {
		for range c.NumResBlocks {
			encoder += res(ch, c.BaseChannels*m, r)
			ch = c.BaseChannels * m
		}
		if i < last {
			r /= 2
			encoder += conv(3, ch, ch, r)
		}
	}
	out := c.LatentChannels
	if !c.Plain {
		out *= 2
	}
	encoder += res(ch, ch, r) + conv(3, ch, out, r)

	ch = c.BaseChannels * c.ChannelMults[last]
	decoder = conv(3, c.LatentChannels, ch, r) + res(ch, ch, r)
	for i := last; i >= 0; i-- {
		for range c.NumResBlocks {
			decoder += res(ch, c.BaseChannels*c.ChannelMults[i], r)
			ch = c.BaseChannels * c.ChannelMults[i]
		}
		if i > 0 {
			r *= 2
			next := c.BaseChannels * c.ChannelMults[i-1]
			decoder += conv(3, ch, next, r)
			ch = next
		}
	}
	decoder += conv(3, ch, c.InChannels, r)
	return encoder, decoder
}
