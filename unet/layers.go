package unet

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/fastmm"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// SinusoidalEmbedding embeds timesteps t ([B], any numeric dtype) as [B, dim]
// (dim even), the Transformer position encoding as diffusion UNets use it
// (sines first, as in DDPM; frequencies as in improved DDPM/ADM):
//
//	emb(t)_k = sin(t ω_k),  emb(t)_{k+dim/2} = cos(t ω_k),  ω_k = P^{−k/(dim/2)},  k = 0..dim/2−1,
//
// with maximum period P = 10000. The result has dtype dt. For a half dt
// (BFloat16, Float16) it is computed in float32 and converted at the end:
// t itself (up to 1000) is not exactly representable in BFloat16 (999
// rounds to 1000), and the sine of an argument t·ω of about 1000 rounded
// to 8 bits would be noise, not a smooth function of t.
func SinusoidalEmbedding(t *Node, dim int, dt dtypes.DType) *Node {
	if dim <= 0 || dim%2 != 0 {
		exceptions.Panicf("unet: SinusoidalEmbedding needs an even dim > 0, got %d", dim)
	}
	g := t.Graph()
	half := dim / 2
	freqs := make([]float64, half)
	for k := range freqs {
		freqs[k] = math.Exp(-math.Log(10000) * float64(k) / float64(half))
	}
	ct := MasterDType(dt)                                      // float32 for a half dt
	tf := ExpandAxes(ConvertDType(t, ct), -1)                  // [B, 1]
	args := Mul(tf, ExpandAxes(ConstAsDType(g, ct, freqs), 0)) // [B, half]
	return fromFloat32(Concatenate([]*Node{Sin(args), Cos(args)}, -1), dt)
}

// Dense is a fully connected layer x·W + b over the last axis of x, with
// variables "weights" [in, out] and "biases" [out] in scope. Weights start
// from PyTorch's nn.Linear default U(−1/√in, 1/√in), biases too, so that
// networks match their PyTorch peers. For a half x the variables are
// float32 and converted to x's dtype (see [MasterDType]).
func Dense(scope *model.Scope, x *Node, out int) *Node {
	g := x.Graph()
	in := x.Shape().Dimensions[x.Rank()-1]
	bound := 1 / math.Sqrt(float64(in))
	s := scope.WithInitializer(initializer.RandomUniformFn(scope, -bound, bound))
	w := param(s, g, "weights", x.DType(), in, out)
	b := param(s, g, "biases", x.DType(), out)
	if x.Rank() == 2 {
		return fastmm.Dense(x, w, b)
	}
	y := Einsum("...i,io->...o", x, w)
	return Add(y, ExpandLeftToRank(b, y.Rank()))
}

// classEmbedding returns the [batch, width] class embedding of the
// condition c: for each example a row of the table "embeddings"
// [numClasses+1, width] in scope, initialised N(0, 1) like PyTorch's
// nn.Embedding. Row numClasses is the learned "no class" embedding of the
// null condition ∅, used for the examples that c.NullMask marks and for all
// of them when c has no cond.Class input; every other example gets the row of
// its label. The rows are picked by a one-hot product (no Gather), so a label
// equal to numClasses also selects the null row, and a label outside
// [0, numClasses] gets a zero row rather than an error (labels are data, not
// checked by the graph). It panics if the labels are not integer [batch] or
// the null mask not bool [batch].
func classEmbedding(scope *model.Scope, g *Graph, c cond.Nodes, numClasses, width, batch int, dt dtypes.DType) *Node {
	k := numClasses + 1
	table := param(scope.WithInitializer(initializer.RandomNormalFn(scope, 1)), g, "embeddings", dt, k, width)
	label := c.Get(cond.Class)
	if label == nil {
		// No class input (the zero condition included): ∅ for every example.
		label = BroadcastToDims(Scalar(g, dtypes.Int32, numClasses), batch)
	} else {
		if !label.DType().IsInt() || label.Rank() != 1 || label.Shape().Dimensions[0] != batch {
			exceptions.Panicf("unet: the class labels (condition input %q) must be integer [%d], got %s", cond.Class, batch, label.Shape())
		}
		if c.Null != nil {
			null := c.NullMask(g, batch)
			if null.DType() != dtypes.Bool || null.Rank() != 1 || null.Shape().Dimensions[0] != batch {
				exceptions.Panicf("unet: the null mask of the condition must be bool [%d], got %s", batch, null.Shape())
			}
			label = Where(null, Scalar(g, label.DType(), numClasses), label)
		}
	}
	return fastmm.MatMul(OneHot(label, k, dt), table)
}

// SiLU is y = x·σ(x) (also called swish), with its derivative written as
//
//	dy/dx = σ + x·σ·(1 − σ) = σ + y − y·σ,
//
// four same-shape operations in the backward pass (y·σ, y − ·, + σ, ·dy)
// instead of the six, one of them broadcasting the scalar 1, that
// differentiating x·σ(x) operation by operation builds; the pure-Go backend
// runs each as a loop over the elements.
func SiLU(x *Node) *Node {
	s := Sigmoid(x)
	y := Mul(x, s)
	return fastmm.WithGradient(y, []*Node{x}, []*Node{s, y}, siluGrad)
}

// siluGrad is SiLU's gradient; nodes are x, σ(x) and y.
func siluGrad(dy *Node, nodes []*Node) []*Node {
	s, y := nodes[1], nodes[2]
	return []*Node{Mul(dy, Add(Sub(y, Mul(y, s)), s))}
}

// ReLU is max(x, 0).
func ReLU(x *Node) *Node { return Max(x, ZerosLike(x)) }

// Activation returns the activation function of a name: "silu" (x·σ(x), the
// DDPM UNet's) or "relu" (max(x, 0)). On the pure-Go backend SiLU costs about
// 10 ns per element (an exponential in float64), ReLU about 2.
func Activation(name string) (func(*Node) *Node, error) {
	switch name {
	case "silu", "swish":
		return SiLU, nil
	case "relu":
		return ReLU, nil
	}
	return nil, fmt.Errorf("unet: unknown activation %q (want silu or relu)", name)
}
