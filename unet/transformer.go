package unet

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/internal/fastmm"
)

// This file holds the transformer layers of a text-conditional UNet (latent
// diffusion / Stable Diffusion): LayerNorm, GELU, multi-head attention
// (self- and cross-), the feed-forward block and the SpatialTransformer
// that applies them to a feature map. Token sequences are [B, N, D], the
// features on the last axis; the layers flatten them to [B·N, D] for their
// dense layers, products the pure-Go backend runs without transposes.

// maskedScore is the score added to the logits of the keys a mask hides:
// exp(−1e9 − max) is 0 in float32 and float64, so they get weight 0.
const maskedScore = -1e9

// transformerEps is the ε of the transformer's LayerNorms (PyTorch's
// nn.LayerNorm default).
const transformerEps = 1e-5

// LayerNorm normalises x [..., D] over its last axis, as torch.nn.LayerNorm:
// for each vector x of D features,
//
//	μ = (1/D) Σ_i x_i,   σ² = (1/D) Σ_i (x_i − μ)²   (biased, as PyTorch),
//	y_i = (x_i − μ) / √(σ² + eps) · gain_i + offset_i,
//
// with variables "gain" [D] (initialised to 1) and "offset" [D] (to 0).
// The sums over the features are products (x·1 and a row-wise dot
// product), which the pure-Go backend runs faster than its reductions;
// 1/√ is written as Div and Sqrt (Rsqrt has no gradient in GoMLX v0.28.2).
//
// Under mixed precision (x BFloat16 or Float16) it runs entirely in float32
// (x converted, float32 variables, the result converted back to x's dtype),
// as PyTorch's autocast does: the mean and variance are sums over the D
// features that half precision would round to a few significant bits.
func LayerNorm(scope *model.Scope, x *Node, eps float64) *Node {
	if x.Rank() < 1 {
		exceptions.Panicf("unet: LayerNorm needs x with a feature axis [..., D], got %s", x.Shape())
	}
	x, xdt := toFloat32(x)
	dims := x.Shape().Dimensions
	d := dims[x.Rank()-1]
	n := x.Shape().Size() / d
	g := x.Graph()
	dt := x.DType()
	gain := param(scope.WithInitializer(initializer.One), g, "gain", dt, d)
	offset := param(scope.WithInitializer(initializer.Zero), g, "offset", dt, d)

	xr := Reshape(x, n, d)
	mean := DivScalar(fastmm.SumLastAxis(xr), float64(d))                                                   // [N]
	centred := Sub(xr, fastmm.BroadcastLastAxis(mean, d))                                                   // [N, D]
	variance := DivScalar(DotGeneral(centred, []int{1}, []int{0}, centred, []int{1}, []int{0}), float64(d)) // [N]
	rstd := Div(OnesLike(variance), Sqrt(AddScalar(variance, eps)))
	y := Mul(centred, fastmm.BroadcastLastAxis(rstd, d))
	y = Add(Mul(y, Reshape(gain, 1, d)), Reshape(offset, 1, d))
	return fromFloat32(Reshape(y, dims...), xdt)
}

// GELU is the exact Gaussian error linear unit x·Φ(x), Φ the standard
// normal distribution function:
//
//	GELU(x) = x/2 · (1 + erf(x/√2))
//
// (PyTorch's nn.GELU() default; not the tanh approximation: Erf has a
// gradient in GoMLX v0.28.2, erf'(z) = 2/√π·exp(−z²)).
func GELU(x *Node) *Node {
	return Mul(MulScalar(x, 0.5), AddScalar(Erf(MulScalar(x, 1/math.Sqrt2)), 1))
}

