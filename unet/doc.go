// Package unet holds the denoising networks: time embeddings, dense layers,
// the small MLP denoiser for 2-D data and (see the roadmap) the UNet for
// images.
//
// Every network here is a plain GoMLX graph function
//
//	func(scope *model.Scope, xt, t, cond *graph.Node) *graph.Node
//
// which package diffusion accepts as a ModelFn; unet knows nothing of
// samplers or losses. Inputs are channels-last; t holds integer timesteps of
// the training schedule.
package unet
