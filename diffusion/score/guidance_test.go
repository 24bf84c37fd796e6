package score

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// TestGuidanceClosedForm checks both guidance rules against the closed form
// on the test mixture, whose class posterior and component scores are
// exact: classifier guidance of the unconditional model with the exact
// classifier, and classifier-free guidance of the exact conditional model,
// must both give
//
//	ε̃ = −σ (∇ log p_t(x) + w (∇ log p_t(x | k) − ∇ log p_t(x))),
//
// computed in float64 from Mixture.At (w = 1: the component's score exactly;
// w = 0: the mixture's).
func TestGuidanceClosedForm(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	rng := rand.New(rand.NewPCG(8, 9))
	const n = 12
	xs := make([]float64, 0, 2*n)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(i % len(mix.Means))
		xs = append(xs, 2*rng.NormFloat64(), 2*rng.NormFloat64())
	}
	for _, tt := range []float64{0.05, 0.3, 0.8} {
		lv := vp.At(tt)
		pt := mix.At(vp, tt)
		for _, w := range []float64{0, 1, 3} {
			clf, err := diffusion.ClassifierGuided(mix.Model(vp), mix.ClassLogProb(), len(mix.Means), w)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := diffusion.ClassifierFree(mix.ConditionalModel(vp), w)
			if err != nil {
				t.Fatal(err)
			}
			exec, err := model.NewExec(tb(), model.NewStore(), func(scope *model.Scope, x, l *Node) (*Node, *Node) {
				lvn := diffusion.ConstLevelNodes(x.Graph(), lv, n, dtypes.Float64)
				c := cond.Nodes{Inputs: map[string]*Node{cond.Class: l}}
				a := clf.Net(scope, x, lvn, c) // predicts ε
				b := diffusion.EpsFromOutput(cfg.Prediction, x, cfg.Net(scope, x, lvn, c), lvn)
				return a, b
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Call(tensors.FromFlatDataAndDimensions(xs, n, 2), tensors.FromValue(labels))
			if err != nil {
				t.Fatal(err)
			}
			a, b := tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])
			for i := range n {
				x := xs[2*i : 2*i+2]
				k := labels[i]
				sMix := pt.Score(x)
				v := pt.Stds[k] * pt.Stds[k]
				for d := range 2 {
					sk := (pt.Means[k][d] - x[d]) / v
					want := -lv.Sigma * (sMix[d] + w*(sk-sMix[d]))
					for name, got := range map[string]float64{"classifier": a[2*i+d], "classifier-free": b[2*i+d]} {
						if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
							t.Errorf("t=%g w=%g example %d (class %d): %s-guided ε̃ %.10g, closed form %.10g", tt, w, i, k, name, got, want)
						}
					}
				}
			}
			exec.Finalize()
		}
	}
}

// TestGuidedSamples samples each component of the test mixture with
// classifier guidance at w = 1 (the exact conditional) and checks that every
// sample lands on the requested mode with that mode's mean and variance
// (4 standard errors plus DPM-Solver++'s allowance from
// TestSamplersReproduceMixture); and that classifier-free guidance of the
// exact conditional model at w = 3 puts ≥ 99.5% of the samples on the
// requested mode.
func TestGuidedSamples(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	const per = 600
	k := len(mix.Means)
	labels := make([]int32, per*k)
	for i := range labels {
		labels[i] = int32(i / per)
	}
	guided, err := diffusion.ClassifierGuided(mix.Model(vp), mix.ClassLogProb(), k, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, err := diffusion.Sample(tb(), nil, guided, diffusion.DPMSolverPP2M{Steps: 50}, per*k, []int{2},
		diffusion.SampleOptions{Seed: 4, Cond: cond.Classes(labels)})
	if err != nil {
		t.Fatal(err)
	}
	rows := toRows(t, x)
	for c := range k {
		count, mean, variance := modeStats(mix, rows[c*per:(c+1)*per])
		if count[c] != per {
			t.Errorf("class %d: %d of %d samples on its mode", c, count[c], per)
		}
		s := mix.Stds[c]
		for d := range 2 {
			if e := math.Abs(mean[c][d] - mix.Means[c][d]); e > 4*s/math.Sqrt(per)+0.01 {
				t.Errorf("class %d axis %d: mean %.4f, want %.4f", c, d, mean[c][d], mix.Means[c][d])
			}
		}
		if r := variance[c]/(s*s) - 1; math.Abs(r) > 4*math.Sqrt(2/(2.0*per))+0.06 {
			t.Errorf("class %d: variance %.5f, want %.5f", c, variance[c], s*s)
		}
	}
	cfg, err := diffusion.ClassifierFree(mix.ConditionalModel(vp), 3)
	if err != nil {
		t.Fatal(err)
	}
	x, err = diffusion.Sample(tb(), nil, cfg, diffusion.DPMSolverPP2M{Steps: 20}, per*k, []int{2},
		diffusion.SampleOptions{Seed: 5, Cond: cond.Classes(labels)})
	if err != nil {
		t.Fatal(err)
	}
	rows = toRows(t, x)
	for c := range k {
		count, _, _ := modeStats(mix, rows[c*per:(c+1)*per])
		if share := float64(count[c]) / per; share < 0.995 {
			t.Errorf("w=3, class %d: %.3f of the samples on the requested mode, want ≥ 0.995", c, share)
		}
	}
}
