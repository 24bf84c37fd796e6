package fastmm

import (
	"slices"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file holds the other arrangements that keep the pure-Go backend on
// its fast paths: sums and broadcasts along the last axis done as products
// with a vector of ones, and a way to give any sub-graph a hand-written
// gradient.

var origBarrierVJP graph.VJP

// SumLastAxis returns s[m] = Σ_n x[m,n] for x [M, N], as the product
// x·1 ([M,N]·[N,1]): the pure-Go backend's ReduceSum is a per-element loop
// several times slower. Its gradient is [BroadcastLastAxis] of the output
// gradient.
func SumLastAxis(x *graph.Node) *graph.Node {
	if x.Rank() != 2 {
		exceptions.Panicf("fastmm.SumLastAxis: need x shaped [M,N], got %s", x.Shape())
	}
	return graph.Reshape(sumLast(x), x.Shape().Dimensions[0])
}

// sumLast is SumLastAxis keeping the product's [M,1] shape.
func sumLast(x *graph.Node) *graph.Node {
	ones := graph.Ones(x.Graph(), shapes.Make(x.DType(), x.Shape().Dimensions[1], 1))
	s := graph.DotGeneral(x, []int{1}, nil, ones, []int{0}, nil)
	tag(s, kindSumLast)
	return s
}

// BroadcastLastAxis returns y[m,n] = a[m] for a [M] and n < N, as the
// product a·1ᵀ ([M,1]·[1,N]), several times faster on the pure-Go backend
// than a broadcasting operation. Its gradient is [SumLastAxis] of the output
// gradient.
func BroadcastLastAxis(a *graph.Node, n int) *graph.Node {
	if a.Rank() != 1 || n < 1 {
		exceptions.Panicf("fastmm.BroadcastLastAxis: need a shaped [M] and N ≥ 1, got %s and %d", a.Shape(), n)
	}
	return broadcastLast(graph.Reshape(a, a.Shape().Dimensions[0], 1), n)
}

// broadcastLast is BroadcastLastAxis of a [M,1].
func broadcastLast(a *graph.Node, n int) *graph.Node {
	ones := graph.Ones(a.Graph(), shapes.Make(a.DType(), 1, n))
	y := graph.DotGeneral(a, []int{1}, nil, ones, []int{0}, nil)
	tag(y, kindBroadcastLast)
	return y
}

// VJPFunc returns the gradients with respect to a sub-graph's inputs (nil
// for an input that gets none), given dy, the gradient with respect to its
// output, and nodes: the inputs followed by the saved nodes given to
// WithGradient.
//
// It must not capture *graph.Node values (take what it needs from nodes):
// the function is kept, keyed weakly by the graph's node, until the graph is
// garbage collected, and a captured node would keep its graph alive.
type VJPFunc func(dy *graph.Node, nodes []*graph.Node) []*graph.Node

// WithGradient returns y unchanged, but differentiates it as vjp says: the
// gradient of a loss with respect to inputs[i] is
// vjp(dy, append(inputs, saved...))[i], where dy is the gradient with respect
// to y, and nothing flows back through the operations that computed y.
// saved lists the other nodes of the forward computation that vjp needs.
// Use it to pair a forward computation that is fast on a backend with a
// backward computation of one's choosing (both the derivatives of the same
// function).
//
// It is built on a multi-operand OptimizationBarrier (an identity) of y,
// the inputs and the saved nodes, whose registered gradient calls vjp; the
// barrier's extra outputs are unused and pruned by the backends.
func WithGradient(y *graph.Node, inputs, saved []*graph.Node, vjp VJPFunc) *graph.Node {
	if len(inputs) == 0 {
		exceptions.Panicf("fastmm.WithGradient: no inputs")
	}
	operands := append(append([]*graph.Node{y}, inputs...), saved...)
	outs := graph.OptimizationBarriers(operands...)
	barrier := outs[0].Inputs()[0]
	if barrier.Type() != graph.NodeTypeOptimizationBarrier {
		exceptions.Panicf("fastmm.WithGradient: unexpected barrier structure (%s)", barrier.Type())
	}
	tagWith(barrier, kindCustom, customGrad{vjp: vjp, numInputs: len(inputs)})
	return outs[0]
}

// customGrad is what WithGradient attaches to its barrier.
type customGrad struct {
	vjp       VJPFunc
	numInputs int
}

func barrierVJP(node *graph.Node, vjps []*graph.Node, outShape shapes.Shape) []*graph.Node {
	info := infoOf(node)
	if info.kind != kindCustom {
		if origBarrierVJP != nil {
			return origBarrierVJP(node, vjps, outShape)
		}
		return vjps
	}
	cg := info.data.(customGrad)
	in := node.Inputs()
	res := make([]*graph.Node, len(in))
	if len(vjps) == 0 || vjps[0] == nil {
		return res
	}
	grads := cg.vjp(vjps[0], in[1:])
	if len(grads) != cg.numInputs {
		exceptions.Panicf("fastmm.WithGradient: the gradient function returned %d gradients for %d inputs", len(grads), cg.numInputs)
	}
	for i, g := range grads {
		if g != nil && !slices.Equal(g.Shape().Dimensions, in[i+1].Shape().Dimensions) {
			exceptions.Panicf("fastmm.WithGradient: gradient %d has shape %s, its input %s", i, g.Shape(), in[i+1].Shape())
		}
	}
	copy(res[1:], grads)
	return res
}
