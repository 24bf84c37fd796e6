package nb

import (
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// Sampled from the exact conditional model of gaussians8 (no guidance,
// w = 1), example i must land on the mode of labels[i]: a helper that
// dropped the labels, or mixed up their order, fails.
func TestSampleLabelsFollowsEachLabel(t *testing.T) {
	g8 := Gaussians8Mixture()
	m := Must(diffusion.ClassifierFree(g8.ConditionalModel(NamedSDE("vp")), 1))
	labels := []int32{3, 0, 7, 7, 1, 5, 2, 6, 4, 0}
	pts := Points(SampleLabels(m, nil, diffusion.DPMSolverPP2M{}, labels, []int{2}, 1))
	if len(pts) != len(labels) {
		t.Fatalf("%d points for %d labels", len(pts), len(labels))
	}
	ds := toy2d.Gaussians8{}
	for i, p := range pts {
		c := ds.Centres()[labels[i]]
		if d := Length(toy2d.Point{p[0] - c[0], p[1] - c[1]}); d > 0.5 {
			t.Errorf("example %d (label %d) at %v, %.2f from its mode", i, labels[i], p, d)
		}
	}
}
