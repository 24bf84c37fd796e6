package schedules

import (
	"fmt"
	"math"
)

// MaxBeta is the cap on β used by the schedules defined through a continuous
// ᾱ(τ) (cosine, sigmoid), as in improved DDPM: without it the last step,
// where ᾱ(1) = 0, would have β = 1.
const MaxBeta = 0.999

// CosineOffset is the offset s of the cosine schedule (improved DDPM), which
// keeps β_1 from being vanishingly small.
const CosineOffset = 0.008

// Constants of the DDPM linear schedule (Ho et al. 2020), defined for
// T = 1000 steps.
const (
	// LinearBetaStart is β_1 of the DDPM linear schedule at T = 1000.
	LinearBetaStart = 1e-4
	// LinearBetaEnd is β_T of the DDPM linear schedule at T = 1000.
	LinearBetaEnd = 0.02
)

// Constants of Stable Diffusion's schedule (the "linear_start" and
// "linear_end" of the CompVis v1 configs, the "beta_start" and "beta_end" of
// the diffusers scheduler configs), defined for T = 1000 steps.
const (
	// StableDiffusionBetaStart is β_1 of Stable Diffusion's schedule.
	StableDiffusionBetaStart = 0.00085
	// StableDiffusionBetaEnd is β_T of Stable Diffusion's schedule.
	StableDiffusionBetaEnd = 0.012
)

// Parameters of the sigmoid schedule of Chen (2023) implemented by
// [SigmoidBetas].
const (
	// SigmoidStart is the sigmoid argument at t = 0 (before division by τ).
	SigmoidStart = -3.0
	// SigmoidEnd is the sigmoid argument at t = 1 (before division by τ).
	SigmoidEnd = 3.0
	// SigmoidTau is the temperature τ dividing the sigmoid argument.
	SigmoidTau = 1.0
)

// checkT returns an error naming fn when T is not a positive step count.
func checkT(fn string, T int) error {
	if T <= 0 {
		return fmt.Errorf("schedules: %s: T must be > 0, got %d", fn, T)
	}
	return nil
}

// linspace returns n evenly spaced values from a to b inclusive, computed as
// numpy does: a + i·((b − a)/(n − 1)), with the last value set to b exactly
// (and [a] when n = 1).
func linspace(a, b float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = a
		return out
	}
	step := (b - a) / float64(n-1)
	for i := range out {
		out[i] = a + float64(i)*step
	}
	out[n-1] = b
	return out
}

// LinearBetas returns the linear schedule of DDPM (Ho et al. 2020):
// β_t = linspace(β_start, β_end, T) with β_start = 1e-4 and β_end = 0.02 at
// T = 1000. For other T both endpoints are multiplied by 1000/T (improved
// DDPM's rule), which keeps ᾱ_T roughly the same: T = 250 runs from 4e-4 to
// 0.08. T < 20 would need β_T > 1 and is an error (T = 20 gives β_T = 1, so
// ᾱ_T = 0).
func LinearBetas(T int) ([]float64, error) {
	if err := checkT("LinearBetas", T); err != nil {
		return nil, err
	}
	scale := 1000 / float64(T)
	start, end := scale*LinearBetaStart, scale*LinearBetaEnd
	if end > 1 {
		return nil, fmt.Errorf("schedules: LinearBetas: T = %d gives β_T = %v > 1 (the DDPM endpoints scaled by 1000/T need T ≥ 20)", T, end)
	}
	return linspace(start, end, T), nil
}

// CosineBetas returns the cosine schedule of improved DDPM (Nichol & Dhariwal
// 2021): with f(τ) = cos²((τ + s)/(1 + s) · π/2), s = 0.008, the target is
// ᾱ(τ) = f(τ)/f(0) at τ = t/T, and
//
//	β_t = min(1 − ᾱ(t/T)/ᾱ((t−1)/T), 0.999).
//
// Where no cap is active ᾱ_t = f(t/T)/f(0) exactly (the product telescopes).
// Since f(1) = 0 the last step is always capped: β_T = 0.999 and
// ᾱ_T = 0.001 · ᾱ_{T−1}, not 0.
func CosineBetas(T int) ([]float64, error) {
	if err := checkT("CosineBetas", T); err != nil {
		return nil, err
	}
	f := func(tau float64) float64 {
		c := math.Cos((tau + CosineOffset) / (1 + CosineOffset) * math.Pi / 2)
		return c * c
	}
	return betasFromContinuous(T, f), nil
}