// MultiHeadAttention is scaled dot-product attention of the queries x
// [B, P, D] to the keys and values of context [B, L, Dc] (x itself for
// self-attention), with heads heads of d = D/heads features:
//
//	q = x·W_q,   k = context·W_k,   v = context·W_v      (scopes "q" D→D, "k" Dc→D, "v" Dc→D)
//	per example and head h (features h·d … h·d+d−1 of q, k, v):
//	    A_h = softmax over the L keys of (q_h k_hᵀ / √d + M)   [P, L],   o_h = A_h v_h   [P, d]
//	out = concat_h(o_h)·W_out + b_out                     (scope "out", D→D)
//
// where M[p, l] = 0 if mask[b, l] else −1e9: mask, bool [B, L], marks the
// context positions that may be attended to (true: a real token; nil: all
// of them). A query whose keys are all masked attends uniformly to them.
//
// As in Stable Diffusion the q, k and v projections have no biases (a bias
// of k would add the same q·b_k to every score of a query, which the
// softmax ignores; its gradient is zero); the output projection has one.
// Each projection has the variable "weights" [in, out] and "out" also
// "biases" [D], all initialised like [Dense] (PyTorch's nn.Linear default
// U(±1/√in)).
//
// It returns out [B, P, D] and the attention weights A [B, heads, P, L]
// (each row sums to 1), both of x's dtype. heads must divide D.
//
// Under mixed precision (x BFloat16 or Float16) the logits q kᵀ/√d, the
// mask and the softmax are computed in float32 (see [AttentionBlock]); with
// Float16 logits the mask's −1e9 would also overflow to −∞, and a query
// whose keys are all masked would get NaN weights instead of uniform ones.
func MultiHeadAttention(scope *model.Scope, x, context, mask *Node, heads int) (out, weights *Node) {
	if x.Rank() != 3 || context.Rank() != 3 {
		exceptions.Panicf("unet: MultiHeadAttention needs x [B,P,D] and context [B,L,Dc], got %s and %s", x.Shape(), context.Shape())
	}
	b, p, dm := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	l, dc := context.Shape().Dimensions[1], context.Shape().Dimensions[2]
	if context.Shape().Dimensions[0] != b {
		exceptions.Panicf("unet: MultiHeadAttention: x %s and context %s have different batch sizes", x.Shape(), context.Shape())
	}
	if context.DType() != x.DType() {
		exceptions.Panicf("unet: MultiHeadAttention: x %s and context %s have different dtypes", x.Shape(), context.Shape())
	}
	if heads < 1 || dm%heads != 0 {
		exceptions.Panicf("unet: MultiHeadAttention: %d heads cannot split the %d features of x %s", heads, dm, x.Shape())
	}
	if mask != nil && (mask.DType() != dtypes.Bool || mask.Rank() != 2 ||
		mask.Shape().Dimensions[0] != b || mask.Shape().Dimensions[1] != l) {
		exceptions.Panicf("unet: MultiHeadAttention: the mask must be bool [%d, %d] for context %s, got %s", b, l, context.Shape(), mask.Shape())
	}
	dh := dm / heads
	xf, cf := Reshape(x, b*p, dm), Reshape(context, b*l, dc)
	q := Reshape(linear(scope.In("q"), xf, dm), b, p, heads, dh)
	k := Reshape(linear(scope.In("k"), cf, dm), b, l, heads, dh)
	v := Reshape(linear(scope.In("v"), cf, dm), b, l, heads, dh)

	// Scores [B, heads, P, L]: the example and head are batch axes, the
	// per-head features contracted. Under mixed precision (half x) the
	// logits, the mask and the softmax are float32 (q and k converted; see
	// AttentionBlock), the weights converted back for the product with v.
	q, dt := toFloat32(q)
	k, _ = toFloat32(k)
	scores := MulScalar(DotGeneral(q, []int{3}, []int{0, 2}, k, []int{3}, []int{0, 2}), 1/math.Sqrt(float64(dh)))
	if mask != nil {
		hidden := MulScalar(ConvertDType(LogicalNot(mask), scores.DType()), maskedScore) // [B, L]
		scores = Add(scores, Reshape(hidden, b, 1, 1, l))
	}
	weights = fromFloat32(Softmax(scores, -1), dt)
	o := DotGeneral(weights, []int{3}, []int{0, 1}, v, []int{1}, []int{0, 2}) // [B, heads, P, d]
	o = Reshape(TransposeAllAxes(o, 0, 2, 1, 3), b*p, dm)                     // concat_h: [B·P, heads·d]
	out = Reshape(Dense(scope.In("out"), o, dm), b, p, dm)
	return out, weights
}

// linear is x·W for x [N, in], a dense layer without bias: variable
// "weights" [in, out] initialised like Dense's, U(±1/√in).
func linear(scope *model.Scope, x *Node, out int) *Node {
	in := x.Shape().Dimensions[1]
	bound := 1 / math.Sqrt(float64(in))
	w := param(scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound)), x.Graph(), "weights", x.DType(), in, out)
	return fastmm.MatMul(x, w)
}

// denseTokens is [Dense] on the last axis of x [..., in], computed on x
// flattened to [N, in] (a plain matrix product on the pure-Go backend).
func denseTokens(scope *model.Scope, x *Node, out int) *Node {
	dims := x.Shape().Clone().Dimensions
	in := dims[len(dims)-1]
	y := Dense(scope, Reshape(x, x.Shape().Size()/in, in), out)
	dims[len(dims)-1] = out
	return Reshape(y, dims...)
}

