package unet

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/internal/fastmm"
)

// A 2-D convolution here works on channels-first feature maps (see the
// package documentation) and is "same"-padded the PyTorch way (padding
// (k−1)/2 on every side):
//
//	y[o,b,i,j] = Σ_{dy,dx<k} Σ_c x[c, b, s·i+dy−p, s·j+dx−p] · w[dy,dx,c,o],   p = (k−1)/2,
//
// with x read as 0 outside the image, for x [C,B,H,W], kernel w [k,k,C,O]
// (k = 1 or 3), stride s = 1 or 2, and y [O,B,⌈H/s⌉,⌈W/s⌉]. The functions
// below compute this same function in different ways; they differ only in
// speed, which depends on the backend (see [ConvKindFor]).

// ConvFunc computes the convolution above (without bias) of x with kernel w
// at the given stride.
type ConvFunc func(x, w *Node, stride int) *Node

// ConvKind names a formulation of the convolution.
type ConvKind string

// The formulations. Measured speeds are in the package documentation.
const (
	// ConvKindNative is GoMLX's ConvGeneral (XLA's convolution).
	ConvKindNative ConvKind = "native"
	// ConvKindIm2Col gathers the k² shifted views of the padded input with
	// Slice, concatenates them on the channel axis and multiplies once.
	ConvKindIm2Col ConvKind = "im2col"
	// ConvKindShifted multiplies each of the k² sliced views by its own
	// [C, O] slice of the kernel and sums the products.
	ConvKindShifted ConvKind = "shifted"
	// ConvKindPadShift builds the k² shifted views by concatenating zeros
	// around the flattened, zero-bordered input instead of slicing, computes
	// the correlation on that (H+1)×(W+1) grid with one product and crops
	// it, and has a hand-written gradient that is itself such a
	// convolution; see [ConvPadShift].
	ConvKindPadShift ConvKind = "padshift"
)

// ConvKinds lists every formulation.
var ConvKinds = []ConvKind{ConvKindNative, ConvKindIm2Col, ConvKindShifted, ConvKindPadShift}

// ParseConvKind returns the formulation of a name.
func ParseConvKind(name string) (ConvKind, error) {
	k := ConvKind(strings.ToLower(strings.TrimSpace(name)))
	for _, known := range ConvKinds {
		if k == known {
			return k, nil
		}
	}
	return "", fmt.Errorf("unet: unknown convolution formulation %q (want native, im2col, shifted or padshift)", name)
}

// Func returns the convolution function of the formulation.
func (k ConvKind) Func() (ConvFunc, error) {
	switch k {
	case ConvKindNative:
		return ConvNative, nil
	case ConvKindIm2Col:
		return ConvIm2Col, nil
	case ConvKindShifted:
		return ConvShifted, nil
	case ConvKindPadShift:
		return ConvPadShift, nil
	}
	return nil, fmt.Errorf("unet: unknown convolution formulation %q", string(k))
}

// Conv computes the convolution of x with kernel w at stride with the
// formulation [ConvKindFor] chooses for x's backend.
func Conv(x, w *Node, stride int) *Node {
	f, err := ConvKindFor(x.Graph().Backend()).Func()
	if err != nil {
		exceptions.Panicf("%v", err)
	}
	return f(x, w, stride)
}

// Conv2D is a convolution layer: the convolution of the feature map x
// [Cin,B,H,W] with variable "weights" [k,k,Cin,out], plus variable "biases"
// [out]:
//
//	y[o,b,i,j] = biases[o] + Σ_{dy,dx,c} x[c, b, s·i+dy−p, s·j+dx−p] · weights[dy,dx,c,o],
//
// "same"-padded (p = (k−1)/2 zeros on every side, like PyTorch's
// padding=(k−1)/2), kernel 1 or 3, stride 1 or 2, so y is
// [out, B, ⌈H/s⌉, ⌈W/s⌉]. Weights and biases start from PyTorch's Conv2d
// default U(−1/√(Cin·k²), 1/√(Cin·k²)). The formulation is [Conv]'s.
func Conv2D(scope *model.Scope, x *Node, out, kernel, stride int) *Node {
	checkConvArgs("Conv2D", x, kernel, stride)
	if out < 1 {
		exceptions.Panicf("unet: Conv2D needs out ≥ 1, got %d", out)
	}
	w, b := convVariables(scope, x.Graph(), x.DType(), kernel, x.Shape().Dimensions[0], out)
	return addChannelBias(Conv(x, w, stride), b)
}

