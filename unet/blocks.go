package unet

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/internal/fastmm"
)

// normEps is the ε of every GroupNorm in the UNet (PyTorch's default).
const normEps = 1e-5

// ResBlock is the residual block of the DDPM/ADM UNet, for the feature map
// x [Cin,B,H,W] and the time embedding temb [B,E]:
//
//	h = Conv3×3(SiLU(GroupNorm(x)))  +  Dense(SiLU(temb))     (the latter broadcast over H, W)
//	h = Conv3×3(Dropout(SiLU(GroupNorm(h))))
//	y = skip(x) + h,    skip = identity if Cin = out, else a 1×1 convolution
//
// Scopes: "norm_1", "conv_1", "time" (the Dense E → out), "norm_2", "conv_2"
// and "skip". The first convolution's bias and the time projection are both
// constant over H and W, so they are added together, once. Dropout (rate
// dropout) acts only when the graph is marked as training, see [Dropout].
func ResBlock(scope *model.Scope, x, temb *Node, out, groups int, dropout float64) *Node {
	return resBlock(scope, x, temb, out, groups, dropout, nil)
}

// resBlock is ResBlock; when keep is not nil it is the dropout's mask,
// drawn beforehand (see dropoutKeep), instead of one drawn here.
func resBlock(scope *model.Scope, x, temb *Node, out, groups int, dropout float64, keep *Node) *Node {
	if x.Rank() != 4 || temb.Rank() != 2 || temb.Shape().Dimensions[0] != x.Shape().Dimensions[1] {
		exceptions.Panicf("unet: ResBlock needs x [C,B,H,W] and temb [B,E], got %s and %s", x.Shape(), temb.Shape())
	}
	d := x.Shape().Dimensions
	cin, b, p := d[0], d[1], d[2]*d[3]
	g, dt := x.Graph(), x.DType()

	h := SiLU(GroupNorm(scope.In("norm_1"), x, groups, normEps))
	w1, b1 := convVariables(scope.In("conv_1"), g, dt, 3, cin, out)
	tproj := Transpose(Dense(scope.In("time"), SiLU(temb), out), 0, 1) // [out, B]
	bias := Reshape(Add(Reshape(b1, out, 1), tproj), out*b)            // [out·B]
	h = Add(Reshape(Conv(h, w1, 1), out*b, p), fastmm.BroadcastLastAxis(bias, p))
	h = Reshape(h, out, b, d[2], d[3])

	h = SiLU(GroupNorm(scope.In("norm_2"), h, groups, normEps))
	if keep != nil {
		h = applyDropout(h, keep, dropout)
	} else {
		h = Dropout(scope, h, dropout)
	}
	h = Conv2D(scope.In("conv_2"), h, out, 3, 1)

	skip := x
	if cin != out {
		skip = Conv2D(scope.In("skip"), x, out, 1, 1)
	}
	return Add(skip, h)
}

// Dropout zeroes each element of x with probability rate and scales the
// others by 1/(1−rate), when the graph is marked as training
// (scope.IsTraining, i.e. model.Store.SetTraining(g, true)); otherwise, and
// when rate is 0, it returns x. Note that diffusion.Trainer, as of this
// writing, does not mark its graph as training, so a model's Dropout is off
// there unless the training graph calls scope.Store().SetTraining(g, true).
func Dropout(scope *model.Scope, x *Node, rate float64) *Node {
	keep := dropoutKeep(scope, x.Graph(), x.Shape(), rate)
	if keep == nil {
		return x
	}
	return applyDropout(x, keep, rate)
}

// dropoutKeep draws the mask of Dropout for a value of the given shape:
// bool, true where the value is kept. It returns nil when Dropout does
// nothing (rate 0 or a graph not marked as training).
func dropoutKeep(scope *model.Scope, g *Graph, shape shapes.Shape, rate float64) *Node {
	if rate <= 0 || !scope.IsTraining(g) {
		return nil
	}
	if rate >= 1 {
		exceptions.Panicf("unet: dropout rate must be < 1, got %g", rate)
	}
	return GreaterOrEqual(scope.RandomUniform(g, shape), Scalar(g, shape.DType, rate))
}

// applyDropout is x scaled by 1/(1−rate) where keep, 0 elsewhere.
func applyDropout(x, keep *Node, rate float64) *Node {
	return Where(keep, MulScalar(x, 1/(1-rate)), ZerosLike(x))
}

// Downsample halves the resolution with a 3×3 convolution of stride 2
// ("same"-padded as PyTorch's padding=1: [C,B,H,W] → [out,B,⌈H/2⌉,⌈W/2⌉]).
func Downsample(scope *model.Scope, x *Node, out int) *Node {
	return Conv2D(scope, x, out, 3, 2)
}

// Upsample doubles the resolution: nearest-neighbour ×2 ([Nearest2x])
// followed by a 3×3 convolution to out channels.
func Upsample(scope *model.Scope, x *Node, out int) *Node {
	return Conv2D(scope, Nearest2x(x), out, 3, 1)
}

// Nearest2x repeats every pixel of the feature map x [C,B,H,W] into a 2×2
// block: y[c, b, 2i+u, 2j+v] = x[c,b,i,j] for u, v ∈ {0, 1}. It is one
// product of x's rows [C·B·H, W] with the 0/1 matrix E [W, 4W] that copies
// column j to columns 2j, 2j+1, 2W+2j and 2W+2j+1, so that its gradient,
// the sum over each block, is the product with Eᵀ.
func Nearest2x(x *Node) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: Nearest2x needs a feature map shaped [C,B,H,W], got %s", x.Shape())
	}
	d := x.Shape().Dimensions
	c, b, h, w := d[0], d[1], d[2], d[3]
	e := make([]float64, w*4*w)
	for j := range w {
		for _, col := range []int{2 * j, 2*j + 1, 2*w + 2*j, 2*w + 2*j + 1} {
			e[j*4*w+col] = 1
		}
	}
	em := Reshape(ConstAsDType(x.Graph(), x.DType(), e), w, 4*w)
	return Reshape(fastmm.MatMul(Reshape(x, c*b*h, w), em), c, b, 2*h, 2*w)
}
