// Package vae is a variational autoencoder (Kingma & Welling 2014) for the
// comparison of diffusion models with VAEs and GANs on the same data: an MLP
// VAE for flat vectors such as the 2-D toy sets, and a small convolutional
// VAE for 28×28×1 images. It is trained by diffusion.NewTrainerWithTerms
// (Adam(W), warm-up, clipping, EMA, checkpoints and exact resumption come
// from there) and evaluated by [VAE.ELBO] in nats and bits/dim.
//
// # The model and its bound
//
// Prior p(z) = N(0, I); decoder p(x|z); encoder (approximate posterior)
// q(z|x) = N(μ(x), diag σ²(x)). For every q, by Jensen's inequality,
//
//	log p(x) ≥ ELBO(x) = E_{q(z|x)}[log p(x|z)] − KL(q(z|x) ‖ p(z)),
//	log p(x) − ELBO(x) = KL(q(z|x) ‖ p(z|x)) ≥ 0,
//
// so the bound is tight exactly when q is the true posterior (the same
// argument as math/README.md §5.2 for the diffusion bound, with one latent
// instead of T). The KL to the prior is in closed form, §5.6 with the
// prior's mean 0 and log-variance 0 ([KL]):
//
//	KL = ½ Σ_j (σ_j² − 1 − log σ_j² + μ_j²).
//
// Training minimises, per example, the one-sample estimate
// −log p(x|z) + KL with z = μ + σ·ε, ε ~ N(0, I) (the reparameterisation,
// so that the gradient reaches μ and σ) — [Config.Loss], whose terms are
// "reconstruction" and "kl". Its mean over ε is −ELBO(x) exactly: the
// trainer's loss is an unbiased estimate of the negative bound, in nats.
//
// # The decoders, and why
//
// 2-D data (KindMLP): p(x|z) = N(x; m(z), diag σ²), a Gaussian density, with
// one learned log σ_i² per data dimension, independent of z (floored at
// −10). Learned, because with a fixed σ the ELBO is a weighted squared error
// whose value as a likelihood depends on an arbitrary σ, and the comparison
// with diffusion's bound on the same points needs a real density; the
// optimal σ_i² is then the mean squared reconstruction error, so the bound
// is as tight as this decoder allows. Not a function of z, because a
// per-z variance lets the decoder shrink σ onto points it reconstructs
// exactly and drive the density to infinity (the continuous-data
// degeneracy), which a single variance per dimension cannot. [Config.DecoderStd]
// fixes σ instead, for the usual "MSE VAE" as an ablation. The bound is then
// on −log p(x), a density, comparable with diffusion's bound with the
// Gaussian decoder of math/README.md §5.7 ("Continuous data") and with the
// data's entropy (toy2d.MeanNLL of samples of the data).
//
// Images (KindConv): the discretised Gaussian of math/README.md §5.7, per
// pixel, with the decoder's own mean and log-variance (clipped to
// [−15, 2]): each 8-bit level x = 2k/255 − 1 owns the bin [x − 1/255,
// x + 1/255], the end bins are open, and
//
//	P(x_i | z) = Φ((x_i + 1/255 − m_i)/σ_i) − Φ((x_i − 1/255 − m_i)/σ_i).
//
// This is exactly the decoder term L₀ of the diffusion bound (DDPM), on the
// same data scaling ([−1, 1], no dequantisation). −ELBO is then a bound on
// −log P(k) of the discrete 8-bit images, and −ELBO/(D ln 2) (§5.8) is in
// the same bits/dim as diffusion.VLB's Total: the two numbers compare
// directly. A Bernoulli decoder on pixels mapped to [0, 1] would give the
// likelihood of a different, binarised data set; a plain Gaussian density
// would give a bound on a density of continuous data, which needs uniform
// dequantisation (score.BitsPerDim's +7 bits at x = z/128 − 1) to compare.
// The discretised decoder also cannot degenerate: a bin's probability is at
// most 1, so learning σ per pixel is safe. Training floors each pixel's
// log-probability at log 10⁻¹² (dmath.DiscretizedGaussianLogLikelihoodGraph,
// as the diffusion losses do); [VAE.ELBO] evaluates it in float64 without
// the floor (dmath.DiscretizedGaussianLogLikelihood, as diffusion.BoundEvaluator).
//
// # Architectures
//
// KindMLP: encoder x → [SiLU(Dense)]×len(Hidden) → Dense → (μ, log σ²);
// decoder z → [SiLU(Dense)]×len(Hidden) (widths reversed) → Dense → m(z).
// With Linear there are no hidden layers: the decoder's mean is W z + b and
// the model is probabilistic PCA, whose marginal log p(x) = log N(x; b,
// WWᵀ + σ²I) is known in closed form (the tests use it). KindConv, for
// S×S×1 images (S = 28 by default): encoder three 3×3 convolutions (widths
// C, 2C, 2C; the last two of stride 2) with SiLU, then Dense → 2·LatentDim;
// decoder Dense → (S/4)²·2C, two nearest-neighbour ×2 upsamplings each with
// a 3×3 convolution to C channels and SiLU, and a 3×3 convolution to the
// mean and log-variance of each pixel.
//
// # Sampling
//
// [VAE.Sample] draws z ~ N(0, I) and returns the decoder's mean m(z) (or,
// with DecoderNoise, a draw of p(x|z), quantised to 8-bit levels for
// images).
package vae
