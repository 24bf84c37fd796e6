package main

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/memcheck"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// evalBoundImages reports the bound in bits/dim over the first n images of
// test, the dataset's test split.
func evalBoundImages(stdout, progress io.Writer, b compute.Backend, cfg experiment.Config, m diffusion.Model, store *model.Store,
	test *mnist.Set, n int, seed int64, plot string, obj map[string]any) error {
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
	// ae decodes a latent model's samples, and adds the row of the
	// reconstructions of the real images (nil for pixel models).
	ae *latent.Autoencoder
	// clip embeds a text-conditional model's samples and prompts for the
	// CLIP score (nil for other models).
	clip *clip.Model
}

// draw is how evalSamples draws: seed, sampleBatch images at once, the
// progress bar on progress.
func (o sampleOptions) draw(progress io.Writer) diffusion.SampleOptions {
	return diffusion.SampleOptions{Seed: o.seed, BatchSize: sampleBatch, Progress: progress}
}

// checkSampleMemory refuses, before anything is evaluated, n samples drawn
// as evalSamples draws them that cannot fit in memory, naming a number that
// fits.
func checkSampleMemory(b compute.Backend, cfg experiment.Config, store *model.Store, s *samplers.Sampler, l *samplers.Labels, n int, seed int64) error {
	opts := sampleOptions{seed: seed}.draw(nil)
	return memcheck.Check(b, fmt.Sprintf("sampling %d images", n), "--samples", n, func(k int) (float64, error) {
		return samplers.Memory(b, store, s, l, k, cfg.DataDims(), opts)
	})
}

// sampleBatch is the number of images sampled at once.
const sampleBatch = 100

// evalSamples draws o.n samples with the sampler s under the labels l, as
// cmd/sample does, and reports the classifier-based Fréchet distance and KID
// of the samples against test, the dataset's test split, beside those of
// real training images and of Gaussian noise; for labelled samples also
// their label accuracy and diversity (classifier.LabelScores). The
// classifier runs once over each set of images: the test set's features
// serve every row, and the samples' come with their predictions.
func evalSamples(stdout, stderr, progress io.Writer, b compute.Backend, cfg experiment.Config, test *mnist.Set, store *model.Store,
	s *samplers.Sampler, l *samplers.Labels, o sampleOptions, obj map[string]any) error {
	clf, _, err := classifier.LoadOrTrain(b, cfg.Dataset, o.cacheDir, stderr)
	if err != nil {
		return err
	}
	dims := cfg.DataDims()
	x, res, took, err := samplers.Draw(b, store, s, l, o.n, dims, o.draw(progress))
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
	if o.ae != nil {
		if gen, err = o.ae.DecodeScaled(gen, n, progress); err != nil {
			return err
		}
	}
	train, err := experiment.LoadImages(cfg.Dataset, "train")
	if err != nil {
		return err
	}
	real := train.Subset(n).Pixels
	noise := make([]float32, n*test.ImageSize())
	rng := rand.New(rand.NewPCG(uint64(o.seed), 5))
	for i := range noise {
		noise[i] = float32(max(-1, min(1, rng.NormFloat64())))
	}
	// The samples' features, with their label scores when they have labels.
	var labelScores *classifier.LabelScores
	var genFeats [][]float64
	if l.Labels != nil {
		ofLabels, err := imagesOfLabels(train, l.Labels)
		if err != nil {
			return err
		}
		ls, err := clf.LabelScores(b, gen, l.Labels, ofLabels, classifier.DefaultPerLabel)
		if err != nil {
			return fmt.Errorf("the samples: %w", err)
		}
		labelScores, genFeats = &ls, ls.Features
	} else if genFeats, err = clf.Features(b, gen); err != nil {
		return fmt.Errorf("the samples: %w", err)
	}
	testFeats, err := clf.Features(b, test.Pixels)
	if err != nil {
		return fmt.Errorf("the %s test images: %w", cfg.Dataset, err)
	}
	fmt.Fprintf(stdout, "classifier-based Fréchet distance and KID against the %d %s test images (this project's classifier, test accuracy %.2f%%; not comparable with published FID):\n",
		test.N, cfg.Dataset, 100*clf.TestAccuracy)
	obj["classifier_accuracy"] = clf.TestAccuracy
	rows := []fdRow{
		{"samples", fmt.Sprintf("%d samples (%s, %d steps)", n, s.Name, res.Steps), gen, genFeats},
		{"real", fmt.Sprintf("%d real training images", n), real, nil},
	}
	if o.ae != nil {
		rec, err := o.ae.Reconstruct(real, n, progress)
		if err != nil {
			return err
		}
		rows = append(rows, fdRow{"reconstruction", fmt.Sprintf("their %d reconstructions", n), rec, nil})
	}
	rows = append(rows, fdRow{"noise", fmt.Sprintf("%d Gaussian-noise images", n), noise, nil})
	if err := fdTable(stdout, b, clf, testFeats, n, rows, obj); err != nil {
		return err
	}
	if l.Prompts != nil {
		if err := evalAlignment(stdout, b, cfg, clf, test, gen, n, l, o.clip, obj); err != nil {
			return err
		}
	}
	if labelScores != nil {
		acc, div := labelScores.Accuracy, labelScores.Diversity
		fmt.Fprintf(stdout, "requested label: %.3f of the samples classified as their label; diversity %.3f (mean feature distance between two samples of a label, relative to real images of the same labels)\n", acc, div)
		obj["label_accuracy"], obj["diversity"] = acc, div
	}
	return nil
}

// fdRow is one row of the table of fdTable: a set of images, its JSON key
// prefix and its printed name.
type fdRow struct {
	key, name string
	px        []float32
	feats     [][]float64 // the images' classifier features; nil: not computed yet
}

// fdTable prints, under a header line, the classifier Fréchet distance and
// KID of each row's images against the test images' features testFeats
// (KID over 50 subsets of min(n, 500)), and stores them in obj as
// KEY_fd, KEY_kid and KEY_kid_std.
func fdTable(stdout io.Writer, b compute.Backend, clf *classifier.Classifier, testFeats [][]float64, n int, rows []fdRow, obj map[string]any) error {
	fmt.Fprintf(stdout, "  %-38s %10s %20s\n", "images", "FD", "KID")
	for _, row := range rows {
		feats := row.feats
		if feats == nil {
			var err error
			if feats, err = clf.Features(b, row.px); err != nil {
				return fmt.Errorf("%s: %w", row.name, err)
			}
		}
		sc, err := classifier.CompareFeatures(testFeats, feats, 50, min(n, 500))
		if err != nil {
			return fmt.Errorf("%s: %w", row.name, err)
		}
		fmt.Fprintf(stdout, "  %-38s %10.3f %11.4g ± %.2g\n", row.name, sc.FD, sc.KID, sc.KIDStd)
		obj[row.key+"_fd"], obj[row.key+"_kid"], obj[row.key+"_kid_std"] = sc.FD, sc.KID, sc.KIDStd
	}
	return nil
}

// imagesOfLabels returns real training images with the given labels, image
// i of label labels[i]: the first images of each class, in order.
func imagesOfLabels(train *mnist.Set, labels []int32) ([]float32, error) {
	size := train.ImageSize()
	next := map[int32]int{}
	real := make([]float32, 0, len(labels)*size)
	for _, l := range labels {
		i := next[l]
		for i < train.N && int32(train.Labels[i]) != l {
			i++
		}
		if i == train.N {
			return nil, fmt.Errorf("eval: the training set has too few images of class %d", l)
		}
		real = append(real, train.Pixels[i*size:(i+1)*size]...)
		next[l] = i + 1
	}
	return real, nil
}
