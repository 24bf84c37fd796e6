package diffusion

import (
	"math"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// constLoss is constDenoiser's L_simple written as a LossFn: mean((x₀ − w)²)
// per example, whatever the timestep and the noise.
func constLoss(d int) LossFn {
	return func(scope *model.Scope, x0 *Node, _ cond.Nodes) *Node {
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
		a, err := ref.TrainStep(x0, cond.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := tr.TrainStep(x0, cond.Condition{})
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
	scalar := func(scope *model.Scope, x0 *Node, c cond.Nodes) *Node {
		return ReduceAllMean(constLoss(2)(scope, x0, c))
	}
	tr, err := NewTrainerWithLoss(tb(), scalar, TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	x0 := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4}, 2, 2)
	if _, err := tr.TrainStep(x0, cond.Condition{}); err == nil || !strings.Contains(err.Error(), "per-example") {
		t.Errorf("scalar loss: error %v, want one asking for per-example losses", err)
	}
	// A checkpoint of a loss-aware denoiser trainer cannot resume a LossFn trainer.
	ck := &Checkpoint{SamplerState: []byte(`{"losses":[]}`)}
	tr2, _ := NewTrainerWithLoss(tb(), constLoss(2), TrainConfig{})
	if err := tr2.Restore(ck); err == nil || !strings.Contains(err.Error(), "timestep sampler") {
		t.Errorf("restoring a loss-aware sampler state: error %v", err)
	}
}

// TestPUncond checks classifier-free training's condition dropout: with
// PUncond = p every example of a conditioned batch is marked null with
// probability p (the mean of a 0/1 indicator over 20,000 examples is within
// 4 binomial standard errors of p, on each of 3 steps), examples already
// null stay null, unconditioned batches are left alone, and the drops are
// drawn from the store's generator so that they differ from step to step.
func TestPUncond(t *testing.T) {
	const B, p = 20000, 0.15
	// The loss is each example's null indicator, plus 0·w so that there is a
	// variable to train.
	indicator := func(scope *model.Scope, x0 *Node, c cond.Nodes) *Node {
		w := scope.VariableWithValue("w", float32(0)).NodeValue(x0.Graph())
		b := x0.Shape().Dimensions[0]
		null := ConvertDType(c.NullMask(x0.Graph(), b), x0.DType())
		return Add(null, MulScalar(BroadcastToDims(w, b), 0))
	}
	x0 := tensors.FromFlatDataAndDimensions(make([]float32, B), B, 1)
	labels := make([]int32, B)
	tr, err := NewTrainerWithLoss(tb(), indicator, TrainConfig{PUncond: p, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	tol := 4 * math.Sqrt(p*(1-p)/B)
	var prev float64
	for step := range 3 {
		r, err := tr.TrainStep(x0, cond.Classes(labels))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d: share dropped %.4f (p = %g ± %.4f)", step, r.Loss, p, tol)
		if math.Abs(r.Loss-p) > tol {
			t.Errorf("step %d: %.4f of the examples dropped, want %g ± %.4f", step, r.Loss, p, tol)
		}
		if r.Loss == prev {
			t.Errorf("step %d dropped exactly as many as the step before (%g): the same draws?", step, r.Loss)
		}
		prev = r.Loss
	}
	// Already-null examples stay null: half of the batch marked null gives ½ + ½ p.
	half := cond.Classes(labels)
	half.Null = make([]bool, B)
	for i := range B / 2 {
		half.Null[i] = true
	}
	tr2, _ := NewTrainerWithLoss(tb(), indicator, TrainConfig{PUncond: p, Seed: 3})
	if r, err := tr2.TrainStep(x0, half); err != nil {
		t.Fatal(err)
	} else if want := 0.5 + 0.5*p; math.Abs(r.Loss-want) > tol {
		t.Errorf("half null: %.4f dropped, want %.4f", r.Loss, want)
	}
	// An unconditioned batch is all null, with or without dropout.
	tr3, _ := NewTrainerWithLoss(tb(), indicator, TrainConfig{PUncond: p, Seed: 3})
	if r, err := tr3.TrainStep(x0, cond.Condition{}); err != nil || r.Loss != 1 {
		t.Errorf("unconditioned batch: share null %v (err %v), want 1", r.Loss, err)
	}
	if _, err := NewTrainerWithLoss(tb(), indicator, TrainConfig{PUncond: 1}); err == nil {
		t.Errorf("PUncond = 1 accepted")
	}
}
