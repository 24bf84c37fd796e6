package unet

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/internal/fastmm"
)

// AttentionBlock is the self-attention block of the DDPM UNet at one
// resolution, over the P = H·W positions of the feature map x [C,B,H,W]:
//
//	h = GroupNorm(x)                                   (scope "norm")
//	q, k, v = W_q·h + b_q, W_k·h + b_k, W_v·h + b_v    (one 1×1 convolution C → 3C, scope "qkv")
//	per example and head (channels split into heads of d = C/heads):
//	    A = softmax over keys of (q kᵀ / √d)   [P, P],   o = A v
//	out = x + W_proj·o + b_proj                        (a 1×1 convolution C → C, scope "proj")
//
// The qkv kernel [1,1,C,3C] holds q, k and v in that order on its last
// axis (as PyTorch's Conv2d(C, 3C, 1) weight [3C, C, 1, 1] on its first).
// Weights start from PyTorch's default U(±1/√C). heads must divide C.
//
// Under mixed precision (x BFloat16 or Float16) the variables are float32
// (converted where used), the GroupNorm runs in float32 (see [GroupNorm]),
// and so do the logits q kᵀ/√d and the softmax (q and k are converted, the
// weights A converted back for A v) — the softmax as PyTorch's autocast
// runs it, the logits as flash attention accumulates them: a logit rounded
// to BFloat16's 8 significant bits carries an absolute error of up to
// |logit|·2⁻⁸, which exp turns into a relative error of the weights of the
// same size (4% for a logit of 10), and Float16 logits overflow past
// 65504. This also keeps the softmax off the pure-Go backend's
// FusedSoftmax, which executes only float32 and float64.
func AttentionBlock(scope *model.Scope, x *Node, heads, groups int) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: AttentionBlock needs a feature map shaped [C,B,H,W], got %s", x.Shape())
	}
	d := x.Shape().Dimensions
	c, b, p := d[0], d[1], d[2]*d[3]
	if heads < 1 || c%heads != 0 {
		exceptions.Panicf("unet: AttentionBlock: %d heads cannot split %d channels", heads, c)
	}
	g := x.Graph()
	dt := x.DType()
	h := Reshape(GroupNorm(scope.In("norm"), x, groups, normEps), c, b*p)

	wqkv, bqkv := convVariables(scope.In("qkv"), g, dt, 1, c, 3*c)
	wqkv, bqkv = Reshape(wqkv, c, 3*c), Reshape(bqkv, 3*c)
	dh := c / heads
	// q, k, v from slices of the (small) kernel rather than of the (large)
	// product, each rearranged from [C, B·P] to [B·heads, P, d].
	proj := func(i int) *Node {
		w := Transpose(Slice(wqkv, AxisRange(), AxisRange(i*c, (i+1)*c)), 0, 1) // [C_out, C_in]
		t := Add(fastmm.MatMul(w, h), fastmm.BroadcastLastAxis(Slice(bqkv, AxisRange(i*c, (i+1)*c)), b*p))
		t = TransposeAllAxes(Reshape(t, heads, dh, b, p), 2, 0, 3, 1) // [B, heads, P, d]
		return Reshape(t, b*heads, p, dh)
	}
	q, k, v := proj(0), proj(1), proj(2)
	// Scores [B·heads, P, P]: q·kᵀ contracting both last axes (a layout the
	// pure-Go backend multiplies without transposing); in float32 under
	// mixed precision, see above.
	q, _ = toFloat32(q)
	k, _ = toFloat32(k)
	scores := MulScalar(DotGeneral(q, []int{2}, []int{0}, k, []int{2}, []int{0}), 1/math.Sqrt(float64(dh)))
	a := fromFloat32(Softmax(scores, -1), dt)
	o := DotGeneral(a, []int{2}, []int{0}, v, []int{1}, []int{0})                  // [B·heads, P, d]
	o = Reshape(TransposeAllAxes(Reshape(o, b, heads, p, dh), 1, 3, 0, 2), c, b*p) // [C, B·P]

	wp, bp := convVariables(scope.In("proj"), g, dt, 1, c, c)
	out := Add(fastmm.MatMul(Transpose(Reshape(wp, c, c), 0, 1), o), fastmm.BroadcastLastAxis(bp, b*p))
	return Add(x, Reshape(out, d...))
}
