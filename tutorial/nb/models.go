package nb

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// Model returns the model of configuration c trained for steps steps: loaded
// from [CacheDir] when it was trained before, or trained now (with a progress
// bar) and cached. It prints which, and with what configuration, so that a
// notebook never shows a stale model without saying so.
func Model(c experiment.Config, steps int64) *experiment.Trained {
	return Must(experiment.LoadOrTrain(Backend(), c, steps, CacheDir, os.Stdout, os.Stdout))
}

// Sample2D draws n points from a trained 2-D model m with solver s, using its
// EMA weights, from seed.
func Sample2D(m *experiment.Trained, s diffusion.Solver, n int, seed int64) []toy2d.Point {
	mod, store := Must2(m.Model())
	return Points(Must(diffusion.Sample(Backend(), store, mod, s, n, []int{2}, diffusion.SampleOptions{Seed: seed})))
}

// QSample draws x_t ~ q(x_t | x₀) with the library's Process.QSample for every
// row of x0 ([n, …]) at the 0-based step index t (the paper's step t+1), with
// noise from seed.
func QSample(p *diffusion.Process, x0 *tensors.Tensor, t int, seed int64) *tensors.Tensor {
	n := x0.Shape().Dimensions[0]
	steps := make([]int32, n)
	for i := range steps {
		steps[i] = int32(t)
	}
	rng := Must(graph.RNGStateFromSeed(seed))
	return Must(graph.CallOnce(Backend(), func(x0, t, rng *graph.Node) *graph.Node {
		_, noise := graph.RandomNormal(rng, x0.Shape())
		return p.QSample(x0, t, noise)
	}, x0, steps, rng))
}

// Pretrained is a checkpoint opened for sampling: its configuration, its
// model with the EMA weights, and, for a latent model, its autoencoder.
type Pretrained struct {
	// Config is the configuration the checkpoint was trained with.
	Config experiment.Config
	// Model is the sampling model (the denoiser as a diffusion.Model); zero
	// for a VAE or a GAN, which draw with [Pretrained.Generate].
	Model diffusion.Model
	// Store holds the model's weights (EMA weights where the checkpoint has them).
	Store *gmodel.Store
	// AE is the autoencoder of a latent model (nil for a pixel-space model).
	AE *latent.Autoencoder
}

// Open reads a checkpoint for sampling; for a latent model (a bundle) it also
// opens the autoencoder inside. Relative paths are relative to the notebooks.
func Open(path string) *Pretrained {
	ck := Must(diffusion.ReadCheckpoint(path))
	cfg := Must(experiment.FromJSON(ck.Config))
	p := &Pretrained{Config: cfg, Store: Must(diffusion.SamplingStore(ck, true))}
	if !cfg.IsBaseline() {
		p.Model = Must(cfg.SamplingModel())
	}
	if cfg.IsLatent() {
		p.AE = Must(cfg.OpenAutoencoder(Backend(), ck))
	}
	return p
}

// Sample draws n examples (latents for a latent model, pixels otherwise) with
// solver s and the options given; it returns them flat, example after
// example.
func (p *Pretrained) Sample(s diffusion.Solver, n int, opts diffusion.SampleOptions) []float32 {
	return tensors.MustCopyFlatData[float32](Must(diffusion.Sample(Backend(), p.Store, p.Model, s, n, p.Config.DataDims(), opts)))
}

// Generate draws n examples from a VAE or a GAN (the decoder's mean m(z), or
// G(z), for z ~ N(0, I) from seed), flat, example after example.
func (p *Pretrained) Generate(n int, seed int64) []float32 {
	return Must(p.Config.Generate(Backend(), p.Store, n, experiment.GenerateOptions{Seed: seed}))
}

// Draw samples one example per label with
// DPM-Solver++(2M) at its default number of steps and classifier-free
// guidance of weight w, from seed; see [Pretrained.Sample].
func (p *Pretrained) Draw(labels []int32, w float64, seed int64) []float32 {
	m, err := diffusion.ClassifierFree(p.Model, w)
	Must(m, err)
	x := Must(diffusion.Sample(Backend(), p.Store, m, diffusion.DPMSolverPP2M{ClipX0: p.Config.ClipX0()}, len(labels), p.Config.DataDims(),
		diffusion.SampleOptions{Seed: seed, Cond: cond.Classes(labels)}))
	return tensors.MustCopyFlatData[float32](x)
}

// Digits reads the digit of each flat 28×28 image in px (pixels in [−1, 1])
// with this project's MNIST classifier, committed in [PretrainedDir].
func Digits(px []float32) []int {
	clf, _ := Must2(classifier.LoadOrTrain(Backend(), "mnist", PretrainedDir, io.Discard))
	pred := Must(clf.Predict(Backend(), px))
	out := make([]int, len(pred))
	for i, d := range pred {
		out[i] = int(d)
	}
	return out
}

// pretrainedPath is the path of a committed checkpoint named file.
func pretrainedPath(file string) string { return filepath.Join(PretrainedDir, file) }

// OpenPretrained opens the committed checkpoint named file (e.g.
// "mnist-unet-small.ckpt") in [PretrainedDir]; see [Open].
func OpenPretrained(file string) *Pretrained {
	if filepath.Base(file) != file {
		panic(fmt.Sprintf("nb.OpenPretrained: %q is not a file name in %s", file, PretrainedDir))
	}
	return Open(pretrainedPath(file))
}

// Split cuts flat examples (as returned by [Pretrained.Sample]) into slices
// of size values each, sharing px's memory; len(px) must be a multiple of size.
func Split(px []float32, size int) [][]float32 {
	if size <= 0 || len(px)%size != 0 {
		panic(fmt.Sprintf("nb.Split: %d values are not whole examples of %d", len(px), size))
	}
	out := make([][]float32, len(px)/size)
	for i := range out {
		out[i] = px[i*size : (i+1)*size : (i+1)*size]
	}
	return out
}

// DigitGrid draws flat 28×28 grey images (MNIST digits, pixels in [−1, 1],
// as returned by [Pretrained.Sample]) in rows of cols, with the titles of
// labels (see plots.GridLabels); a zero labels.Scale enlarges each digit ×2.
func DigitGrid(px []float32, cols int, labels plots.GridLabels) ([]byte, error) {
	const side = 28
	if len(px) == 0 || len(px)%(side*side) != 0 {
		return nil, fmt.Errorf("nb.DigitGrid: %d values are not whole 28×28 images", len(px))
	}
	if labels.Scale == 0 {
		labels.Scale = 2
	}
	return plots.LabelledImageGrid(Split(px, side*side), side, side, 1, cols, labels)
}
