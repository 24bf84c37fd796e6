// Package gan is a generative adversarial network (Goodfellow et al. 2014)
// for the comparison of diffusion models with VAEs and GANs on the same data:
// an MLP generator and discriminator for flat vectors such as the 2-D toy
// sets, and a DCGAN-style pair for 28×28×1 images in [−1, 1]. It is trained
// by diffusion.NewTrainerWithTerms, so that Adam(W), warm-up, gradient
// clipping, the EMA of the weights (the generator's EMA is what one samples
// from), checkpoints, exact resumption and progress bars are the ones the
// diffusion models use; diffusion/train.go is unchanged.
//
// # The losses
//
// With D(x) the discriminator's logit, σ the logistic function and
// softplus(u) = log(1 + eᵘ), per example ([DiscriminatorLoss], [GeneratorLoss]):
//
//	L_D = −log σ(D(x)) − log(1 − σ(D(G(z)))) = softplus(−D(x)) + softplus(D(G(z)))
//	L_G = −log σ(D(G(z))) = softplus(−D(G(z)))      (non-saturating)
//
// L_D is the cross-entropy of telling real (1) from generated (0), the
// inner objective of Goodfellow et al.'s eq. 1. The generator minimises the
// non-saturating L_G rather than the minimax log(1 − σ(D(G(z)))), whose
// gradient vanishes when D confidently rejects the samples, which is the
// case early in training (Goodfellow et al. 2014, §3). Softplus computes both
// without overflow for logits of any size.
//
// # The stabiliser: R1
//
// The discriminator's loss gets the R1 penalty on real data (Mescheder,
// Geiger & Nowozin 2018, eq. 9; [R1Penalty]):
//
//	R1(x) = γ/2 · ‖∇_x D(x)‖².
//
// Why R1: unregularised GAN training does not converge even locally near
// an equilibrium where the generator matches the data (their Dirac-GAN:
// simultaneous gradient steps circle or spiral out, because the
// discriminator keeps a non-zero slope on the data manifold). Penalising that
// slope on real data makes the equilibrium locally convergent for
// simultaneous and alternating gradient steps alike, which is what a single
// trainer step of both players needs (below). It needs no extra
// hyperparameter but γ, no change of the objective's optimum when G matches
// the data (the penalty vanishes there), and no interpolated samples (as
// WGAN-GP needs) or power iterations (spectral normalisation). It is
// computed inside the graph: graph.Gradient of Σ_b D(x_b) with respect to
// the batch x gives every example's ∇_x D(x_b), since each logit depends on
// its own example only, and the trainer's gradient of the penalty with
// respect to D's weights then differentiates through that gradient (double
// back-propagation). The discriminator's convolutions are therefore written
// as matrix products (productConv): GoMLX v0.28.2 cannot differentiate twice
// the slices (Pad), kernel flips (Reverse) or strided native convolutions
// that other formulations use.
//
// # One objective, two players
//
// The trainer minimises one per-example loss by one Adam step of every
// weight. [Config.Loss] makes that step a simultaneous gradient step of both
// players by routing the gradients with StopGradient:
//
//	loss = L_D(D(x), D(sg[G(z)])) + γ/2‖∇_x D(x)‖² + L_G(sg[D](G(z))),
//
// where sg[G(z)] stops the gradient at the generator's output and sg[D] is
// the discriminator with each weight behind StopGradient (the same weights,
// so the same logits; [Config.Discriminator] with frozen). Then
//
//	∂loss/∂θ_D = ∂(L_D + R1)/∂θ_D,   ∂loss/∂θ_G = ∂L_G/∂θ_G,
//
// exactly the two players' own gradients, and each term's gradient reaches
// its own player only (checked by the tests). The summed loss value has no
// meaning of its own; the trainer reports the three terms "discriminator",
// "generator" and "r1". What this scheme cannot express: different learning
// rates for the two players (TTUR), since the trainer has one, and Adam's
// step is invariant to scaling a player's loss; several discriminator steps
// per generator step; and a gradient clip per player (the trainer's clips the
// global norm of both together). The R1 penalty is what makes the equal,
// simultaneous steps sound. Adam with β₁ = 0.5 (as DCGAN) is a good default
// (set it in diffusion.TrainConfig).
//
// # Architectures
//
// KindMLP: G is z → [ReLU(Dense)]×len(Hidden) → Dense → x; D is
// x → [LeakyReLU₀.₂(Dense)]×len(Hidden) → Dense → logit. KindConv (DCGAN
// style, without batch normalisation, which would make each example's logit
// depend on the batch and break the per-example R1): G is Dense →
// (S/4)²·2C with ReLU, two nearest-neighbour ×2 upsamplings each with a 3×3
// convolution to C channels and ReLU, a 3×3 convolution to 1 channel and
// tanh; D is two 3×3 convolutions of stride 2 (widths C and 2C) with leaky
// ReLU 0.2, then Dense → logit.
package gan
