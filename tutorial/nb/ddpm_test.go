package nb

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/schedules"
)

// For Gaussian data N(μ, s²) the optimal denoiser's errors are known in
// closed form: E(ε − ε̂)² = ᾱ s²/(ᾱ s² + 1 − ᾱ) and E(x₀ − x̂₀)² =
// s²(1 − ᾱ)/(ᾱ s² + 1 − ᾱ), the posterior variance of x₀ given x_t. A helper
// that swapped the two, noised at the wrong step or ignored the noise fails.
func TestPredictionErrorsOfTheOptimalDenoiser(t *testing.T) {
	const mu, sd, n = 0.3, 0.5, 20000
	s := Must(schedules.New("linear", 1000))
	p := Must(diffusion.NewProcess(s))
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(mu + sd*rng.NormFloat64())
	}
	x0 := tensors.FromFlatDataAndDimensions(data, n, 1)
	steps := []int{0, 99, 299, 599, 999}
	eps, x0Err := PredictionErrors(p, diffusion.GaussianOptimalDenoiser(s, mu, sd), nil, x0, steps, 3)
	for k, i := range steps {
		ab := s.AlphaBar[i]
		den := ab*sd*sd + 1 - ab
		wantEps, wantX0 := ab*sd*sd/den, sd*sd*(1-ab)/den
		// The mean of n squared Gaussians is within a few √(2/n) of its expectation.
		if math.Abs(eps[k]/wantEps-1) > 0.05 || math.Abs(x0Err[k]/wantX0-1) > 0.05 {
			t.Errorf("step index %d: ε error %.5f (want %.5f), x₀ error %.5f (want %.5f)", i, eps[k], wantEps, x0Err[k], wantX0)
		}
	}
	// The errors move in opposite directions: ε is hardest at small t, x₀ at large t.
	if !(eps[0] > eps[len(eps)-1] && x0Err[0] < x0Err[len(x0Err)-1]) {
		t.Errorf("ε errors %v and x₀ errors %v do not cross", eps, x0Err)
	}
}
