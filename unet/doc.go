// Package unet holds the denoising networks: time embeddings, dense layers,
// the MLP denoiser for 2-D data, and the UNet for images with its layers
// (convolutions, GroupNorm, self-attention, residual blocks, down- and
// upsampling, and the transformer blocks with cross-attention of a
// text-conditional UNet).
//
// Every network here is a plain GoMLX graph function
//
//	func(scope *model.Scope, xt, t *graph.Node, c cond.Nodes) *graph.Node
//
// which package diffusion accepts as a ModelFn; unet knows nothing of
// samplers or losses. Inputs and outputs are channels-last; t holds integer
// timesteps of the training schedule; c is the condition (package
// diffusion/cond): named inputs with the batch first and a mask of the
// examples that get the null condition ∅, its zero value meaning ∅ for
// every example.
//
// # Class conditioning
//
// With NumClasses > 0 ([UNetConfig.NumClasses], [MLPConfig.NumClasses]) a
// network reads the cond.Class input, int32 labels in [0, NumClasses), and
// adds a learned embedding of the label to its time embedding. The table
// has NumClasses+1 rows: row NumClasses is the learned "no class" embedding
// that stands for ∅ in classifier-free guidance, given to the examples that
// the condition marks null (cond.Nodes.NullMask) and to every example when
// the condition has no class input. The rows are picked by a one-hot matrix
// product rather than a Gather, so a label equal to NumClasses also selects
// ∅ and a label outside [0, NumClasses] gets a zero row, without an error.
// With NumClasses = 0 (the default) the condition is ignored.
//
// # Text conditioning: transformer blocks with cross-attention
//
// With ContextDim > 0 ([UNetConfig.ContextDim]) the UNet is a miniature
// Stable Diffusion: each of its attention blocks is a [SpatialTransformer]
// (self-attention, cross-attention to the condition's cond.Context input
// [B, L, ContextDim] through its cond.ContextMask, feed-forward, each with
// a LayerNorm and a residual) built from the primitives [LayerNorm], [GELU],
// [MultiHeadAttention] and [FeedForward], which package text's encoder
// shares. The UNet does not read the null mask for the context: for ∅ the
// caller passes the encoding of the empty prompt. [UNetWithAttention]
// returns the cross-attention maps, per transformer [B, heads, P, L], to
// show which pixels attend to which words; "latent-text" is the named
// configuration.
//
// # The UNet
//
// [UNet] builds the DDPM/ADM UNet of a [UNetConfig]: a time embedding
// (sinusoidal or the simple linear one), optional class conditioning with a
// null embedding for classifier-free guidance, ResBlocks, attention, skips
// and an optional learned variance. [UNetConfigByName] names the "reference"
// UNet of the speed comparisons (1,152,193 parameters, documented layer by
// layer there), a "small" one for notebooks and a "latent" one for the 7×7×4
// latents of latent diffusion. Image sizes that the levels do not halve
// exactly (7 with two or more levels) are zero-padded at the bottom and on
// the right to the next size they do halve, and the output is cropped back
// ([UNetConfig.ImageSize], [UNetConfig.PaddedSize]).
//
// # Feature-map layout
//
// Inside the UNet, and for every layer of this package, feature maps are
// channels-first: [C, B, H, W] ([ToCBHW] and [FromCBHW] convert). On
// GoMLX's pure-Go backend only matrix products are fast and copying
// contiguous blocks (Concatenate) is cheap, while slicing, padding the last
// axis and transposing go element by element. With channels first each
// channel of the whole batch is one contiguous row of B·H·W numbers, so the
// 9 shifted copies of a 3×3 convolution are whole rows (one Concatenate,
// about 0.4 ns per number against 0.6 for 128-byte pieces channels-last),
// the convolution is the product [O, 9C]·[9C, B·H·W] (measured 25–35%
// faster than [B·H·W, 9C]·[9C, O] there) whose kernel gradient needs no
// transpose, and per-channel sums and broadcasts (GroupNorm, biases, the
// time embedding) are products with a vector of ones. XLA chooses its own
// memory layouts, so the order costs nothing there.
//
// # Choices that depend on the backend
//
// [ConvKindFor] picks the convolution formulation and [StreamsFor] the
// number of independent streams a batch is split into, each in one place,
// with a package variable and an environment variable to override them
// (UNET_CONV, UNET_STREAMS). On the pure-Go backend: [ConvPadShift] and one
// stream per core; on XLA: [ConvNative] and one stream.
//
// Reference UNet on the pure-Go backend (GOEXPERIMENT=simd,
// go:parallelism=-1) on 2 cores: BenchmarkTrainStep (forward, backward and
// Adam on 64 images) and BenchmarkSampleForward (one evaluation on 16
// images), in one session with the PyTorch 1.13 CPU peer (2 threads) of the
// same network. The machine was shared, so figures move by ±20% between
// runs (PyTorch's two figures bracket the Go runs); CPU time per step is
// the steadier measure (2.3 s for padshift's training step).
//
//	formulation                         train ms/step   sample ms/step
//	padshift, 2 streams (the default)           1,174              146
//	padshift, 1 stream                          2,238              233
//	shifted, 2 streams                          2,638              239
//	im2col, 2 streams                           2,512              188
//	native ConvGeneral, 2 streams (*)          75,005            8,443
//	PyTorch 1.13 CPU, 2 threads               432–694            31–44
//
// (*) measured a few minutes earlier in the same session. (The design
// notes' earlier figures, channels-last and one stream: native
// 97,000 / 11,000, im2col 6,300 / 590, shifted 2,260 / 287.) In the
// padshift training step about a quarter of the CPU time is the
// Concatenate building the shifted copies, 45% matrix products (a third of
// it packing their operands), 10% the exponential of SiLU's sigmoid
// (float64 math.Exp in the backend; 25% of a sampling step) and the rest
// element-wise operations and the crops.
//
// # Padding and gradients GoMLX v0.28.2 lacks
//
// Zero padding is done by concatenating blocks of zeros: Pad has no
// gradient in GoMLX v0.28.2, and on the pure-Go backend it copies element
// by element whenever the last axis is padded (4.5 ns per number against
// 0.7 for the concatenation); Concatenate has a gradient. GroupNorm's
// 1/√(σ²+ε) is written with Div and Sqrt (Rsqrt has no gradient).
// ConvPadShift has a hand-written gradient (fastmm.WithGradient), and so
// does GroupNorm on the pure-Go backend only (on XLA the barrier behind
// WithGradient would block the compiler's fusion of element-wise chains);
// both are checked against finite differences and closed forms in the
// tests, as is GroupNorm's automatic gradient.
//
// # Mixed precision
//
// A network runs in the dtype of its input x_t. With a BFloat16 or Float16
// x_t ([IsHalf]) it runs in mixed precision: its variables, the master
// weights, are float32 ([MasterDType]) and converted to x_t's dtype where
// they are used, so that their gradients come back in float32 for the
// optimizer; the products, convolutions, activations and additions run in
// the half dtype; the parts that rounding would spoil run in float32 and
// convert their result back: GroupNorm and LayerNorm (whole), the
// attention logits and softmax, and the time embedding's sinusoids (or
// t/T). The output has x_t's dtype: the caller converts it to float32
// before the loss. With float32 and float64 inputs the graphs are the ones
// built before mixed precision existed. A store of float32 variables
// serves float32, BFloat16 and Float16 inputs alike (a network trained in
// mixed precision samples in float32, and vice versa).
//
// On the pure-Go backend no setting is needed (GOMLX_FUSION stays on): the
// one fused op the package reaches, graph.Softmax's FusedSoftmax, runs
// only in float32 and float64 there and fails when a half-precision graph
// runs, and the softmax is float32 here. That backend has no fast
// half-precision arithmetic: measured (BenchmarkMixedPrecision, the
// "small" UNet, a forward and backward pass on 64 images, 2 shared cores),
// float32 826 ms, BFloat16 880–1,280 ms, Float16 3,030 ms per step, with
// peak heaps of 809, 460–500 and 476 MiB: half precision saves memory
// there, not time.
//
// # Gradient checkpointing
//
// [UNetConfig.GradCheckpoint] (and [MLPConfig.GradCheckpoint], per
// residual block) recomputes each block's activations in the backward pass
// instead of keeping them. The recomputation rebuilds the block (see
// checkpoint.go for why GoMLX's Node.Checkpoint is not used: it loses this
// package's hand-written gradients), so the gradients are those without
// checkpointing. Measured with BenchmarkGradCheckpoint (a forward and
// backward pass, no optimizer; pure-Go backend, GOEXPERIMENT=simd, 2 cores
// shared with other jobs, so wall times move by up to 2× between runs and
// CPU time, all threads, is the steadier figure; peak heap sampled every
// 5 ms; VmHWM from a fresh process per line):
//
//	UNet       batch  checkpoint   ms/step   CPU ms/step   peak heap MiB   VmHWM MiB
//	small         16  off              187           184             278         254
//	small         16  on               322           304             179         190
//	small         64  off              661           652             785         722
//	small         64  on               887           883             522         493
//	reference     16  off              889           839             767         671
//	reference     16  on             1,462           972             369         378
//	reference     64  off            2,655         2,510           2,267       1,956
//	reference     64  on             3,647         3,513           1,193       1,136
//
// (A second run of the "small" lines: CPU 198 against 246 ms at batch 16,
// 706 against 898 at 64; peak heaps 270 against 182 and 793 against 510
// MiB.) The memory is the pure-Go backend's: it returns a buffer to its
// pool as soon as its last reader has run, so the activations that
// checkpointing does not keep are really freed; the Go heap figures
// include garbage not yet collected.
//
// With GOGC=25, which keeps the Go heap closer to what the backend holds,
// the "small" UNet at batch 64 peaks at 323 MiB with checkpointing against
// 761 without (VmHWM 383 against 690), at the cost of more garbage
// collection (1.7 s per step against 0.75).
//
// # Dropout
//
// [Dropout] (UNetConfig.Dropout, 0 by default) acts only in graphs marked
// as training with model.Store.SetTraining; diffusion.Trainer does not mark
// its graph at the time of writing, so dropout is off there until it does.
package unet
