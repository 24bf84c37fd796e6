// Package score implements score-based generative models in continuous time
// (Song et al. 2021, "Score-based generative modeling through stochastic
// differential equations"; Song & Ermon 2019, "Generative modeling by
// estimating gradients of the data distribution").
//
// A score model s_θ(x, t) ≈ ∇_x log p_t(x) (a [ScoreFn]) is paired with a
// linear forward SDE dx = f(t) x dt + g(t) dw on t ∈ [0, 1] (an [SDE]: VP,
// sub-VP or VE), which is also its noise levels (diffusion.NoiseLevels);
// [Model] makes the pair a diffusion.Model, which every sampler of package
// diffusion samples too (DDIM, DPM-Solver++, EDM). This package adds
//
//   - solvers (diffusion.Solver) for the reverse-time SDE
//     dx = [f x − g² s] dt + g dw̄ (Euler–Maruyama, predictor–corrector), for
//     the probability-flow ODE dx/dt = f x − ½ g² s (Euler, Heun, RK4,
//     adaptive RK45), and annealed Langevin dynamics over the VE noise
//     levels, all driven by diffusion.Sample;
//   - exact log-likelihoods through the probability-flow ODE, with the exact
//     divergence or Hutchinson's estimator, and bits/dim for 8-bit images;
//   - the exact score of a Gaussian mixture at any noise level, unconditional
//     or conditional on the component, and its exact class posterior for
//     classifier guidance ([Mixture]): the ground truth that tests and
//     notebooks sample with;
//   - the link to discrete DDPM: an ε-prediction denoiser as a score model,
//     and the VP SDE's discretisation that recovers DDPM's linear β's.
//
// Variables of a trained score model live under diffusion.ModelScope
// ("model") in a store, as for denoisers. Every formula has one owner and
// its doc comment states the equation; math/README.md derives them.
package score
