// Package latent holds the parts of latent diffusion that are not the
// diffusion model: a convolutional autoencoder that maps images to a
// smaller latent grid and back (KL-regularised, as in Stable Diffusion, or
// plain, as an ablation), its training objective for diffusion.Trainer,
// the latent scale factor, and the pairing of a latent diffusion model with
// the autoencoder it was trained on.
//
// The autoencoder, for images x [B, H, W, C] in [−1, 1]:
//
//	encoder   x → (μ, log σ²), each [B, H/f, W/f, LatentChannels], f = 2^(len(ChannelMults)−1)
//	sample    z = μ + σ·ε, ε ~ N(0, I)           (the plain autoencoder: z = μ)
//	decoder   z → x̂ [B, H, W, C]
//	loss      MSE(x̂, x) + KLWeight · KL(N(μ, σ²) ‖ N(0, I))
//
// with MSE the mean squared error per pixel and the KL summed over the
// latent's elements:
//
//	KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)   (nats per image).
//
// A latent diffusion model is trained on s·μ(x) of the training images,
// where the scale factor s = 1/std(μ) is measured once on the whole
// training set ([MeasureScale]) so that the diffusion model sees latents of
// unit variance, as its noise schedule assumes; samples z are decoded as
// decoder(z/s).
package latent
