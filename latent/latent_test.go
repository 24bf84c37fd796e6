package latent

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// tiny is an autoencoder small enough to train in a test: 8×8×1 → 4×4×2.
var tiny = Config{ImageSize: 8, InChannels: 1, LatentChannels: 2, BaseChannels: 8, ChannelMults: []int{1, 2}, GroupNormGroups: 4}

func TestConfigDims(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      Config
		latent []int
	}{
		{"default MNIST", Config{}, []int{7, 7, 4}},
		{"emoji 64 → 16", Config{ImageSize: 64, InChannels: 3}, []int{16, 16, 4}},
		{"tiny", tiny, []int{4, 4, 2}},
		{"one level", Config{ChannelMults: []int{1}, LatentChannels: 3}, []int{28, 28, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tc.c.LatentDims(); !equalInts(got, tc.latent) {
				t.Errorf("LatentDims = %v, want %v", got, tc.latent)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{ImageSize: 30}, "not divisible by 4"},
		{Config{ImageSize: -1}, "ImageSize"},
		{Config{KLWeight: -1}, "KLWeight"},
		{Config{BaseChannels: 12}, "GroupNormGroups 8 does not divide the width 12"},
		{Config{ChannelMults: []int{1, 0}}, "ChannelMults[1]"},
		{Config{LatentChannels: -2}, "LatentChannels"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.c, err, tc.want)
		}
	}
	if c := (Config{Plain: true, KLWeight: 0.1}).WithDefaults(); c.KLWeight != 0 {
		t.Errorf("a plain autoencoder keeps KL weight %g, want 0", c.KLWeight)
	}
}

// TestKL checks KL(N(μ, σ²) ‖ N(0, 1)) against its textbook form
// log(1/σ) + (σ² + μ²)/2 − ½ per element (float64), and against a Monte
// Carlo estimate of E_q[log q(z) − log p(z)] whose tolerance is four
// standard errors.
func TestKL(t *testing.T) {
	mus := []float64{0, 0.5, -1.2, 2, 0.1, -0.3}
	logVars := []float64{0, -1, 0.7, -3, 1.5, -0.2}
	b := backend.MustShared()
	got := MustExecOnce(b, func(mu, lv *Node) *Node { return KL(mu, lv) },
		tensors.FromFlatDataAndDimensions(toF32(mus), 2, 3), tensors.FromFlatDataAndDimensions(toF32(logVars), 2, 3))
	kl := tensors.MustCopyFlatData[float32](got)
	rng := rand.New(rand.NewPCG(1, 2))
	for ex := range 2 {
		var want, mc, mc2 float64
		const n = 200000
		for j := 3 * ex; j < 3*ex+3; j++ {
			s := math.Exp(logVars[j] / 2)
			want += math.Log(1/s) + (s*s+mus[j]*mus[j])/2 - 0.5
		}
		for range n {
			var v float64
			for j := 3 * ex; j < 3*ex+3; j++ {
				s := math.Exp(logVars[j] / 2)
				e := rng.NormFloat64()
				z := mus[j] + s*e
				v += (-math.Log(s) - e*e/2) - (-z * z / 2) // log q − log p, the 2π terms cancel
			}
			mc += v
			mc2 += v * v
		}
		mc /= n
		se := math.Sqrt((mc2/n - mc*mc) / n)
		if d := math.Abs(float64(kl[ex]) - want); d > 1e-5*math.Max(1, want) {
			t.Errorf("example %d: KL %v, closed form %v", ex, kl[ex], want)
		}
		if d := math.Abs(want - mc); d > 4*se {
			t.Errorf("example %d: closed form %v, Monte Carlo %v ± %v", ex, want, mc, se)
		}
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestShapes builds the encoder and decoder of each kind and checks the
// shapes of μ, log σ² and x̂.
func TestShapes(t *testing.T) {
	b := backend.MustShared()
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"kl", tiny},
		{"plain", func() Config { c := tiny; c.Plain = true; return c }()},
		{"colour", Config{ImageSize: 8, InChannels: 3, LatentChannels: 4, BaseChannels: 8, ChannelMults: []int{1, 2, 2}, GroupNormGroups: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c.WithDefaults()
			store := model.NewStore()
			exec, err := model.NewExec(b, store, func(scope *model.Scope, x *Node) []*Node {
				mu, lv := c.Encoder(scope.In("encoder"), x)
				out := []*Node{mu, c.Decoder(scope.In("decoder"), mu)}
				if lv != nil {
					out = append(out, lv)
				}
				return out
			})
			if err != nil {
				t.Fatal(err)
			}
			x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{3}, c.ImageDims()...)...))
			outs, err := exec.Call(x)
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]int{3}, c.LatentDims()...); !equalInts(outs[0].Shape().Dimensions, want) {
				t.Errorf("μ shape %v, want %v", outs[0].Shape().Dimensions, want)
			}
			if want := append([]int{3}, c.ImageDims()...); !equalInts(outs[1].Shape().Dimensions, want) {
				t.Errorf("x̂ shape %v, want %v", outs[1].Shape().Dimensions, want)
			}
			if c.Plain != (len(outs) == 2) {
				t.Errorf("plain %v but the encoder returned log σ²: %v", c.Plain, len(outs) == 3)
			}
		})
	}
}

