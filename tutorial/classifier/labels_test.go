package classifier

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestWithinLabelDistance checks the diversity figure's distance against
// values computed by hand: only pairs of the same label count, and only
// among the first perLabel examples of each label.
func TestWithinLabelDistance(t *testing.T) {
	feats := [][]float64{{0, 0}, {3, 4}, {100, 100}, {1, 0}, {1, 1}}
	labels := []int32{0, 0, 1, 2, 2}
	// Pairs of equal labels: (0,1) at distance 5 and (3,4) at distance 1.
	if got := withinLabelDistance(feats, labels, DefaultPerLabel); math.Abs(got-3) > 1e-12 {
		t.Errorf("withinLabelDistance = %v, want 3", got)
	}
	if got := withinLabelDistance(feats[:1], labels[:1], DefaultPerLabel); !math.IsNaN(got) {
		t.Errorf("no pair: %v, want NaN", got)
	}
	// A third example of label 0, (6, 8), is 10 from (0, 0) and 5 from
	// (3, 4): with all three the pairs are 5, 10, 5 and 1; capped at two a
	// label, 5 and 1 again.
	feats = append(feats, []float64{6, 8})
	labels = append(labels, 0)
	if got := withinLabelDistance(feats, labels, 3); math.Abs(got-21.0/4) > 1e-12 {
		t.Errorf("withinLabelDistance, 3 a label = %v, want 21/4", got)
	}
	if got := withinLabelDistance(feats, labels, 2); math.Abs(got-3) > 1e-12 {
		t.Errorf("withinLabelDistance, 2 a label = %v, want 3", got)
	}
	if got := withinLabelDistance(feats, labels, 1); !math.IsNaN(got) {
		t.Errorf("withinLabelDistance, 1 a label = %v, want NaN", got)
	}
}

// TestLabelScores checks LabelScores against the classifier's other
// outputs on 600 test images (more than one inference batch) labelled with
// their true classes, then with the true classes shifted by one: the
// accuracy is Predict's agreement with the labels, the features are
// Features', Within and RealWithin are withinLabelDistance over them,
// Diversity is their ratio (1 when the images are the real ones), and
// CompareFeatures on the features gives exactly Compare's scores. Bad input
// is refused with errors that name it.
func TestLabelScores(t *testing.T) {
	c := trainSmall(t, smallConfig)
	b := backend.MustShared()
	test := loadSet(t, "mnist", "test")
	set := test.Subset(600)
	images := set.Pixels
	real := test.Pixels[600*InputSize : 1200*InputSize]
	pred, err1 := c.Predict(b, images)
	feats, err2 := c.Features(b, images)
	realFeats, err3 := c.Features(b, real)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	for shift := range int32(2) {
		labels := make([]int32, set.N)
		right := 0
		for i, l := range set.Labels {
			labels[i] = (int32(l) + shift) % Classes
			if int32(pred[i]) == labels[i] {
				right++
			}
		}
		s, err := c.LabelScores(b, images, labels, real, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(right) / float64(set.N); s.Accuracy != want {
			t.Errorf("shift %d: Accuracy %v, Predict agrees with %v", shift, s.Accuracy, want)
		}
		if shift == 0 && !(s.Accuracy > 0.8) || shift == 1 && !(s.Accuracy < 0.2) {
			t.Errorf("shift %d: Accuracy %v", shift, s.Accuracy)
		}
		if !slices.EqualFunc(s.Features, feats, slices.Equal) {
			t.Errorf("shift %d: Features differ from Features'", shift)
		}
		within, realWithin := withinLabelDistance(feats, labels, DefaultPerLabel), withinLabelDistance(realFeats, labels, DefaultPerLabel)
		if s.PerLabel != DefaultPerLabel || s.Within != within || s.RealWithin != realWithin || s.Diversity != within/realWithin {
			t.Errorf("shift %d: %d a label, Within %v, RealWithin %v, Diversity %v; want %d, %v, %v, %v",
				shift, s.PerLabel, s.Within, s.RealWithin, s.Diversity, DefaultPerLabel, within, realWithin, within/realWithin)
		}
		if !(s.Diversity > 0) {
			t.Errorf("shift %d: Diversity %v, want > 0", shift, s.Diversity)
		}
	}
	labels := make([]int32, set.N)
	for i, l := range set.Labels {
		labels[i] = int32(l)
	}
	if s, err := c.LabelScores(b, images, labels, images, 30); err != nil || s.Diversity != 1 || s.PerLabel != 30 {
		t.Errorf("the images against themselves, 30 a label: %+v, %v; want diversity 1", s.Diversity, err)
	}
	s, err := c.LabelScores(b, images, labels, real, 0)
	if err != nil {
		t.Fatal(err)
	}
	ref := test.Pixels[1200*InputSize : 1500*InputSize]
	want, err := c.Compare(b, ref, images, 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	refFeats, err := c.Features(b, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := CompareFeatures(refFeats, s.Features, 10, 100); err != nil || got != want {
		t.Errorf("CompareFeatures = %+v, %v; Compare gave %+v", got, err, want)
	}
	if _, err := CompareFeatures(refFeats[:1], s.Features, 10, 1); err == nil || !strings.HasPrefix(err.Error(), "classifier: CompareFeatures: ") {
		t.Errorf("CompareFeatures with one reference image: %v, want an error", err)
	}
	nan := slices.Clone(images)
	nan[3*InputSize+5] = float32(math.NaN())
	bad := slices.Clone(labels)
	bad[4] = 10
	for _, tc := range []struct {
		name         string
		images, real []float32
		labels       []int32
		perLabel     int
		want         string
	}{
		{"NaN", nan, real, labels, 0, "images: classifier: pixel 5 of image 3 is NaN"},
		{"NaN real", images, nan, labels, 0, "real images: classifier: pixel 5 of image 3 is NaN"},
		{"label", images, real, bad, 0, "label 10 of image 4 is out of range 0–9"},
		{"short", images[:InputSize], real, labels, 0, "600 labels need 470400 values of images"},
		{"short real", images, real[:InputSize], labels, 0, "600 labels need 470400 values of real images"},
		{"perLabel", images, real, labels, -1, "perLabel must be ≥ 0"},
	} {
		if _, err := c.LabelScores(b, tc.images, tc.labels, tc.real, tc.perLabel); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}
