package unet

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/support/exceptions"
)

// Feature maps are channels-first, [C, B, H, W]; the package
// documentation says why.

// ToCBHW converts channels-last images [B, H, W, C] to the channels-first
// feature-map layout [C, B, H, W] (a Reshape when C = 1).
func ToCBHW(x *Node) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: ToCBHW needs [B,H,W,C], got %s", x.Shape())
	}
	d := x.Shape().Dimensions
	if d[3] == 1 {
		return Reshape(x, 1, d[0], d[1], d[2])
	}
	return TransposeAllAxes(x, 3, 0, 1, 2)
}

// FromCBHW converts a channels-first feature map [C, B, H, W] to
// channels-last [B, H, W, C] (a Reshape when C = 1).
func FromCBHW(x *Node) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: FromCBHW needs [C,B,H,W], got %s", x.Shape())
	}
	d := x.Shape().Dimensions
	if d[0] == 1 {
		return Reshape(x, d[1], d[2], d[3], 1)
	}
	return TransposeAllAxes(x, 1, 2, 3, 0)
}

// padZeros inserts before and after zeros along axis of x, by concatenating
// zero blocks (contiguous copies on the pure-Go backend, where Pad copies
// element by element unless the trailing axes are untouched). Its gradient
// is Concatenate's (slices).
func padZeros(x *Node, axis, before, after int) *Node {
	if before == 0 && after == 0 {
		return x
	}
	parts := make([]*Node, 0, 3)
	zeros := func(n int) {
		if n > 0 {
			dims := x.Shape().Clone().Dimensions
			dims[axis] = n
			parts = append(parts, Zeros(x.Graph(), shapes.Make(x.DType(), dims...)))
		}
	}
	zeros(before)
	parts = append(parts, x)
	zeros(after)
	return Concatenate(parts, axis)
}

// padHW pads the spatial axes of a feature map [C, B, H, W] with zeros:
// top and bottom rows, left and right columns.
func padHW(x *Node, top, bottom, left, right int) *Node {
	return padZeros(padZeros(x, 3, left, right), 2, top, bottom)
}
