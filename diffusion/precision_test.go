package diffusion

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// castDense is a dense layer written the way mixed precision needs a
// model's layers to be: float32 variables, converted to the input's dtype
// where they are used, so that the products run in the input's dtype and
// the gradients flow back through ConvertDType to the float32 variables.
func castDense(scope *model.Scope, x *Node, out int) *Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	g := x.Graph()
	w := scope.VariableWithShape("weights", shapes.Make(dtypes.Float32, in, out)).NodeValue(g)
	b := scope.VariableWithShape("biases", shapes.Make(dtypes.Float32, out)).NodeValue(g)
	y := DotGeneral(x, []int{1}, nil, ConvertDType(w, x.DType()), []int{0}, nil)
	return Add(y, ExpandAxes(ConvertDType(b, x.DType()), 0))
}

// tinyHidden is the hidden width of tinyDenoiser.
const tinyHidden = 16

// tinyDenoiser is a two-layer ε-denoiser for 2-D data (x_t and t/100 →
// tanh, or softmax when softmax is set → 2 outputs) that computes in x_t's
// dtype with float32 variables (castDense).
func tinyDenoiser(softmax bool) Denoiser {
	return Denoiser{Prediction: PredictEpsilon, Fn: func(scope *model.Scope, xt, t *Node, _ cond.Nodes) *Node {
		dt := xt.DType()
		tf := ExpandAxes(MulScalar(ConvertDType(t, dt), 0.01), -1)
		h := castDense(scope.In("in"), Concatenate([]*Node{xt, tf}, -1), tinyHidden)
		if softmax {
			h = Softmax(h, -1)
		} else {
			h = Tanh(h)
		}
		return castDense(scope.In("out"), h, xt.Shape().Dimensions[1])
	}}
}

