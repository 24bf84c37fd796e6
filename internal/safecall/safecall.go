// Package safecall runs compiled GoMLX graphs, returning as errors the
// panics that GoMLX raises while it builds or runs a graph (shape
// mismatches, missing variables), so that commands and libraries can report
// them instead of crashing.
package safecall

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Call runs exec with args and returns its outputs; a panic raised while
// building or running the graph comes back as the error.
func Call(exec *model.Exec, args ...any) ([]*tensors.Tensor, error) {
	var outs []*tensors.Tensor
	var callErr error
	if err := exceptions.TryCatch[error](func() { outs, callErr = exec.Call(args...) }); err != nil {
		return nil, err
	}
	return outs, callErr
}

// Compile builds (and compiles, never runs) exec's graph for inputs shaped
// in and returns it; a panic raised while building comes back as the error.
func Compile(exec *model.Exec, in ...shapes.Shape) (*graph.Graph, error) {
	var g *graph.Graph
	var compileErr error
	if err := exceptions.TryCatch[error](func() { g, compileErr = exec.Compile(in...) }); err != nil {
		return nil, err
	}
	return g, compileErr
}