func TestMeasureScale(t *testing.T) {
	for _, tc := range []struct {
		v    []float32
		want float64
	}{
		{[]float32{1, -1, 1, -1}, 1},
		{[]float32{3, 5}, 1},                      // mean 4, std 1
		{[]float32{0, 0, 0, 4}, 1 / math.Sqrt(3)}, // mean 1, variance (1+1+1+9)/4 = 3
		{[]float32{-0.5, 0.5}, 2},
	} {
		got, err := MeasureScale(tc.v)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("MeasureScale(%v) = %v, %v; want %v", tc.v, got, err, tc.want)
		}
	}
	for _, bad := range [][]float32{nil, {1}, {2, 2, 2}, {float32(math.NaN()), 1}} {
		if _, err := MeasureScale(bad); err == nil {
			t.Errorf("MeasureScale(%v) accepted", bad)
		}
	}
}

func TestCheckPair(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ae.ckpt")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256("abc"), the FIPS 180-2 example.
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; sum != want {
		t.Fatalf("FileSHA256 = %s, want %s", sum, want)
	}
	if err := CheckPair(path, sum); err != nil {
		t.Fatalf("the same file refused: %v", err)
	}
	if err := os.WriteFile(path, []byte("autoencoder B"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = CheckPair(path, sum)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("a different file accepted or wrong error: %v", err)
	}
	other, _ := FileSHA256(path)
	for _, part := range []string{sum, other, path} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("the error %q does not name %s", err, part)
		}
	}
	if err := CheckPair(filepath.Join(dir, "missing.ckpt"), sum); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// patterns are 8×8 images a·P + b·Q of two fixed patterns with random
// weights: a two-dimensional family that a 4×4×2 latent can hold.
type patterns struct{}

func (patterns) Batch(step int64, n int) (*tensors.Tensor, cond.Condition, error) {
	rng := rand.New(rand.NewPCG(7, uint64(step)))
	x := make([]float32, n*64)
	for i := range n {
		a, b := rng.Float64()*2-1, rng.Float64()*2-1
		for p := range 64 {
			r, c := p/8, p%8
			v := a*math.Cos(float64(r)*math.Pi/7) + b*math.Sin(float64(c)*math.Pi/7)
			x[i*64+p] = float32(0.5 * v)
		}
	}
	return tensors.FromFlatDataAndDimensions(x, n, 8, 8, 1), cond.Condition{}, nil
}

