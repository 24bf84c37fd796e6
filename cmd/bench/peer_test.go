package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/unet"
)

func TestParsePeer(t *testing.T) {
	good := `{"measurement": "info", "torch": "1.13.0a0", "threads": 2, "params": 174082, "blas": "OpenBLAS", "conv": "oneDNN (mkldnn)", "malloc": "keep"}
{"measurement": "train_step", "median_ms": 5.5, "min_ms": 5, "max_ms": 7, "first_ms": 30, "runs": 50}
{"measurement": "sample_step", "median_ms": 6.5, "min_ms": 6, "max_ms": 9, "first_ms": 20, "runs": 50}
{"measurement": "peak_rss", "mib": 265}
`
	r, err := parsePeer([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.torchVersion != "1.13.0a0" || r.threads != 2 || r.params != 174082 || r.blas != "OpenBLAS" || r.conv != "oneDNN (mkldnn)" ||
		r.train.Median != 5.5 || r.train.Min != 5 || r.train.Max != 7 || r.train.First != 30 || r.train.Runs != 50 ||
		r.sample.Median != 6.5 || r.peakRSSMiB != 265 {
		t.Errorf("parsePeer read %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(good), "\n")
	for i := range lines {
		missing := strings.Join(append(append([]string{}, lines[:i]...), lines[i+1:]...), "\n")
		if _, err := parsePeer([]byte(missing)); err == nil {
			t.Errorf("parsePeer accepted output without line %d", i+1)
		}
	}
	if _, err := parsePeer([]byte("not json\n")); err == nil {
		t.Error("parsePeer accepted a line that is not JSON")
	}
}

// TestPeerMatchesGoModel gives the PyTorch peer the weights of a Go MLP and
// the same inputs, and compares ε̂, the per-example L_simple of the training
// step (diffusion.Process.Losses) and one DDPM step (diffusion.DDPM.Step,
// with its Gaussian draw z reproduced from the same random state). The two
// are separate implementations (GoMLX graph against PyTorch modules), so
// agreement to float32 rounding shows that the benchmark compares the same
// computation.
func TestPeerMatchesGoModel(t *testing.T) {
	p := peerOrSkip(t)
	b := backend.MustShared()
	sc, err := schedules.New("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := diffusion.NewProcess(sc)
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	r := rand.New(rand.NewPCG(3, 4))
	ts := []int32{0, 1, 2, 499, 998, 999}
	for len(ts) < n {
		ts = append(ts, int32(r.IntN(1000)))
	}
	normal := func(scale float64) []float32 {
		v := make([]float32, 2*n)
		for i := range v {
			v[i] = float32(scale * r.NormFloat64())
		}
		return v
	}
	x, x0, noise := normal(1), normal(2), normal(1)

	type weight struct {
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	}
	type goOut struct{ eps, next, loss []float32 }
	acts := []string{"relu", "silu"}
	var cases []map[string]any
	var want []goOut
	for _, act := range acts {
		den := diffusion.Denoiser{Fn: unet.MLP(unet.MLPConfig{Activation: act}), Prediction: diffusion.PredictEpsilon}
		sampler := diffusion.DDPM{Variance: diffusion.FixedSmall}
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(7))
		// Three graphs on one store: the first creates the weights, the others reuse them.
		call := func(fn func(ms *model.Scope, in []*Node) []*Node, args ...any) []*tensors.Tensor {
			t.Helper()
			ex, err := model.NewExec(b, store, func(scope *model.Scope, in []*Node) []*Node {
				return fn(scope.In(diffusion.ModelScope), in)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Finalize()
			outs, err := ex.Call(args...)
			if err != nil {
				t.Fatalf("%s: %v", act, err)
			}
			return outs
		}
		xT, tT := tensors.FromFlatDataAndDimensions(x, n, 2), tensors.FromValue(ts)
		eps := call(func(ms *model.Scope, in []*Node) []*Node {
			return []*Node{proc.Predict(ms, den, in[0], in[1], cond.Nodes{})}
		}, xT, tT)[0]
		z := normal(1)
		next := ddpmStepPerExample(t, proc, sampler, x, tensors.MustCopyFlatData[float32](eps), z, ts)
		loss := call(func(ms *model.Scope, in []*Node) []*Node {
			return []*Node{proc.Losses(ms, den, in[0], in[1], in[2], cond.Nodes{}, diffusion.LossConfig{}).Loss}
		}, tensors.FromFlatDataAndDimensions(x0, n, 2), tT, tensors.FromFlatDataAndDimensions(noise, n, 2))[0]

		weights := map[string]weight{}
		for v := range store.IterVariables() {
			if !strings.HasPrefix(v.Path(), "/"+diffusion.ModelScope+"/") {
				continue
			}
			val, err := v.Value()
			if err != nil {
				t.Fatal(err)
			}
			weights[v.Path()] = weight{Shape: v.Shape().Dimensions, Data: tensors.MustCopyFlatData[float32](val)}
		}
		cases = append(cases, map[string]any{"activation": act, "weights": weights, "x": x, "t": ts,
			"z": z, "x0": x0, "noise": noise})
		want = append(want, goOut{tensors.MustCopyFlatData[float32](eps), next, tensors.MustCopyFlatData[float32](loss)})
	}
	py := checkForward(t, p, map[string]any{"cases": cases}, len(acts))
	for i, act := range acts {
		compare(t, act+" ε̂", want[i].eps, py[i].Eps)
		compare(t, act+" DDPM step", want[i].next, py[i].Next)
		compare(t, act+" L_simple", want[i].loss, py[i].Loss)
	}
}

// ddpmStepPerExample is the Go side's DDPM step for examples at different
// steps: for example e (D = len(x)/len(ts) values), s.Step from the level of
// step ts[e] to the one before (the data after step 0), with the model's ε̂
// and the draws z.
func ddpmStepPerExample(t *testing.T, p *diffusion.Process, s diffusion.DDPM, x, eps, z []float32, ts []int32) []float32 {
	t.Helper()
	d := len(x) / len(ts)
	f64 := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, a := range v {
			out[i] = float64(a)
		}
		return out
	}
	next := make([]float32, 0, len(x))
	for e, i := range ts {
		from, to := p.At(p.Time(int(i))), diffusion.DataLevel
		if i > 0 {
			to = p.At(p.Time(int(i) - 1))
		}
		xe := f64(x[e*d : (e+1)*d])
		out, err := diffusion.ConvertOutput(diffusion.PredictEpsilon, xe, f64(eps[e*d:(e+1)*d]), from)
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := s.Step(from, to, xe, out, f64(z[e*d:(e+1)*d]))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range v {
			next = append(next, float32(a))
		}
	}
	return next
}

// compare checks |go − py| ≤ 1e-5 (1 + |py|) elementwise. Both sides are
// float32 with O(1) values passing through 11 layers of 128-term sums, whose
// rounding differences stay below 1e-6 (measured: 3e-7); a different layer, activation or
// coefficient changes values by far more (σ_t z alone is ≥ 7e-3).
func compare(t *testing.T, what string, goV []float32, py []float64) {
	t.Helper()
	if len(goV) != len(py) {
		t.Fatalf("%s: Go has %d values, PyTorch %d", what, len(goV), len(py))
	}
	worst := 0.0
	for i := range goV {
		d := math.Abs(float64(goV[i])-py[i]) / (1 + math.Abs(py[i]))
		worst = max(worst, d)
		if d > 1e-5 {
			t.Errorf("%s[%d]: Go %v, PyTorch %v", what, i, goV[i], py[i])
			return
		}
	}
	t.Logf("%s: largest relative difference %.2g", what, worst)
}

// peerCase is what a peer's --check-forward answers for one case: ε̂, the
// next sample of a DDPM step and the per-example loss.
type peerCase struct {
	Eps  []float64 `json:"eps"`
	Next []float64 `json:"next"`
	Loss []float64 `json:"loss"`
}

// checkForward writes input as JSON, runs the peer's --check-forward on it
// (with extra arguments) and returns its answers, which must number n.
func checkForward(t *testing.T, p *peerRunner, input any, n int, extra ...string) []peerCase {
	t.Helper()
	blob, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "check.json")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := p.exec(append([]string{"--check-forward", path}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	var py struct {
		Cases []peerCase `json:"cases"`
	}
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if len(py.Cases) != n {
		t.Fatalf("PyTorch answered %d cases, want %d", len(py.Cases), n)
	}
	return py.Cases
}
