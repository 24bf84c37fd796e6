package main

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

type imageOptions struct {
	bound, samples, sampleSteps int
	seed                        int64
	plot, cacheDir              string
}

// evalImages reports the bound in bits/dim over test images, then the
// classifier-based Fréchet distance and KID of samples against the test set,
// beside those of real training images and of Gaussian noise.
func evalImages(stdout, stderr, progress io.Writer, b compute.Backend, cfg experiment.Config, p *diffusion.Process,
	den diffusion.Denoiser, store *model.Store, o imageOptions) error {
	test, err := mnist.Load(cfg.Dataset, "test")
	if err != nil {
		return err
	}
	dims := append([]int{}, cfg.DataDims()...)
	size := test.ImageSize()
	if o.bound > 0 {
		sub := test.Subset(o.bound)
		x0 := tensors.FromFlatDataAndDimensions(sub.Pixels, append([]int{sub.N}, dims...)...)
		res, err := diffusion.VLB(b, store, den, p, x0, diffusion.VLBOptions{
			Seed: o.seed, Variance: cfg.SampleVariance(), Decoder: diffusion.DiscretizedDecoder, BatchSize: 50, Progress: progress})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bound: %.3f bits/dim over %d %s test images (L₀ %.3f, Σ KL %.3f, L_T %.2e)\n",
			res.Total, sub.N, cfg.Dataset, res.Terms[0], res.Total-res.Terms[0]-res.Prior, res.Prior)
		if o.plot != "" {
			if err := plotTerms(o.plot, res.Terms, 1, "bits/dim"); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", o.plot)
		}
	}
	if o.samples <= 0 {
		return nil
	}
	clf, loaded, err := classifier.LoadOrTrain(b, cfg.Dataset, o.cacheDir, stderr)
	if err != nil {
		return err
	}
	_ = loaded
	k := min(o.sampleSteps, p.T())
	sp, err := p.RespaceSpec(fmt.Sprintf("linspace:%d", k))
	if err != nil {
		return err
	}
	x, err := diffusion.Sample(b, store, den, diffusion.DDIM{P: sp, ClipX0: true}, o.samples, dims,
		diffusion.SampleOptions{Seed: o.seed, BatchSize: 100, Progress: progress})
	if err != nil {
		return err
	}
	gen := tensors.MustCopyFlatData[float32](x)
	n := o.samples
	train, err := mnist.Load(cfg.Dataset, "train")
	if err != nil {
		return err
	}
	real := train.Subset(n).Pixels
	noise := make([]float32, n*size)
	rng := rand.New(rand.NewPCG(uint64(o.seed), 5))
	for i := range noise {
		noise[i] = float32(max(-1, min(1, rng.NormFloat64())))
	}
	ref := test.Pixels
	subsets, subsetSize := 50, min(n, 500)
	fmt.Fprintf(stdout, "classifier-based Fréchet distance and KID against the %d %s test images (this project's classifier, test accuracy %.2f%%; not comparable with published FID):\n",
		test.N, cfg.Dataset, 100*clf.TestAccuracy)
	fmt.Fprintf(stdout, "  %-38s %10s %20s\n", "images", "FD", "KID")
	for _, row := range []struct {
		name string
		px   []float32
	}{{fmt.Sprintf("%d samples (DDIM, %d steps)", n, k), gen}, {fmt.Sprintf("%d real training images", n), real}, {fmt.Sprintf("%d Gaussian-noise images", n), noise}} {
		sc, err := clf.Compare(b, ref, row.px, subsets, subsetSize)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-38s %10.3f %11.4g ± %.2g\n", row.name, sc.FD, sc.KID, sc.KIDStd)
	}
	return nil
}
