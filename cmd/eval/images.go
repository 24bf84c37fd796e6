package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// evalBoundImages reports the bound in bits/dim over n test images.
func evalBoundImages(stdout, progress io.Writer, b compute.Backend, cfg experiment.Config, m diffusion.Model, store *model.Store,
	n int, seed int64, plot string, obj map[string]any) error {
	test, err := mnist.Load(cfg.Dataset, "test")
	if err != nil {
		return err
	}
	sub := test.Subset(n)
	x0 := tensors.FromFlatDataAndDimensions(sub.Pixels, append([]int{sub.N}, cfg.DataDims()...)...)
	res, err := diffusion.VLB(b, store, m, x0, diffusion.VLBOptions{
		Seed: seed, Variance: cfg.SampleVariance(), Decoder: diffusion.DiscretizedDecoder, BatchSize: 50, Progress: progress})
	if err != nil {
		return err
	}
	kl := res.Total - res.Terms[0] - res.Prior
	fmt.Fprintf(stdout, "bound: %.3f bits/dim over %d %s test images (L₀ %.3f, Σ KL %.3f, L_T %.2e)\n",
		res.Total, sub.N, cfg.Dataset, res.Terms[0], kl, res.Prior)
	obj["bits_per_dim"], obj["num_examples"] = res.Total, sub.N
	obj["l0_bits_per_dim"], obj["kl_bits_per_dim"], obj["prior_bits_per_dim"] = res.Terms[0], kl, res.Prior
	if plot != "" {
		if err := plotTerms(plot, res.Terms, 1, "bits/dim"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", plot)
		obj["outputs"] = []string{plot}
	}
	return nil
}

// sampleOptions are the settings of the samples eval scores.
type sampleOptions struct {
	n        int
	seed     int64
	cacheDir string
}

// sampleBatch is the number of images sampled at once.
const sampleBatch = 100

// evalSamples draws o.n samples with the sampler s under the labels l, as
// cmd/sample does, and reports the classifier-based Fréchet distance and KID
// of the samples against the test set, beside those of real training images
// and of Gaussian noise.
func evalSamples(stdout, stderr, progress io.Writer, b compute.Backend, cfg experiment.Config, store *model.Store,
	s *samplers.Sampler, l *samplers.Labels, o sampleOptions, obj map[string]any) error {
	test, err := mnist.Load(cfg.Dataset, "test")
	if err != nil {
		return err
	}
	clf, _, err := classifier.LoadOrTrain(b, cfg.Dataset, o.cacheDir, stderr)
	if err != nil {
		return err
	}
	dims := cfg.DataDims()
	x, res, took, err := samplers.Draw(b, store, s, l, o.n, dims, diffusion.SampleOptions{
		Seed: o.seed, BatchSize: sampleBatch, Progress: progress})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "drew %d samples with %s: %s, in %s\n", o.n, s.Desc, samplers.Evaluations(res), took)
	if d := l.Describe(); d != "" {
		fmt.Fprintln(stdout, d)
	}
	obj["num_samples"], obj["sampler"], obj["sampler_desc"] = o.n, s.Name, s.Desc
	samplers.RunJSON(obj, "sample_", res, took)
	l.JSON(obj)
	gen := tensors.MustCopyFlatData[float32](x)
	n := o.n
	train, err := mnist.Load(cfg.Dataset, "train")
	if err != nil {
		return err
	}
	real := train.Subset(n).Pixels
	noise := make([]float32, n*test.ImageSize())
	rng := rand.New(rand.NewPCG(uint64(o.seed), 5))
	for i := range noise {
		noise[i] = float32(max(-1, min(1, rng.NormFloat64())))
	}
	subsets, subsetSize := 50, min(n, 500)
	fmt.Fprintf(stdout, "classifier-based Fréchet distance and KID against the %d %s test images (this project's classifier, test accuracy %.2f%%; not comparable with published FID):\n",
		test.N, cfg.Dataset, 100*clf.TestAccuracy)
	obj["classifier_accuracy"] = clf.TestAccuracy
	fmt.Fprintf(stdout, "  %-38s %10s %20s\n", "images", "FD", "KID")
	for _, row := range []struct {
		key, name string
		px        []float32
	}{
		{"samples", fmt.Sprintf("%d samples (%s, %d steps)", n, s.Name, res.Steps), gen},
		{"real", fmt.Sprintf("%d real training images", n), real},
		{"noise", fmt.Sprintf("%d Gaussian-noise images", n), noise},
	} {
		sc, err := clf.Compare(b, test.Pixels, row.px, subsets, subsetSize)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-38s %10.3f %11.4g ± %.2g\n", row.name, sc.FD, sc.KID, sc.KIDStd)
		obj[row.key+"_fd"], obj[row.key+"_kid"], obj[row.key+"_kid_std"] = sc.FD, sc.KID, sc.KIDStd
	}
	if l.Conditional() && l.Labels != nil && l.Order != samplers.OrderNull {
		return evalLabels(stdout, b, clf, train, gen, l.Labels, obj)
	}
	return nil
}

// evalLabels reports, for samples drawn with the given labels, the share
// the classifier reads as their label (label_accuracy) and their diversity:
// the mean distance between the classifier features of two samples of the
// same label, divided by the same mean for real training images with the
// same labels (1: as varied as the data; 0: every sample of a label alike).
func evalLabels(stdout io.Writer, b compute.Backend, clf *classifier.Classifier, train *mnist.Set, gen []float32, labels []int32, obj map[string]any) error {
	pred, err := clf.Predict(b, gen)
	if err != nil {
		return err
	}
	right := 0
	for i, p := range pred {
		if int32(p) == labels[i] {
			right++
		}
	}
	acc := float64(right) / float64(len(pred))
	// Real images with the same labels: the first ones of each class.
	size := train.ImageSize()
	next := map[int32]int{}
	real := make([]float32, 0, len(gen))
	for _, l := range labels {
		i := next[l]
		for i < train.N && int32(train.Labels[i]) != l {
			i++
		}
		if i == train.N {
			return fmt.Errorf("eval: the training set has too few images of class %d", l)
		}
		real = append(real, train.Pixels[i*size:(i+1)*size]...)
		next[l] = i + 1
	}
	gf, err := clf.Features(b, gen)
	if err != nil {
		return err
	}
	rf, err := clf.Features(b, real)
	if err != nil {
		return err
	}
	div := withinLabelDistance(gf, labels) / withinLabelDistance(rf, labels)
	fmt.Fprintf(stdout, "requested label: %.3f of the samples classified as their label; diversity %.3f (mean feature distance between two samples of a label, relative to real images of the same labels)\n", acc, div)
	obj["label_accuracy"], obj["diversity"] = acc, div
	return nil
}

// withinLabelDistance is the mean Euclidean distance between the feature
// rows of two different examples with the same label (at most 200 examples
// of each label are compared, so the cost stays bounded).
func withinLabelDistance(feats [][]float64, labels []int32) float64 {
	byLabel := map[int32][]int{}
	for i, l := range labels {
		if len(byLabel[l]) < 200 {
			byLabel[l] = append(byLabel[l], i)
		}
	}
	var sum float64
	var count int
	for _, idx := range byLabel {
		for a := range idx {
			for b := a + 1; b < len(idx); b++ {
				var d float64
				for k, v := range feats[idx[a]] {
					w := v - feats[idx[b]][k]
					d += w * w
				}
				sum += math.Sqrt(d)
				count++
			}
		}
	}
	if count == 0 {
		return math.NaN()
	}
	return sum / float64(count)
}