// tinyWeights are fixed weights of tinyDenoiser (not the store's random
// initialisation), for trainers that must start from the same point.
func tinyWeights() map[string]*tensors.Tensor {
	r := rand.New(rand.NewPCG(5, 6))
	mk := func(scale float64, dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * r.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	return map[string]*tensors.Tensor{
		"/model/in/weights":  mk(0.7, 3, tinyHidden),
		"/model/in/biases":   mk(0.1, tinyHidden),
		"/model/out/weights": mk(0.3, tinyHidden, 2),
		"/model/out/biases":  mk(0.1, 2),
	}
}

// tinyTrainer returns a trainer of tinyDenoiser on a linear schedule of
// 100 steps, starting from tinyWeights.
func tinyTrainer(t *testing.T, cfg TrainConfig) *Trainer {
	t.Helper()
	p := mustProcess(t, mustSchedule(t, "linear", 100))
	tr, err := NewTrainer(tb(), p, tinyDenoiser(false), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Preload(tinyWeights()); err != nil {
		t.Fatal(err)
	}
	return tr
}

// unitRoundoff is u, half the spacing of the format's numbers just above
// 1: a value rounds to the format with a relative error at most u.
var unitRoundoff = map[string]float64{PrecisionBF16: 0x1p-8, PrecisionF16: 0x1p-11}

// snapshot copies every variable of tr's store.
func snapshot(t *testing.T, tr *Trainer) map[string]*tensors.Tensor {
	t.Helper()
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensors.Tensor{}
	for k, v := range ck.Variables {
		c, err := v.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = c
	}
	return out
}

func float32s(t *testing.T, v *tensors.Tensor) []float32 {
	t.Helper()
	if v == nil {
		t.Fatal("missing variable")
	}
	return tensors.MustCopyFlatData[float32](v)
}

// TestPrecisionTrains: with bf16 and f16 the tiny model trains (the mean
// loss of the last 10 of 60 steps is well below that of the first 10) and
// every variable of the store — weights, Adam moments, moving averages,
// loss scale — stays float32 (the step counters int64).
func TestPrecisionTrains(t *testing.T) {
	for _, prec := range []string{PrecisionBF16, PrecisionF16} {
		t.Run(prec, func(t *testing.T) {
			tr := tinyTrainer(t, TrainConfig{LearningRate: 1e-2, EMADecay: 0.99, EMADecays: []float64{0.9}, Precision: prec, Seed: 3})
			if err := tr.Run(toyBatches{}, RunOptions{Steps: 60, BatchSize: 64}); err != nil {
				t.Fatal(err)
			}
			l := tr.Losses()
			var first, last float64
			for i := range 10 {
				first += l[i] / 10
				last += l[len(l)-1-i] / 10
			}
			if !(last < 0.7*first) {
				t.Errorf("loss did not decrease: first 10 steps %.4f, last 10 %.4f", first, last)
			}
			t.Logf("mean loss of the first 10 steps %.4f, of the last 10 %.4f", first, last)
			ck, err := tr.Checkpoint(nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for path, v := range ck.Variables {
				want := dtypes.Float32
				if strings.HasSuffix(path, "_steps") || path == stepPath || strings.Contains(path, model.RNGStateVariableName) {
					continue
				}
				if v.DType() != want {
					t.Errorf("%s is %s, want %s", path, v.DType(), want)
				}
				n++
			}
			for _, path := range []string{"/model/in/weights", "/optimizer/m/model/in/weights", "/ema/model/in/weights", "/ema-0.9/model/in/weights"} {
				if v, ok := ck.Variables[path]; !ok || v.DType() != dtypes.Float32 {
					t.Errorf("%s missing or not float32", path)
				}
			}
			if s, ok := ck.Variables[lossScalePath]; ok != (prec == PrecisionF16) {
				t.Errorf("loss-scale variable present: %v, want %v", ok, prec == PrecisionF16)
			} else if ok && s.DType() != dtypes.Float32 {
				t.Errorf("loss scale is %s", s.DType())
			}
		})
	}
}

// halfGraphs builds, for fixed weights and one batch, the loss of the
// process's simple objective and its gradients with respect to every
// weight, with the denoiser run in precision prec (the trainer's wrapper).
func halfGraphs(t *testing.T, prec string, x0 []float32, b int, ts []int32, noise []float32) (loss float64, grads [][]float64) {
	t.Helper()
	p := mustProcess(t, mustSchedule(t, "linear", 100))
	den := tinyDenoiser(false)
	cfg := TrainConfig{Precision: prec}
	if cfg.mixed() {
		den = mixedPrecision(den, cfg.halfDType(), prec)
	}
	store := model.NewStore()
	w := tinyWeights()
	paths := []string{"/model/in/biases", "/model/in/weights", "/model/out/biases", "/model/out/weights"}
	for _, path := range paths {
		if _, err := store.CreateVariable(path, w[path]); err != nil {
			t.Fatal(err)
		}
	}
	e, err := model.NewExec(tb(), store, func(scope *model.Scope, x, tt, nz *Node) []*Node {
		terms := p.Losses(scope.In(ModelScope), den, x, tt, nz, cond.Nodes{}, LossConfig{})
		l := ReduceAllMean(terms.Loss)
		var nodes []*Node
		for _, path := range paths {
			nodes = append(nodes, store.GetVariable(path).NodeValue(x.Graph()))
		}
		return append([]*Node{l}, Gradient(l, nodes...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	outs, err := e.Exec(tensors.FromFlatDataAndDimensions(x0, b, 2), tensors.FromValue(ts), tensors.FromFlatDataAndDimensions(noise, b, 2))
	if err != nil {
		t.Fatal(err)
	}
	loss = scalarFloat(outs[0])
	for _, o := range outs[1:] {
		if o.DType() != dtypes.Float32 {
			t.Errorf("gradient of a float32 variable is %s", o.DType())
		}
		f := float32s(t, o)
		g := make([]float64, len(f))
		for i, v := range f {
			g[i] = float64(v)
		}
		grads = append(grads, g)
	}
	return loss, grads
}

// TestPrecisionMatchesF32: for the same weights and batch, the loss and the
// gradients of the half-precision graph are those of float32 up to the
// format's rounding, and not identical to them (the denoiser really ran in
// half precision). The tolerance is 16u relative to the float32 values (u
// the unit roundoff: 2⁻⁸ for bf16, 2⁻¹¹ for f16): the model's forward and
// backward round each input, weight, product, sum and tanh once, about 12
// roundings of at most u on the longest path (a dot product over the 16
// hidden units accumulated in half precision could add more in the worst
// case, but its rounding errors are independent and mostly cancel; the
// measured errors are about 1u). It still catches a wrong loss scale (a
// factor 2) or missing gradients. The trainer's own numbers are compared
// too: with the same preloaded weights and seed the first step of a bf16
// and an f16 trainer reports the float32 trainer's loss and (unscaled)
// gradient norm within the same tolerance.
func TestPrecisionMatchesF32(t *testing.T) {
	const b = 64
	r := rand.New(rand.NewPCG(11, 12))
	x0, noise := make([]float32, 2*b), make([]float32, 2*b)
	ts := make([]int32, b)
	for i := range x0 {
		x0[i] = float32(0.5 + 0.3*r.NormFloat64())
		noise[i] = float32(r.NormFloat64())
	}
	for i := range ts {
		ts[i] = int32(r.IntN(100))
	}
	refLoss, refGrads := halfGraphs(t, "", x0, b, ts, noise)
	var refNorm float64
	for _, g := range refGrads {
		for _, v := range g {
			refNorm += v * v
		}
	}
	refNorm = math.Sqrt(refNorm)

	ref := tinyTrainer(t, TrainConfig{Seed: 4})
	batch := tensors.FromFlatDataAndDimensions(x0, b, 2)
	refStep, err := ref.TrainStep(batch, cond.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []string{PrecisionBF16, PrecisionF16} {
		t.Run(prec, func(t *testing.T) {
			tol := 16 * unitRoundoff[prec]
			loss, grads := halfGraphs(t, prec, x0, b, ts, noise)
			if d := math.Abs(loss - refLoss); d > tol*refLoss || d == 0 {
				t.Errorf("loss %v, float32 %v: relative difference %.3g, want in (0, %.3g]", loss, refLoss, d/refLoss, tol)
			}
			var diff float64
			for i, g := range grads {
				for j, v := range g {
					diff += (v - refGrads[i][j]) * (v - refGrads[i][j])
				}
			}
			diff = math.Sqrt(diff)
			if diff > tol*refNorm || diff == 0 {
				t.Errorf("‖g − g_f32‖ = %.3g, ‖g_f32‖ = %.3g: relative %.3g, want in (0, %.3g]", diff, refNorm, diff/refNorm, tol)
			}
			t.Logf("%s: loss relative error %.3g, gradient %.3g (tolerance %.3g)", prec, math.Abs(loss-refLoss)/refLoss, diff/refNorm, tol)

			tr := tinyTrainer(t, TrainConfig{Seed: 4, Precision: prec})
			r, err := tr.TrainStep(batch, cond.Condition{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Skipped {
				t.Fatalf("first step skipped at loss scale %g", r.LossScale)
			}
			if math.Abs(r.Loss-refStep.Loss) > tol*refStep.Loss || math.Abs(r.GradNorm-refStep.GradNorm) > tol*refStep.GradNorm {
				t.Errorf("trainer step: loss %v grad-norm %v, float32 trainer %v %v", r.Loss, r.GradNorm, refStep.Loss, refStep.GradNorm)
			}
			if want := map[string]float64{PrecisionBF16: 0, PrecisionF16: DefaultLossScale}[prec]; r.LossScale != want {
				t.Errorf("loss scale %g, want %g", r.LossScale, want)
			}
		})
	}
}

// TestLossScaleSkipsAndGrows starts f16 training at the largest loss scale,
// 2²⁴, which makes the backward pass overflow float16 (the gradient of the
// loss with respect to each output, about 2·0.5/128, times 2²⁴ is far above
// 65504). Each step is checked against the rule, with the state read
// before and after it: a skipped step has a non-finite gradient norm,
// leaves every weight, Adam moment and moving average bit-identical, halves
// the scale, zeroes the clean-step count and adds one to the skipped
// steps; a clean step changes the weights and either adds one to the
// clean-step count or, at LossScaleInterval (3 here), doubles the scale and
// zeroes it. The first update after the initial skips is Adam's first
// (bias correction for n = 0: every weight moves by lr·g/(|g|+ε) ≈ lr) and
// sets every moving average to the weights (d = 0): skipped steps do not
// count as updates.
func TestLossScaleSkipsAndGrows(t *testing.T) {
	const lr, interval, steps = 1e-2, 3, 30
	tr := tinyTrainer(t, TrainConfig{LearningRate: lr, EMADecay: 0.9, EMADecays: []float64{0.5}, Precision: PrecisionF16,
		LossScaleInit: MaxLossScale, LossScaleInterval: interval, Seed: 8})
	data := toyBatches{}
	before := snapshot(t, tr) // the preloaded weights only
	scale, clean, skipped := float64(MaxLossScale), int64(0), int64(0)
	updates, skips, grows, midSkips := 0, 0, 0, 0
	for step := range steps {
		x, c, _ := data.Batch(int64(step), 64)
		r, err := tr.TrainStep(x, c)
		if err != nil {
			t.Fatal(err)
		}
		after := snapshot(t, tr)
		if r.LossScale != scale {
			t.Fatalf("step %d: loss scale %g reported, the state held %g", step+1, r.LossScale, scale)
		}
		finite := !math.IsInf(r.GradNorm, 0) && !math.IsNaN(r.GradNorm)
		if r.Skipped == finite {
			t.Fatalf("step %d: skipped %v with gradient norm %v", step+1, r.Skipped, r.GradNorm)
		}
		if step == 0 && !r.Skipped {
			t.Fatalf("the first step at loss scale 2²⁴ was not skipped")
		}
		if r.Skipped {
			skips++
			if updates > 0 {
				midSkips++
			}
			for path, v := range after {
				if strings.HasPrefix(path, "/train/") {
					continue
				}
				old, ok := before[path]
				if !ok {
					// Created by the first step: moments and averages start at zero.
					if v.DType() != dtypes.Float32 {
						continue
					}
					for _, f := range float32s(t, v) {
						if f != 0 {
							t.Fatalf("step %d (skipped): new variable %s is not zero", step+1, path)
						}
					}
					continue
				}
				if !strings.Contains(path, model.RNGStateVariableName) && !v.Equal(old) {
					t.Fatalf("step %d (skipped): %s changed", step+1, path)
				}
			}
			scale, clean, skipped = scale/2, 0, skipped+1
		} else {
			wOld, wNew := float32s(t, before["/model/in/weights"]), float32s(t, after["/model/in/weights"])
			if updates == 0 {
				for i := range wNew {
					if d := math.Abs(float64(wNew[i] - wOld[i])); math.Abs(d-lr) > 1e-3*lr {
						t.Fatalf("first update moved weight %d by %g, want lr = %g (Adam's bias correction for its first update)", i, d, lr)
					}
				}
				for _, sc := range []string{"/ema", "/ema-0.5"} {
					if !after[sc+"/model/in/weights"].Equal(after["/model/in/weights"]) {
						t.Errorf("after the first update %s is not the weights", sc)
					}
				}
			}
			updates++
			if clean+1 == interval {
				scale, clean = scale*2, 0
				grows++
			} else {
				clean++
			}
		}
		gotScale := float64(after[lossScalePath].Value().(float32))
		gotClean, gotSkipped := after[cleanStepsPath].Value().(int64), after[skippedPath].Value().(int64)
		if gotScale != scale || gotClean != clean || gotSkipped != skipped || after[stepPath].Value().(int64) != int64(step+1) {
			t.Fatalf("step %d: state scale %g clean %d skipped %d step %v, want %g %d %d %d", step+1,
				gotScale, gotClean, gotSkipped, after[stepPath].Value(), scale, clean, skipped, step+1)
		}
		before = after
	}
	t.Logf("%d steps: %d skipped (%d after training started), %d clean, %d growths; final scale %g", steps, skips, midSkips, updates, grows, scale)
	if grows == 0 || midSkips == 0 || updates < steps/2 {
		t.Errorf("the run did not exercise the rule: %d growths, %d skips after the first update, %d updates", grows, midSkips, updates)
	}
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, k, ok := LossScaleOf(ck); !ok || s != scale || k != skipped {
		t.Errorf("LossScaleOf = %g, %d, %v; want %g, %d, true", s, k, ok, scale, skipped)
	}
	bf := tinyTrainer(t, TrainConfig{LearningRate: lr, Precision: PrecisionBF16, Seed: 8})
	if ck, err = bf.Checkpoint(nil); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := LossScaleOf(ck); ok {
		t.Errorf("LossScaleOf of a bf16 checkpoint: ok")
	}
}

// TestPrecisionResumeIsExact: 20 steps, a checkpoint on disk, and 20 more
// in a new trainer equal 40 uninterrupted steps bit for bit — losses,
// weights, moments, moving averages (extra ones included), loss scale and
// counters — for f16 (with skips and growths of the scale on the way) and
// bf16.
func TestPrecisionResumeIsExact(t *testing.T) {
	for _, prec := range []string{PrecisionF16, PrecisionBF16} {
		t.Run(prec, func(t *testing.T) {
			const k = 20
			cfg := TrainConfig{LearningRate: 1e-2, EMADecay: 0.99, EMADecays: []float64{0.9, 0.999}, Precision: prec, Seed: 9}
			if prec == PrecisionF16 {
				cfg.LossScaleInit, cfg.LossScaleInterval = MaxLossScale, 4
			}
			data := toyBatches{}
			full := tinyTrainer(t, cfg)
			var skips int
			if err := full.Run(data, RunOptions{Steps: 2 * k, BatchSize: 32, OnStep: func(_ int64, r StepResult) {
				if r.Skipped {
					skips++
				}
			}}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "model.ckpt")
			first := tinyTrainer(t, cfg)
			if err := first.Run(data, RunOptions{Steps: k, BatchSize: 32, CheckpointPath: path}); err != nil {
				t.Fatal(err)
			}
			ck, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			var midScale float64 // the loss scale in the checkpoint
			if v, ok := ck.Variables[lossScalePath]; ok {
				midScale = float64(v.Value().(float32))
			}
			p := mustProcess(t, mustSchedule(t, "linear", 100))
			second, err := NewTrainer(tb(), p, tinyDenoiser(false), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := second.Restore(ck); err != nil {
				t.Fatal(err)
			}
			if err := second.Run(data, RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
				t.Fatal(err)
			}
			requireSameRun(t, full, second, 2*k)
			ca, _ := full.Checkpoint(nil)
			for _, name := range []string{"/ema-0.9/model/in/weights", "/ema-0.999/model/out/biases"} {
				if _, ok := ca.Variables[name]; !ok {
					t.Errorf("%s missing", name)
				}
			}
			if prec == PrecisionF16 {
				end := float64(ca.Variables[lossScalePath].Value().(float32))
				if midScale == 0 || midScale == end || skips == 0 {
					t.Errorf("the scale did not move between the checkpoint (%g) and the end (%g), or no step was skipped (%d)", midScale, end, skips)
				}
				t.Logf("loss scale %g at step %d, %g at step %d; %d steps skipped", midScale, k, end, 2*k, skips)
			}
		})
	}
}

// TestPrecisionFusedSoftmax: a denoiser with a softmax trains in bf16 and
// f16 (the trainer builds half-precision graphs with GoMLX's fused ops
// off), and GOMLX_FUSION is left as it was. On the pure-Go backend it
// also shows why: the same half-precision softmax, built with fusion on,
// fails when it runs.
func TestPrecisionFusedSoftmax(t *testing.T) {
	old, had := os.LookupEnv(FusionEnv)
	for _, prec := range []string{PrecisionBF16, PrecisionF16} {
		p := mustProcess(t, mustSchedule(t, "linear", 100))
		tr, err := NewTrainer(tb(), p, tinyDenoiser(true), TrainConfig{Precision: prec})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(toyBatches{}, RunOptions{Steps: 3, BatchSize: 16}); err != nil {
			t.Errorf("%s: %v", prec, err)
		}
		if now, has := os.LookupEnv(FusionEnv); now != old || has != had {
			t.Errorf("%s: %s is %q (set %v) after training, was %q (set %v)", prec, FusionEnv, now, has, old, had)
		}
	}
	if tb().String() != "go" || (had && old == "0") { // String is the backend's registered name
		return
	}
	e, err := NewExec(tb(), func(x *Node) *Node {
		return ConvertDType(Softmax(ConvertDType(x, dtypes.Float16), -1), dtypes.Float32)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	if _, err := e.Call(tensors.FromValue([][]float32{{1, 2, 3}})); err == nil {
		t.Logf("the backend now runs a float16 fused softmax: withoutFusion may no longer be needed")
	} else if !strings.Contains(err.Error(), "FusedSoftmax") {
		t.Errorf("float16 softmax with fusion on: %v", err)
	} else {
		t.Logf("as expected, with fusion on: %v", err)
	}
}

// TestPrecisionRefused: configuration errors name the problem and the
// allowed values; a trainer with its own loss refuses mixed precision; a
// denoiser that ignores its input's dtype, or keeps half-precision
// variables, is refused at the first step.
func TestPrecisionRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  TrainConfig
		want string
	}{
		{TrainConfig{Precision: "fp16"}, `unknown precision "fp16" (want "f32" or empty for float32, "bf16" or "f16")`},
		{TrainConfig{Precision: "bf16", LossScaleInit: 1024}, `applies only to precision "f16"`},
		{TrainConfig{LossScaleInterval: 10}, `applies only to precision "f16"`},
		{TrainConfig{Precision: "f16", LossScaleInit: 1 << 30}, "initial loss scale must be in (0, 16777216]"},
		{TrainConfig{Precision: "f16", LossScaleInit: math.NaN()}, "initial loss scale"},
		{TrainConfig{Precision: "f16", LossScaleInterval: -1}, "growth interval must be ≥ 1"},
		{TrainConfig{EMADecays: []float64{0.9, 1}}, "each extra EMA decay must be in (0, 1), got 1"},
		{TrainConfig{EMADecays: []float64{0}}, "in (0, 1), got 0"},
		{TrainConfig{EMADecays: []float64{math.NaN()}}, "in (0, 1)"},
		{TrainConfig{EMADecays: []float64{0.9, 0.99, 0.9}}, "0.9 is listed twice"},
		{TrainConfig{EMADecay: 0.999, EMADecays: []float64{0.999}}, "0.999 is EMADecay itself"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	for _, ok := range []TrainConfig{{Precision: "f32"}, {Precision: "bf16"}, {Precision: "f16", LossScaleInit: 8, LossScaleInterval: 5},
		{EMADecay: 0.99, EMADecays: []float64{0.9, 0.999}}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v refused: %v", ok, err)
		}
	}
	loss := func(scope *model.Scope, x0 *Node, _ cond.Nodes) *Node {
		return ReduceMean(Reshape(x0, x0.Shape().Dimensions[0], -1), 1)
	}
	if _, err := NewTrainerWithLoss(tb(), loss, TrainConfig{Precision: "bf16"}); err == nil || !strings.Contains(err.Error(), "supported only by NewTrainer") {
		t.Errorf("NewTrainerWithLoss with bf16: %v", err)
	}
	if _, err := NewTrainerWithLoss(tb(), loss, TrainConfig{Precision: "f32"}); err != nil {
		t.Errorf("NewTrainerWithLoss with f32: %v", err)
	}

	p := mustProcess(t, mustSchedule(t, "linear", 50))
	x, c, _ := toyBatches{}.Batch(0, 4)
	tr, err := NewTrainer(tb(), p, constDenoiser(2), TrainConfig{Precision: "bf16"}) // its output is float32 whatever x_t is
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(x, c); err == nil || !strings.Contains(err.Error(), "returned Float32 for a BFloat16 input") {
		t.Errorf("denoiser ignoring the precision: %v", err)
	}
	halfVars := Denoiser{Prediction: PredictX0, Fn: func(scope *model.Scope, xt, _ *Node, _ cond.Nodes) *Node {
		w := scope.VariableWithShape("w", shapes.Make(xt.DType(), 2)).NodeValue(xt.Graph())
		return Add(xt, ExpandAxes(w, 0))
	}}
	tr, err = NewTrainer(tb(), p, halfVars, TrainConfig{Precision: "f16"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.TrainStep(x, c); err == nil || !strings.Contains(err.Error(), "/model/w is Float16") {
		t.Errorf("half-precision variables: %v", err)
	}
}

// TestPrecisionConditionInputs: with mixed precision the denoiser gets its
// floating-point condition inputs (cond.Context) in the half dtype, like
// x_t, and its integer ones (cond.Class) unchanged.
func TestPrecisionConditionInputs(t *testing.T) {
	const b = 8
	for _, prec := range []string{"", PrecisionBF16, PrecisionF16} {
		var got []string
		den := Denoiser{Prediction: PredictEpsilon, Fn: func(scope *model.Scope, xt, tt *Node, c cond.Nodes) *Node {
			ctx, cls := c.Get(cond.Context), c.Get(cond.Class)
			got = append(got, xt.DType().String(), ctx.DType().String(), cls.DType().String())
			// x_t plus a learned function of the context's mean and the label.
			m := ReduceMean(ctx, 1, 2)
			f := Concatenate([]*Node{xt, ExpandAxes(m, -1), ExpandAxes(ConvertDType(cls, xt.DType()), -1)}, -1)
			return castDense(scope.In("d"), f, 2)
		}}
		p := mustProcess(t, mustSchedule(t, "linear", 20))
		tr, err := NewTrainer(tb(), p, den, TrainConfig{Precision: prec})
		if err != nil {
			t.Fatal(err)
		}
		x, _, _ := toyBatches{}.Batch(0, b)
		ctx := make([]float32, b*3*4)
		for i := range ctx {
			ctx[i] = float32(i%7) / 7
		}
		c := cond.Condition{Inputs: map[string]*tensors.Tensor{
			cond.Context: tensors.FromFlatDataAndDimensions(ctx, b, 3, 4),
			cond.Class:   tensors.FromValue(make([]int32, b)),
		}}
		if _, err := tr.TrainStep(x, c); err != nil {
			t.Fatalf("precision %q: %v", prec, err)
		}
		half := map[string]string{"": "Float32", PrecisionBF16: "BFloat16", PrecisionF16: "Float16"}[prec]
		if want := []string{half, half, "Int32"}; !slices.Equal(got, want) {
			t.Errorf("precision %q: the denoiser got x_t, context, class as %v, want %v", prec, got, want)
		}
	}
}

// TestLossScaleGivesUp: gradients that are NaN whatever the scale (here
// d√u/du at u = 0, times 0) skip every step, and once halving the scale
// would take it below MinLossScale training stops with ErrNonFinite.
func TestLossScaleGivesUp(t *testing.T) {
	den := Denoiser{Prediction: PredictEpsilon, Fn: func(scope *model.Scope, xt, tt *Node, _ cond.Nodes) *Node {
		out := castDense(scope.In("d"), xt, 2)
		u := ConvertDType(scope.VariableWithValue("u", float32(0)).NodeValue(xt.Graph()), xt.DType())
		return Add(out, Sqrt(MulScalar(u, 0))) // forward: + 0; backward: ∞·0
	}}
	p := mustProcess(t, mustSchedule(t, "linear", 20))
	tr, err := NewTrainer(tb(), p, den, TrainConfig{Precision: PrecisionF16, LossScaleInit: 2 * MinLossScale})
	if err != nil {
		t.Fatal(err)
	}
	data := toyBatches{}
	x, c, _ := data.Batch(0, 8)
	r, err := tr.TrainStep(x, c)
	if err != nil || !r.Skipped || r.LossScale != 2*MinLossScale {
		t.Fatalf("step 1: %+v, %v; want skipped at scale 2·MinLossScale, no error", r, err)
	}
	x, c, _ = data.Batch(1, 8)
	r, err = tr.TrainStep(x, c)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "overflow even at loss scale") || !r.Skipped {
		t.Errorf("step 2 at scale %g: %+v, error %v; want ErrNonFinite", r.LossScale, r, err)
	}
}
