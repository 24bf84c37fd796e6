package diffusion

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

// GaussianOptimalDenoiser returns the exact minimiser of L_simple for data
// x₀ ~ N(mean, std² I) under the training schedule s: since
// x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε is jointly Gaussian with ε,
//
//	ε̂(x_t, t) = E[ε | x_t] = √(1−ᾱ_t) (x_t − √ᾱ_t mean) / (ᾱ_t std² + 1 − ᾱ_t).
//
// With it as the model, samplers must reproduce N(mean, std² I) with no
// training; tests and notebooks use it as ground truth. It has no variables.
func GaussianOptimalDenoiser(s *schedules.Schedule, mean, std float64) Denoiser {
	p := &Process{Schedule: s}
	num := make([]float64, s.T)   // √(1−ᾱ)/(ᾱ s² + 1 − ᾱ)
	shift := make([]float64, s.T) // √ᾱ · mean
	for i, a := range s.AlphaBar {
		num[i] = math.Sqrt(1-a) / (a*std*std + 1 - a)
		shift[i] = math.Sqrt(a) * mean
	}
	return Denoiser{
		Prediction: PredictEpsilon,
		Fn: func(_ *model.Scope, xt, t *Node, _ cond.Nodes) *Node {
			return Mul(p.extract(num, t, xt), Sub(xt, p.extract(shift, t, xt)))
		},
	}
}

// GaussianModel returns the exact denoiser of data x₀ ~ N(mean, std² I) at
// every level of levels (discrete or continuous), as a sampling Model: since
// x = α x₀ + σ ε is jointly Gaussian with ε,
//
//	ε̂(x) = E[ε | x] = σ (x − α mean)/(α² std² + σ²).
//
// Every sampler must reproduce the data distribution with it (no training),
// and its probability-flow ODE has the closed-form solution
// [GaussianFlow]: the ground truth of solver tests. It has no variables.
func GaussianModel(levels NoiseLevels, mean, std float64) Model {
	return Model{
		Net: func(_ *model.Scope, x *Node, lv LevelNodes, _ cond.Nodes) *Node {
			a, s := perExampleNode(lv.Alpha, x), perExampleNode(lv.Sigma, x)
			v := Add(MulScalar(Square(a), std*std), Square(s))
			return Div(Mul(s, Sub(x, MulScalar(a, mean))), v)
		},
		Prediction: PredictEpsilon,
		Levels:     levels,
	}
}

// GaussianFlow returns the exact solution at level to of the
// probability-flow ODE started at x in level from, for data N(mean, std² I)
// ([GaussianModel]): along the flow z = (x − α mean)/√(α² std² + σ²) stays
// constant, so
//
//	x_to = α_to mean + √(α_to² std² + σ_to²)/√(α_from² std² + σ_from²) · (x − α_from mean).
func GaussianFlow(x []float64, from, to Level, mean, std float64) []float64 {
	r := math.Sqrt(to.Alpha*to.Alpha*std*std+to.Sigma*to.Sigma) / math.Sqrt(from.Alpha*from.Alpha*std*std+from.Sigma*from.Sigma)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = to.Alpha*mean + r*(v-from.Alpha*mean)
	}
	return out
}
