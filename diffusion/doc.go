// Package diffusion is the core of Gaussian diffusion models (DDPM, improved
// DDPM, DDIM, DPM-Solver++, EDM) on GoMLX: the forward process q(x_t | x₀)
// and its posterior, the ε / x₀ / v / score parametrizations, the training
// losses (L_simple, the variational bound term by term, the hybrid loss), the
// training loop (Adam/AdamW, warm-up, gradient clipping, EMA and extra
// EMAs, bf16/f16 mixed precision with dynamic loss scaling, condition
// dropout for classifier-free guidance, exactly resumable atomic
// checkpoints), and one sampling core for every model.
//
// Every equation is derived in math/README.md, which names the function here
// that implements it and the test that checks it.
//
// # Time indices
//
// The papers number diffusion steps t = 1..T; Go slices are 0-based. Here a
// step is always the 0-based index i = t−1 into the per-step arrays of a
// [schedules.Schedule] (see that package's documentation). Graph functions of
// training take a step index node t of dtype int32 and shape [B] (one step
// per example). [Process.extract] is the only place that turns such an index
// into per-example coefficients.
//
// # Noise levels and the one conversion
//
// Sampling sees every forward process — DDPM's T discrete steps, or a
// continuous SDE of package score — as noise levels x_t = α x₀ + σ ε over
// continuous time t ∈ [0, 1] ([Level], [NoiseLevels]). Step index i of a
// discrete process is at time t_i = (i+1)/T, and t = 0 is the data
// ([Process.Time], [Process.Index]); that is the only conversion (the grids
// use Time's formula for any discrete NoiseLevels, and [Process.Model]
// restates Index inside the graph, on the level's time node).
//
// # The sampling core
//
// A [Model] is a network as samplers see it: a function of (x, level,
// condition) that declares what it predicts (ε, x₀, v or the score) and on
// which levels it was trained. Build one with [Process.Model] (a DDPM
// denoiser), score.Model (a score model), [GaussianModel] (the exact denoiser
// of Gaussian data), or wrap one with guidance ([ClassifierFree],
// [ClassifierGuided]).
//
// A [Solver] never calls the model: the one driver ([Sample], [Run],
// [NewDriver]) owns the loop, the random numbers, the batches, the progress
// bar and the callbacks, asks the solver where it needs the model's output
// ([Stepper.Next]), evaluates the model there and hands the output back
// ([Stepper.Tell]). Solvers do their arithmetic in float64 on the host and
// keep their own state, so multistep methods are natural: [DDPM], [DDIM],
// [DPMSolverPP2M], [DPMSolverPP2S], [EDM] here; Euler–Maruyama,
// predictor–corrector, the probability-flow ODE and annealed Langevin
// dynamics in package score. Evaluators use the same driver: DDIM encoding
// ([DDIMEncoder]), the variational bound ([BoundEvaluator]) and score's ODE
// likelihood.
//
// # Denoisers and conditions
//
// A [Denoiser] is any GoMLX graph function of (x_t, t, condition) whose
// output type is declared (ε, x₀ or v, optionally followed by learned-variance
// channels). Neural networks live in package unet; tests and notebooks also
// plug in closed-form optimal denoisers (see [GaussianOptimalDenoiser]).
// Conditions (class labels, and the null condition ∅) are package cond's.
package diffusion