// convVariables returns the "weights" [k,k,cin,out] and "biases" [out]
// variables of a convolution in scope, created with PyTorch's Conv2d
// default U(±1/√(cin·k²)), as nodes of dtype dt (float32 variables
// converted to dt when dt is a half dtype: see [param]).
func convVariables(scope *model.Scope, g *Graph, dt dtypes.DType, k, cin, out int) (w, b *Node) {
	bound := 1 / math.Sqrt(float64(cin*k*k))
	s := scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))
	w = param(s, g, "weights", dt, k, k, cin, out)
	b = param(s, g, "biases", dt, out)
	return w, b
}

// addChannelBias returns y[c,...] + b[c] for a feature map y [C,B,H,W], the
// broadcast done as a product with ones (fastmm.BroadcastLastAxis).
func addChannelBias(y, b *Node) *Node {
	d := y.Shape().Dimensions
	n := d[1] * d[2] * d[3]
	return Reshape(Add(Reshape(y, d[0], n), fastmm.BroadcastLastAxis(b, n)), d...)
}

func checkConvArgs(name string, x *Node, kernel, stride int) {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: %s needs a feature map shaped [C,B,H,W], got %s", name, x.Shape())
	}
	if kernel != 1 && kernel != 3 {
		exceptions.Panicf("unet: %s supports kernel 1 or 3, got %d", name, kernel)
	}
	if stride != 1 && stride != 2 {
		exceptions.Panicf("unet: %s supports stride 1 or 2, got %d", name, stride)
	}
}

// convShape checks x [C,B,H,W] against w [k,k,C,O] and returns k and the
// output's spatial size.
func convShape(name string, x, w *Node, stride int) (k, ho, wo int) {
	if w.Rank() != 4 || w.Shape().Dimensions[0] != w.Shape().Dimensions[1] {
		exceptions.Panicf("unet: %s needs a kernel shaped [k,k,C,O], got %s", name, w.Shape())
	}
	k = w.Shape().Dimensions[0]
	checkConvArgs(name, x, k, stride)
	if x.Shape().Dimensions[0] != w.Shape().Dimensions[2] {
		exceptions.Panicf("unet: %s: x has %d channels, the kernel %s expects %d", name, x.Shape().Dimensions[0], w.Shape(), w.Shape().Dimensions[2])
	}
	h, wd := x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	return k, (h + stride - 1) / stride, (wd + stride - 1) / stride
}

// kernelMatrix returns w [k,k,C,O] as the [O, k²·C] matrix whose column
// (dy·k+dx)·C + c holds w[dy,dx,c,·] (a transpose of a small tensor).
func kernelMatrix(w *Node) *Node {
	d := w.Shape().Dimensions
	return Transpose(Reshape(w, d[0]*d[1]*d[2], d[3]), 0, 1)
}

// ConvNative computes the convolution with GoMLX's ConvGeneral (XLA's
// convolution op), told the channels-first axes. On the pure-Go backend it
// is a direct loop, tens of times slower than [ConvPadShift] in training.
func ConvNative(x, w *Node, stride int) *Node {
	k, _, _ := convShape("ConvNative", x, w, stride)
	p := (k - 1) / 2
	axes := ConvolveAxesConfig{
		InputBatch: 1, InputChannels: 0, InputSpatial: []int{2, 3},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
		OutputBatch: 1, OutputChannels: 0, OutputSpatial: []int{2, 3},
	}
	return Convolve(x, w).AxesConfig(axes).StridePerAxis(stride, stride).PaddingPerDim([][2]int{{p, p}, {p, p}}).Done()
}

// conv1x1 is the 1×1 convolution as one product [O, C]·[C, B·H·W] (after
// keeping every other row and column when stride is 2).
func conv1x1(x, w *Node, stride int) *Node {
	if stride == 2 {
		x = Slice(x, AxisRange(), AxisRange(), AxisRange().Stride(2), AxisRange().Stride(2))
	}
	d := x.Shape().Dimensions
	o := w.Shape().Dimensions[3]
	y := fastmm.MatMul(kernelMatrix(w), Reshape(x, d[0], -1))
	return Reshape(y, o, d[1], d[2], d[3])
}

