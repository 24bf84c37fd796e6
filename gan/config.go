package gan

import (
	"fmt"
	"math"
	"slices"
)

// Kinds of GAN ([Config.Kind]).
const (
	// KindMLP is the GAN for flat vectors such as the 2-D toy data: MLP
	// generator and discriminator.
	KindMLP = "mlp"
	// KindConv is the DCGAN-style pair for ImageSize×ImageSize×1 images in
	// [−1, 1].
	KindConv = "conv"
)

// Config configures a GAN. The zero value of a field means its default; the
// zero Config is the MLP GAN for 2-D data, without the R1 penalty.
type Config struct {
	// Kind is KindMLP (default) or KindConv.
	Kind string `json:"kind"`
	// DataDim is the dimension of the data of an MLP GAN (default 2).
	DataDim int `json:"data_dim,omitempty"`
	// ImageSize is the height and width of a conv GAN's images (default
	// 28); it must be divisible by 4 (two halvings).
	ImageSize int `json:"image_size,omitempty"`
	// NoiseDim is the dimension of the generator's input z ~ N(0, I)
	// (default 8 for KindMLP, 64 for KindConv).
	NoiseDim int `json:"noise_dim"`
	// Hidden are the widths of the hidden layers of both MLPs (default
	// [128, 128]). Ignored by KindConv.
	Hidden []int `json:"hidden,omitempty"`
	// Channels is the width of the conv pair's full-resolution level; the
	// half-resolution level has twice as many (default 32).
	Channels int `json:"channels,omitempty"`
	// R1Gamma is γ of the R1 penalty γ/2·‖∇_x D(x)‖² on real data added to
	// the discriminator's loss; 0 (the default) means no penalty. Mescheder
	// et al. (2018) use 10 on images scaled to [−1, 1]; for the 2-D toy data
	// values near 0.1–1 suffice.
	R1Gamma float64 `json:"r1_gamma,omitempty"`
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
	if c.NoiseDim == 0 {
		c.NoiseDim = 8
		if c.Kind == KindConv {
			c.NoiseDim = 64
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
		return fmt.Errorf("gan: invalid Config: "+format, args...)
	}
	switch {
	case c.Kind != KindMLP && c.Kind != KindConv:
		return bad("Kind must be %q or %q, got %q", KindMLP, KindConv, c.Kind)
	case c.DataDim < 1:
		return bad("DataDim must be ≥ 1, got %d", c.DataDim)
	case c.ImageSize < 4 || c.ImageSize%4 != 0:
		return bad("ImageSize must be a positive multiple of 4, got %d", c.ImageSize)
	case c.NoiseDim < 1:
		return bad("NoiseDim must be ≥ 1, got %d", c.NoiseDim)
	case c.Channels < 1:
		return bad("Channels must be ≥ 1, got %d", c.Channels)
	case c.R1Gamma < 0 || math.IsNaN(c.R1Gamma) || math.IsInf(c.R1Gamma, 0):
		return bad("R1Gamma must be finite and ≥ 0 (0: no penalty), got %g", c.R1Gamma)
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
