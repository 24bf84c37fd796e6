package unet

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/internal/fastmm"
)

// Gradient checkpointing ([UNetConfig.GradCheckpoint], [MLPConfig.GradCheckpoint]).
//
// A checkpointed block computes its output y = block(ins) as usual, but
// its gradient is a hand-written one (fastmm.WithGradient) that, once the
// gradient dy of y has arrived in the backward pass, builds the block again
// on its inputs, with the same variables, and differentiates that copy:
//
//	y' = block(ins'),   ins' = ins made to wait for dy (a SchedulingBarrier) and cut from their own past (StopGradient),
//	(∂/∂ins, ∂/∂variables) = Gradient(Σ y'·dy, ins', variables read by the block).
//
// The forward pass therefore keeps only what the block reads (its inputs
// and variables) and its output; the values inside it — the padded copies
// and the im2col-like matrices of the convolutions, the GroupNorm and SiLU
// outputs, the attention weights — are freed as soon as the forward pass
// is done with them, and computed again one block at a time in the backward
// pass. The copy is the same graph on the same values, so y' = y exactly,
// and its gradient is the one the block has without checkpointing (the same
// operations in the same order); only the sums of the contributions that
// reach a block's input from inside and from outside the block are added in
// another order (see the tests for the size of that difference: a few
// roundings of the dtype the gradients are summed in).
//
// Why not GoMLX's Node.Checkpoint/StopCheckpoint (core/graph/gradcheckpoint.go)?
// Its backward pass clones every node of the block with Node.CloneWithInputs
// and differentiates the clones. This package's fast gradients (the
// convolutions', GroupNorm's and SiLU's hand-written ones, and the matrix
// products' cheaper layouts, all from internal/fastmm) are attached to the
// original nodes and are lost on clones, so the backward pass falls back to
// differentiating the forward formulation operation by operation. Measured
// with it around the ResBlocks and attention blocks of the "small" UNet, a
// forward and backward pass at batch 16 on the pure-Go backend (2 shared
// cores): 954 ms against 363 ms without checkpointing, a higher peak heap
// (307 against 279 MiB: no saving at all), and gradients that differ by up
// to 2.4e-3 element-wise (relative). Rebuilding the block instead keeps
// those gradients.
//
// Random numbers: a block that draws some (the ResBlock's dropout) gets
// them drawn before the block, as one of its inputs, so that the copy
// reuses them (see the UNet's resBlock).

// checkpointed returns block(scope, ins) with the gradient described above:
// outs[0] is the block's output y, the checkpointed value; any further
// outputs (such as attention maps kept for inspection) are returned as the
// forward pass computed them and differentiate normally.
//
// block must read only ins, the variables of scope (and constants): it may
// not capture other nodes, since it is called again, with scope.ResetVisited()
// and new ins, when the gradient is built (it panics otherwise). ins[0]
// must be a node of the graph; ins of a non-float dtype (masks) are passed
// to the copy unchanged and get no gradient.
func checkpointed(scope *model.Scope, ins []*Node, block func(scope *model.Scope, ins []*Node) []*Node) []*Node {
	g := ins[0].Graph()
	start := NodeId(len(g.Nodes()))
	outs := block(scope, ins)
	y := outs[0]

	// What y reads from outside the block: ins, variables, constants.
	isIn := make(map[*Node]bool, len(ins))
	for _, in := range ins {
		isIn[in] = true
	}
	var params []*Node
	seen := map[*Node]bool{}
	stack := []*Node{y}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		switch {
		case isIn[n]:
		case len(n.Inputs()) == 0:
			// A leaf, created before the block or in it: a variable's value
			// (a graph parameter, created at its first use in the graph)
			// gets its gradient from the copy; constants need none.
			if n.Type() == NodeTypeParameter && n.DType().IsFloat() {
				params = append(params, n)
			}
		case n.Id() >= start:
			stack = append(stack, n.Inputs()...)
		default:
			exceptions.Panicf("unet: a checkpointed block reads the node %s, built outside it, that is not one of its inputs", n)
		}
	}
	if len(params) == 0 && !anyFloat(ins) {
		return outs // nothing to differentiate
	}
	inputs := append(append(make([]*Node, 0, len(ins)+len(params)), ins...), params...)
	nIns := len(ins)
	// The gradient function captures no node (see fastmm.VJPFunc): it gets
	// ins and params back in nodes.
	vjp := func(dy *Node, nodes []*Node) []*Node {
		sdy := StopGradient(dy)
		again := make([]*Node, nIns)
		var targets []*Node
		for i, in := range nodes[:nIns] {
			again[i] = in
			if in.DType().IsFloat() {
				// Computed only once dy exists (so the copy is not
				// scheduled in the forward pass), and differentiated only
				// through the copy.
				again[i] = SchedulingBarrier(StopGradient(in), sdy)
				targets = append(targets, again[i])
			}
		}
		targets = append(targets, nodes[nIns:]...)
		y := block(scope.ResetVisited(), again)[0]
		grads := Gradient(ReduceAllSum(Mul(y, sdy)), targets...)
		res := make([]*Node, len(nodes))
		k := 0
		for i, in := range nodes[:nIns] {
			if in.DType().IsFloat() {
				res[i] = grads[k]
				k++
			}
		}
		copy(res[nIns:], grads[k:])
		return res
	}
	outs[0] = fastmm.WithGradient(y, inputs, nil, vjp)
	return outs
}

func anyFloat(nodes []*Node) bool {
	for _, n := range nodes {
		if n.DType().IsFloat() {
			return true
		}
	}
	return false
}
