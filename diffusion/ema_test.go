package diffusion

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// modelWeights copies the float32 weights under /model/ of tr's store.
func modelWeights(t *testing.T, tr *Trainer) map[string][]float32 {
	t.Helper()
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for path, v := range ck.Variables {
		if strings.HasPrefix(path, "/"+ModelScope+"/") {
			out[path] = tensors.MustCopyFlatData[float32](v)
		}
	}
	return out
}

// emaReplay recomputes in float64 the moving average of decay D of the
// weights recorded after each update (ws[k] after update k+1), starting
// from e (nil: the first update sets it to the weights): at update n
// (counting from 0) d = min(D, (1+n)/(10+n)), and 0 for n = 0.
func emaReplay(ws [][]float32, e []float64, first int, D float64) []float64 {
	for k, w := range ws {
		n := first + k
		d := math.Min(D, float64(1+n)/float64(10+n))
		if n == 0 {
			d = 0
		}
		if e == nil {
			e = make([]float64, len(w))
		}
		for i := range w {
			e[i] = d*e[i] + (1-d)*float64(w[i])
		}
	}
	return e
}

// checkAverage compares the average got (float32, from the store) with the
// float64 replay want over steps updates: each update of the average rounds
// three times in float32 (difference, product, sum), so the error is at
// most 3·steps·2⁻²⁴ times the largest weight.
func checkAverage(t *testing.T, name string, got []float32, want []float64, steps int, scale float64) {
	t.Helper()
	tol := 3 * float64(steps) * 0x1p-24 * scale
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol {
			t.Errorf("%s[%d] = %.9g, float64 replay %.9g (difference %.3g > %.3g)", name, i, got[i], want[i], d, tol)
		}
	}
}

func maxAbs(ws [][]float32) float64 {
	var m float64
	for _, w := range ws {
		for _, v := range w {
			m = math.Max(m, math.Abs(float64(v)))
		}
	}
	return m
}

// TestExtraEMAs: the main and the extra moving averages equal a float64
// recomputation from the weights recorded after every step (decays chosen
// so that both the warm-up (1+n)/(10+n) and the decay cap bind within 15
// steps); the checkpoint lists the extra decays, SamplingStoreExtraEMA
// returns each average's weights (and refuses a decay it does not hold),
// and SamplingStore still returns the main one; all of it survives a
// checkpoint file.
func TestExtraEMAs(t *testing.T) {
	const steps = 15
	decays := []float64{0.99, 0.5} // listed unsorted on purpose
	tr := tinyTrainer(t, TrainConfig{LearningRate: 2e-2, EMADecay: 0.9, EMADecays: decays, Seed: 2})
	hist := map[string][][]float32{}
	data := toyBatches{}
	for step := range steps {
		x, c, _ := data.Batch(int64(step), 32)
		if _, err := tr.TrainStep(x, c); err != nil {
			t.Fatal(err)
		}
		for path, w := range modelWeights(t, tr) {
			hist[path] = append(hist[path], w)
		}
	}
	path := filepath.Join(t.TempDir(), "m.ckpt")
	mem, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCheckpoint(path, mem); err != nil {
		t.Fatal(err)
	}
	ck, err := ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := ExtraEMADecays(ck); !slices.Equal(got, []float64{0.5, 0.99}) {
		t.Errorf("ExtraEMADecays = %v, want [0.5 0.99]", got)
	}
	if len(hist) != 4 {
		t.Fatalf("%d model variables, want 4", len(hist))
	}
	for wpath, ws := range hist {
		for _, av := range []struct {
			scope string
			decay float64
		}{{"/ema", 0.9}, {"/ema-0.5", 0.5}, {"/ema-0.99", 0.99}} {
			v, ok := ck.Variables[av.scope+wpath]
			if !ok {
				t.Fatalf("checkpoint has no %s", av.scope+wpath)
			}
			checkAverage(t, av.scope+wpath, tensors.MustCopyFlatData[float32](v), emaReplay(ws, nil, 0, av.decay), steps, maxAbs(ws))
		}
	}
	for _, d := range []float64{0.5, 0.99} {
		s, err := SamplingStoreExtraEMA(ck, d)
		if err != nil {
			t.Fatal(err)
		}
		if s.NumVariables() != 4 {
			t.Errorf("decay %g: sampling store has %d variables, want the 4 weights", d, s.NumVariables())
		}
		for v := range s.IterVariables() {
			val, _ := v.Value()
			want := ck.Variables[extraEMAScope(d)+v.Path()]
			if want == nil || !val.Equal(want) {
				t.Errorf("decay %g: %s is not the average's weight", d, v.Path())
			}
		}
	}
	main, err := SamplingStore(ck, true)
	if err != nil {
		t.Fatal(err)
	}
	for v := range main.IterVariables() {
		val, _ := v.Value()
		if !val.Equal(ck.Variables["/ema"+v.Path()]) {
			t.Errorf("SamplingStore(useEMA) %s is not the main EMA", v.Path())
		}
	}
	if _, err := SamplingStoreExtraEMA(ck, 0.9); err == nil || !strings.Contains(err.Error(), "decays [0.5 0.99], not 0.9") {
		t.Errorf("asking for a decay the checkpoint lacks: %v", err)
	}
	if !HasEMA(ck) {
		t.Errorf("HasEMA is false")
	}
}

