// Package schedules holds the noise schedules of diffusion models and every
// per-timestep quantity derived from them, in float64: β, α, ᾱ, ᾱ_{t−1}, the
// posterior q(x_{t−1} | x_t, x₀), the signal-to-noise ratio, timestep
// respacing for few-step samplers, the marginals of the continuous-time SDEs of
// Song et al. (2021), and the σ's of Karras et al. (2022).
//
// It knows nothing of models or tensors: everything here is plain float64
// slices that other packages turn into constants.
//
// # Index convention (the one place it is written down)
//
// Papers number the diffusion steps t = 1..T, with x₀ the data and ᾱ_0 = 1.
// Go slices hold step t at index i = t − 1, i = 0..T−1:
//
//	Beta[i]     = β_t          AlphaBar[i]     = ᾱ_t = ∏_{s≤t} (1 − β_s)
//	Beta[0]     = β_1          AlphaBarPrev[i] = ᾱ_{t−1}, so AlphaBarPrev[0] = ᾱ_0 = 1
//
// Every exported slice of a [Schedule] has length T and follows this rule.
// The shift from ᾱ_t to ᾱ_{t−1} is the classic off-by-one trap; it is done in
// exactly one function of this package (shiftRight), and every "previous
// step" quantity is built through it. Time embeddings of models conventionally
// receive the 0-based index i (what improved DDPM and diffusers pass), which
// for a respaced schedule is Schedule.Timesteps[i], the index into the
// original schedule.
//
// # Forward process and posterior
//
// q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I), and the posterior
//
//	q(x_{t−1} | x_t, x₀) = N(μ̃_t, β̃_t I),
//	μ̃_t = β_t √ᾱ_{t−1}/(1 − ᾱ_t) · x₀ + (1 − ᾱ_{t−1}) √α_t/(1 − ᾱ_t) · x_t,
//	β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t),
//
// so β̃_1 = 0 (x₀ is known exactly from x₁'s posterior). SNR_t = ᾱ_t/(1 − ᾱ_t).
//
// # Zero terminal SNR
//
// A schedule rescaled by [RescaleZeroTerminalSNR] (or named with the suffix
// "+zero-snr" in [New]) has ᾱ_T = 0 at its last step: there β_T = 1,
// α_T = 0, SNR_T = 0, LogSNR_T = −Inf, SqrtRecipAlphaBar_T = +Inf and
// SqrtRecipM1AlphaBar_T = +Inf. Those infinities are the truth (x_T carries no
// signal, so x₀ cannot be recovered from ε-prediction there); samplers for such
// schedules use v- or x₀-prediction at the last step.
package schedules
