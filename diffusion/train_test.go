package diffusion

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/unet"
)

// constDenoiser predicts x₀ = w for every input: with LossSimple its loss is
// mean((x₀ − w)²), whatever t and the noise, so Adam can be replayed exactly.
func constDenoiser(d int) Denoiser {
	return Denoiser{Prediction: PredictX0, Fn: func(scope *model.Scope, xt, _ *Node, _ cond.Nodes) *Node {
		w := scope.VariableWithValue("w", make([]float32, d)).NodeValue(xt.Graph())
		return BroadcastToShape(ExpandAxes(w, 0), xt.Shape())
	}}
}

// TestAdamAgainstFloat64 replays training of constDenoiser in float64: Adam
// with bias correction, warm-up, gradient clipping, AdamW decay and the EMA.
func TestAdamAgainstFloat64(t *testing.T) {
	const B, D, steps = 4, 3, 12
	x0 := []float32{1, -2, 0.5, 3, 0, -1, 2, 2, 2, -0.5, 1, 4}
	cfg := TrainConfig{LearningRate: 0.05, WarmupSteps: 5, WeightDecay: 0.1, GradClipNorm: 0.8, EMADecay: 0.9, Seed: 1}
	p := mustProcess(t, mustSchedule(t, "linear", 50))
	tr, err := NewTrainer(tb(), p, constDenoiser(D), cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch := tensors.FromFlatDataAndDimensions(x0, B, D)
	// float64 replay
	w, m, v, ema := make([]float64, D), make([]float64, D), make([]float64, D), make([]float64, D)
	for n := range steps {
		res, err := tr.TrainStep(batch, cond.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		g := make([]float64, D)
		var loss, norm float64
		for b := range B {
			for d := range D {
				diff := float64(x0[b*D+d]) - w[d]
				loss += diff * diff / (B * D)
				g[d] += -2 * diff / (B * D)
			}
		}
		for _, gd := range g {
			norm += gd * gd
		}
		norm = math.Sqrt(norm)
		if !close(res.Loss, loss, 1e-5) || !close(res.GradNorm, norm, 1e-5) {
			t.Fatalf("step %d: loss %g grad-norm %g, want %g %g", n+1, res.Loss, res.GradNorm, loss, norm)
		}
		scale := math.Min(1, cfg.GradClipNorm/(norm+1e-6))
		lr := cfg.LearningRate * math.Min(1, float64(n+1)/float64(cfg.WarmupSteps))
		decay := EMADecayAt(cfg.EMADecay, int64(n))
		for d := range D {
			gd := g[d] * scale
			m[d] = 0.9*m[d] + 0.1*gd
			v[d] = 0.999*v[d] + 0.001*gd*gd
			mh := m[d] / (1 - math.Pow(0.9, float64(n+1)))
			vh := v[d] / (1 - math.Pow(0.999, float64(n+1)))
			w[d] -= lr*mh/(math.Sqrt(vh)+1e-8) + lr*cfg.WeightDecay*w[d]
			ema[d] = decay*ema[d] + (1-decay)*w[d]
		}
	}
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	gotW := tensors.MustCopyFlatData[float32](ck.Variables["/model/w"])
	gotE := tensors.MustCopyFlatData[float32](ck.Variables["/ema/model/w"])
	for d := range D {
		if !close(float64(gotW[d]), w[d], 1e-5) || !close(float64(gotE[d]), ema[d], 1e-5) {
			t.Errorf("w[%d] = %g (EMA %g), float64 replay %g (EMA %g)", d, gotW[d], gotE[d], w[d], ema[d])
		}
	}
	if ck.Step != steps {
		t.Errorf("checkpoint step %d, want %d", ck.Step, steps)
	}
}

// toyBatches draws N(0.5, 0.3²) 2-D batches as a function of the step.
type toyBatches struct{ nanAt int64 }

func (d toyBatches) Batch(step int64, b int) (*tensors.Tensor, cond.Condition, error) {
	r := rand.New(rand.NewPCG(99, uint64(step)))
	x := make([]float32, b*2)
	for i := range x {
		x[i] = float32(0.5 + 0.3*r.NormFloat64())
	}
	if d.nanAt > 0 && step+1 == d.nanAt {
		x[0] = float32(math.NaN())
	}
	return tensors.FromFlatDataAndDimensions(x, b, 2), cond.Condition{}, nil
}

func smallMLPTrainer(t *testing.T, sampler string) *Trainer {
	t.Helper()
	p := mustProcess(t, mustSchedule(t, "linear", 100))
	den := Denoiser{Fn: unet.MLP(unet.MLPConfig{Hidden: 16, Blocks: 1, TimeDim: 8}), Prediction: PredictEpsilon}
	tr, err := NewTrainer(tb(), p, den, TrainConfig{LearningRate: 1e-2, EMADecay: 0.99, GradClipNorm: 1,
		TimestepSampler: sampler, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestResumeIsExact checks that training 2k steps equals training k steps,
// writing and reading a checkpoint, and training k more in a new trainer:
// same losses bit for bit and same final weights, EMA and optimizer state.
func TestResumeIsExact(t *testing.T) {
	for _, sampler := range []string{"uniform", "loss-aware"} {
		t.Run(sampler, func(t *testing.T) {
			const k = 15
			data := toyBatches{}
			full := smallMLPTrainer(t, sampler)
			if sampler == "loss-aware" { // make the loss-aware sampler leave its uniform warm-up early
				full.sampler.(*LossAwareSampler).History = 1
			}
			if err := full.Run(data, RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "model.ckpt")
			first := smallMLPTrainer(t, sampler)
			if sampler == "loss-aware" {
				first.sampler.(*LossAwareSampler).History = 1
			}
			if err := first.Run(data, RunOptions{Steps: k, BatchSize: 32, CheckpointPath: path}); err != nil {
				t.Fatal(err)
			}
			ck, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			second := smallMLPTrainer(t, sampler)
			if sampler == "loss-aware" {
				second.sampler.(*LossAwareSampler).History = 1
			}
			if err := second.Restore(ck); err != nil {
				t.Fatal(err)
			}
			if err := second.Run(data, RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
				t.Fatal(err)
			}
			requireSameRun(t, full, second, 2*k)
		})
	}
}

// TestCorruptCheckpointRefused damages a checkpoint in several ways; each
// must be refused with ErrCorruptCheckpoint, never loaded.
func TestCorruptCheckpointRefused(t *testing.T) {
	tr := smallMLPTrainer(t, "uniform")
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	if err := tr.Run(toyBatches{}, RunOptions{Steps: 2, BatchSize: 8, CheckpointPath: path}); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCheckpoint(path); err != nil {
		t.Fatalf("good checkpoint refused: %v", err)
	}
	damage := map[string][]byte{
		"flipped byte": func() []byte { b := append([]byte(nil), good...); b[len(b)/2] ^= 0x40; return b }(),
		"truncated":    good[:len(good)-100],
		"empty":        {},
		"not ours":     []byte("hello, this is not a checkpoint at all, but long enough to be read ........"),
	}
	for name, content := range damage {
		bad := filepath.Join(dir, "bad.ckpt")
		if err := os.WriteFile(bad, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCheckpoint(bad); !errors.Is(err, ErrCorruptCheckpoint) {
			t.Errorf("%s: ReadCheckpoint error %v, want ErrCorruptCheckpoint", name, err)
		}
	}
	if _, err := ReadCheckpoint(filepath.Join(dir, "missing.ckpt")); err == nil || errors.Is(err, ErrCorruptCheckpoint) {
		t.Errorf("missing file: error %v, want a not-found error", err)
	}
}

// TestNonFiniteLossStops feeds a NaN at step 4: training must stop with
// ErrNonFinite and the checkpoint on disk must still be the one of step 3.
func TestNonFiniteLossStops(t *testing.T) {
	tr := smallMLPTrainer(t, "uniform")
	path := filepath.Join(t.TempDir(), "model.ckpt")
	err := tr.Run(toyBatches{nanAt: 4}, RunOptions{Steps: 10, BatchSize: 8, CheckpointPath: path, CheckpointEvery: 1})
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("Run error %v, want ErrNonFinite", err)
	}
	ck, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatalf("last good checkpoint unreadable: %v", err)
	}
	if ck.Step != 3 {
		t.Errorf("checkpoint on disk is at step %d, want 3 (the last good one)", ck.Step)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d files, want only model.ckpt (no temporary leftovers)", len(entries))
	}
}

// TestLossAwareSampler checks p_t ∝ √E[L_t²] mixed with the uniform share,
// the importance weights 1/(T p_t), the draw frequencies, and the state round trip.
func TestLossAwareSampler(t *testing.T) {
	s := NewLossAwareSampler(4)
	s.History = 2
	rng := rand.New(rand.NewPCG(1, 2))
	if p := s.Probabilities(); p[0] != 0.25 {
		t.Fatalf("cold sampler must be uniform, got %v", p)
	}
	s.Update([]int32{0, 0, 1, 1, 2, 2, 3, 3}, []float64{1, 1, 2, 2, 3, 4, 0, 0})
	rms := []float64{1, 2, math.Sqrt(12.5), 0}
	var sum float64
	for _, v := range rms {
		sum += v
	}
	p := s.Probabilities()
	for i := range p {
		want := rms[i]/sum*(1-s.Uniform) + s.Uniform/4
		if !close(p[i], want, 1e-12) {
			t.Errorf("p[%d] = %g, want %g", i, p[i], want)
		}
	}
	const n = 200000
	ts, ws := s.Sample(rng, n)
	counts := make([]float64, 4)
	for i, k := range ts {
		counts[k]++
		if !close(float64(ws[i]), 1/(4*p[k]), 1e-6) {
			t.Fatalf("weight of t=%d is %g, want %g", k, ws[i], 1/(4*p[k]))
		}
	}
	for i := range counts {
		se := math.Sqrt(p[i] * (1 - p[i]) / n)
		if math.Abs(counts[i]/n-p[i]) > 4*se+1e-12 {
			t.Errorf("t=%d drawn with frequency %.4f, want %.4f ± %.4f", i, counts[i]/n, p[i], 4*se)
		}
	}
	st, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	s2 := NewLossAwareSampler(4)
	s2.History = 2
	if err := s2.SetState(st); err != nil {
		t.Fatal(err)
	}
	if q := s2.Probabilities(); !close(q[2], p[2], 1e-15) {
		t.Errorf("restored sampler gives p = %v, want %v", q, p)
	}
	if err := NewLossAwareSampler(5).SetState(st); err == nil {
		t.Errorf("a state for T=4 was accepted by a sampler with T=5")
	}
}

func TestForSampling(t *testing.T) {
	tr := smallMLPTrainer(t, "uniform")
	if err := tr.Run(toyBatches{}, RunOptions{Steps: 3, BatchSize: 8}); err != nil {
		t.Fatal(err)
	}
	ck, _ := tr.Checkpoint([]byte(`{"a":1}`))
	s, err := ForSampling(ck, true)
	if err != nil {
		t.Fatal(err)
	}
	for path, v := range s.Variables {
		if !strings.HasPrefix(path, "/model/") {
			t.Errorf("sampling checkpoint keeps %s", path)
		}
		if !v.Equal(ck.Variables["/ema"+path]) {
			t.Errorf("%s is not the EMA weight", path)
		}
	}
	if len(s.Variables) == 0 || string(s.Config) != `{"a":1}` || s.Step != 3 {
		t.Errorf("sampling checkpoint: %d variables, config %s, step %d", len(s.Variables), s.Config, s.Step)
	}
	// It samples like the EMA weights of the full checkpoint.
	a, _ := SamplingStore(ck, true)
	b, _ := SamplingStore(s, true)
	if a.NumVariables() != b.NumVariables() {
		t.Errorf("%d vs %d variables", a.NumVariables(), b.NumVariables())
	}
}

func TestCheckpointFileMode(t *testing.T) {
	tr := smallMLPTrainer(t, "uniform")
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := tr.Run(toyBatches{}, RunOptions{Steps: 1, BatchSize: 4, CheckpointPath: path}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("checkpoint mode %v, want -rw-r--r--", st.Mode().Perm())
	}
	ck, _ := ReadCheckpoint(path)
	s, _ := ForSampling(ck, true)
	if !s.WeightsAreEMA {
		t.Errorf("a sampling checkpoint made from EMA weights must say so")
	}
}

// TestTrainerTerms checks the reported terms of NewTrainerWithTerms: each
// step's Terms are the batch means of the terms (here x₀'s mean and mean
// square, computed independently from the batch), they are not optimised
// (the weight w only enters the loss), TermHistory keeps them step by step,
// and a loss function whose terms do not match the names is an error.
func TestTrainerTerms(t *testing.T) {
	fn := func(scope *model.Scope, x0 *Node, _ cond.Nodes) (*Node, []*Node) {
		w := scope.VariableWithValue("w", float32(1)).NodeValue(x0.Graph())
		flat := Reshape(x0, x0.Shape().Dimensions[0], -1)
		loss := Square(Sub(ReduceMean(flat, 1), w))
		return loss, []*Node{ReduceMean(flat, 1), ReduceMean(Square(flat), 1)}
	}
	tr, err := NewTrainerWithTerms(tb(), fn, []string{"mean", "square"}, TrainConfig{LearningRate: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	data := toyBatches{}
	for step := range 3 {
		x, c, _ := data.Batch(int64(step), 16)
		r, err := tr.TrainStep(x, c)
		if err != nil {
			t.Fatal(err)
		}
		v := tensors.MustCopyFlatData[float32](x)
		per := len(v) / 16
		var mean, sq float64
		for i := range 16 {
			var m, s float64
			for _, p := range v[i*per : (i+1)*per] {
				m += float64(p)
				s += float64(p) * float64(p)
			}
			mean += m / float64(per) / 16
			sq += s / float64(per) / 16
		}
		if len(r.Terms) != 2 || math.Abs(r.Terms[0]-mean) > 1e-5 || math.Abs(r.Terms[1]-sq) > 1e-5 {
			t.Errorf("step %d: terms %v, want [%v %v]", step+1, r.Terms, mean, sq)
		}
	}
	if h := tr.TermHistory(); len(h) != 2 || len(h[0]) != 3 || len(h[1]) != 3 {
		t.Errorf("term history %v, want 2 terms × 3 steps", h)
	}
	bad, err := NewTrainerWithTerms(tb(), fn, []string{"mean"}, TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	x, c, _ := data.Batch(0, 16)
	if _, err := bad.TrainStep(x, c); err == nil || !strings.Contains(err.Error(), "2 terms for the 1 names") {
		t.Errorf("mismatched term names: %v", err)
	}
}

// TestFrozenScope: a frozen scope's preloaded weights stay as they were and
// get no optimiser state or moving average, the rest trains, the gradient
// still flows through the frozen part, and a frozen scope left empty is
// refused.
func TestFrozenScope(t *testing.T) {
	// loss = (mean(x₀)·a − w)², a frozen (preloaded 2), w trained.
	fn := func(scope *model.Scope, x0 *Node, _ cond.Nodes) *Node {
		g := x0.Graph()
		a := scope.In("encoder").VariableWithValue("a", float32(5)).NodeValue(g)
		w := scope.In("head").VariableWithValue("w", float32(0)).NodeValue(g)
		m := ReduceMean(Reshape(x0, x0.Shape().Dimensions[0], -1), 1)
		return Square(Sub(Mul(m, a), w))
	}
	cfg := TrainConfig{LearningRate: 0.1, EMADecay: 0.9, Frozen: []string{"encoder"}}
	tr, err := NewTrainerWithLoss(tb(), fn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Preload(map[string]*tensors.Tensor{"/model/encoder/a": tensors.FromValue(float32(2))}); err != nil {
		t.Fatal(err)
	}
	data := toyBatches{}
	for step := range 5 {
		x, c, _ := data.Batch(int64(step), 8)
		if _, err := tr.TrainStep(x, c); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := ck.Variables["/model/encoder/a"].Value().(float32); a != 2 {
		t.Errorf("frozen weight changed: %v, want the preloaded 2", a)
	}
	if w := ck.Variables["/model/head/w"].Value().(float32); w == 0 {
		t.Errorf("the trained weight did not move")
	}
	for path := range ck.Variables {
		if strings.Contains(path, "encoder") && path != "/model/encoder/a" {
			t.Errorf("frozen scope has training state %s", path)
		}
	}
	if err := tr.Preload(nil); err == nil {
		t.Errorf("Preload after training started was accepted")
	}

	empty, err := NewTrainerWithLoss(tb(), fn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, c, _ := data.Batch(0, 8)
	if _, err := empty.TrainStep(x, c); err == nil || !strings.Contains(err.Error(), `frozen scope "encoder" has no weights`) {
		t.Errorf("frozen scope without weights: %v", err)
	}
	if err := (TrainConfig{Frozen: []string{"/model/encoder"}}).Validate(); err == nil {
		t.Errorf("a frozen scope given as an absolute path was accepted")
	}
	if err := tr.Preload(map[string]*tensors.Tensor{"/ema/x": tensors.FromValue(float32(1))}); err == nil {
		t.Errorf("Preload outside the model scope was accepted")
	}
}

func TestHasModelWeights(t *testing.T) {
	store := model.NewStore()
	if _, err := store.CreateVariable("/"+ModelScope+"/encoder/dense/w", tensors.FromValue([]float32{1})); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateVariable("/other/decoder/w", tensors.FromValue([]float32{1})); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		scope string
		want  bool
	}{
		{"encoder", true},
		{"decoder", false}, // only outside ModelScope
		{"enc", false},     // a prefix of a scope's name is not the scope
		{"encoder/dense", true},
	} {
		if got := HasModelWeights(store, c.scope); got != c.want {
			t.Errorf("HasModelWeights(%q) = %v, want %v", c.scope, got, c.want)
		}
	}
}

// TestEMADecayAt checks the warm-up against values worked by hand: 0 at
// the first update, (1+n)/(10+n) while it is below d, d after.
func TestEMADecayAt(t *testing.T) {
	for _, c := range []struct {
		d    float64
		n    int64
		want float64
	}{
		{0.999, 0, 0},
		{0.999, 1, 2.0 / 11},
		{0.999, 90, 91.0 / 100},
		{0.999, 1000, 1001.0 / 1010},
		{0.999, 8990, 0.999}, // (1+n)/(10+n) = 8991/9000 = 0.999 exactly
		{0.99, 891, 0.99},    // 892/901 > 0.99
		{0.99, 889, 890.0 / 899},
		{0.9999, 100000, 0.9999},
	} {
		if got := EMADecayAt(c.d, c.n); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("EMADecayAt(%g, %d) = %.17g, want %.17g", c.d, c.n, got, c.want)
		}
	}
}