// TestExtraEMAAddedOnResume: a checkpoint without extra averages (as every
// checkpoint written before they existed) lists none and refuses
// SamplingStoreExtraEMA; resumed by a trainer with EMADecays, it trains,
// and each new average starts at the weights of the checkpoint: after k
// more updates it equals the float64 replay started from them at update
// n = 5 (not one pulled towards zero).
func TestExtraEMAAddedOnResume(t *testing.T) {
	const first, more = 5, 4
	old := tinyTrainer(t, TrainConfig{LearningRate: 2e-2, EMADecay: 0.9, Seed: 2})
	data := toyBatches{}
	if err := old.Run(data, RunOptions{Steps: first, BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	ck, err := old.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := ExtraEMADecays(ck); d != nil {
		t.Errorf("ExtraEMADecays of a checkpoint without extras = %v", d)
	}
	if _, err := SamplingStoreExtraEMA(ck, 0.99); err == nil || !strings.Contains(err.Error(), "holds no extra moving average") {
		t.Errorf("SamplingStoreExtraEMA without extras: %v", err)
	}
	start := modelWeights(t, old)
	p := mustProcess(t, mustSchedule(t, "linear", 100))
	tr2, err := NewTrainer(tb(), p, tinyDenoiser(false), TrainConfig{LearningRate: 2e-2, EMADecay: 0.9, EMADecays: []float64{0.3}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.Restore(ck); err != nil {
		t.Fatal(err)
	}
	hist := map[string][][]float32{}
	for step := first; step < first+more; step++ {
		x, c, _ := data.Batch(int64(step), 32)
		if _, err := tr2.TrainStep(x, c); err != nil {
			t.Fatal(err)
		}
		for path, w := range modelWeights(t, tr2) {
			hist[path] = append(hist[path], w)
		}
	}
	out, _ := tr2.Checkpoint(nil)
	if d := ExtraEMADecays(out); !slices.Equal(d, []float64{0.3}) {
		t.Errorf("ExtraEMADecays after resuming = %v, want [0.3]", d)
	}
	for wpath, ws := range hist {
		e0 := make([]float64, len(start[wpath]))
		for i, v := range start[wpath] {
			e0[i] = float64(v)
		}
		v := out.Variables["/ema-0.3"+wpath]
		if v == nil {
			t.Fatalf("no /ema-0.3%s", wpath)
		}
		checkAverage(t, "/ema-0.3"+wpath, tensors.MustCopyFlatData[float32](v), emaReplay(ws, e0, first, 0.3), more, maxAbs(ws))
	}
}
