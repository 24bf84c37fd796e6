package gan

import (
	"math"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/unet"
)

// leak is the negative slope of the discriminator's leaky ReLU (DCGAN's 0.2).
const leak = 0.2

// Generator returns G(z), shaped [B, DataDims...], for noise z [B, NoiseDim].
// Scopes under scope:
//
//	KindMLP:  layer_i (Dense, ReLU) for each hidden width, out (Dense → DataDim, no activation)
//	KindConv: in (Dense → (S/4)²·2·Channels, ReLU), up_1 (nearest ×2, 3×3 conv → Channels, ReLU),
//	          up_2 (the same), conv_out (3×3 → 1), tanh
//
// The conv generator ends in tanh, so its images lie in (−1, 1).
func (c Config) Generator(scope *model.Scope, z *Node) *Node {
	c = c.mustValid()
	if z.Rank() != 2 || z.Shape().Dimensions[1] != c.NoiseDim {
		exceptions.Panicf("gan: the generator needs noise shaped [B, %d], got %s", c.NoiseDim, z.Shape())
	}
	b := z.Shape().Dimensions[0]
	if c.Kind == KindMLP {
		h := z
		for i, w := range c.Hidden {
			h = unet.ReLU(layer{scope.In("layer_%d", i), false}.dense(h, w))
		}
		return layer{scope.In("out"), false}.dense(h, c.DataDim)
	}
	s := c.ImageSize / 4
	h := unet.ReLU(layer{scope.In("in"), false}.dense(z, s*s*2*c.Channels))
	f := unet.ToCBHW(Reshape(h, b, s, s, 2*c.Channels))
	f = unet.ReLU(unet.Upsample(scope.In("up_1"), f, c.Channels))
	f = unet.ReLU(unet.Upsample(scope.In("up_2"), f, c.Channels))
	f = unet.Conv2D(scope.In("conv_out"), f, 1, 3, 1)
	return unet.FromCBHW(Tanh(f))
}

// Discriminator returns the logits D(x), shaped [B], of a batch x [B,
// DataDims...]. With frozen, every weight enters the graph behind
// StopGradient: the logits are the same, but no gradient reaches the
// discriminator's weights through them (the generator's loss uses this; see
// the package documentation). Scopes under scope:
//
//	KindMLP:  layer_i (Dense, leaky ReLU 0.2) for each hidden width, out (Dense → 1)
//	KindConv: conv_1 (3×3 stride 2 → Channels), conv_2 (3×3 stride 2 → 2·Channels), each then leaky ReLU 0.2;
//	          out (Dense → 1)
//
// It may be called several times in one graph with the same scope: each call
// reads the same variables.
func (c Config) Discriminator(scope *model.Scope, x *Node, frozen bool) *Node {
	c = c.mustValid()
	want := c.DataDims()
	ok := x.Rank() == len(want)+1
	for i := 0; ok && i < len(want); i++ {
		ok = x.Shape().Dimensions[i+1] == want[i]
	}
	if !ok {
		exceptions.Panicf("gan: the discriminator of a %s GAN needs data shaped [B, %v], got %s", c.Kind, want, x.Shape())
	}
	scope = scope.ResetVisited()
	b := x.Shape().Dimensions[0]
	var h *Node
	if c.Kind == KindMLP {
		h = x
		for i, w := range c.Hidden {
			h = leakyReLU(layer{scope.In("layer_%d", i), frozen}.dense(h, w))
		}
	} else {
		f := unet.ToCBHW(x)
		f = leakyReLU(layer{scope.In("conv_1"), frozen}.conv(f, c.Channels, 2))
		f = leakyReLU(layer{scope.In("conv_2"), frozen}.conv(f, 2*c.Channels, 2))
		h = Reshape(unet.FromCBHW(f), b, -1)
	}
	return Reshape(layer{scope.In("out"), frozen}.dense(h, 1), b)
}

// leakyReLU is max(x, 0.2·x).
func leakyReLU(x *Node) *Node { return Max(x, MulScalar(x, leak)) }

// layer is a scope whose weights may enter the graph behind StopGradient.
type layer struct {
	scope  *model.Scope
	frozen bool
}

