package schedules

import (
	"errors"
	"fmt"
	"math"
)

// Schedule is a discrete noise schedule with every per-timestep quantity
// precomputed. All slices have length T and are indexed i = t − 1 (see the
// package documentation). Build one with [New], [FromBetas] or
// [FromAlphaBar]; a Schedule is read-only once built (methods return new
// schedules instead of changing it).
type Schedule struct {
	// Name says where the schedule came from, e.g. "linear", "cosine",
	// "linear+zero-snr" or "cosine respaced ddim50".
	Name string

	// T is the number of steps, the length of every slice below.
	T int

	// Timesteps[i] is the 0-based index, in the original (never respaced)
	// schedule, of step i. It is 0, 1, …, T−1 unless the schedule was
	// respaced; pass it to models as their time input.
	Timesteps []int

	// Beta[i] = β_t, the variance of q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I).
	Beta []float64

	// Alpha[i] = α_t = 1 − β_t.
	Alpha []float64

	// AlphaBar[i] = ᾱ_t = ∏_{s≤t} α_s, so q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I).
	AlphaBar []float64

	// AlphaBarPrev[i] = ᾱ_{t−1}, with ᾱ_0 = 1: AlphaBarPrev[0] = 1 and
	// AlphaBarPrev[i] = AlphaBar[i−1] for i ≥ 1.
	AlphaBarPrev []float64

	// OneMinusAlphaBar[i] = 1 − ᾱ_t, computed without the cancellation of
	// 1 − ᾱ_t when ᾱ_t is close to 1 (for schedules built from β it is
	// accumulated as 1 − ᾱ_t = (1 − ᾱ_{t−1}) + ᾱ_{t−1} β_t while ᾱ_t > ½).
	OneMinusAlphaBar []float64

	// SqrtAlphaBar[i] = √ᾱ_t, the signal coefficient of x_t.
	SqrtAlphaBar []float64

	// SqrtOneMinusAlphaBar[i] = √(1 − ᾱ_t), the noise coefficient of x_t.
	SqrtOneMinusAlphaBar []float64

	// SqrtRecipAlphaBar[i] = 1/√ᾱ_t (+Inf where ᾱ_t = 0), used in
	// x̂₀ = x_t/√ᾱ_t − √(1/ᾱ_t − 1) ε̂.
	SqrtRecipAlphaBar []float64

	// SqrtRecipM1AlphaBar[i] = √(1/ᾱ_t − 1) = √((1 − ᾱ_t)/ᾱ_t) (+Inf where
	// ᾱ_t = 0).
	SqrtRecipM1AlphaBar []float64

	// PosteriorVariance[i] = β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t), the variance
	// of q(x_{t−1} | x_t, x₀). β̃_1 = 0 and 0 ≤ β̃_t ≤ β_t.
	PosteriorVariance []float64

	// PosteriorLogVarianceClipped[i] = log β̃_t, except that the first entry,
	// log β̃_1 = −Inf, is replaced by log β̃_2 (as improved DDPM does). When
	// T = 1 there is no β̃_2 and the first entry is log β_1 instead.
	PosteriorLogVarianceClipped []float64

	// PosteriorMeanCoef1[i] = β_t √ᾱ_{t−1}/(1 − ᾱ_t), the coefficient of x₀
	// in the posterior mean μ̃_t.
	PosteriorMeanCoef1 []float64

	// PosteriorMeanCoef2[i] = (1 − ᾱ_{t−1}) √α_t/(1 − ᾱ_t), the coefficient
	// of x_t in the posterior mean μ̃_t.
	PosteriorMeanCoef2 []float64

	// SNR[i] = ᾱ_t/(1 − ᾱ_t), strictly decreasing in t (0 at a zero-terminal
	// last step).
	SNR []float64

	// LogSNR[i] = log ᾱ_t − log(1 − ᾱ_t) (−Inf at a zero-terminal last step).
	LogSNR []float64
}

// shiftRight returns [first, x[0], …, x[len(x)−2]]: the value of x at the
// previous step, with first standing for step 0. It is the only place in this
// package where the index shift t → t−1 happens.
func shiftRight(x []float64, first float64) []float64 {
	out := make([]float64, len(x))
	if len(x) == 0 {
		return out
	}
	out[0] = first
	copy(out[1:], x[:len(x)-1])
	return out
}

