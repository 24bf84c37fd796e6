package classifier

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/gomlx/compute"
)

// DefaultPerLabel is the number of images of each label whose pairs
// [Classifier.LabelScores] compares at most when its perLabel is 0, which
// bounds the cost at 200·199/2 distances a label.
const DefaultPerLabel = 200

// LabelScores says how well images generated for requested labels (by a
// class-conditional model, say) match those labels, as this classifier
// reads them; see [Classifier.LabelScores].
type LabelScores struct {
	// Accuracy is the share of the images whose predicted class (the
	// arg-max of the logits, as [Classifier.Predict]) is their requested
	// label.
	Accuracy float64
	// Diversity is Within / RealWithin: about 1 when the images of a label
	// are as varied as real images of that label, 0 when every image of a
	// label is alike.
	Diversity float64
	// Within is the mean Euclidean distance between the features
	// ([Classifier.Features]) of two different images of the same label,
	// over every such pair among the first PerLabel images of each label;
	// NaN when no label has two images.
	Within float64
	// RealWithin is Within for the real images.
	RealWithin float64
	// PerLabel is the number of images of each label compared at most.
	PerLabel int
	// Features holds the features of the images, one row each, computed in
	// the same pass as their predictions: [CompareFeatures] scores them
	// against reference images without running the classifier again.
	Features [][]float64
}

// LabelScores scores images generated for labels against real images of
// the same labels: labels[i] is the label requested for image i of images,
// and the label of image i of real. images and real each hold len(labels)
// images of 28×28×1 values in [−1, 1] (the layout of mnist.Set.Pixels);
// the labels are in 0–9. perLabel caps the images of each label whose
// pairs the diversity compares (0: [DefaultPerLabel]). The classifier runs
// once over the images, for their logits and features together, and once
// over the real images.
func (c *Classifier) LabelScores(backend compute.Backend, images []float32, labels []int32, real []float32, perLabel int) (LabelScores, error) {
	if perLabel < 0 {
		return LabelScores{}, fmt.Errorf("classifier: LabelScores: perLabel must be ≥ 0 (0: %d), got %d", DefaultPerLabel, perLabel)
	}
	if perLabel == 0 {
		perLabel = DefaultPerLabel
	}
	for i, l := range labels {
		if l < 0 || l >= Classes {
			return LabelScores{}, fmt.Errorf("classifier: LabelScores: label %d of image %d is out of range 0–9", l, i)
		}
	}
	for _, set := range []struct {
		name   string
		images []float32
	}{{"images", images}, {"real images", real}} {
		if len(set.images) != len(labels)*InputSize {
			return LabelScores{}, fmt.Errorf("classifier: LabelScores: %d labels need %d values of %s (%d per image), got %d",
				len(labels), len(labels)*InputSize, set.name, InputSize, len(set.images))
		}
	}
	logits, feats, err := c.run(backend, images)
	if err != nil {
		return LabelScores{}, fmt.Errorf("classifier: LabelScores: images: %w", err)
	}
	realFeats, err := c.Features(backend, real)
	if err != nil {
		return LabelScores{}, fmt.Errorf("classifier: LabelScores: real images: %w", err)
	}
	right := 0
	for i, p := range predictions(logits) {
		if int32(p) == labels[i] {
			right++
		}
	}
	s := LabelScores{
		Accuracy: float64(right) / float64(len(labels)),
		Features: rows(feats, c.Config.Hidden[len(c.Config.Hidden)-1]),
		PerLabel: perLabel,
	}
	s.Within = withinLabelDistance(s.Features, labels, perLabel)
	s.RealWithin = withinLabelDistance(realFeats, labels, perLabel)
	s.Diversity = s.Within / s.RealWithin
	return s, nil
}

// withinLabelDistance is the mean Euclidean distance between the feature
// rows of two different examples with the same label, over the pairs among
// the first perLabel examples of each label (NaN when there is no pair).
// The labels are taken in increasing order, so the sum is reproducible.
func withinLabelDistance(feats [][]float64, labels []int32, perLabel int) float64 {
	byLabel := map[int32][]int{}
	for i, l := range labels {
		if len(byLabel[l]) < perLabel {
			byLabel[l] = append(byLabel[l], i)
		}
	}
	var sum float64
	var count int
	for _, l := range slices.Sorted(maps.Keys(byLabel)) {
		idx := byLabel[l]
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
