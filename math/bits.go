package math

import (
	"fmt"
	gomath "math"

	"github.com/gomlx/gomlx/core/graph"
)

// NatsToBitsPerDim converts a negative log-likelihood of nats, summed over
// dims dimensions, to bits per dimension:
//
//	bits/dim = nats / (D · ln 2).
//
// It panics if dims is not positive.
func NatsToBitsPerDim(nats float64, dims int) float64 {
	checkDims("NatsToBitsPerDim", dims)
	return nats / (float64(dims) * gomath.Ln2)
}

// NatsToBitsPerDimGraph is the graph version of [NatsToBitsPerDim],
// element-wise: nats / (D · ln 2), in the dtype of nats. It panics if dims is
// not positive.
func NatsToBitsPerDimGraph(nats *graph.Node, dims int) *graph.Node {
	checkDims("NatsToBitsPerDimGraph", dims)
	return inComputeDType("NatsToBitsPerDimGraph", nats, func(nats *graph.Node) *graph.Node {
		return graph.MulScalar(nats, 1/(float64(dims)*gomath.Ln2))
	})
}

// checkDims panics unless dims, the number of dimensions of one sample, is
// positive.
func checkDims(name string, dims int) {
	if dims <= 0 {
		panic(fmt.Errorf("math: %s: dims must be > 0, got %d", name, dims))
	}
}
