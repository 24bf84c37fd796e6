package unet

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
)

// Mixed precision (see the package documentation). Where a piece runs in
// float32 under a half input, its function says so and why. The variables
// go through param; the float32 pieces start with toFloat32 and end with
// fromFloat32, both no-ops for float32 and float64 inputs, so that those
// graphs are exactly the ones built before mixed precision existed.
//
// Fused ops on GoMLX's pure-Go backend: graph.Softmax goes through
// graph.InternalFusedOpCaller to the backend's FusedSoftmax, which that
// backend builds for any dtype but executes only in float32 and float64 (a
// half input fails when the graph runs, too late for InternalFusedOpCaller's
// fallback to the decomposed softmax, which only catches build-time
// ErrNotImplemented). FusedDense and FusedLayerNorm (nn.Dense, nn.LayerNorm)
// behave the same way; this package does not use them (its dense layers,
// normalisations and GELU are plain graph operations), and its softmax
// inputs are float32, so half precision needs no GOMLX_FUSION setting.

// IsHalf reports whether dt is a 16-bit float, BFloat16 or Float16: the
// input dtypes for which the networks of this package run in mixed
// precision (float32 master weights, see [MasterDType] and the package
// documentation).
func IsHalf(dt dtypes.DType) bool {
	return dt == dtypes.BFloat16 || dt == dtypes.Float16
}

// MasterDType returns the dtype of the variables of a network run on inputs
// of dtype dt: float32 for the half dtypes (BFloat16, Float16), dt itself
// otherwise.
func MasterDType(dt dtypes.DType) dtypes.DType {
	if IsHalf(dt) {
		return dtypes.Float32
	}
	return dt
}

// param returns the variable name [dims...] of scope as a node of dtype dt,
// the dtype it is computed in: the variable is created (with scope's
// initializer) in MasterDType(dt) and, when that differs from dt (a half
// dt), converted to dt here, so that its gradient comes back converted to
// the variable's float32.
func param(scope *model.Scope, g *Graph, name string, dt dtypes.DType, dims ...int) *Node {
	v := scope.VariableWithShape(name, shapes.Make(MasterDType(dt), dims...)).NodeValue(g)
	if v.DType() != dt {
		v = ConvertDType(v, dt)
	}
	return v
}

// toFloat32 returns x converted to float32 when its dtype is a half one
// (and x itself otherwise), and x's dtype: the pieces computed in float32
// under mixed precision start with it and end with fromFloat32.
func toFloat32(x *Node) (*Node, dtypes.DType) {
	dt := x.DType()
	if IsHalf(dt) {
		return ConvertDType(x, dtypes.Float32), dt
	}
	return x, dt
}

// fromFloat32 converts y back to dt when they differ.
func fromFloat32(y *Node, dt dtypes.DType) *Node {
	if y.DType() != dt {
		return ConvertDType(y, dt)
	}
	return y
}