// betasFromContinuous discretizes a continuous ᾱ(τ), τ ∈ [0, 1] (only ratios
// matter, so it need not be normalised), as β_t = min(1 − ᾱ(t/T)/ᾱ((t−1)/T),
// MaxBeta).
func betasFromContinuous(T int, alphaBar func(float64) float64) []float64 {
	beta := make([]float64, T)
	for i := range beta {
		t1 := float64(i) / float64(T)
		t2 := float64(i+1) / float64(T)
		beta[i] = math.Min(1-alphaBar(t2)/alphaBar(t1), MaxBeta)
	}
	return beta
}

// sqrtLinear returns linspace(√start, √end, T)², the schedule that CompVis'
// latent diffusion calls "linear" and diffusers calls "scaled_linear".
func sqrtLinear(T int, start, end float64) []float64 {
	beta := linspace(math.Sqrt(start), math.Sqrt(end), T)
	for i, b := range beta {
		beta[i] = b * b
	}
	return beta
}

// SqrtLinearBetas returns the schedule of latent diffusion and Stable
// Diffusion as the CompVis code defines it: β_t = linspace(√0.00085, √0.012,
// T)², linear in √β. The constants are those of the Stable Diffusion v1
// configs (linear_start: 0.00085, linear_end: 0.0120, timesteps: 1000); they
// are used as given for every T (no 1000/T scaling: neither codebase scales
// them). At T = 1000 its √ᾱ_T ≈ 0.068265, the value Lin et al. (2024) quote
// for Stable Diffusion.
//
// Naming trap: in CompVis' make_beta_schedule this formula is called "linear"
// (its default constants are 1e-4 and 2e-2, overridden by the SD configs),
// while the option it calls "sqrt_linear" is plain linspace(start, end, T),
// and "sqrt" is linspace(start, end, T)^½. This function is the "linear" one;
// it is identical, bit for bit, to [ScaledLinearBetas].
func SqrtLinearBetas(T int) ([]float64, error) {
	if err := checkT("SqrtLinearBetas", T); err != nil {
		return nil, err
	}
	return sqrtLinear(T, StableDiffusionBetaStart, StableDiffusionBetaEnd), nil
}

// ScaledLinearBetas returns the schedule that diffusers calls
// "scaled_linear", with the constants of Stable Diffusion's scheduler config
// (beta_start 0.00085, beta_end 0.012): β_t = linspace(√0.00085, √0.012, T)².
// It is the same formula with the same constants as CompVis' "linear"
// ([SqrtLinearBetas]): the two names denote one schedule, and the two
// functions return identical values. (diffusers' own "linear" is
// linspace(beta_start, beta_end, T), like DDPM's, without the 1000/T rule.)
func ScaledLinearBetas(T int) ([]float64, error) {
	if err := checkT("ScaledLinearBetas", T); err != nil {
		return nil, err
	}
	return sqrtLinear(T, StableDiffusionBetaStart, StableDiffusionBetaEnd), nil
}

// SigmoidBetas returns the sigmoid schedule of Chen (2023), "On the importance
// of noise scheduling for diffusion models", with start = −3, end = 3,
// τ = 1. With σ(x) = 1/(1 + e^{−x}) the continuous ᾱ is
//
//	γ(u) = (σ(end/τ) − σ((u·(end − start) + start)/τ)) / (σ(end/τ) − σ(start/τ)),  u ∈ [0, 1],
//
// so γ(0) = 1 and γ(1) = 0, and it is discretized like the cosine schedule:
// β_t = min(1 − γ(t/T)/γ((t−1)/T), 0.999). Where β is not capped
// ᾱ_t = γ(t/T) exactly; the last step is always capped (γ(1) = 0), so
// β_T = 0.999. Chen clips γ below at 1e-9 instead; the β cap plays that role
// here.
func SigmoidBetas(T int) ([]float64, error) {
	if err := checkT("SigmoidBetas", T); err != nil {
		return nil, err
	}
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	vStart := sigmoid(SigmoidStart / SigmoidTau)
	vEnd := sigmoid(SigmoidEnd / SigmoidTau)
	gamma := func(u float64) float64 {
		return (vEnd - sigmoid((u*(SigmoidEnd-SigmoidStart)+SigmoidStart)/SigmoidTau)) / (vEnd - vStart)
	}
	return betasFromContinuous(T, gamma), nil
}
