package score_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
	"github.com/godiffusion/diffusion-models/unet"
)

// TestNoisePredictorModel feeds a network ε(x̃, τ) = x̃ + τ/1000 through the
// wrapper and compares with s = −ε(x/√(m²+σ²), 999 t)/σ computed in float64
// from the SDE's Marginal.
func TestNoisePredictorModel(t *testing.T) {
	const B, D = 4, 2
	x := []float64{1, -2, 0.5, 3, -1, 0, 2, 2}
	ts := []float64{1e-3, 0.2, 0.6, 1}
	net := func(_ *model.Scope, xs, tau *Node, _ cond.Nodes) *Node {
		return Add(xs, BroadcastToShape(ExpandAxes(DivScalar(tau, 1000), -1), xs.Shape()))
	}
	for _, sde := range dsmSDEs(t) {
		t.Run(sde.Name(), func(t *testing.T) {
			fn := score.NoisePredictorModel(sde, net)
			got := dsmRun(t, 1, func(scope *model.Scope, x, tt *Node) *Node { return fn(scope, x, tt, cond.Nodes{}) },
				tensors.FromFlatDataAndDimensions(f32(x), B, D), f32(ts))[0]
			for b := range B {
				m, s := sde.Marginal(ts[b])
				for d := range D {
					eps := x[b*D+d]/math.Sqrt(m*m+s*s) + score.TimeScale*ts[b]/1000
					want := -eps / s
					if math.Abs(got[b*D+d]-want) > 1e-4*(1+math.Abs(want)) {
						t.Errorf("t=%g d=%d: score %g, want %g", ts[b], d, got[b*D+d], want)
					}
				}
			}
		})
	}
}

// gaussians8Data draws gaussians8 batches as a function of the step.
type gaussians8Data struct{ seed uint64 }

func (d gaussians8Data) Batch(step int64, b int) (*tensors.Tensor, cond.Condition, error) {
	rng := rand.New(rand.NewPCG(d.seed, uint64(step)))
	return tensors.FromFlatDataAndDimensions(toy2d.Flatten32(toy2d.Gaussians8{}.Sample(rng, b)), b, 2), cond.Condition{}, nil
}

func smallScoreTrainer(t *testing.T, sde score.SDE) *diffusion.Trainer {
	t.Helper()
	fn := score.NoisePredictorModel(sde, unet.MLP(unet.MLPConfig{Hidden: 16, Blocks: 1, TimeDim: 8}))
	tr, err := score.NewTrainer(backend.MustShared(), sde, fn, diffusion.TrainConfig{LearningRate: 1e-2, EMADecay: 0.99, GradClipNorm: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestScoreTrainerResumeIsExact trains 2k steps in one go, and k steps, a
// checkpoint on disk and k more steps in a new trainer: the losses must agree
// bit for bit and so must every variable (weights, EMA, Adam moments and the
// random state that draws t and z).
func TestScoreTrainerResumeIsExact(t *testing.T) {
	const k = 10
	sde, _ := score.NewSDE("ve")
	data := gaussians8Data{seed: 1}
	full := smallScoreTrainer(t, sde)
	if err := full.Run(data, diffusion.RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.ckpt")
	first := smallScoreTrainer(t, sde)
	if err := first.Run(data, diffusion.RunOptions{Steps: k, BatchSize: 32, CheckpointPath: path}); err != nil {
		t.Fatal(err)
	}
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	second := smallScoreTrainer(t, sde)
	if err := second.Restore(ck); err != nil {
		t.Fatal(err)
	}
	if err := second.Run(data, diffusion.RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	a, b := full.Losses(), second.Losses()
	if len(a) != 2*k || len(b) != 2*k {
		t.Fatalf("loss histories have %d and %d entries, want %d", len(a), len(b), 2*k)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: uninterrupted loss %v, resumed loss %v", i+1, a[i], b[i])
		}
	}
	ca, _ := full.Checkpoint(nil)
	cb, _ := second.Checkpoint(nil)
	if len(ca.Variables) != len(cb.Variables) {
		t.Fatalf("%d vs %d variables", len(ca.Variables), len(cb.Variables))
	}
	for name, ta := range ca.Variables {
		if tb, ok := cb.Variables[name]; !ok || !ta.Equal(tb) {
			t.Errorf("variable %s differs after resuming", name)
		}
	}
	if a[0] == a[1] {
		t.Errorf("losses do not change between steps (%v): are t and z drawn afresh?", a[:2])
	}
}

func TestNewTrainerErrors(t *testing.T) {
	sde, _ := score.NewSDE("vp")
	fn := score.NoisePredictorModel(sde, unet.MLP(unet.MLPConfig{}))
	cases := []struct {
		name string
		sde  score.SDE
		fn   score.ScoreFn
		cfg  diffusion.TrainConfig
		want string
	}{
		{"no SDE", nil, fn, diffusion.TrainConfig{}, "SDE"},
		{"no model", sde, nil, diffusion.TrainConfig{}, "model"},
		{"timestep sampler", sde, fn, diffusion.TrainConfig{TimestepSampler: "loss-aware"}, "TimestepSampler"},
		{"negative lr", sde, fn, diffusion.TrainConfig{LearningRate: -1}, "learning rate"},
	}
	for _, c := range cases {
		if _, err := score.NewTrainer(backend.MustShared(), c.sde, c.fn, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
}

// TestNoisePredictorModelTwice calls a wrapped MLP twice in one graph (as
// Heun or RK4 steps do): both calls must build, share the weights and agree.
func TestNoisePredictorModelTwice(t *testing.T) {
	sde, _ := score.NewSDE("subvp")
	fn := score.NoisePredictorModel(sde, unet.MLP(unet.MLPConfig{Hidden: 8, Blocks: 1, TimeDim: 4}))
	outs := dsmRun(t, 1, func(scope *model.Scope, x, tt *Node) (*Node, *Node) {
		return fn(scope, x, tt, cond.Nodes{}), fn(scope, x, tt, cond.Nodes{})
	}, tensors.FromFlatDataAndDimensions([]float32{1, 2, -1, 0.5}, 2, 2), []float32{0.3, 0.9})
	for i := range outs[0] {
		if outs[0][i] != outs[1][i] {
			t.Fatalf("two calls differ: %v vs %v", outs[0], outs[1])
		}
	}
}