// identity returns 0, 1, …, n−1.
func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// FromBetas builds a schedule from β_1..β_T (beta[i] = β_{i+1}). Every β must
// be finite with 0 < β ≤ 1, and β = 1 is allowed only at the last step (a
// zero-terminal-SNR schedule: after a step with β = 1, ᾱ stays 0 and no later
// step is defined). It computes ᾱ_t = ∏_{s≤t} (1 − β_s) and everything else.
func FromBetas(name string, beta []float64) (*Schedule, error) {
	T := len(beta)
	if T == 0 {
		return nil, errors.New("schedules: FromBetas: no β given (T must be > 0)")
	}
	for i, b := range beta {
		if math.IsNaN(b) || math.IsInf(b, 0) || b <= 0 || b > 1 {
			return nil, fmt.Errorf("schedules: FromBetas: beta[%d] = %v, want 0 < β ≤ 1", i, b)
		}
		if b == 1 && i != T-1 {
			return nil, fmt.Errorf("schedules: FromBetas: beta[%d] = 1 before the last step (index %d); β = 1 is allowed only at the last step", i, T-1)
		}
	}
	alphaBar := make([]float64, T)
	oneMinus := make([]float64, T)
	prod, om := 1.0, 0.0
	for i, b := range beta {
		// 1 − ᾱ_t = (1 − ᾱ_{t−1}) + ᾱ_{t−1} β_t is a sum of positive terms,
		// accurate while ᾱ is close to 1; once ᾱ_t ≤ ½, 1 − ᾱ_t itself is
		// well conditioned.
		om += prod * b
		next := prod * (1 - b)
		if next >= prod {
			return nil, fmt.Errorf("schedules: FromBetas: beta[%d] = %v is too small to change ᾱ = %v in float64", i, b, prod)
		}
		prod = next
		if prod <= 0.5 {
			om = 1 - prod
		}
		alphaBar[i] = prod
		oneMinus[i] = om
	}
	return derive("FromBetas", name, append([]float64(nil), beta...), alphaBar, oneMinus, identity(T))
}

// FromAlphaBar builds a schedule from ᾱ_1..ᾱ_T (alphaBar[i] = ᾱ_{i+1}),
// which must be finite, strictly decreasing, with ᾱ_1 < 1 and ᾱ_t > 0 except
// that the last may be 0 (zero terminal SNR). The values are kept exactly, and
// β is recovered as β_t = 1 − ᾱ_t/ᾱ_{t−1} with ᾱ_0 = 1.
func FromAlphaBar(name string, alphaBar []float64) (*Schedule, error) {
	T := len(alphaBar)
	if T == 0 {
		return nil, errors.New("schedules: FromAlphaBar: no ᾱ given (T must be > 0)")
	}
	ab := append([]float64(nil), alphaBar...)
	oneMinus := make([]float64, T)
	for i, a := range ab {
		oneMinus[i] = 1 - a
	}
	return derive("FromAlphaBar", name, betasFromAlphaBar(ab, oneMinus), ab, oneMinus, identity(T))
}

// betasFromAlphaBar returns β_t = 1 − ᾱ_t/ᾱ_{t−1}, with β_1 = 1 − ᾱ_1 taken
// from oneMinus[0] (ᾱ_0 = 1).
func betasFromAlphaBar(alphaBar, oneMinus []float64) []float64 {
	prev := shiftRight(alphaBar, 1)
	beta := make([]float64, len(alphaBar))
	for i := range beta {
		if i == 0 {
			beta[i] = oneMinus[0]
			continue
		}
		beta[i] = 1 - alphaBar[i]/prev[i]
	}
	return beta
}

// checkAlphaBar validates a ᾱ sequence for function fn: finite, in [0, 1),
// strictly decreasing, zero only at the last step.
func checkAlphaBar(fn string, alphaBar []float64) error {
	last := len(alphaBar) - 1
	for i, a := range alphaBar {
		switch {
		case math.IsNaN(a) || math.IsInf(a, 0) || a < 0 || a >= 1:
			return fmt.Errorf("schedules: %s: alphaBar[%d] = %v, want 0 ≤ ᾱ < 1", fn, i, a)
		case a == 0 && i != last:
			return fmt.Errorf("schedules: %s: alphaBar[%d] = 0 before the last step (index %d); ᾱ = 0 is allowed only at the last step", fn, i, last)
		case i > 0 && a >= alphaBar[i-1]:
			return fmt.Errorf("schedules: %s: alphaBar[%d] = %v ≥ alphaBar[%d] = %v, want strictly decreasing ᾱ", fn, i, a, i-1, alphaBar[i-1])
		}
	}
	return nil
}