// param returns the variable name of shape dims, created with PyTorch's
// default U(±1/√fanIn), as a node (behind StopGradient when frozen).
func (l layer) param(name string, x *Node, fanIn int, dims ...int) *Node {
	bound := 1 / math.Sqrt(float64(fanIn))
	s := l.scope.WithInitializer(initializer.RandomUniformFn(l.scope, -bound, bound))
	v := s.VariableWithShape(name, shapes.Make(x.DType(), dims...)).NodeValue(x.Graph())
	if l.frozen {
		v = StopGradient(v)
	}
	return v
}

// dense is x·W + b over the last axis of x [B, in]: variables "weights"
// [in, out] and "biases" [out].
func (l layer) dense(x *Node, out int) *Node {
	in := x.Shape().Dimensions[1]
	w := l.param("weights", x, in, in, out)
	b := l.param("biases", x, in, out)
	return Add(MatMul(x, w), ExpandAxes(b, 0))
}

// conv is a 3×3 "same" convolution of the feature map x [Cin,B,H,W] at
// stride 1 or 2: variables "weights" [3,3,Cin,out] and "biases" [out],
// computed by [productConv] on every backend. The R1 penalty differentiates
// the discriminator twice, and GoMLX v0.28.2 cannot: package unet's fast
// formulations build on slices, whose gradient is a Pad, which has no
// gradient (pad-shift also flips the kernel with Reverse, likewise), and the
// native convolution's gradient at stride 2 is a dilated convolution, which
// has none either. (The generator, differentiated once, keeps unet's.)
func (l layer) conv(x *Node, out, stride int) *Node {
	cin := x.Shape().Dimensions[0]
	w := l.param("weights", x, 9*cin, 3, 3, cin, out)
	b := l.param("biases", x, 9*cin, out)
	return Add(productConv(x, w, stride), Reshape(b, out, 1, 1, 1))
}

// productConv is the "same" 3×3 convolution of x [C,B,H,W] with w
// [3,3,C,O] at stride s, written with matrix products only, so that it can
// be differentiated any number of times:
//
//	patches = x·E,   y[o,b,q] = Σ_{c,tap} w[tap,c,o] · patches[c,b,tap,q],
//
// where x is read as [C·B, H·W] and E [H·W, 9·Ho·Wo] is the constant 0/1
// matrix that copies input pixel (s·i+dy−1, s·j+dx−1) to column
// tap·Ho·Wo + (i·Wo + j) (no column where that pixel lies outside the
// image: the zero padding). E has (H·W)²·9/s² entries, 5.5 MB at 28×28 and
// stride 2: meant for small images.
func productConv(x, w *Node, stride int) *Node {
	d := x.Shape().Dimensions
	c, b, h, wd := d[0], d[1], d[2], d[3]
	o := w.Shape().Dimensions[3]
	ho, wo := (h+stride-1)/stride, (wd+stride-1)/stride
	p := ho * wo
	e := make([]float64, h*wd*9*p)
	for tap := range 9 {
		dy, dx := tap/3, tap%3
		for i := range ho {
			for j := range wo {
				r, col := stride*i+dy-1, stride*j+dx-1
				if r >= 0 && r < h && col >= 0 && col < wd {
					e[(r*wd+col)*9*p+tap*p+i*wo+j] = 1
				}
			}
		}
	}
	em := Reshape(ConstAsDType(x.Graph(), x.DType(), e), h*wd, 9*p)
	patches := Reshape(MatMul(Reshape(x, c*b, h*wd), em), c, b, 9, p)
	cols := Reshape(TransposeAllAxes(patches, 0, 2, 1, 3), c*9, b*p)      // row c·9 + tap
	wm := Reshape(TransposeAllAxes(Reshape(w, 9, c, o), 1, 0, 2), c*9, o) // the same rows
	y := DotGeneral(wm, []int{0}, nil, cols, []int{0}, nil)               // [O, B·P]
	return Reshape(y, o, b, ho, wo)
}

// mustValid returns the configuration with defaults, panicking (inside graph
// building, where safecall turns it into an error) if it is invalid.
func (c Config) mustValid() Config {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	return c.WithDefaults()
}
