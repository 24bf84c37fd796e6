package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
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

// TestUNetPeerParamCount compares the parameters of the PyTorch UNet
// (counted by PyTorch over the modules it built) with
// unet.UNetConfig.NumParams (a closed formula over the configuration) for
// the named configurations and for others that exercise what they leave
// out: attention at a resolution, several heads, two levels, three
// ResBlocks, no middle attention, other group counts and embedding widths,
// and image sizes (7, 5) that the levels do not divide, whose attention
// resolutions count at the padded sides.
// The peer receives the Go configurations as Go's JSON.
func TestUNetPeerParamCount(t *testing.T) {
	p := peerOrSkipFor(t, unetPeerScript)
	type namedCfg struct {
		arg string // what the peer gets
		cfg unet.UNetConfig
	}
	var cases []namedCfg
	for _, name := range unet.UNetConfigNames() {
		c, err := unet.UNetConfigByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.ContextDim > 0 {
			continue // cross-attention to a text ("latent-text") is not mirrored by the peer
		}
		cases = append(cases, namedCfg{name, c})
	}
	for _, c := range []unet.UNetConfig{
		{BaseChannels: 16, ChannelMults: []int{1, 2}, AttentionResolutions: []int{14}, Heads: 2, NumResBlocks: 3},
		{BaseChannels: 8, ChannelMults: []int{1, 2, 3}, NoMiddleAttention: true, GroupNormGroups: 4, TimeEmbedDim: 20},
		{ImageSize: 16, InChannels: 3, BaseChannels: 16, ChannelMults: []int{1, 1, 2}, AttentionResolutions: []int{8, 4}},
		// Sizes that the levels do not divide: run at the padded side (8),
		// so attention at 8 is built and attention at 7 (no level) is not.
		{ImageSize: 7, InChannels: 4, BaseChannels: 16, ChannelMults: []int{1, 2}, AttentionResolutions: []int{8, 7}, Heads: 2},
		{ImageSize: 5, InChannels: 2, BaseChannels: 8, ChannelMults: []int{1, 2, 2}, AttentionResolutions: []int{2, 5},
			GroupNormGroups: 4, NoMiddleAttention: true},
	} {
		blob, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, namedCfg{string(blob), c})
	}
	args := []string{"--count-params"}
	for _, c := range cases {
		args = append(args, "--config", c.arg)
	}
	out, err := p.exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d lines for %d models:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		var got struct {
			Params int `json:"params"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("%s: %v: %q", c.arg, err, lines[i])
		}
		if want := c.cfg.NumParams(); got.Params != want {
			t.Errorf("%s: the PyTorch UNet has %d parameters, unet.UNetConfig.NumParams says %d", c.arg, got.Params, want)
		}
	}
}

// goWeight is a Go variable as the peer's --check-forward reads it: the
// shape and the little-endian float32 bytes (base64 in JSON).
type goWeight struct {
	Shape []int  `json:"shape"`
	Data  []byte `json:"data"`
}

func newGoWeight(shape []int, v []float32) goWeight {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return goWeight{Shape: shape, Data: b}
}

func (w goWeight) values() []float32 {
	v := make([]float32, len(w.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(w.Data[4*i:]))
	}
	return v
}

// permuteAxis returns w with the indices of axis permuted: the result at
// index j along axis is w's at perm[j].
func permuteAxis(w goWeight, axis int, perm []int) goWeight {
	v := w.values()
	out := make([]float32, len(v))
	inner := 1
	for _, d := range w.Shape[axis+1:] {
		inner *= d
	}
	n := w.Shape[axis]
	outer := len(v) / (n * inner)
	for o := range outer {
		for j := range n {
			copy(out[(o*n+j)*inner:(o*n+j+1)*inner], v[(o*n+perm[j])*inner:(o*n+perm[j]+1)*inner])
		}
	}
	return newGoWeight(w.Shape, out)
}

// swapBlocks is the permutation of n indices that exchanges the blocks
// [a·m, (a+1)·m) and [b·m, (b+1)·m) of m = n/parts indices.
func swapBlocks(n, parts, a, b int) []int {
	m := n / parts
	perm := make([]int, n)
	for j := range perm {
		perm[j] = j
	}
	for k := range m {
		perm[a*m+k], perm[b*m+k] = b*m+k, a*m+k
	}
	return perm
}

// TestUNetPeerMatchesGoModel gives the PyTorch peer the weights of a
// randomly initialised Go UNet and the same inputs, and compares ε̂, one
// DDPM step (β̃ variance, x̂₀ clipped, its Gaussian draw z reproduced from
// the same random state) and the per-example L_simple of the training step,
// for the reference UNet, the "latent" one (7×7×4: both sides pad it to
// 8×8 and crop ε̂ back to 7×7) and a 5×5×2 one padded to 8×8 with attention
// at the padded sides 8 and 2. The two are separate implementations (a GoMLX
// graph of channels-first padshift convolutions and one-pass GroupNorm,
// against PyTorch's modules and kernels), so agreement to float32 rounding
// shows that the benchmark compares the same network; with the padded
// sizes, that both pad at the bottom and right, run every level at the
// padded sides and crop the same pixels.
//
// That the comparison can fail is checked with mutants: weights permuted so
// that the correct PyTorch network computes exactly what a wrong one would
// compute with the original weights — cosines before sines, the skip
// concatenated before h, k read before q, 3×3 kernels read transposed.
// Each must miss the Go output by far more than the tolerance.
func TestUNetPeerMatchesGoModel(t *testing.T) {
	p := peerOrSkipFor(t, unetPeerScript)
	if testing.Short() {
		t.Skip("compiles the UNets three times each (seconds); skipped with -short")
	}
	for _, tc := range []struct {
		name string
		cfg  unet.UNetConfig // zero: UNetConfigByName(name)
	}{
		{name: "reference"},
		{name: "latent"},
		{name: "5x5x2-padded", cfg: unet.UNetConfig{ImageSize: 5, InChannels: 2, BaseChannels: 8, ChannelMults: []int{1, 2, 2},
			NumResBlocks: 1, AttentionResolutions: []int{8, 2}, Heads: 2, GroupNormGroups: 4, TimeEmbedDim: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.ImageSize == 0 {
				var err error
				if cfg, err = unet.UNetConfigByName(tc.name); err != nil {
					t.Fatal(err)
				}
			}
			checkUNetAgainstPeer(t, p, cfg)
		})
	}
}

// checkUNetAgainstPeer is TestUNetPeerMatchesGoModel for one configuration
// (without class conditioning or learned variance, and with equal widths
// of h and the skip at every up level, which the skip mutant assumes).
func checkUNetAgainstPeer(t *testing.T, p *peerRunner, cfg unet.UNetConfig) {
	b := backend.MustShared()
	cfg = cfg.WithDefaults()
	sc, err := schedules.New("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := diffusion.NewProcess(sc)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	side, ch := cfg.ImageSize, cfg.InChannels
	t.Logf("%d×%d×%d images, levels from %d×%d, %d parameters", side, side, ch, cfg.PaddedSize(), cfg.PaddedSize(), cfg.NumParams())
	ts := []int32{0, 1, 37, 500, 998, 999}
	r := rand.New(rand.NewPCG(5, 6))
	images := func(uniform bool) []float32 {
		v := make([]float32, n*side*side*ch)
		for i := range v {
			if uniform {
				v[i] = 2*r.Float32() - 1
			} else {
				v[i] = float32(r.NormFloat64())
			}
		}
		return v
	}
	x, x0, noise := images(false), images(true), images(false)

	den := diffusion.Denoiser{Fn: unet.UNet(cfg), Prediction: diffusion.PredictEpsilon}
	sampler := diffusion.DDPM{Variance: diffusion.FixedSmall, ClipX0: true}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(9))
	ex, err := model.NewExec(b, store, func(scope *model.Scope, in []*Node) []*Node {
		ms := scope.In(diffusion.ModelScope)
		xN, tN, x0N, noiseN := in[0], in[1], in[2], in[3]
		eps := proc.Predict(ms, den, xN, tN, cond.Nodes{})
		loss := proc.Losses(ms.ResetVisited(), den, x0N, tN, noiseN, cond.Nodes{}, diffusion.LossConfig{}).Loss
		return []*Node{eps, loss}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	img := func(v []float32) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(v, n, side, side, ch) }
	outs, err := ex.Call(img(x), tensors.FromValue(ts), img(x0), img(noise))
	if err != nil {
		t.Fatal(err)
	}
	goEps, goLoss := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	if len(goEps) != len(x) {
		t.Fatalf("the Go UNet returned %d values of ε̂ for %d inputs", len(goEps), len(x))
	}
	z := images(false)
	goNext := ddpmStepPerExample(t, proc, sampler, x, goEps, z, ts)

	weights := map[string]goWeight{}
	params := 0
	for v := range store.IterVariables() {
		if !strings.HasPrefix(v.Path(), "/"+diffusion.ModelScope+"/") {
			continue
		}
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		weights[v.Path()] = newGoWeight(v.Shape().Dimensions, tensors.MustCopyFlatData[float32](val))
		params += v.Shape().Size()
	}
	if want := cfg.NumParams(); params != want {
		t.Fatalf("the Go graph has %d parameters, NumParams says %d", params, want)
	}

	// The mutants, as overrides of the weights.
	const m = "/" + diffusion.ModelScope + "/"
	w := func(path string) goWeight {
		t.Helper()
		v, ok := weights[m+path]
		if !ok {
			t.Fatalf("no Go variable %s", m+path)
		}
		return v
	}
	type mutant struct {
		name    string
		weights map[string]goWeight
	}
	mutants := []mutant{
		{"cosines before sines", map[string]goWeight{
			m + "time_1/weights": permuteAxis(w("time_1/weights"), 0, swapBlocks(cfg.TimeEmbedDim, 2, 0, 1)),
		}},
		{"skip concatenated before h", func() map[string]goWeight {
			o := map[string]goWeight{}
			for i := range cfg.ChannelMults {
				s := "up_" + strconv.Itoa(i) + "/res_0/"
				cin := w(s + "norm_1/scale").Shape[0]
				perm := swapBlocks(cin, 2, 0, 1) // h and the skip have equal widths here
				o[m+s+"norm_1/scale"] = permuteAxis(w(s+"norm_1/scale"), 0, perm)
				o[m+s+"norm_1/offset"] = permuteAxis(w(s+"norm_1/offset"), 0, perm)
				o[m+s+"conv_1/weights"] = permuteAxis(w(s+"conv_1/weights"), 2, perm)
				o[m+s+"skip/weights"] = permuteAxis(w(s+"skip/weights"), 2, perm)
			}
			return o
		}()},
	}
	if !cfg.NoMiddleAttention {
		qkv := w("middle/attn/qkv/weights").Shape[3]
		mutants = append(mutants, mutant{"k before q", map[string]goWeight{
			m + "middle/attn/qkv/weights": permuteAxis(w("middle/attn/qkv/weights"), 3, swapBlocks(qkv, 3, 0, 1)),
			m + "middle/attn/qkv/biases":  permuteAxis(w("middle/attn/qkv/biases"), 0, swapBlocks(qkv, 3, 0, 1)),
		}})
	}
	mutants = append(mutants, mutant{"3×3 kernels transposed", func() map[string]goWeight {
		o := map[string]goWeight{}
		for path, v := range weights {
			if strings.HasSuffix(path, "/weights") && len(v.Shape) == 4 && v.Shape[0] == 3 {
				// [dy, dx, …] → [dx, dy, …]: view [3, 3·rest] and permute the 9 taps.
				perm := []int{0, 3, 6, 1, 4, 7, 2, 5, 8}
				flat := goWeight{Shape: append([]int{9}, v.Shape[2:]...), Data: v.Data}
				o[path] = goWeight{Shape: v.Shape, Data: permuteAxis(flat, 0, perm).Data}
			}
		}
		return o
	}()})
	cases := []map[string]any{{"weights": map[string]goWeight{}}}
	for _, mu := range mutants {
		cases = append(cases, map[string]any{"weights": mu.weights})
	}
	// One thread: OpenMP's busy-waiting threads crawl on a loaded machine,
	// and the result does not depend on the count.
	py := checkForward(t, p, map[string]any{
		"config": cfg, "weights": weights, "cases": cases,
		"x": x, "t": ts, "z": z, "x0": x0, "noise": noise,
	}, len(cases), "--threads", "1")
	got := py[0]
	for _, c := range []struct {
		what  string
		goV   []float32
		torch []float64
	}{{"ε̂", goEps, got.Eps}, {"DDPM step", goNext, got.Next}, {"L_simple", goLoss, got.Loss}} {
		d, i := maxRelDiff(t, c.what, c.goV, c.torch)
		if d > unetTol {
			t.Errorf("%s: Go and PyTorch differ by %.2g (relative) at %d: Go %v, PyTorch %v", c.what, d, i, c.goV[i], c.torch[i])
		} else {
			t.Logf("%s: largest relative difference %.2g", c.what, d)
		}
	}
	for k, mu := range mutants {
		d, _ := maxRelDiff(t, mu.name, goEps, py[k+1].Eps)
		if d < 100*unetTol {
			t.Errorf("mutant %q: ε̂ within %.2g of Go's; the comparison would not catch that mistake", mu.name, d)
		} else {
			t.Logf("mutant %q: ε̂ off by up to %.2g", mu.name, d)
		}
	}
}

// unetTol bounds |Go − PyTorch|/(1 + |PyTorch|) for the reference UNet.
// Both sides compute in float32 through about 30 layers whose sums have up
// to 9·128 terms, in different orders (padshift products against oneDNN's
// kernels, one-pass against two-pass GroupNorm variances), so their
// rounding differs by some 1e-6; a wrong layer, order or coefficient
// changes ε̂ by 1e-2 or more (the mutants).
const unetTol = 2e-5

// maxRelDiff returns the largest |go − py|/(1 + |py|) and where it is.
func maxRelDiff(t *testing.T, what string, goV []float32, py []float64) (float64, int) {
	t.Helper()
	if len(goV) != len(py) {
		t.Fatalf("%s: Go has %d values, PyTorch %d", what, len(goV), len(py))
	}
	worst, at := 0.0, 0
	for i := range goV {
		d := math.Abs(float64(goV[i])-py[i]) / (1 + math.Abs(py[i]))
		if d > worst || d != d {
			worst, at = d, i
			if d != d {
				return math.Inf(1), i
			}
		}
	}
	return worst, at
}

// TestGoSideTableUNet runs the UNet's Go side quickly (the small UNet, small
// batches, one timed run, no peer) and checks its rows.
func TestGoSideTableUNet(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a UNet training step (seconds); skipped with -short")
	}
	var out, errb bytes.Buffer
	args := []string{"--model", "unet", "--unet-config", "small", "--unet-batch", "8", "--unet-samples", "2",
		"--runs", "1", "--warmup", "0", "--no-peer"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	s := out.String()
	small, err := unet.UNetConfigByName("small")
	if err != nil {
		t.Fatal(err)
	}
	if p := tableRow(t, s, "unet", "parameters"); p[1] != thousands(small.NumParams()) {
		t.Errorf("parameters %q, want %s", p[1], thousands(small.NumParams()))
	}
	for _, name := range []string{"train step, batch 8", "DDPM sample step, 2 images"} {
		r := tableRow(t, s, "unet", name)
		med, lo, hi := parseTiming(t, r[1])
		if !(lo > 0 && lo == med && med == hi) {
			t.Errorf("%s: one run, want min = median = max > 0, got %q", name, r[1])
		}
		if r[2] != "—" {
			t.Errorf("%s: PyTorch cell %q without a peer, want —", name, r[2])
		}
	}
	for _, name := range []string{"first train step", "first sample step", "peak RSS (MiB)"} {
		r := tableRow(t, s, "unet", name)
		if v, err := strconv.ParseFloat(r[1], 64); err != nil || v <= 0 {
			t.Errorf("%s: Go cell %q, want a positive number", name, r[1])
		}
	}
	if strings.Contains(s, "| relu:") {
		t.Errorf("--model unet measured the MLP too:\n%s", s)
	}
	if !strings.Contains(s, "- Go UNet: ") {
		t.Errorf("no line on the Go UNet's convolutions and streams:\n%s", s)
	}
}
