package diffusion

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // the package's graph DSL, as in the rest of diffusion
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// This file estimates, before anything runs, the memory a training step or
// a sampling run needs, so that the commands can refuse a batch that does
// not fit instead of dying in the middle of a step.

// MaxBatch is the largest batch the estimates accept: beyond it the sizes of
// a step's tensors could overflow.
const MaxBatch = 1 << 30

// GraphPeakBytes returns the memory peak of a built graph: running its
// nodes in the order they were built, the largest total size of the tensors
// alive at once. A tensor is alive from its node to its last consumer; a
// reshape views its input's memory (it counts nothing, and its uses keep the
// input alive); a node without consumers (an output, or a value the backends
// prune) counts only while it is made.
//
// The pure-Go backend runs nodes in a dependency order close to this one and
// frees each buffer after its last use: on the reference UNet's training
// step the process grows by 1.10–1.16× this peak (buffer pools, the garbage
// collector's slack), on the 2-D MLP's by 1.0×. XLA fuses operations and
// needs less.
func GraphPeakBytes(g *Graph) float64 {
	nodes := g.Nodes()
	index := make(map[*Node]int, len(nodes))
	for i, n := range nodes {
		index[n] = i
	}
	// root[i] is the node whose memory node i uses: itself, or for a
	// reshape the root of its input.
	root := make([]int, len(nodes))
	last := make([]int, len(nodes))
	for i, n := range nodes {
		root[i], last[i] = i, i
		if in := n.Inputs(); n.Type() == NodeTypeReshape && len(in) == 1 {
			if j, ok := index[in[0]]; ok {
				root[i] = root[j]
			}
		}
	}
	for i, n := range nodes {
		for _, in := range n.Inputs() {
			if j, ok := index[in]; ok && last[root[j]] < i {
				last[root[j]] = i
			}
		}
	}
	// delta[i] is the change of the live total when node i runs; a tensor
	// leaves after its last consumer.
	delta := make([]float64, len(nodes)+1)
	for i, n := range nodes {
		if root[i] != i {
			continue
		}
		sz := nodeBytes(n)
		delta[i] += sz
		delta[last[i]+1] -= sz
	}
	var live, peak float64
	for i := range nodes {
		live += delta[i]
		peak = max(peak, live)
	}
	return peak
}

// nodeBytes is the memory of a node's output; 0 for a node with several
// outputs, whose parts are nodes of their own.
func nodeBytes(n *Node) float64 {
	sh := n.Shape()
	if n.NumOutputs() > 1 || sh.IsTuple() || sh.DType == dtypes.InvalidDType {
		return 0
	}
	return float64(sh.DType.Size()) * float64(sh.Size())
}

// variableBytes is the total size of a store's variables.
func variableBytes(store *model.Store) float64 {
	var total float64
	for v := range store.IterVariables() {
		sh := v.Shape()
		total += float64(sh.DType.Size()) * float64(sh.Size())
	}
	return total
}

// withBatch returns sh with its first axis set to b.
func withBatch(sh shapes.Shape, b int) shapes.Shape {
	dims := append([]int{b}, sh.Dimensions[1:]...)
	return shapes.Make(sh.DType, dims...)
}

// condShapes returns the shapes of c's graph inputs for a batch of b.
func condShapes(c cond.Condition, hasNull bool, b int) ([]shapes.Shape, error) {
	var out []shapes.Shape
	n, err := c.Len()
	if err != nil {
		return nil, err
	}
	n = max(n, 1)
	for _, a := range c.Args(n, hasNull) {
		t, ok := a.(*tensors.Tensor)
		if !ok || t.Shape().Rank() < 1 {
			return nil, fmt.Errorf("condition input %T is not a batch tensor", a)
		}
		out = append(out, withBatch(t.Shape(), b))
	}
	return out, nil
}

// checkBatch refuses batches the estimates cannot represent.
func checkBatch(what string, b int) error {
	if b < 1 || b > MaxBatch {
		return fmt.Errorf("diffusion: estimating memory: %s of %d examples: want 1 to %d", what, b, MaxBatch)
	}
	return nil
}

// StepMemory estimates the bytes one training step on a batch of b examples
// needs: the peak of the step's graph ([GraphPeakBytes]; forward, backward,
// optimizer and EMA updates) built for b examples shaped like data's, plus
// the model's variables (weights, optimizer moments, EMA weights) and their
// updated values. One example of data is drawn (step 0) to learn the
// shapes; the graph is built but never run, so that b may be far larger
// than memory. It changes neither the weights nor the random state:
// training after it computes what it would have computed without.
func (tr *Trainer) StepMemory(data Data, b int) (float64, error) {
	if err := checkBatch("a training batch", b); err != nil {
		return 0, err
	}
	x0, c, err := data.Batch(0, 1)
	if err != nil {
		return 0, fmt.Errorf("diffusion: estimating memory: drawing an example: %w", err)
	}
	e, err := tr.newStepExec(c)
	if err != nil {
		return 0, err
	}
	defer e.Finalize()
	in := []shapes.Shape{withBatch(x0.Shape(), b)}
	if tr.lossFn == nil {
		in = append(in, shapes.Make(dtypes.Int32, b), shapes.Make(dtypes.Float32, b))
	}
	cs, err := condShapes(c, c.Null != nil, b)
	if err != nil {
		return 0, fmt.Errorf("diffusion: estimating memory: %w", err)
	}
	g, err := safecall.Compile(e, append(in, cs...)...)
	if err != nil {
		return 0, fmt.Errorf("diffusion: estimating memory of a training step: %w", err)
	}
	return GraphPeakBytes(g) + 2*variableBytes(tr.store), nil
}

// SampleMemory estimates the bytes that [Run] with the same arguments
// needs: the peak of one evaluation of the model on a batch
// (opts.BatchSize, or all n), its weights, and the run's arrays on the host
// (the n examples in float64: the state, the model's output and the
// result). The graph is built but never run. It fails, as Run would, when
// the store lacks some of the model's variables.
func SampleMemory(backend compute.Backend, store *model.Store, m Model, s Solver, n int, dims []int, opts SampleOptions) (float64, error) {
	if err := checkBatch("a sampling run", n); err != nil {
		return 0, err
	}
	b := opts.batchSize(n)
	d, err := NewDriver(backend, store, m, s, dims, opts)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	e, err := d.exec(evalMode{})
	if err != nil {
		return 0, err
	}
	scalar := tensors.FromScalar(0.0).Shape()
	in := []shapes.Shape{shapes.Make(opts.dtype(), append([]int{b}, dims...)...), scalar, scalar, scalar}
	cs, err := condShapes(opts.Cond, d.hasNull, b)
	if err != nil {
		return 0, fmt.Errorf("diffusion: estimating memory: %w", err)
	}
	g, err := safecall.Compile(e, append(in, cs...)...)
	if err != nil {
		return 0, fmt.Errorf("diffusion: estimating memory of sampling: %w", err)
	}
	if err := d.checkVariables(); err != nil {
		return 0, err
	}
	host := 3 * 8 * float64(n) * float64(d.size)
	return GraphPeakBytes(g) + variableBytes(d.store) + host, nil
}