// FeedForward is the transformer's position-wise feed-forward block on x
// [..., D]:
//
//	FF(x) = GELU(x·W_in + b_in)·W_out + b_out     (Dense D → mult·D, scope "in"; Dense mult·D → D, scope "out")
//
// mult is the hidden width's multiple of D (4 in the Transformer and in
// Stable Diffusion, whose GEGLU variant this simplifies).
func FeedForward(scope *model.Scope, x *Node, mult int) *Node {
	if x.Rank() < 1 || mult < 1 {
		exceptions.Panicf("unet: FeedForward needs x [..., D] and mult ≥ 1, got %s and %d", x.Shape(), mult)
	}
	d := x.Shape().Dimensions[x.Rank()-1]
	return denseTokens(scope.In("out"), GELU(denseTokens(scope.In("in"), x, mult*d)), d)
}

// SpatialTransformer is the transformer block of a text-conditional UNet
// (Stable Diffusion's), at one resolution: the P = H·W positions of the
// feature map x [C,B,H,W] become tokens of C features that attend to each
// other and to context [B, L, Dc] (mask bool [B, L], true for real tokens;
// nil: all):
//
//	h = GroupNorm(x)                               (scope "norm", groups groups)
//	h = h·W_in + b_in   as tokens [B, P, C]         (a 1×1 projection C → C, scope "proj_in")
//	h = h + SelfAttention(LayerNorm(h))             ("norm_1", "attn_1": MultiHeadAttention(n, n, nil), n = LayerNorm(h))
//	h = h + CrossAttention(LayerNorm(h), context)   ("norm_2", "attn_2": MultiHeadAttention(·, context, mask))
//	h = h + FeedForward(LayerNorm(h), 4)            ("norm_3", "ff")
//	out = x + (h·W_out + b_out)   back as [C,B,H,W] (a 1×1 projection C → C, scope "proj_out")
//
// The 1×1 projections are [Dense] layers on the tokens (variables
// "weights" [C, C] and "biases" [C]). proj_out starts like every other
// layer, from U(±1/√C), not from zero as in Stable Diffusion: with a zero
// projection the block would be the identity at initialisation and no
// gradient would reach its attention weights before proj_out has moved
// (the UNet's self-attention AttentionBlock is not zero-initialised
// either). The LayerNorms use ε = 1e-5.
//
// It returns out [C,B,H,W] and the cross-attention's weights
// crossWeights [B, heads, P, L] (P in row-major order: p = row·W + column).
// heads must divide C and groups too.
func SpatialTransformer(scope *model.Scope, x, context, mask *Node, heads, groups int) (out, crossWeights *Node) {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: SpatialTransformer needs a feature map shaped [C,B,H,W], got %s", x.Shape())
	}
	d := x.Shape().Dimensions
	c, b, p := d[0], d[1], d[2]*d[3]
	if heads < 1 || c%heads != 0 {
		exceptions.Panicf("unet: SpatialTransformer: %d heads cannot split %d channels of %s", heads, c, x.Shape())
	}
	if context == nil || context.Rank() != 3 || context.Shape().Dimensions[0] != b {
		var got any = "nil"
		if context != nil {
			got = context.Shape()
		}
		exceptions.Panicf("unet: SpatialTransformer on %s needs a context shaped [%d, L, Dc], got %v", x.Shape(), b, got)
	}
	h := Reshape(GroupNorm(scope.In("norm"), x, groups, normEps), c, b*p)
	h = Transpose(h, 0, 1) // tokens [B·P, C]
	h = Reshape(Dense(scope.In("proj_in"), h, c), b, p, c)

	n := LayerNorm(scope.In("norm_1"), h, transformerEps)
	a, _ := MultiHeadAttention(scope.In("attn_1"), n, n, nil, heads)
	h = Add(h, a)
	a, crossWeights = MultiHeadAttention(scope.In("attn_2"), LayerNorm(scope.In("norm_2"), h, transformerEps), context, mask, heads)
	h = Add(h, a)
	h = Add(h, FeedForward(scope.In("ff"), LayerNorm(scope.In("norm_3"), h, transformerEps), 4))

	h = Dense(scope.In("proj_out"), Reshape(h, b*p, c), c)
	h = Reshape(Transpose(h, 0, 1), d...)
	return Add(x, h), crossWeights
}
