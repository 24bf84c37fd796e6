package score

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// ScoreFn is the graph of a score model s_θ(x, t) ≈ ∇_x log p_t(x): x is
// [B, ...], t is [B] continuous time in [0, 1] with x's dtype, c is the
// condition (zero: none); it returns a tensor shaped like x.
//
// The variables of a trained score model live under diffusion.ModelScope
// ("model") in a store, like those of denoisers. For sampling and
// likelihoods a ScoreFn becomes a diffusion.Model with [Model].
type ScoreFn func(scope *model.Scope, x, t *Node, c cond.Nodes) *Node

// Model returns the score model fn of the SDE sde as the sampling core's
// model: its noise levels are the SDE's (α = m(t), σ = σ(t)), the network
// receives the level's continuous time t, and its output is the score
// (diffusion.PredictScore, ε̂ = −σ s). Every solver of package diffusion
// and of this package samples it. Set the result's Inputs and Classes for a
// conditional model.
func Model(sde SDE, fn ScoreFn) diffusion.Model {
	return diffusion.Model{
		Net: func(scope *model.Scope, x *Node, lv diffusion.LevelNodes, c cond.Nodes) *Node {
			return fn(scope, x, lv.T, c)
		},
		Prediction: diffusion.PredictScore,
		Levels:     sde,
	}
}

// sdeOf returns the SDE of a model's noise levels, or an error naming the
// solver that needs one.
func sdeOf(levels diffusion.NoiseLevels, solver string) (SDE, error) {
	if s, ok := levels.(SDE); ok {
		return s, nil
	}
	return nil, errorf("%s needs a model of an SDE (a score model, or a DDPM model of the linear T = 1000 schedule through DenoiserModel), not of %T", solver, levels)
}

// timeGrid returns N+1 times evenly spaced from 1 down to ε = sde.MinTime(),
// the grid of the reverse-SDE samplers ([EulerMaruyama] and
// [PredictorCorrector]); the ODE solvers' steps are the integrator's.
func timeGrid(name string, sde SDE, steps int) ([]float64, error) {
	if steps < 1 {
		return nil, errorf("%s needs Steps ≥ 1, got %d", name, steps)
	}
	return linspace(1, sde.MinTime(), steps), nil
}

// linspace returns n+1 evenly spaced times from a to b inclusive.
func linspace(a, b float64, n int) []float64 {
	ts := make([]float64, n+1)
	for i := range ts {
		ts[i] = a + (b-a)*float64(i)/float64(n)
	}
	ts[n] = b
	return ts
}

// batchNorm returns the batch mean of the per-example Euclidean norms of v
// (n examples of d values).
func batchNorm(v []float64, n, d int) float64 {
	var sum float64
	for e := range n {
		var sq float64
		for _, x := range v[e*d : (e+1)*d] {
			sq += x * x
		}
		sum += math.Sqrt(sq)
	}
	return sum / float64(n)
}
