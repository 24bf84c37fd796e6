package vae

import (
	"math"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/unet"
)

// Bounds of the log-variances the networks output. The encoder's keep
// exp(log σ²) finite early in training (as latent's encoder does). The MLP
// decoder's floor, σ ≥ e^{−5} ≈ 0.0067, stops a density decoder from
// shrinking its variance without end on data it reconstructs almost exactly.
// The discretised decoder's floor lies where a bin of half-width 1/255 holds
// all of the probability already (σ = e^{−7.5} ≈ 5.5e-4 ≈ 1/7 of the half-width),
// so it costs nothing; its ceiling, σ = e^{1}, is wider than the whole
// range [−1, 1].
const (
	encLogVarMin, encLogVarMax = -30, 20
	mlpDecLogVarMin            = -10
	imgDecLogVarMin            = -15
	imgDecLogVarMax            = 2
)

// Encoder returns the parameters of the posterior q(z|x) = N(μ, diag σ²) of
// a batch x ([B, DataDims...]): μ and log σ², each [B, LatentDim]. Scopes
// under scope:
//
//	KindMLP:  layer_i (Dense, SiLU) for each hidden width (none when Linear), out (Dense → 2·LatentDim: μ, then log σ²)
//	KindConv: conv_1 (3×3, Channels), conv_2 (3×3 stride 2, 2·Channels), conv_3 (3×3 stride 2, 2·Channels), each then SiLU; out (Dense → 2·LatentDim)
//
// log σ² is clipped to [−30, 20].
func (c Config) Encoder(scope *model.Scope, x *Node) (mu, logVar *Node) {
	c = c.mustValid()
	c.checkData("encoder", x)
	b := x.Shape().Dimensions[0]
	var h *Node
	switch c.Kind {
	case KindMLP:
		h = c.hidden(scope, x)
	case KindConv:
		f := unet.ToCBHW(x)
		f = unet.SiLU(unet.Conv2D(scope.In("conv_1"), f, c.Channels, 3, 1))
		f = unet.SiLU(unet.Conv2D(scope.In("conv_2"), f, 2*c.Channels, 3, 2))
		f = unet.SiLU(unet.Conv2D(scope.In("conv_3"), f, 2*c.Channels, 3, 2))
		h = Reshape(unet.FromCBHW(f), b, -1)
	}
	out := unet.Dense(scope.In("out"), h, 2*c.LatentDim)
	l := c.LatentDim
	mu = Slice(out, AxisRange(), AxisRange(0, l))
	logVar = ClipScalar(Slice(out, AxisRange(), AxisRange(l, 2*l)), encLogVarMin, encLogVarMax)
	return mu, logVar
}

// Decoder returns the parameters of p(x|z) for latents z [B, LatentDim]:
// its mean and log-variance, each shaped like the data [B, DataDims...].
// Scopes under scope:
//
//	KindMLP:  layer_i (Dense, SiLU) for each hidden width, in reverse order (none when Linear),
//	          out (Dense → DataDim: the mean), and the variable log_var [DataDim]
//	          (learned, initialised to 0, floored at −10) unless DecoderStd fixes σ
//	KindConv: in (Dense → (S/4)²·2·Channels, SiLU), up_1 and up_2 (nearest ×2, 3×3 conv → Channels, SiLU),
//	          conv_out (3×3 → 2 channels: the mean, then log σ² clipped to [−15, 2])
func (c Config) Decoder(scope *model.Scope, z *Node) (mean, logVar *Node) {
	c = c.mustValid()
	if z.Rank() != 2 || z.Shape().Dimensions[1] != c.LatentDim {
		exceptions.Panicf("vae: the decoder needs latents shaped [B, %d], got %s", c.LatentDim, z.Shape())
	}
	b := z.Shape().Dimensions[0]
	g := z.Graph()
	switch c.Kind {
	case KindMLP:
		h := z
		if !c.Linear {
			for i := len(c.Hidden) - 1; i >= 0; i-- {
				h = unet.SiLU(unet.Dense(scope.In("layer_%d", len(c.Hidden)-1-i), h, c.Hidden[i]))
			}
		}
		mean = unet.Dense(scope.In("out"), h, c.DataDim)
		if c.DecoderStd > 0 {
			logVar = BroadcastToShape(Scalar(g, z.DType(), 2*math.Log(c.DecoderStd)), mean.Shape())
		} else {
			v := scope.WithInitializer(initializer.Zero).
				VariableWithShape("log_var", shapes.Make(z.DType(), c.DataDim)).NodeValue(g)
			logVar = BroadcastToShape(ExpandAxes(MaxScalar(v, mlpDecLogVarMin), 0), mean.Shape())
		}
		return mean, logVar
	default: // KindConv
		s := c.ImageSize / 4
		h := unet.SiLU(unet.Dense(scope.In("in"), z, s*s*2*c.Channels))
		f := unet.ToCBHW(Reshape(h, b, s, s, 2*c.Channels))
		f = unet.SiLU(unet.Upsample(scope.In("up_1"), f, c.Channels))
		f = unet.SiLU(unet.Upsample(scope.In("up_2"), f, c.Channels))
		out := unet.FromCBHW(unet.Conv2D(scope.In("conv_out"), f, 2, 3, 1)) // [B, S, S, 2]
		mean = Slice(out, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, 1))
		logVar = ClipScalar(Slice(out, AxisRange(), AxisRange(), AxisRange(), AxisRange(1, 2)), imgDecLogVarMin, imgDecLogVarMax)
		return mean, logVar
	}
}

// hidden applies the MLP encoder's hidden layers (none when Linear).
func (c Config) hidden(scope *model.Scope, x *Node) *Node {
	h := x
	if c.Linear {
		return h
	}
	for i, w := range c.Hidden {
		h = unet.SiLU(unet.Dense(scope.In("layer_%d", i), h, w))
	}
	return h
}

// mustValid returns the configuration with defaults, panicking (inside graph
// building, where safecall turns it into an error) if it is invalid.
func (c Config) mustValid() Config {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	return c.WithDefaults()
}

// checkData panics unless x is a batch of examples shaped [B, DataDims...].
func (c Config) checkData(who string, x *Node) {
	want := c.DataDims()
	ok := x.Rank() == len(want)+1
	for i := 0; ok && i < len(want); i++ {
		ok = x.Shape().Dimensions[i+1] == want[i]
	}
	if !ok {
		exceptions.Panicf("vae: the %s of a %s VAE needs data shaped [B, %v], got %s", who, c.Kind, want, x.Shape())
	}
}
