package diffusion

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"

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
		Fn: func(_ *model.Scope, xt, t, _ *Node) *Node {
			return Mul(p.extract(num, t, xt), Sub(xt, p.extract(shift, t, xt)))
		},
	}
}