// taps returns the 9 views x[c, b, s·i+dy−1, s·j+dx−1] (zero outside the
// image) for dy, dx = 0, 1, 2 in that order, each [C,B,Ho,Wo], sliced from
// the zero-padded input.
func taps(x *Node, stride, ho, wo int) []*Node {
	xp := padHW(x, 1, 1, 1, 1)
	views := make([]*Node, 0, 9)
	for dy := range 3 {
		for dx := range 3 {
			views = append(views, Slice(xp, AxisRange(), AxisRange(),
				AxisRange(dy, dy+stride*(ho-1)+1).Stride(stride),
				AxisRange(dx, dx+stride*(wo-1)+1).Stride(stride)))
		}
	}
	return views
}

// ConvIm2Col computes the convolution as one product: the 9 shifted views
// of the zero-padded input (9 Slices) are stacked on the channel axis into
// [9C, B·Ho·Wo] and multiplied by the kernel as an [O, 9C] matrix.
func ConvIm2Col(x, w *Node, stride int) *Node {
	k, ho, wo := convShape("ConvIm2Col", x, w, stride)
	if k == 1 {
		return conv1x1(x, w, stride)
	}
	c, b, o := x.Shape().Dimensions[0], x.Shape().Dimensions[1], w.Shape().Dimensions[3]
	col := Reshape(Concatenate(taps(x, stride, ho, wo), 0), 9*c, -1)
	return Reshape(fastmm.MatMul(kernelMatrix(w), col), o, b, ho, wo)
}

// ConvShifted computes the convolution as a sum of 9 products: each shifted
// view of the zero-padded input (a Slice) times its own [O, C] slice of the
// kernel,
//
//	y = Σ_{dy,dx} w[dy,dx]ᵀ · view_{dy,dx}(x),
//
// with fastmm's products (their gradients avoid transposing large operands).
func ConvShifted(x, w *Node, stride int) *Node {
	k, ho, wo := convShape("ConvShifted", x, w, stride)
	if k == 1 {
		return conv1x1(x, w, stride)
	}
	c, b, o := x.Shape().Dimensions[0], x.Shape().Dimensions[1], w.Shape().Dimensions[3]
	var y *Node
	for i, v := range taps(x, stride, ho, wo) {
		wk := Transpose(Reshape(Slice(w, AxisElem(i/3), AxisElem(i%3)), c, o), 0, 1)
		p := fastmm.MatMul(wk, Reshape(v, c, -1))
		if y == nil {
			y = p
		} else {
			y = Add(y, p)
		}
	}
	return Reshape(y, o, b, ho, wo)
}

// ConvPadShift computes the convolution without slicing the input (the
// pure-Go backend slices element by element but concatenates in contiguous
// blocks). For stride 1 and kernel 3:
//
//  1. x gets a zero column after each row and a zero row after each
//     image: the grid xp [C, B, H+1, W+1], flattened to [C, L] with
//     L = B·S, S = (H+1)(W+1). In that flat order the 3×3 neighbour
//     (dy, dx) of any pixel is at the offset o = (dy−1)(W+1) + (dx−1), and
//     every neighbour outside the image lands on a zero of the grid (the
//     extra column serves as the right border of one row and the left
//     border of the next; the extra row likewise between images).
//  2. The view of tap o is xp shifted: v_o[q] = xp[q − M + o] with
//     M = W+2, i.e. M−o zeros, xp, then zeros up to length L + E·S (E
//     extra images of margin, E·S ≥ 2M; E = 1 but for tiny images). One
//     Concatenate of these 27 pieces along the rows builds
//     col [C·9, L+E·S] (row c·9 + tap).
//  3. z = W·col, with the kernel as an [O, C·9] matrix, is the correlation
//     centred on grid point q − M; for pixel (b, i, j), at grid point
//     p = b·S + i(W+1) + j, it is at q = b·S + (i+1)(W+1) + (j+1): y is z
//     read as [O, B+E, H+1, W+1] and cropped to [:, 0:B, 1:H+1, 1:W+1]
//     (one Slice, of the output).
//
// The gradient is written by hand (fastmm.WithGradient): the input gradient
// of a "same" 3×3 convolution is the same convolution of dy with the kernel
// flipped in space and transposed in channels,
//
//	dx = conv(dy, w̃),   w̃[dy,dx,o,c] = w[2−dy, 2−dx, c, o],
//
// computed again this way, and the kernel gradient is one product
// dWᵀ = col·dzᵀ ([C·9, L+E·S]·[L+E·S, O], a layout multiplied without
// transposing), with dz = dy on z's grid (its padded grid shifted by M).
//
// Stride 2 computes the stride-1 convolution and keeps every other row and
// column (4× the products of that layer, but no slow strided gradient; the
// UNet uses it only in its two downsampling layers); kernel 1 is a single
// product.
func ConvPadShift(x, w *Node, stride int) *Node {
	k, _, _ := convShape("ConvPadShift", x, w, stride)
	if k == 1 {
		return conv1x1(x, w, stride)
	}
	if stride == 2 {
		y := ConvPadShift(x, w, 1)
		return Slice(y, AxisRange(), AxisRange(), AxisRange().Stride(2), AxisRange().Stride(2))
	}
	d := x.Shape().Dimensions
	xp := Reshape(padHW(x, 0, 1, 0, 1), d[0], -1)
	return padShift(xp, x, w)
}

