// Package cond is the conditioning of diffusion models: named inputs (class
// labels, prompts as token ids, cross-attention contexts and their masks)
// and the null condition ∅ that classifier-free guidance compares them with.
//
// A [Condition] holds the inputs of a batch on the host; [Nodes] is the same
// inside a graph, where models read it. Both carry a per-example null mask:
// an example marked null is asked for ε(x, ∅) whatever its inputs say, so a
// model can be asked for ε(x, c) and ε(x, ∅) in the same batch (see
// [Nodes.WithNull]), and training can drop the condition of a random share of
// a batch. What ∅ means is the model's business (for class labels, a learned
// "no class" embedding).
//
// The zero Condition and the zero Nodes are unconditional: every example gets ∅.
package cond

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/internal/tensorutil"
)

// Names of the condition inputs.
const (
	// Class is the class-label input: int32 [B], labels in [0, K).
	Class = "class"
	// Text is the prompt input: int32 token ids [B, L] of a tokenizer
	// (package text), one row per prompt, padded to the tokenizer's maximum
	// length L. A text-conditional model encodes them itself, and encodes
	// the empty prompt for the examples marked null.
	Text = "text"
	// Context is the sequence a network attends to by cross-attention:
	// float [B, L, D], such as a text encoder's output tokens.
	Context = "context"
	// ContextMask marks the Context positions that may be attended to
	// (bool [B, L], true for real tokens, false for padding).
	ContextMask = "context_mask"
)

// Condition is the conditioning of a batch on the host.
type Condition struct {
	// Inputs maps each input's name to its values, with the batch on the
	// first axis (for Class: int32 [B]). Nil or empty: no inputs, every
	// example gets ∅.
	Inputs map[string]*tensors.Tensor
	// Null marks the examples that get the null condition ∅ instead of their
	// inputs (nil: none).
	Null []bool
}

// Classes returns the condition of class labels (one per example).
func Classes(labels []int32) Condition {
	return Condition{Inputs: map[string]*tensors.Tensor{Class: tensors.FromValue(append([]int32(nil), labels...))}}
}

// IsZero reports whether the condition has no inputs (every example gets ∅).
func (c Condition) IsZero() bool { return len(c.Inputs) == 0 }

