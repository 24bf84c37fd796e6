package schedules

import (
	"fmt"
	"math"
)

// KarrasRho is the usual ρ of [KarrasSigmas] (Karras et al. 2022 use ρ = 7).
const KarrasRho = 7.0

// KarrasSigmas returns the n noise levels of EDM (Karras et al. 2022,
// "Elucidating the design space of diffusion-based generative models",
// eq. 5), descending from σ_max to σ_min:
//
//	σ_i = (σ_max^{1/ρ} + i/(n−1) · (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,  i = 0..n−1,
//
// with σ_0 = σ_max and σ_{n−1} = σ_min set exactly (n = 1 gives [σ_max]).
// ρ = 1 spaces σ linearly; larger ρ puts more steps at small σ. Samplers
// append σ_n = 0 as their final step; this function does not.
// It needs n ≥ 1, 0 < σ_min < σ_max < ∞ and 0 < ρ < ∞.
func KarrasSigmas(n int, sigmaMin, sigmaMax, rho float64) ([]float64, error) {
	switch {
	case n < 1:
		return nil, fmt.Errorf("schedules: KarrasSigmas: n must be ≥ 1, got %d", n)
	case math.IsNaN(sigmaMin) || math.IsNaN(sigmaMax) || math.IsInf(sigmaMax, 0) || sigmaMin <= 0 || sigmaMax <= sigmaMin:
		return nil, fmt.Errorf("schedules: KarrasSigmas: sigmaMin = %v, sigmaMax = %v, want 0 < sigmaMin < sigmaMax < ∞", sigmaMin, sigmaMax)
	case math.IsNaN(rho) || math.IsInf(rho, 0) || rho <= 0:
		return nil, fmt.Errorf("schedules: KarrasSigmas: rho = %v, want 0 < ρ < ∞", rho)
	}
	out := make([]float64, n)
	out[0] = sigmaMax
	if n == 1 {
		return out, nil
	}
	lo, hi := math.Pow(sigmaMin, 1/rho), math.Pow(sigmaMax, 1/rho)
	for i := 1; i < n-1; i++ {
		out[i] = math.Pow(hi+float64(i)/float64(n-1)*(lo-hi), rho)
	}
	out[n-1] = sigmaMin
	return out, nil
}
