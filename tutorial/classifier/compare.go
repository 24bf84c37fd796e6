package classifier

import (
	"fmt"

	"github.com/gomlx/compute"

	"github.com/godiffusion/diffusion-models/tutorial/metrics"
)

// Default KID settings of [Classifier.Compare], those of Bińkowski et al.
const (
	// DefaultKIDSubsets is the number of random subsets KID averages over.
	DefaultKIDSubsets = 100
	// DefaultKIDSubsetSize is the number of images per subset (lowered to
	// the smaller set's size when that is smaller).
	DefaultKIDSubsetSize = 1000
)

// Scores compares two sets of images in the feature space of a classifier.
// They are the classifier-based Fréchet distance and the classifier-based
// KID: not FID or KID, and not comparable with published FID or KID figures
// (see the package documentation). Lower is closer; compare figures only
// between sets of the same sizes scored by the same classifier.
type Scores struct {
	// FD is the classifier-based Fréchet distance: [metrics.FrechetDistance]
	// between the two sets' features.
	FD float64
	// KID is the classifier-based KID: the mean over subsets of
	// [metrics.KID] between the two sets' features.
	KID float64
	// KIDStd is the standard deviation of KID over the subsets.
	KIDStd float64
	// KIDSubsets and KIDSubsetSize are the KID settings used.
	KIDSubsets, KIDSubsetSize int
	// NReference and NImages are the numbers of images compared.
	NReference, NImages int
}

// String prints the scores with their labels.
func (s Scores) String() string {
	return fmt.Sprintf("classifier-based Fréchet distance %.4g, classifier-based KID %.4g ± %.2g (%d vs %d images; KID over %d subsets of %d)",
		s.FD, s.KID, s.KIDStd, s.NReference, s.NImages, s.KIDSubsets, s.KIDSubsetSize)
}

// Compare scores images against reference images (typically generated
// against real ones; each N×784 values in [−1, 1]) with the classifier-based
// Fréchet distance and KID on [Classifier.Features]. kidSubsets and
// kidSubsetSize set KID's subsets; 0 means [DefaultKIDSubsets] and
// [DefaultKIDSubsetSize], the size lowered to the smaller set's when needed.
// KID's subsets are drawn from a fixed seed, so the result is reproducible;
// when the subset size equals both sets' sizes every subset holds all the
// images and KIDStd is 0 (it says nothing about the uncertainty then).
// Each set needs at least 2 images. The KID costs about 0.1 s per subset of
// 1000 images with the default 256 features (2 cores). [CompareFeatures]
// does the same on features already computed.
func (c *Classifier) Compare(backend compute.Backend, reference, images []float32, kidSubsets, kidSubsetSize int) (Scores, error) {
	fr, err := c.Features(backend, reference)
	if err != nil {
		return Scores{}, fmt.Errorf("classifier: Compare: reference images: %w", err)
	}
	fi, err := c.Features(backend, images)
	if err != nil {
		return Scores{}, fmt.Errorf("classifier: Compare: images: %w", err)
	}
	s, err := compareFeatures(fr, fi, kidSubsets, kidSubsetSize)
	if err != nil {
		return Scores{}, fmt.Errorf("classifier: Compare: %w", err)
	}
	return s, nil
}

// CompareFeatures is [Classifier.Compare] on features already computed,
// reference and images being the feature rows ([Classifier.Features],
// [LabelScores.Features]) of the reference images and of the images: it
// gives the scores Compare gives on the images themselves, with the same
// kidSubsets and kidSubsetSize, without running the classifier again. The
// rows of both sets must come from the same classifier.
func CompareFeatures(reference, images [][]float64, kidSubsets, kidSubsetSize int) (Scores, error) {
	s, err := compareFeatures(reference, images, kidSubsets, kidSubsetSize)
	if err != nil {
		return Scores{}, fmt.Errorf("classifier: CompareFeatures: %w", err)
	}
	return s, nil
}

// compareFeatures computes the scores of [CompareFeatures]; its errors are
// the metrics' own.
func compareFeatures(fr, fi [][]float64, kidSubsets, kidSubsetSize int) (Scores, error) {
	if kidSubsets == 0 {
		kidSubsets = DefaultKIDSubsets
	}
	if kidSubsetSize == 0 {
		kidSubsetSize = min(DefaultKIDSubsetSize, len(fr), len(fi))
	}
	s := Scores{KIDSubsets: kidSubsets, KIDSubsetSize: kidSubsetSize, NReference: len(fr), NImages: len(fi)}
	var err error
	if s.FD, err = metrics.FrechetDistance(fr, fi); err != nil {
		return Scores{}, err
	}
	if s.KID, s.KIDStd, err = metrics.KID(fr, fi, kidSubsets, kidSubsetSize, nil); err != nil {
		return Scores{}, err
	}
	return s, nil
}