// Names returns the input names, sorted (the order in which [Condition.Args]
// lists them).
func (c Condition) Names() []string {
	names := make([]string, 0, len(c.Inputs))
	for n := range c.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Len returns the batch size, checking that every input and the null mask
// agree on it; a condition without inputs or mask has length −1 (any).
func (c Condition) Len() (int, error) {
	n := -1
	for _, name := range c.Names() {
		t := c.Inputs[name]
		if t == nil || t.Shape().Rank() < 1 {
			return 0, fmt.Errorf("cond: input %q must have the batch on its first axis, got %v", name, shapeOf(t))
		}
		m := t.Shape().Dimensions[0]
		if n >= 0 && m != n {
			return 0, fmt.Errorf("cond: input %q has %d examples, others %d", name, m, n)
		}
		n = m
	}
	if c.Null != nil {
		if n >= 0 && len(c.Null) != n {
			return 0, fmt.Errorf("cond: null mask has %d entries, inputs %d examples", len(c.Null), n)
		}
		n = len(c.Null)
	}
	return n, nil
}

// CheckLen reports a condition that cannot be that of n examples: inputs or
// a null mask that disagree among themselves (see [Condition.Len]), or that
// hold a number of examples other than n. A condition without inputs or mask
// fits any n.
func (c Condition) CheckLen(n int) error {
	m, err := c.Len()
	if err != nil {
		return err
	}
	if m >= 0 && m != n {
		return fmt.Errorf("cond: the condition has %d examples, want %d", m, n)
	}
	return nil
}

// Labels returns the class labels, or nil when the condition has none.
func (c Condition) Labels() ([]int32, error) {
	t, ok := c.Inputs[Class]
	if !ok || t == nil {
		return nil, nil
	}
	if t.DType() != dtypes.Int32 || t.Shape().Rank() != 1 {
		return nil, fmt.Errorf("cond: class labels must be int32 [B], got %s", t.Shape())
	}
	return tensors.CopyFlatData[int32](t)
}

// Slice returns examples [start, start+n) of the condition.
func (c Condition) Slice(start, n int) (Condition, error) {
	if c.IsZero() && c.Null == nil {
		return c, nil
	}
	out := Condition{}
	if len(c.Inputs) > 0 {
		out.Inputs = make(map[string]*tensors.Tensor, len(c.Inputs))
		for name, t := range c.Inputs {
			s, err := tensorutil.SliceFirstAxis(t, start, n)
			if err != nil {
				return Condition{}, fmt.Errorf("cond: input %q: %w", name, err)
			}
			out.Inputs[name] = s
		}
	}
	if c.Null != nil {
		if start < 0 || start+n > len(c.Null) {
			return Condition{}, fmt.Errorf("cond: cannot take examples [%d, %d) of a null mask of %d", start, start+n, len(c.Null))
		}
		out.Null = append([]bool(nil), c.Null[start:start+n]...)
	}
	return out, nil
}

// Args returns the tensors that feed [FromArgs] inside a graph: the inputs in
// the order of Names, then the null mask (bool [n]) when hasNull. n is the
// batch size, used for a mask that c does not hold.
func (c Condition) Args(n int, hasNull bool) []any {
	args := make([]any, 0, len(c.Inputs)+1)
	for _, name := range c.Names() {
		args = append(args, c.Inputs[name])
	}
	if hasNull {
		mask := c.Null
		if mask == nil {
			mask = make([]bool, n)
		}
		args = append(args, tensors.FromValue(append([]bool(nil), mask...)))
	}
	return args
}

// FromArgs rebuilds inside a graph the condition that [Condition.Args] fed:
// the nodes of the inputs named names (sorted), then the null mask when
// hasNull. It returns the Nodes and the nodes it did not use.
func FromArgs(names []string, hasNull bool, args []*Node) (Nodes, []*Node) {
	var n Nodes
	if len(names) > 0 {
		n.Inputs = make(map[string]*Node, len(names))
		for i, name := range names {
			n.Inputs[name] = args[i]
		}
	}
	rest := args[len(names):]
	if hasNull {
		n.Null, rest = rest[0], rest[1:]
	}
	return n, rest
}

// Nodes is the conditioning of a batch inside a graph.
type Nodes struct {
	// Inputs maps each input's name to its node, the batch on the first axis.
	Inputs map[string]*Node
	// Null is a bool [B] mask of the examples that get ∅ (nil: none).
	Null *Node
}

// Get returns the input called name, or nil.
func (n Nodes) Get(name string) *Node { return n.Inputs[name] }

// IsZero reports whether there are no inputs (every example gets ∅).
func (n Nodes) IsZero() bool { return len(n.Inputs) == 0 }

// NullMask returns the bool [batch] mask of the examples that get ∅: all of
// them when there are no inputs, else Null (all false when nil).
func (n Nodes) NullMask(g *Graph, batch int) *Node {
	switch {
	case n.IsZero():
		return BroadcastToDims(Const(g, true), batch)
	case n.Null == nil:
		return BroadcastToDims(Const(g, false), batch)
	}
	return n.Null
}

// WithNull returns the condition of a doubled batch [c; ∅]: every input
// repeated (the first half as given, the second half a copy), and a null
// mask that keeps the first half's and marks the whole second half, so that
// one call of a model gives ε(x, c) and ε(x, ∅) side by side (classifier-free
// guidance). batch is the size of one half.
func (n Nodes) WithNull(g *Graph, batch int) Nodes {
	if n.IsZero() {
		return n
	}
	out := Nodes{Inputs: make(map[string]*Node, len(n.Inputs))}
	for name, v := range n.Inputs {
		out.Inputs[name] = Concatenate([]*Node{v, v}, 0)
	}
	first := n.NullMask(g, batch)
	out.Null = Concatenate([]*Node{first, BroadcastToDims(Const(g, true), batch)}, 0)
	return out
}

// Or returns n with the examples of mask (bool [B]) also marked null.
func (n Nodes) Or(mask *Node) Nodes {
	if n.IsZero() || mask == nil {
		return n
	}
	out := Nodes{Inputs: n.Inputs, Null: mask}
	if n.Null != nil {
		out.Null = LogicalOr(n.Null, mask)
	}
	return out
}

// Slice returns examples [from, to) of every input and of the null mask.
func (n Nodes) Slice(from, to int) Nodes {
	if n.IsZero() {
		return n
	}
	out := Nodes{Inputs: make(map[string]*Node, len(n.Inputs))}
	for _, name := range slices.Sorted(maps.Keys(n.Inputs)) {
		out.Inputs[name] = Slice(n.Inputs[name], AxisRange(from, to))
	}
	if n.Null != nil {
		out.Null = Slice(n.Null, AxisRange(from, to))
	}
	return out
}

func shapeOf(t *tensors.Tensor) string {
	if t == nil {
		return "nil"
	}
	return t.Shape().String()
}
