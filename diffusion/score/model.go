package score

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
)

// ModelFn is the graph of a score model s_θ(x, t) ≈ ∇_x log p_t(x): x is
// [B, ...], t is [B] continuous time in [0, 1] with x's dtype, cond is the
// conditioning input or nil; it returns a tensor shaped like x.
//
// The variables of a trained score model live under diffusion.ModelScope
// ("model") in a store, like those of denoisers; the drivers of this package
// (Sample, LogLikelihood) call the ModelFn with that scope.
type ModelFn func(scope *model.Scope, x, t, cond *Node) *Node
