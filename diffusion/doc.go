// Package diffusion is the core of Gaussian diffusion models (DDPM, improved
// DDPM, DDIM) on GoMLX: the forward process q(x_t | x₀) and its posterior,
// the ε / x₀ / v / score parametrizations, the training losses (L_simple, the
// variational bound term by term, the hybrid loss), the samplers (DDPM
// ancestral, DDIM with η and respaced steps, deterministic DDIM encoding),
// the training loop (Adam/AdamW, warm-up, gradient clipping, EMA, exactly
// resumable atomic checkpoints) and evaluation (the bound in bits/dim).
//
// Every equation is derived in math/README.md, which names the function here
// that implements it and the test that checks it.
//
// # Time indices
//
// The papers number diffusion steps t = 1..T; Go slices are 0-based. Here a
// step is always the 0-based index i = t−1 into the per-step arrays of a
// [schedules.Schedule] (see that package's documentation). Graph functions take
// a step index node t of dtype int32 and shape [B] (one step per example).
// [Process.extract] is the only place that turns such an index into
// per-example coefficients.
//
// A respaced process (for few-step sampling, [Process.Respace]) indexes its
// own shorter arrays; the denoiser is always called with the index into the
// original training schedule ([schedules.Schedule].Timesteps), which
// [Process.Predict] looks up.
//
// # Denoisers
//
// A [Denoiser] is any GoMLX graph function of (x_t, t, condition) whose
// output type is declared (ε, x₀ or v, optionally followed by learned-variance
// channels). Neural networks live in package unet; tests and notebooks also
// plug in closed-form optimal denoisers (see [GaussianOptimalDenoiser]).
package diffusion