// derive fills every field of a Schedule from β, ᾱ and 1 − ᾱ (which the
// callers compute in the most accurate way they can) and checks the result.
// fn names the exported function for error messages.
func derive(fn, name string, beta, alphaBar, oneMinus []float64, timesteps []int) (*Schedule, error) {
	T := len(beta)
	if err := checkAlphaBar(fn, alphaBar); err != nil {
		return nil, err
	}
	// β needs no check here: every caller passes β in (0, 1], either given
	// (FromBetas checks it) or as 1 − ᾱ_t/ᾱ_{t−1} of a strictly decreasing
	// ᾱ, which float64 division keeps in (0, 1].
	s := &Schedule{
		Name:                        name,
		T:                           T,
		Timesteps:                   timesteps,
		Beta:                        beta,
		Alpha:                       make([]float64, T),
		AlphaBar:                    alphaBar,
		AlphaBarPrev:                shiftRight(alphaBar, 1),
		OneMinusAlphaBar:            oneMinus,
		SqrtAlphaBar:                make([]float64, T),
		SqrtOneMinusAlphaBar:        make([]float64, T),
		SqrtRecipAlphaBar:           make([]float64, T),
		SqrtRecipM1AlphaBar:         make([]float64, T),
		PosteriorVariance:           make([]float64, T),
		PosteriorLogVarianceClipped: make([]float64, T),
		PosteriorMeanCoef1:          make([]float64, T),
		PosteriorMeanCoef2:          make([]float64, T),
		SNR:                         make([]float64, T),
		LogSNR:                      make([]float64, T),
	}
	oneMinusPrev := shiftRight(oneMinus, 0) // 1 − ᾱ_0 = 0
	for i := range T {
		ab, om := alphaBar[i], oneMinus[i]
		s.Alpha[i] = 1 - beta[i]
		s.SqrtAlphaBar[i] = math.Sqrt(ab)
		s.SqrtOneMinusAlphaBar[i] = math.Sqrt(om)
		s.SqrtRecipAlphaBar[i] = 1 / math.Sqrt(ab)
		s.SqrtRecipM1AlphaBar[i] = math.Sqrt(om / ab)
		// β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)
		s.PosteriorVariance[i] = beta[i] * oneMinusPrev[i] / om
		// μ̃_t = [β_t √ᾱ_{t−1}/(1 − ᾱ_t)] x₀ + [(1 − ᾱ_{t−1}) √α_t/(1 − ᾱ_t)] x_t
		s.PosteriorMeanCoef1[i] = beta[i] * math.Sqrt(s.AlphaBarPrev[i]) / om
		s.PosteriorMeanCoef2[i] = oneMinusPrev[i] * math.Sqrt(s.Alpha[i]) / om
		s.SNR[i] = ab / om
		s.LogSNR[i] = math.Log(ab) - math.Log(om)
	}
	for i := range T {
		s.PosteriorLogVarianceClipped[i] = math.Log(s.PosteriorVariance[i])
	}
	if T > 1 {
		s.PosteriorLogVarianceClipped[0] = s.PosteriorLogVarianceClipped[1]
	} else {
		s.PosteriorLogVarianceClipped[0] = math.Log(beta[0])
	}
	return s, nil
}

// RescaleZeroTerminalSNR returns s rescaled to zero terminal SNR, Algorithm 1
// of Lin et al. (2024), "Common diffusion noise schedules and sample steps are
// flawed": √ᾱ is shifted and scaled,
//
//	√ᾱ'_t = (√ᾱ_t − √ᾱ_T) · √ᾱ_1/(√ᾱ_1 − √ᾱ_T),
//
// so that √ᾱ'_1 = √ᾱ_1 (kept exactly) and √ᾱ'_T = 0; β is then recovered
// from ᾱ' = (√ᾱ')². At the last step β_T = 1, α_T = 0, SNR_T = 0,
// LogSNR_T = −Inf, SqrtRecipAlphaBar_T = SqrtRecipM1AlphaBar_T = +Inf.
// Timesteps are kept. Rescale the training schedule first and respace after,
// as the paper does. It needs T ≥ 2.
func RescaleZeroTerminalSNR(s *Schedule) (*Schedule, error) {
	if s == nil {
		return nil, errors.New("schedules: RescaleZeroTerminalSNR: nil schedule")
	}
	if s.T < 2 {
		return nil, fmt.Errorf("schedules: RescaleZeroTerminalSNR: schedule %q has T = %d, need T ≥ 2 (√ᾱ_1 and √ᾱ_T must differ)", s.Name, s.T)
	}
	a1, aT := s.SqrtAlphaBar[0], s.SqrtAlphaBar[s.T-1]
	scale := a1 / (a1 - aT)
	alphaBar := make([]float64, s.T)
	oneMinus := make([]float64, s.T)
	for i, a := range s.SqrtAlphaBar {
		r := (a - aT) * scale
		alphaBar[i] = r * r
		oneMinus[i] = 1 - alphaBar[i]
	}
	// The first step is unchanged by construction: keep it bit for bit
	// rather than through a square root and a square.
	alphaBar[0], oneMinus[0] = s.AlphaBar[0], s.OneMinusAlphaBar[0]
	alphaBar[s.T-1], oneMinus[s.T-1] = 0, 1
	beta := betasFromAlphaBar(alphaBar, oneMinus)
	beta[0] = s.Beta[0]
	return derive("RescaleZeroTerminalSNR", s.Name+"+zero-snr", beta, alphaBar, oneMinus, append([]int(nil), s.Timesteps...))
}
