package unet

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/internal/fastmm"
)

// GroupNorm normalises the feature map x [C,B,H,W] in groups of C/groups
// consecutive channels, like torch.nn.GroupNorm: for each example b and
// group g, with n = H·W·C/groups values x_{b,g},
//
//	μ_{b,g} = (1/n) Σ x,   σ²_{b,g} = (1/n) Σ x² − μ²_{b,g}   (biased, as PyTorch),
//	y[c,b,h,w] = (x[c,b,h,w] − μ_{b,g(c)}) / √(σ²_{b,g(c)} + eps) · scale[c] + offset[c],
//
// with variables "scale" [C] (initialised to 1) and "offset" [C] (to 0).
//
// On the pure-Go backend reductions and broadcasts are slow element loops,
// so the per-(c,b) sums Σ_{h,w} x and Σ_{h,w} x² are products with a
// vector of ones (fastmm.SumLastAxis), the per-(c,b) coefficients are
// expanded over H·W the same way (fastmm.BroadcastLastAxis), and y is
// computed as x·a + d with a = scale·rstd and d = offset − μ·a. The
// variance uses the one-pass form E[x²] − μ² (clamped at 0) in x's dtype:
// accurate when |μ| is not many times σ, as for a network's activations.
// 1/√ is written as Div and Sqrt (Rsqrt has no gradient in GoMLX v0.28.2).
// On the pure-Go backend the gradient is written by hand in closed form
// (four element-wise passes over x instead of the seven of automatic
// differentiation; where the clamp of the variance at 0 is active, for
// constant groups, it uses the unclamped formula); other backends
// differentiate automatically.
//
// Under mixed precision (x BFloat16 or Float16) the whole normalisation
// runs in float32 — x is converted, normalised with float32 variables and
// the result converted back to x's dtype — as PyTorch's autocast does:
// the sums run over n = H·W·C/groups values (up to thousands), and the
// one-pass variance E[x²] − μ² subtracts two such sums, which in 8 or 11
// bits of mantissa would lose the variance of any group whose mean is not
// small against its spread.
func GroupNorm(scope *model.Scope, x *Node, groups int, eps float64) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("unet: GroupNorm needs a feature map shaped [C,B,H,W], got %s", x.Shape())
	}
	c := x.Shape().Dimensions[0]
	if groups < 1 || c%groups != 0 {
		exceptions.Panicf("unet: GroupNorm with %d groups cannot split %d channels", groups, c)
	}
	x, dt := toFloat32(x)
	return fromFloat32(groupNorm(scope, x, groups, eps), dt)
}

// groupNorm is GroupNorm of x (float32 or float64).
func groupNorm(scope *model.Scope, x *Node, groups int, eps float64) *Node {
	d := x.Shape().Dimensions
	c, b, p := d[0], d[1], d[2]*d[3]
	g := x.Graph()
	dt := x.DType()
	scale := param(scope.WithInitializer(initializer.One), g, "scale", dt, c)
	offset := param(scope.WithInitializer(initializer.Zero), g, "offset", dt, c)

	xr := Reshape(x, c*b, p)
	n := float64(p * c / groups)
	// Σx per row as x·1; Σx² per row as the row's dot product with itself
	// (a batched product: no squared copy of x).
	sumSq := Reshape(DotGeneral(xr, []int{1}, []int{0}, xr, []int{1}, []int{0}), c, b)
	mean := DivScalar(groupSum(Reshape(fastmm.SumLastAxis(xr), c, b), groups), n) // [G,B]
	meanSq := DivScalar(groupSum(sumSq, groups), n)                               // [G,B]
	variance := Max(Sub(meanSq, Square(mean)), ZerosLike(mean))                   // [G,B]
	rstd := Div(OnesLike(variance), Sqrt(AddScalar(variance, eps)))               // [G,B]
	// a[c,b] = scale[c]·rstd[g(c),b],  d[c,b] = offset[c] − μ[g(c),b]·a[c,b].
	a := Mul(perChannel(rstd, c), Reshape(scale, c, 1))
	off := Sub(Reshape(offset, c, 1), Mul(perChannel(mean, c), a))
	aRows := rowsOf(a, p)
	y := Add(Mul(xr, aRows), rowsOf(off, p))
	if handGradients(g.Backend()) {
		y = fastmm.WithGradient(y, []*Node{x, scale, offset}, []*Node{aRows, mean, rstd, a}, groupNormGrad)
	}
	return Reshape(y, d...)
}

// groupNormGrad is GroupNorm's gradient in closed form; nodes are x, scale,
// offset, then the forward's a broadcast over the rows, μ, ρ = rstd and a.
// With u = Σ_p dy·x and v = Σ_p dy per row (c,b), and per group and example
// A = Σ_{c∈g} scale·(u − μv) and B = Σ_{c∈g} v·a:
//
//	dx = a·dy + α·x + β,   α = −ρ³A/n,   β = (ρ³μA − B)/n,
//	dscale[c] = Σ_b ρ(u − μv),   doffset[c] = Σ_b v.
func groupNormGrad(dy *Node, nodes []*Node) []*Node {
	x, scale, aRows, mean, rstd, a := nodes[0], nodes[1], nodes[3], nodes[4], nodes[5], nodes[6]
	c, b := a.Shape().Dimensions[0], a.Shape().Dimensions[1]
	groups := mean.Shape().Dimensions[0]
	p := aRows.Shape().Dimensions[1]
	n := float64(p * c / groups)
	xr := Reshape(x, c*b, p)
	u := Reshape(DotGeneral(dy, []int{1}, []int{0}, xr, []int{1}, []int{0}), c, b)
	v := Reshape(fastmm.SumLastAxis(dy), c, b)
	centred := Sub(u, Mul(perChannel(mean, c), v)) // u − μv, [C,B]
	ag := groupSum(Mul(Reshape(scale, c, 1), centred), groups)
	bg := groupSum(Mul(v, a), groups)
	r3 := Mul(rstd, Square(rstd))
	alpha := DivScalar(Neg(Mul(r3, ag)), n)
	beta := DivScalar(Sub(Mul(Mul(r3, mean), ag), bg), n)
	dx := Add(Add(Mul(dy, aRows), Mul(xr, rowsOf(perChannel(alpha, c), p))), rowsOf(perChannel(beta, c), p))
	dscale := ReduceSum(Mul(perChannel(rstd, c), centred), 1)
	doffset := ReduceSum(v, 1)
	return []*Node{Reshape(dx, x.Shape().Dimensions...), dscale, doffset}
}

// groupSum sums v [C,B] over the channels of each of the groups: [G,B].
func groupSum(v *Node, groups int) *Node {
	c, b := v.Shape().Dimensions[0], v.Shape().Dimensions[1]
	return ReduceSum(Reshape(v, groups, c/groups, b), 1)
}

// perChannel repeats v [G,B] for the c/G channels of each group: [C,B].
func perChannel(v *Node, c int) *Node {
	groups, b := v.Shape().Dimensions[0], v.Shape().Dimensions[1]
	return Reshape(BroadcastToDims(Reshape(v, groups, 1, b), groups, c/groups, b), c, b)
}

// rowsOf expands v [C,B] to [C·B, P], constant along each row, as a product
// with ones.
func rowsOf(v *Node, p int) *Node {
	return fastmm.BroadcastLastAxis(Reshape(v, v.Shape().Size()), p)
}
