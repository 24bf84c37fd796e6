package math

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// tinyProbability floors probabilities inside graph logarithms so that Log
// never sees 0. It lies far below [ProbFloor], so it never shows in a result
// that is floored at [LogProbFloor].
const tinyProbability = 1e-30

// computeDType returns the dtype a graph function computes in for inputs of
// dtype: float32 and float64 as they are, half precision in float32.
func computeDType(dtype dtypes.DType) dtypes.DType {
	if dtype.IsHalfPrecision() {
		return dtypes.Float32
	}
	return dtype
}

// operands checks the operands of the graph function name: all floats of one
// dtype, with shapes that broadcast by GoMLX rules (each a scalar, or of the
// common rank with every dimension equal to the others or 1). It returns the
// operands converted to the compute dtype, the common dimensions, and the
// input dtype, to which the caller converts its result back.
func operands(name string, nodes ...*graph.Node) (converted []*graph.Node, dims []int, dtype dtypes.DType) {
	dtype = nodes[0].DType()
	if !dtype.IsFloat() {
		panic(fmt.Errorf("math: %s: operands must be float32 or float64 (or half precision), got %s", name, dtype))
	}
	var common []int // nil: all scalars so far
	for i, n := range nodes {
		if n.DType() != dtype {
			panic(fmt.Errorf("math: %s: operands must share one dtype, operand 0 is %s and operand %d is %s",
				name, dtype, i, n.DType()))
		}
		nd := n.Shape().Dimensions
		if len(nd) == 0 {
			continue
		}
		if common == nil {
			common = slices.Clone(nd)
			continue
		}
		if len(nd) != len(common) {
			panic(fmt.Errorf("math: %s: operand %d has shape %s, whose rank does not match the common dimensions %v "+
				"(operands must be scalars or share one rank)", name, i, n.Shape(), common))
		}
		for axis, d := range nd {
			switch {
			case d == common[axis]:
			case common[axis] == 1:
				common[axis] = d
			case d != 1:
				panic(fmt.Errorf("math: %s: operand %d has shape %s, which does not broadcast with the common dimensions %v "+
					"at axis %d", name, i, n.Shape(), common, axis))
			}
		}
	}
	converted = make([]*graph.Node, len(nodes))
	for i, n := range nodes {
		if want := computeDType(dtype); want != dtype {
			n = graph.ConvertDType(n, want)
		}
		converted[i] = n
	}
	return converted, common, dtype
}

// broadcastAll broadcasts each node to dims (nil: all are scalars). Needed
// before graph.Where, which does not broadcast its operands.
func broadcastAll(dims []int, nodes ...*graph.Node) {
	for i, n := range nodes {
		if !slices.Equal(n.Shape().Dimensions, dims) {
			nodes[i] = graph.BroadcastToDims(n, dims...)
		}
	}
}

// asDType converts x back to the input dtype of a graph function.
func asDType(x *graph.Node, dtype dtypes.DType) *graph.Node {
	if x.DType() != dtype {
		return graph.ConvertDType(x, dtype)
	}
	return x
}

// inComputeDType runs the one-operand graph function fn on x in the compute
// dtype and converts the result back to x's dtype.
func inComputeDType(name string, x *graph.Node, fn func(*graph.Node) *graph.Node) *graph.Node {
	ops, _, dtype := operands(name, x)
	return asDType(fn(ops[0]), dtype)
}
