package diffusion

import (
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// constLoss is constDenoiser's L_simple written as a LossFn: mean((x₀ − w)²)
// per example, whatever the timestep and the noise.
func constLoss(d int) LossFn {
	return func(scope *model.Scope, x0, _ *Node) *Node {
		w := scope.VariableWithValue("w", make([]float32, d)).NodeValue(x0.Graph())
		return MeanFlat(Square(Sub(x0, BroadcastToShape(ExpandAxes(w, 0), x0.Shape()))))
	}
}

// TestTrainerWithLoss checks that a trainer given an objective as a LossFn
// optimises it exactly as NewTrainer optimises the same objective written as
// a denoiser (whose Adam(W), warm-up, clipping and EMA TestAdamAgainstFloat64
// replays in float64): same losses, gradient norms, weights and EMA.
func TestTrainerWithLoss(t *testing.T) {
	const B, D, steps = 4, 3, 12
	x0 := tensors.FromFlatDataAndDimensions([]float32{1, -2, 0.5, 3, 0, -1, 2, 2, 2, -0.5, 1, 4}, B, D)
	cfg := TrainConfig{LearningRate: 0.05, WarmupSteps: 5, WeightDecay: 0.1, GradClipNorm: 0.8, EMADecay: 0.9, Seed: 1}
	ref, err := NewTrainer(tb(), mustProcess(t, mustSchedule(t, "linear", 50)), constDenoiser(D), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainerWithLoss(tb(), constLoss(D), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tr.TimestepSampler() != nil || tr.Process != nil {
		t.Errorf("a LossFn trainer has no timestep sampler and no process")
	}
	for n := range steps {
		a, err := ref.TrainStep(x0, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tr.TrainStep(x0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !close(a.Loss, b.Loss, 1e-6) || !close(a.GradNorm, b.GradNorm, 1e-6) {
			t.Fatalf("step %d: loss %g grad-norm %g, want %g %g", n+1, b.Loss, b.GradNorm, a.Loss, a.GradNorm)
		}
	}
	ca, _ := ref.Checkpoint(nil)
	cb, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Step != steps || cb.SamplerState != nil {
		t.Errorf("checkpoint at step %d with sampler state %q, want %d and none", cb.Step, cb.SamplerState, steps)
	}
	for _, path := range []string{"/model/w", "/ema/model/w", "/optimizer/m/model/w", "/optimizer/v/model/w"} {
		wa := tensors.MustCopyFlatData[float32](ca.Variables[path])
		wb := tensors.MustCopyFlatData[float32](cb.Variables[path])
		for d := range D {
			if !close(float64(wb[d]), float64(wa[d]), 1e-6) {
				t.Errorf("%s[%d] = %g, want %g", path, d, wb[d], wa[d])
			}
		}
	}
}

func TestTrainerWithLossErrors(t *testing.T) {
	cases := []struct {
		name string
		loss LossFn
		cfg  TrainConfig
		want string
	}{
		{"nil loss", nil, TrainConfig{}, "nil"},
		{"timestep sampler", constLoss(2), TrainConfig{TimestepSampler: "loss-aware"}, "loss-aware"},
		{"denoiser loss", constLoss(2), TrainConfig{Loss: LossConfig{Kind: LossHybrid}}, "Loss"},
		{"bad config", constLoss(2), TrainConfig{EMADecay: 1}, "EMA"},
	}
	for _, c := range cases {
		if _, err := NewTrainerWithLoss(tb(), c.loss, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
	// A LossFn that returns a scalar instead of per-example losses.
	scalar := func(scope *model.Scope, x0, cond *Node) *Node { return ReduceAllMean(constLoss(2)(scope, x0, cond)) }
	tr, err := NewTrainerWithLoss(tb(), scalar, TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	x0 := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4}, 2, 2)
	if _, err := tr.TrainStep(x0, nil); err == nil || !strings.Contains(err.Error(), "per-example") {
		t.Errorf("scalar loss: error %v, want one asking for per-example losses", err)
	}
	// A checkpoint of a loss-aware denoiser trainer cannot resume a LossFn trainer.
	ck := &Checkpoint{SamplerState: []byte(`{"losses":[]}`)}
	tr2, _ := NewTrainerWithLoss(tb(), constLoss(2), TrainConfig{})
	if err := tr2.Restore(ck); err == nil || !strings.Contains(err.Error(), "timestep sampler") {
		t.Errorf("restoring a loss-aware sampler state: error %v", err)
	}
}
