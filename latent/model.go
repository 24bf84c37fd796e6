package latent

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/unet"
)

// normEps is the ε of every GroupNorm of the autoencoder.
const normEps = 1e-5

// logVarMin and logVarMax bound the encoder's log σ² (as Stable
// Diffusion's autoencoder does), so that exp(log σ²) neither underflows
// nor overflows early in training.
const (
	logVarMin = -30
	logVarMax = 20
)

// Encoder returns the encoder's posterior for images x [B, ImageSize,
// ImageSize, InChannels]: its mean μ and log-variance log σ², each [B, h, w,
// LatentChannels] (h = w = LatentSize). For a plain autoencoder logVar is nil
// and μ is the latent. Scopes (under scope):
//
//	conv_in          Conv3×3 InChannels → BaseChannels
//	down_i/res_r     NumResBlocks residual blocks → BaseChannels·ChannelMults[i]
//	down_i/downsample  Conv3×3 stride 2, except at the last level
//	middle           one residual block
//	out_norm, conv_out  GroupNorm, SiLU, Conv3×3 → 2·LatentChannels (μ, then log σ²), or LatentChannels (plain)
func (c Config) Encoder(scope *model.Scope, x *Node) (mu, logVar *Node) {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	if x.Rank() != 4 || x.Shape().Dimensions[1] != c.ImageSize || x.Shape().Dimensions[2] != c.ImageSize ||
		x.Shape().Dimensions[3] != c.InChannels {
		exceptions.Panicf("latent: the encoder for %d×%d×%d images got x of shape %s", c.ImageSize, c.ImageSize, c.InChannels, x.Shape())
	}
	g := c.GroupNormGroups
	h := unet.Conv2D(scope.In("conv_in"), unet.ToCBHW(x), c.BaseChannels, 3, 1) // [C,B,H,W]
	last := len(c.ChannelMults) - 1
	for i, m := range c.ChannelMults {
		s := scope.In("down_%d", i)
		for r := range c.NumResBlocks {
			h = resBlock(s.In("res_%d", r), h, c.BaseChannels*m, g)
		}
		if i < last {
			h = unet.Downsample(s.In("downsample"), h, h.Shape().Dimensions[0])
		}
	}
	h = resBlock(scope.In("middle"), h, h.Shape().Dimensions[0], g)
	h = unet.SiLU(unet.GroupNorm(scope.In("out_norm"), h, g, normEps))
	lc := c.LatentChannels
	if c.Plain {
		return unet.FromCBHW(unet.Conv2D(scope.In("conv_out"), h, lc, 3, 1)), nil
	}
	h = unet.Conv2D(scope.In("conv_out"), h, 2*lc, 3, 1)
	mu = unet.FromCBHW(Slice(h, AxisRange(0, lc)))
	logVar = unet.FromCBHW(Slice(h, AxisRange(lc, 2*lc)))
	logVar = ClipScalar(logVar, logVarMin, logVarMax)
	return mu, logVar
}

// Decoder returns the images x̂ [B, ImageSize, ImageSize, InChannels] of the
// latents z [B, h, w, LatentChannels]: the encoder's mirror. Scopes:
//
//	conv_in          Conv3×3 LatentChannels → BaseChannels·ChannelMults[last]
//	middle           one residual block
//	up_i/res_r       NumResBlocks residual blocks → BaseChannels·ChannelMults[i], from the last level up
//	up_i/upsample    nearest ×2 and Conv3×3 → the next level's width, except at the first level
//	out_norm, conv_out  GroupNorm, SiLU, Conv3×3 → InChannels
//
// The output is not squashed: pixels are in [−1, 1] only as far as the
// decoder has learnt them; callers clip for display.
func (c Config) Decoder(scope *model.Scope, z *Node) *Node {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	ls := c.LatentSize()
	if z.Rank() != 4 || z.Shape().Dimensions[1] != ls || z.Shape().Dimensions[2] != ls ||
		z.Shape().Dimensions[3] != c.LatentChannels {
		exceptions.Panicf("latent: the decoder for %d×%d×%d latents got z of shape %s", ls, ls, c.LatentChannels, z.Shape())
	}
	g := c.GroupNormGroups
	last := len(c.ChannelMults) - 1
	h := unet.Conv2D(scope.In("conv_in"), unet.ToCBHW(z), c.BaseChannels*c.ChannelMults[last], 3, 1)
	h = resBlock(scope.In("middle"), h, h.Shape().Dimensions[0], g)
	for i := last; i >= 0; i-- {
		s := scope.In("up_%d", i)
		for r := range c.NumResBlocks {
			h = resBlock(s.In("res_%d", r), h, c.BaseChannels*c.ChannelMults[i], g)
		}
		if i > 0 {
			h = unet.Upsample(s.In("upsample"), h, c.BaseChannels*c.ChannelMults[i-1])
		}
	}
	h = unet.SiLU(unet.GroupNorm(scope.In("out_norm"), h, g, normEps))
	return unet.FromCBHW(unet.Conv2D(scope.In("conv_out"), h, c.InChannels, 3, 1))
}

// resBlock is the autoencoder's residual block on a feature map x
// [Cin,B,H,W] (the UNet's ResBlock without the time embedding):
//
//	h = Conv3×3(SiLU(GroupNorm(x)));  h = Conv3×3(SiLU(GroupNorm(h)));  y = skip(x) + h
//
// with skip a 1×1 convolution when Cin ≠ out. Scopes norm_1, conv_1,
// norm_2, conv_2, skip.
func resBlock(scope *model.Scope, x *Node, out, groups int) *Node {
	h := unet.SiLU(unet.GroupNorm(scope.In("norm_1"), x, groups, normEps))
	h = unet.Conv2D(scope.In("conv_1"), h, out, 3, 1)
	h = unet.SiLU(unet.GroupNorm(scope.In("norm_2"), h, groups, normEps))
	h = unet.Conv2D(scope.In("conv_2"), h, out, 3, 1)
	skip := x
	if x.Shape().Dimensions[0] != out {
		skip = unet.Conv2D(scope.In("skip"), x, out, 1, 1)
	}
	return Add(skip, h)
}
