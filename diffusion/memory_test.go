package diffusion

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // the package's graph DSL
	"github.com/gomlx/gomlx/ml/model"
)

// TestGraphPeakBytes checks the liveness count on a graph whose peak is
// worked out by hand (1,000 float32 values = 4,000 bytes a tensor):
//
//	0 p  = parameter                 alive 0–3 (last use: y)
//	1 big = p·p                      alive 1–5 (through its reshape v)
//	2 v  = reshape(big)              a view: counts nothing
//	3 y  = p + p                     alive 3–5 (through its reshape)
//	4 w  = reshape(y)
//	5 out = v·w                      made at 5, no consumer
//
// At node 3, p, big and y are alive (12,000 bytes); at 5, big, y and out
// (12,000); at 4 only big and y. Were a reshape's uses not counted as uses
// of its input, big would die at 2 and the peak would read 8,000.
func TestGraphPeakBytes(t *testing.T) {
	g := NewGraph(tb(), "peak")
	p := Parameter(g, "p", shapes.Make(dtypes.Float32, 1000))
	big := Mul(p, p)
	v := Reshape(big, 10, 100)
	y := Add(p, p)
	w := Reshape(y, 10, 100)
	out := Mul(v, w)
	if n := len(g.Nodes()); n != 6 {
		t.Fatalf("the graph has %d nodes, want the 6 of the comment", n)
	}
	if got := GraphPeakBytes(g); got != 12000 {
		t.Errorf("peak %g bytes, want 12000", got)
	}
	_ = out

	// A reshape is a view, not a copy: here big is used directly and
	// through its view v at the end,
	//
	//	0 p, 1 big = p·p, 2 v = reshape(big), 3 y = p + p, 4 out = big·y,
	//	5 r = reshape(out), 6 fin = r + v,
	//
	// so big lives 1–6, out 4–6, y 3–4, p 0–3: the peak is 12,000 bytes
	// (at 3: p, big, y; at 4: big, y, out). Counting v as a tensor of its own
	// would add 4,000 bytes from 2 to 6 (16,000).
	g2 := NewGraph(tb(), "views")
	p2 := Parameter(g2, "p", shapes.Make(dtypes.Float32, 1000))
	big2 := Mul(p2, p2)
	v2 := Reshape(big2, 10, 100)
	y2 := Add(p2, p2)
	out2 := Mul(big2, y2)
	_ = Add(Reshape(out2, 10, 100), v2)
	if n := len(g2.Nodes()); n != 7 {
		t.Fatalf("the second graph has %d nodes, want 7", n)
	}
	if got := GraphPeakBytes(g2); got != 12000 {
		t.Errorf("views: peak %g bytes, want 12000", got)
	}
}

// TestStepMemory checks the training step's estimate: it grows linearly
// with the batch once the batch dominates (the graph is the same, its
// batch-sized tensors scale), it is at least the batch-sized tensors one
// hidden layer must hold, and calling it before training changes nothing
// that training computes (checkpoints equal bit for bit).
func TestStepMemory(t *testing.T) {
	data := toyBatches{}
	tr := smallMLPTrainer(t, "uniform")
	est := func(b int) float64 {
		v, err := tr.StepMemory(data, b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	e1, e2, e3 := est(1<<20), est(2<<20), est(3<<20)
	if d1, d2 := e2-e1, e3-e2; math.Abs(d1-d2) > 1e-9*d1 || d1 <= 0 {
		t.Errorf("per-2^20-examples increments %g and %g, want equal and > 0", d1, d2)
	}
	// Hidden width 16, float32: the activations of one hidden layer alone.
	if floor := float64(1<<20) * 16 * 4; e1 < floor {
		t.Errorf("estimate %g bytes at 2^20 examples, below one hidden layer's %g", e1, floor)
	}
	for _, b := range []int{0, MaxBatch + 1} {
		if _, err := tr.StepMemory(data, b); err == nil || !strings.Contains(err.Error(), "want 1 to") {
			t.Errorf("batch %d: error %v, want a refusal", b, err)
		}
	}

	dir := t.TempDir()
	run := func(tr *Trainer, name string) *Checkpoint {
		path := filepath.Join(dir, name)
		if err := tr.Run(data, RunOptions{Steps: 6, BatchSize: 32, CheckpointPath: path}); err != nil {
			t.Fatal(err)
		}
		c, err := ReadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	withEstimate := run(tr, "estimated.ckpt")
	without := run(smallMLPTrainer(t, "uniform"), "plain.ckpt")
	sameCheckpoints(t, "trained after StepMemory vs without", withEstimate, without)
}

// TestSampleMemory checks the sampling estimate: the host arrays (3 copies
// of n examples in float64) are its floor, it grows with the batch, and a
// store without the model's weights is refused as Run refuses it.
func TestSampleMemory(t *testing.T) {
	tr := smallMLPTrainer(t, "uniform")
	if err := tr.Run(toyBatches{}, RunOptions{Steps: 1, BatchSize: 8}); err != nil {
		t.Fatal(err)
	}
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := SamplingStore(ck, true)
	if err != nil {
		t.Fatal(err)
	}
	m := tr.Process.Model(tr.Denoiser)
	const n = 1 << 20
	est := func(batch int) float64 {
		v, err := SampleMemory(tb(), store, m, DDIM{Steps: 5}, n, []int{2}, SampleOptions{BatchSize: batch})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	all, part := est(0), est(n/4)
	if host := 3.0 * 8 * n * 2; part < host {
		t.Errorf("estimate %g bytes, below the host arrays' %g", part, host)
	}
	if !(all > part) {
		t.Errorf("one batch of %d: %g bytes, batches of %d: %g; want more for the larger batch", n, all, n/4, part)
	}
	_, err = SampleMemory(tb(), model.NewStore(), m, DDIM{Steps: 5}, 16, []int{2}, SampleOptions{})
	if err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("empty store: error %v, want one saying it lacks the model's variables", err)
	}
	if _, err := SampleMemory(tb(), store, m, DDIM{Steps: 5}, MaxBatch+1, []int{2}, SampleOptions{}); err == nil {
		t.Error("more than MaxBatch examples: no error")
	}
}