func newTiny(t *testing.T, c Config) *diffusion.Trainer {
	t.Helper()
	tr, err := diffusion.NewTrainerWithTerms(backend.MustShared(), c.Loss(), c.TermNames(),
		diffusion.TrainConfig{LearningRate: 3e-3, EMADecay: 0.9, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrainRoundTrip trains the tiny autoencoder (KL and plain) on the
// pattern family with diffusion.Trainer and checks that (1) the reported
// terms are the loss's parts, loss = mse + KLWeight·kl, (2) the
// reconstruction error of fresh images falls below a tenth of their
// variance, and (3) Encode, Decode and Reconstruct agree with each other.
func TestTrainRoundTrip(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := map[bool]string{false: "kl", true: "plain"}[plain]
		t.Run(name, func(t *testing.T) {
			c := tiny
			c.Plain = plain
			c.KLWeight = map[bool]float64{false: 1e-3, true: 0}[plain]
			tr := newTiny(t, c)
			var last diffusion.StepResult
			err := tr.Run(patterns{}, diffusion.RunOptions{Steps: 300, BatchSize: 32, OnStep: func(_ int64, r diffusion.StepResult) { last = r }})
			if err != nil {
				t.Fatal(err)
			}
			if len(last.Terms) != len(c.TermNames()) {
				t.Fatalf("%d terms reported, want %v", len(last.Terms), c.TermNames())
			}
			want := last.Terms[0]
			if !plain {
				want += c.KLWeight * last.Terms[1]
			}
			if math.Abs(last.Loss-want) > 1e-5*math.Abs(want) {
				t.Errorf("loss %v ≠ mse + weight·kl = %v (terms %v)", last.Loss, want, last.Terms)
			}
			ck, err := tr.Checkpoint(nil)
			if err != nil {
				t.Fatal(err)
			}
			store, err := diffusion.SamplingStore(ck, true)
			if err != nil {
				t.Fatal(err)
			}
			ae, err := New(backend.MustShared(), c, store, 0)
			if err != nil {
				t.Fatal(err)
			}
			x, _, _ := patterns{}.Batch(-1, 300) // step −1: images never trained on
			px := tensors.MustCopyFlatData[float32](x)
			mu, err := ae.Encode(px, 300, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(mu) != 300*32 {
				t.Fatalf("%d latent values, want %d", len(mu), 300*32)
			}
			rec, err := ae.Decode(mu, 300, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec2, err := ae.Reconstruct(px, 300, nil)
			if err != nil {
				t.Fatal(err)
			}
			var mse, mean, vr float64
			for _, v := range px {
				mean += float64(v)
			}
			mean /= float64(len(px))
			for i, v := range px {
				d := float64(rec[i]) - float64(v)
				mse += d * d
				vr += (float64(v) - mean) * (float64(v) - mean)
				if rec[i] != rec2[i] {
					t.Fatalf("Reconstruct differs from Decode(Encode) at %d: %v vs %v", i, rec2[i], rec[i])
				}
			}
			mse /= float64(len(px))
			vr /= float64(len(px))
			t.Logf("%s: held-out MSE %.5f, data variance %.5f, terms %v", name, mse, vr, last.Terms)
			if mse > vr/10 {
				t.Errorf("held-out reconstruction MSE %.5f is not below a tenth of the data variance %.5f", mse, vr)
			}
			if _, err := ae.EncodeScaled(px, 300, nil); err == nil {
				t.Errorf("EncodeScaled accepted an unmeasured scale")
			}
			if _, err := ae.Encode(px[:10], 300, nil); err == nil {
				t.Errorf("Encode accepted 10 values for 300 images")
			}
		})
	}
}

// TestResume checks that the autoencoder's training resumes exactly: 2k
// steps in one run equal k steps, a checkpoint, and k more in a new trainer
// (the reparameterisation noise included).
func TestResume(t *testing.T) {
	const k = 6
	full := newTiny(t, tiny)
	if err := full.Run(patterns{}, diffusion.RunOptions{Steps: 2 * k, BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ae.ckpt")
	first := newTiny(t, tiny)
	if err := first.Run(patterns{}, diffusion.RunOptions{Steps: k, BatchSize: 16, CheckpointPath: path}); err != nil {
		t.Fatal(err)
	}
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	second := newTiny(t, tiny)
	if err := second.Restore(ck); err != nil {
		t.Fatal(err)
	}
	if err := second.Run(patterns{}, diffusion.RunOptions{Steps: 2 * k, BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	a, b := full.Losses(), second.Losses()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: uninterrupted loss %v, resumed %v", i+1, a[i], b[i])
		}
	}
	ca, _ := full.Checkpoint(nil)
	cb, _ := second.Checkpoint(nil)
	for name, ta := range ca.Variables {
		if tb, ok := cb.Variables[name]; !ok || !ta.Equal(tb) {
			t.Errorf("variable %s differs after resuming", name)
		}
	}
}

// TestForwardFLOPs checks the tiny autoencoder's count by hand: encoder
// conv_in 9,216, level-0 block 147,456, downsample 18,432, level-1 block
// 114,688 (with its 1×1 skip), middle 147,456, conv_out 18,432; decoder
// conv_in 9,216, middle, level-1 block and upsample 147,456 each, level-0
// block 147,456, conv_out 9,216.
func TestForwardFLOPs(t *testing.T) {
	enc, dec := tiny.ForwardFLOPs()
	if enc != 455680 || dec != 608256 {
		t.Errorf("ForwardFLOPs = %d, %d; want 455680, 608256", enc, dec)
	}
}
