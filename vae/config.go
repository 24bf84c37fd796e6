package vae

import (
	"fmt"
	"math"
	"slices"
)

// Kinds of VAE ([Config.Kind]).
const (
	// KindMLP is the VAE for flat vectors such as the 2-D toy data: MLP
	// encoder and decoder, Gaussian decoder of density.
	KindMLP = "mlp"
	// KindConv is the VAE for ImageSize×ImageSize×1 images in [−1, 1]
	// (8-bit levels 2k/255 − 1): convolutional encoder and decoder,
	// discretised Gaussian decoder over the 256 levels.
	KindConv = "conv"
)

// Config configures a VAE. The zero value of a field means its default; the
// zero Config is the MLP VAE for 2-D data with a 2-D latent.
type Config struct {
	// Kind is KindMLP (default) or KindConv.
	Kind string `json:"kind"`
	// DataDim is the dimension D of the data of an MLP VAE (default 2).
	DataDim int `json:"data_dim,omitempty"`
	// ImageSize is the height and width of a conv VAE's images (default
	// 28); it must be divisible by 4 (two halvings).
	ImageSize int `json:"image_size,omitempty"`
	// LatentDim is the dimension of z (default 2 for KindMLP, 16 for
	// KindConv).
	LatentDim int `json:"latent_dim"`
	// Hidden are the widths of the MLP's hidden layers, the same in the
	// encoder and the decoder (default [128, 128]). Ignored by KindConv.
	Hidden []int `json:"hidden,omitempty"`
	// Linear makes an MLP VAE without hidden layers: the encoder and the
	// decoder's mean are affine maps (probabilistic PCA with an amortised
	// posterior). Hidden is then ignored.
	Linear bool `json:"linear,omitempty"`
	// Channels is the width of a conv VAE's first level; the second has
	// twice as many (default 32).
	Channels int `json:"channels,omitempty"`
	// DecoderStd fixes the standard deviation σ of the MLP VAE's Gaussian
	// decoder p(x|z) = N(x; m(z), σ² I); 0 (the default) learns one log σ²
	// per data dimension, independent of z (see the package documentation
	// for why). Ignored by KindConv, whose decoder learns a variance per
	// pixel.
	DecoderStd float64 `json:"decoder_std,omitempty"`
}

// WithDefaults returns the configuration with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Kind == "" {
		c.Kind = KindMLP
	}
	if c.DataDim == 0 {
		c.DataDim = 2
	}
	if c.ImageSize == 0 {
		c.ImageSize = 28
	}
	if c.LatentDim == 0 {
		c.LatentDim = 2
		if c.Kind == KindConv {
			c.LatentDim = 16
		}
	}
	if len(c.Hidden) == 0 {
		c.Hidden = []int{128, 128}
	}
	if c.Channels == 0 {
		c.Channels = 32
	}
	c.Hidden = slices.Clone(c.Hidden)
	return c
}

// Validate reports a configuration that cannot be built, naming the field.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("vae: invalid Config: "+format, args...)
	}
	switch {
	case c.Kind != KindMLP && c.Kind != KindConv:
		return bad("Kind must be %q or %q, got %q", KindMLP, KindConv, c.Kind)
	case c.DataDim < 1:
		return bad("DataDim must be ≥ 1, got %d", c.DataDim)
	case c.ImageSize < 4 || c.ImageSize%4 != 0:
		return bad("ImageSize must be a positive multiple of 4, got %d", c.ImageSize)
	case c.LatentDim < 1:
		return bad("LatentDim must be ≥ 1, got %d", c.LatentDim)
	case c.Channels < 1:
		return bad("Channels must be ≥ 1, got %d", c.Channels)
	case c.DecoderStd < 0 || math.IsNaN(c.DecoderStd) || math.IsInf(c.DecoderStd, 0):
		return bad("DecoderStd must be finite and ≥ 0 (0: learned), got %g", c.DecoderStd)
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return bad("Hidden[%d] must be ≥ 1, got %d", i, h)
		}
	}
	return nil
}

// DataDims returns the dimensions of one example: [DataDim] for KindMLP,
// [ImageSize, ImageSize, 1] for KindConv.
func (c Config) DataDims() []int {
	c = c.WithDefaults()
	if c.Kind == KindConv {
		return []int{c.ImageSize, c.ImageSize, 1}
	}
	return []int{c.DataDim}
}

// Dims returns D, the number of values of one example (the D of bits/dim).
func (c Config) Dims() int {
	p := 1
	for _, d := range c.DataDims() {
		p *= d
	}
	return p
}
