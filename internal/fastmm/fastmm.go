// Package fastmm builds matrix products whose gradients the pure-Go GoMLX
// backend computes quickly.
//
// That backend multiplies two layouts directly — lhs [M, K] with rhs [K, N]
// or [N, K] — and transposes operands into one of them otherwise.
// Transposes, broadcasting additions and reductions are plain per-element
// loops there, several times slower per element than a matrix product
// (measurements in DESIGN.md). GoMLX's generic DotGeneral gradient and the
// broadcast-add gradient (a ReduceSum) fall into those slow paths.
//
// The products built here are tagged, and a DotGeneral gradient registered
// in graph.VJPRegistration handles tagged nodes with hand-chosen layouts:
//
//	y = x·W        dx = dy·Wᵀ (contracting both last axes: no transpose),
//	               dW = xᵀ·dy (one transpose, of the smaller operand);
//	y = 1·bᵀ       db = 1ᵀ·dy (a product with a constant row of ones: no
//	               transpose, no ReduceSum);
//	y = x·1        dx = dy·1ᵀ (SumLastAxis: a sum as a product; its gradient
//	               a broadcast as a product);
//	y = a·1ᵀ       da = dy·1  (BroadcastLastAxis, the converse).
//
// Every other DotGeneral keeps GoMLX's own gradient. Gradients are exactly
// the same functions; only their arrangement differs (tested).
//
// WithGradient gives any sub-graph a hand-written gradient (used by the
// UNet's convolution, whose input gradient is itself a convolution); it is
// registered on OptimizationBarrier nodes it creates, and barriers it did
// not create keep GoMLX's gradient.
package fastmm

import (
	"runtime"
	"sync"
	"weak"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

type kind int

const (
	kindMatMul kind = iota + 1
	kindBias
	kindSumLast       // x·1: see SumLastAxis
	kindBroadcastLast // a·1ᵀ: see BroadcastLastAxis
	kindCustom        // see WithGradient; data holds the gradient function
)

// tagInfo is what a tagged node carries: its kind and, for some kinds, data.
type tagInfo struct {
	kind kind
	data any
}

var (
	mu      sync.Mutex
	tagged  = map[weak.Pointer[graph.Node]]tagInfo{}
	origVJP graph.VJP
)

func init() {
	origVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
	graph.VJPRegistration[graph.NodeTypeDotGeneral] = dotGeneralVJP
	origBarrierVJP = graph.VJPRegistration[graph.NodeTypeOptimizationBarrier]
	graph.VJPRegistration[graph.NodeTypeOptimizationBarrier] = barrierVJP
}

func tag(n *graph.Node, k kind) { tagWith(n, k, nil) }

func tagWith(n *graph.Node, k kind, data any) {
	wp := weak.Make(n)
	mu.Lock()
	tagged[wp] = tagInfo{kind: k, data: data}
	mu.Unlock()
	runtime.AddCleanup(n, func(wp weak.Pointer[graph.Node]) {
		mu.Lock()
		delete(tagged, wp)
		mu.Unlock()
	}, wp)
}

func tagOf(n *graph.Node) kind { return infoOf(n).kind }

func infoOf(n *graph.Node) tagInfo {
	mu.Lock()
	defer mu.Unlock()
	return tagged[weak.Make(n)]
}

// MatMul returns x·w for x [M, K] and w [K, N].
func MatMul(x, w *graph.Node) *graph.Node {
	if x.Rank() != 2 || w.Rank() != 2 || x.Shape().Dimensions[1] != w.Shape().Dimensions[0] {
		exceptions.Panicf("fastmm.MatMul: need [M,K]·[K,N], got %s · %s", x.Shape(), w.Shape())
	}
	y := graph.DotGeneral(x, []int{1}, nil, w, []int{0}, nil)
	tag(y, kindMatMul)
	return y
}

// AddBias returns y + b broadcast over the rows of y ([M, N] + [N]),
// computed as y + 1·bᵀ, a product with a column of ones.
func AddBias(y, b *graph.Node) *graph.Node {
	if y.Rank() != 2 || b.Rank() != 1 || b.Shape().Dimensions[0] != y.Shape().Dimensions[1] {
		exceptions.Panicf("fastmm.AddBias: need [M,N] + [N], got %s + %s", y.Shape(), b.Shape())
	}
	m := y.Shape().Dimensions[0]
	ones := graph.Ones(y.Graph(), shapes.Make(y.DType(), m, 1))
	bb := graph.DotGeneral(ones, []int{1}, nil, graph.Reshape(b, 1, b.Shape().Dimensions[0]), []int{0}, nil)
	tag(bb, kindBias)
	return graph.Add(y, bb)
}

// Dense returns x·w + b for x [M, K], w [K, N], b [N] (b may be nil).
func Dense(x, w, b *graph.Node) *graph.Node {
	y := MatMul(x, w)
	if b != nil {
		y = AddBias(y, b)
	}
	return y
}

func dotGeneralVJP(node *graph.Node, vjps []*graph.Node, outShape shapes.Shape) []*graph.Node {
	k := tagOf(node)
	if k == 0 || len(vjps) != 1 || vjps[0] == nil || !vjps[0].Shape().Equal(node.Shape()) {
		return origVJP(node, vjps, outShape)
	}
	dy := vjps[0]
	in := node.Inputs()
	x, w := in[0], in[1]
	switch k {
	case kindMatMul:
		// dx = dy·wᵀ: [M,N]·[K,N] contracting both last axes, a native layout.
		dx := graph.DotGeneral(dy, []int{1}, nil, w, []int{1}, nil)
		// dw = xᵀ·dy, transposing whichever of x [M,K] and dy [M,N] is smaller.
		var dw *graph.Node
		if x.Shape().Size() <= dy.Shape().Size() {
			dw = graph.DotGeneral(graph.Transpose(x, 0, 1), []int{1}, nil, dy, []int{0}, nil)
		} else {
			dw = graph.Transpose(graph.DotGeneral(graph.Transpose(dy, 0, 1), []int{1}, nil, x, []int{0}, nil), 0, 1)
		}
		return []*graph.Node{dx, dw}
	case kindBias:
		// x is the constant column of ones [M,1]; d(bᵀ) = 1ᵀ·dy, [1,M]·[M,N].
		m := x.Shape().Dimensions[0]
		onesRow := graph.Ones(node.Graph(), shapes.Make(dy.DType(), 1, m))
		db := graph.DotGeneral(onesRow, []int{1}, nil, dy, []int{0}, nil)
		return []*graph.Node{nil, db}
	case kindSumLast:
		// y = x·1 ([M,N]·[N,1]); dx = dy·1ᵀ, a broadcast done as the product
		// [M,1]·[1,N].
		return []*graph.Node{broadcastLast(dy, w.Shape().Dimensions[0]), nil}
	case kindBroadcastLast:
		// y = a·1ᵀ ([M,1]·[1,N]); da = dy·1 ([M,N]·[N,1]).
		return []*graph.Node{sumLast(dy), nil}
	}
	return origVJP(node, vjps, outShape)
}