// padShift is ConvPadShift (stride 1, kernel 3) of x [C,B,H,W], given also
// as xp, x with a zero row and column appended (the (H+1)×(W+1) grid) and
// flattened to [C, L].
func padShift(xp, x, w *Node) *Node {
	d := x.Shape().Dimensions
	c, b, h, wd := d[0], d[1], d[2], d[3]
	o := w.Shape().Dimensions[3]
	s, l, m, e := padShiftGrid(b, h, wd)
	pieces := make([]*Node, 0, 27)
	for dy := range 3 {
		for dx := range 3 {
			off := (dy-1)*(wd+1) + (dx - 1)
			if m-off > 0 {
				pieces = append(pieces, zerosLike2D(x, c, m-off))
			}
			pieces = append(pieces, xp, zerosLike2D(x, c, e*s-m+off))
		}
	}
	col := Reshape(Concatenate(pieces, 1), c*9, l+e*s) // row c·9 + tap
	// The kernel as [O, C·9] with column c·9 + tap.
	wm := Reshape(TransposeAllAxes(Reshape(w, 9, c, o), 2, 1, 0), o, c*9)
	z := DotGeneral(wm, []int{1}, nil, col, []int{0}, nil) // [O, L+E·S]
	y := Slice(Reshape(z, o, b+e, h+1, wd+1), AxisRange(), AxisRange(0, b), AxisRange(1, h+1), AxisRange(1, wd+1))
	return fastmm.WithGradient(y, []*Node{x, w}, []*Node{col}, padShiftGrad)
}

// padShiftGrid returns, for B images H×W, the grid size S = (H+1)(W+1),
// L = B·S, the largest tap offset M = W+2 and the number E of extra images
// of margin (E·S ≥ 2M).
func padShiftGrid(b, h, w int) (s, l, m, e int) {
	s = (h + 1) * (w + 1)
	m = w + 2
	return s, b * s, m, (2*m + s - 1) / s
}

// zerosLike2D returns zeros [rows, n] of x's dtype.
func zerosLike2D(x *Node, rows, n int) *Node {
	return Zeros(x.Graph(), shapes.Make(x.DType(), rows, n))
}

// padShiftGrad is padShift's gradient; nodes are x, w and col.
func padShiftGrad(dy *Node, nodes []*Node) []*Node {
	x, w, col := nodes[0], nodes[1], nodes[2]
	d := x.Shape().Dimensions
	c, b, h, wd := d[0], d[1], d[2], d[3]
	o := w.Shape().Dimensions[3]
	s, l, m, e := padShiftGrid(b, h, wd)
	// dx = conv(dy, w̃), w̃ [3,3,O,C] flipped and transposed.
	dyp := Reshape(padHW(dy, 0, 1, 0, 1), o, l)
	dx := padShift(dyp, dy, Transpose(Reverse(w, 0, 1), 2, 3))
	// dz: dy on z's grid (images 0..B−1, rows 1..H, columns 1..W), which is
	// the padded dy shifted by M.
	dz := Concatenate([]*Node{zerosLike2D(dy, o, m), dyp, zerosLike2D(dy, o, e*s-m)}, 1)
	// dWᵀ = col·dzᵀ ([C·9, L+E·S]·[O, L+E·S]ᵀ): with col on the left the
	// backend packs it with its vectorised row packer (8% faster than
	// dz·colᵀ, measured).
	dwt := DotGeneral(col, []int{1}, nil, dz, []int{1}, nil) // [C·9, O]
	dw := Reshape(TransposeAllAxes(Reshape(dwt, c, 9, o), 1, 0, 2), 3, 3, c, o)
	return []*Node{dx, dw}
}
