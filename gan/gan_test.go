package gan

import (
	"math"
	"math/rand/v2"
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
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
	"github.com/godiffusion/diffusion-models/unet"
)

func softplus64(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

// TestLosses checks DiscriminatorLoss and GeneratorLoss for fixed logits
// (including ±40, where a naive log(1 + eˣ) overflows float32's exp or loses
// everything to rounding) against −log σ(r) − log(1 − σ(f)) and −log σ(f)
// written in float64.
func TestLosses(t *testing.T) {
	real := []float64{0, 1.5, -2, 40, -40, 0.3}
	fake := []float64{0, -1, 3, -40, 40, 0.7}
	outs := MustExecOnceN(backend.MustShared(), func(r, f *Node) []*Node {
		return []*Node{DiscriminatorLoss(r, f), GeneratorLoss(f)}
	}, tensors.FromValue(toF32(real)), tensors.FromValue(toF32(fake)))
	ld := tensors.MustCopyFlatData[float32](outs[0])
	lg := tensors.MustCopyFlatData[float32](outs[1])
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for i := range real {
		r, f := real[i], fake[i]
		// −log σ(r) − log(1 − σ(f)): for |x| = 40 σ is 1 − 4e-18 in float64,
		// so use the softplus identities there.
		wantD := softplus64(-r) + softplus64(f)
		if math.Abs(r) < 30 && math.Abs(f) < 30 {
			wantD = -math.Log(sig(r)) - math.Log(1-sig(f))
		}
		wantG := softplus64(-f)
		if math.Abs(f) < 30 {
			wantG = -math.Log(sig(f))
		}
		if math.Abs(float64(ld[i])-wantD) > 1e-6*math.Max(1, wantD) {
			t.Errorf("L_D(%g, %g) = %v, want %v", r, f, ld[i], wantD)
		}
		if math.Abs(float64(lg[i])-wantG) > 1e-6*math.Max(1, wantG) {
			t.Errorf("L_G(%g) = %v, want %v", f, lg[i], wantG)
		}
	}
	// Hand values: L_D(0, 0) = 2 ln 2, L_G(0) = ln 2, L_G(40) ≈ e^{−40}, L_G(−40) ≈ 40.
	if math.Abs(float64(ld[0])-2*math.Ln2) > 1e-6 || math.Abs(float64(lg[0])-math.Ln2) > 1e-6 ||
		math.Abs(float64(lg[3])-40) > 1e-5 || lg[4] > 1e-15 {
		t.Errorf("hand values: L_D(0,0) %v (2 ln 2), L_G(0) %v (ln 2), L_G(−40) %v (40), L_G(40) %v (≈ 4e-18)", ld[0], lg[0], lg[3], lg[4])
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestR1ClosedForm checks R1Penalty against two closed forms: for a linear
// discriminator d(x) = wᵀx + b, ∇_x d = w and R1 = γ/2·‖w‖² for every
// example; for d(x) = Σ x_i², ∇_x d = 2x and R1 = γ/2·4‖x_b‖² per example
// (which catches a gradient or a norm taken over the whole batch).
func TestR1ClosedForm(t *testing.T) {
	const gamma = 0.7
	w := []float64{0.5, -1.5, 2}
	x := []float64{1, 2, 3, -0.5, 0, 4}
	outs := MustExecOnceN(backend.MustShared(), func(x *Node) []*Node {
		wn := Const(x.Graph(), toF32(w))
		linear := func(x *Node) *Node { return AddScalar(Einsum("bi,i->b", x, wn), 0.3) }
		square := func(x *Node) *Node { return ReduceSum(Square(x), 1) }
		l1, r1 := R1Penalty(x, linear, gamma)
		_, r2 := R1Penalty(x, square, gamma)
		return []*Node{l1, r1, r2}
	}, tensors.FromFlatDataAndDimensions(toF32(x), 2, 3))
	logits := tensors.MustCopyFlatData[float32](outs[0])
	r1 := tensors.MustCopyFlatData[float32](outs[1])
	r2 := tensors.MustCopyFlatData[float32](outs[2])
	var ww float64
	for _, v := range w {
		ww += v * v
	}
	for b := range 2 {
		var logit, xx float64
		for i := range 3 {
			logit += w[i] * x[3*b+i]
			xx += x[3*b+i] * x[3*b+i]
		}
		if math.Abs(float64(logits[b])-(logit+0.3)) > 1e-5 {
			t.Errorf("example %d: logit %v, want %v", b, logits[b], logit+0.3)
		}
		if want := gamma / 2 * ww; math.Abs(float64(r1[b])-want) > 1e-6*want {
			t.Errorf("example %d: linear R1 %v, want γ/2‖w‖² = %v", b, r1[b], want)
		}
		if want := gamma / 2 * 4 * xx; math.Abs(float64(r2[b])-want) > 1e-6*want {
			t.Errorf("example %d: quadratic R1 %v, want γ/2·4‖x‖² = %v", b, r2[b], want)
		}
	}
}

// gaussians8 is the toy data, a deterministic function of the step.
type gaussians8 struct{}

func (gaussians8) Batch(step int64, n int) (*tensors.Tensor, cond.Condition, error) {
	pts := toy2d.Gaussians8{}.Sample(rand.New(rand.NewPCG(11, uint64(step))), n)
	return tensors.FromFlatDataAndDimensions(toy2d.Flatten32(pts), n, 2), cond.Condition{}, nil
}

var trainCfg = diffusion.TrainConfig{LearningRate: 1e-3, Beta1: 0.5, Beta2: 0.99, EMADecay: 0.99, Seed: 7}

func newTrainer(t *testing.T, c Config) *diffusion.Trainer {
	t.Helper()
	tr, err := diffusion.NewTrainerWithTerms(backend.MustShared(), c.Loss(), TermNames(), trainCfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// modesCovered samples n points from the generator in store and returns
// how many of the 8 modes hold at least 2% of them (within 3σ of a centre)
// and the share of points within 3σ of some centre.
func modesCovered(t *testing.T, c Config, store *model.Store, n int) (modes int, inside float64, counts [8]int) {
	t.Helper()
	m, err := New(backend.MustShared(), c, store)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Sample(n, 9, nil)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := toy2d.FromFlat32(s)
	if err != nil {
		t.Fatal(err)
	}
	counts, out := toy2d.Gaussians8{}.ModeCounts(pts, 3*toy2d.DefaultGaussians8Std)
	for _, k := range counts {
		if k >= n/50 {
			modes++
		}
	}
	return modes, float64(n-out) / float64(n), counts
}

func storeOf(t *testing.T, tr *diffusion.Trainer, ema bool) *model.Store {
	t.Helper()
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := diffusion.SamplingStore(ck, ema)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestTrainGaussians8 trains the MLP GAN with the R1 penalty on gaussians8
// with diffusion.Trainer (seed fixed) and counts, among 2000 samples of
// the EMA generator, the modes holding at least 2% of them (within 3σ of
// the centre): after 2000 steps the trained generator must cover at least 7
// of the 8 modes and put at least 70% of its samples within 3σ of a centre
// (it covered all 8 with 84% when written), where the untrained generator
// (the same seed, its initial weights) covers at most 1 (it covered none).
func TestTrainGaussians8(t *testing.T) {
	c := Config{R1Gamma: 0.1, Hidden: []int{64, 64}}
	tr := newTrainer(t, c)
	if _, err := tr.TrainStep(must(gaussians8{}.Batch(0, 128))); err != nil {
		t.Fatal(err)
	}
	m0, in0, c0 := modesCovered(t, c, storeOf(t, tr, true), 2000) // EMA after one step = the initial weights
	if err := tr.Run(gaussians8{}, diffusion.RunOptions{Steps: 2000, BatchSize: 128}); err != nil {
		t.Fatal(err)
	}
	m1, in1, c1 := modesCovered(t, c, storeOf(t, tr, true), 2000)
	h := tr.TermHistory()
	t.Logf("untrained: %d modes %v, %.3f inside; trained: %d modes %v, %.3f inside; last terms D %.3f G %.3f R1 %.4f",
		m0, c0, in0, m1, c1, in1, h[0][len(h[0])-1], h[1][len(h[1])-1], h[2][len(h[2])-1])
	if m0 > 1 {
		t.Errorf("the untrained generator already covers %d modes: the check proves nothing", m0)
	}
	if m1 < 7 || in1 < 0.7 {
		t.Errorf("the trained generator covers %d modes with %.3f of its samples within 3σ; want ≥ 7 and ≥ 0.7", m1, in1)
	}
}

func must(x *tensors.Tensor, c cond.Condition, err error) (*tensors.Tensor, cond.Condition) {
	if err != nil {
		panic(err)
	}
	return x, c
}

// TestGradientsReachOwnPlayer differentiates each reported term of the
// training objective separately with respect to every generator and every
// discriminator weight (MLP and conv kinds): L_G must give exactly zero
// gradient to the discriminator and L_D and R1 exactly zero to the
// generator, while each term's gradient for its own player is non-zero
// (so that a test on zeros cannot pass on a graph where nothing flows).
// Without the StopGradient on D's weights in L_G, or on G(z) in L_D, the
// zero checks fail.
func TestGradientsReachOwnPlayer(t *testing.T) {
	for _, c := range []Config{
		{R1Gamma: 1, Hidden: []int{16, 16}},
		{Kind: KindConv, ImageSize: 8, Channels: 4, NoiseDim: 5, R1Gamma: 1},
	} {
		c = c.WithDefaults()
		store := model.NewStore()
		exec, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x *Node) []*Node {
			_, terms := c.Loss()(scope.In(diffusion.ModelScope), x, cond.Nodes{})
			g := x.Graph()
			var players [2][]*Node // generator, discriminator
			for v := range scope.Store().IterVariables() {
				if !v.Trainable || !v.InUseByGraph(g) {
					continue
				}
				switch {
				case strings.HasPrefix(v.Path(), "/model/generator/"):
					players[0] = append(players[0], v.NodeValue(g))
				case strings.HasPrefix(v.Path(), "/model/discriminator/"):
					players[1] = append(players[1], v.NodeValue(g))
				}
			}
			var out []*Node
			for _, term := range terms {
				for _, p := range players {
					var sq *Node
					for _, gr := range Gradient(ReduceAllMean(term), p...) {
						s := ReduceAllSum(Square(gr))
						if sq == nil {
							sq = s
						} else {
							sq = Add(sq, s)
						}
					}
					out = append(out, sq)
				}
			}
			return out
		})
		if err != nil {
			t.Fatal(err)
		}
		x := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{4}, c.DataDims()...)...))
		xs := tensors.MustCopyFlatData[float32](x)
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range xs {
			xs[i] = float32(rng.Float64()*2 - 1)
		}
		outs, err := exec.Call(tensors.FromFlatDataAndDimensions(xs, x.Shape().Dimensions...))
		if err != nil {
			t.Fatal(err)
		}
		sq := make([]float64, len(outs))
		for i, o := range outs {
			sq[i] = float64(tensors.ToScalar[float32](o))
		}
		t.Logf("%s: ‖∇‖² (G, D) of L_D %v %v, L_G %v %v, R1 %v %v", c.Kind, sq[0], sq[1], sq[2], sq[3], sq[4], sq[5])
		for i, name := range TermNames() {
			g, d := sq[2*i], sq[2*i+1]
			own, other := d, g
			if name == TermGenerator {
				own, other = g, d
			}
			if other != 0 {
				t.Errorf("%s: %s's gradient reaches the other player: ‖∇‖² = %g", c.Kind, name, other)
			}
			if !(own > 0) {
				t.Errorf("%s: %s's gradient for its own player is %g", c.Kind, name, own)
			}
		}
	}
}

// TestResume checks that training resumes exactly: 40 steps in one run
// equal 20 steps, a checkpoint file, and 20 more in a new trainer, bit for
// bit (losses and every variable, the noise generator's state included).
func TestResume(t *testing.T) {
	const k = 20
	c := Config{R1Gamma: 0.1, Hidden: []int{32, 32}}
	full := newTrainer(t, c)
	if err := full.Run(gaussians8{}, diffusion.RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gan.ckpt")
	first := newTrainer(t, c)
	if err := first.Run(gaussians8{}, diffusion.RunOptions{Steps: k, BatchSize: 32, CheckpointPath: path}); err != nil {
		t.Fatal(err)
	}
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	second := newTrainer(t, c)
	if err := second.Restore(ck); err != nil {
		t.Fatal(err)
	}
	if err := second.Run(gaussians8{}, diffusion.RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	a, b := full.Losses(), second.Losses()
	if len(a) != 2*k || len(b) != 2*k {
		t.Fatalf("%d and %d losses, want %d", len(a), len(b), 2*k)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: uninterrupted loss %v, resumed %v", i+1, a[i], b[i])
		}
	}
	ca, _ := full.Checkpoint(nil)
	cb, _ := second.Checkpoint(nil)
	if len(ca.Variables) != len(cb.Variables) {
		t.Errorf("%d variables uninterrupted, %d resumed", len(ca.Variables), len(cb.Variables))
	}
	for name, ta := range ca.Variables {
		if tb, ok := cb.Variables[name]; !ok || !ta.Equal(tb) {
			t.Errorf("variable %s differs after resuming", name)
		}
	}
}

// TestProductConv checks the discriminator's convolution against GoMLX's
// native convolution (unet.ConvNative) at strides 1 and 2: the outputs and
// the gradients of Σ y·r (r fixed) with respect to the input and the kernel.
func TestProductConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	randT := func(dims ...int) *tensors.Tensor {
		v := make([]float32, prod(dims))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	for _, stride := range []int{1, 2} {
		x, w := randT(3, 2, 6, 6), randT(3, 3, 3, 4)
		r := randT(4, 2, 6/stride, 6/stride)
		outs := MustExecOnceN(backend.MustShared(), func(x, w, r *Node) []*Node {
			var res []*Node
			for _, conv := range []func(x, w *Node, s int) *Node{productConv, unet.ConvNative} {
				y := conv(x, w, stride)
				res = append(res, y)
				res = append(res, Gradient(ReduceAllSum(Mul(y, r)), x, w)...)
			}
			return res
		}, x, w, r)
		for i, what := range []string{"output", "input gradient", "kernel gradient"} {
			a := tensors.MustCopyFlatData[float32](outs[i])
			b := tensors.MustCopyFlatData[float32](outs[i+3])
			if !outs[i].Shape().Equal(outs[i+3].Shape()) {
				t.Fatalf("stride %d: %s shaped %s, native %s", stride, what, outs[i].Shape(), outs[i+3].Shape())
			}
			for j := range a {
				if math.Abs(float64(a[j]-b[j])) > 1e-4*math.Max(1, math.Abs(float64(b[j]))) {
					t.Fatalf("stride %d: %s[%d] = %v, native %v", stride, what, j, a[j], b[j])
				}
			}
		}
	}
}

// TestConvGAN trains the DCGAN-style pair (8×8 for speed) with R1 for two
// steps and checks that the losses, the R1 term and the gradient norm are
// finite and R1 positive (its second derivative goes through the
// discriminator's convolutions), then that samples are shaped [n, 8, 8, 1]
// inside (−1, 1) and scored with one logit each.
func TestConvGAN(t *testing.T) {
	c := Config{Kind: KindConv, ImageSize: 8, Channels: 4, NoiseDim: 6, R1Gamma: 10}
	xs := make([]float32, 8*64)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range xs {
		xs[i] = float32(rng.Float64()*2 - 1)
	}
	x := tensors.FromFlatDataAndDimensions(xs, 8, 8, 8, 1)
	tr := newTrainer(t, c)
	for s := range 2 {
		r, err := tr.TrainStep(x, cond.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d: loss %.5f ‖∇‖ %.5f terms %v", s+1, r.Loss, r.GradNorm, r.Terms)
		if math.IsNaN(r.GradNorm) || math.IsInf(r.GradNorm, 0) || !(r.Terms[2] > 0) {
			t.Errorf("step %d: ‖∇‖ %v, R1 %v", s+1, r.GradNorm, r.Terms[2])
		}
	}
	m, err := New(backend.MustShared(), c, storeOf(t, tr, true))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Sample(5, 1, nil)
	if err != nil || len(s) != 5*64 {
		t.Fatalf("Sample: %d values, %v", len(s), err)
	}
	for _, v := range s {
		if !(v > -1 && v < 1) {
			t.Fatalf("a sample's pixel %v is outside (−1, 1)", v)
		}
	}
	logits, err := m.Logits(s, 5)
	if err != nil || len(logits) != 5 {
		t.Fatalf("Logits: %v, %v", logits, err)
	}
}

func TestConfigAndNewErrors(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Kind: "vae"}, "Kind"},
		{Config{Kind: KindConv, ImageSize: 10}, "ImageSize"},
		{Config{NoiseDim: -1}, "NoiseDim"},
		{Config{Hidden: []int{0}}, "Hidden[0]"},
		{Config{R1Gamma: math.NaN()}, "R1Gamma"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", tc.c, err, tc.want)
		}
	}
	if _, err := New(backend.MustShared(), Config{}, model.NewStore()); err == nil || !strings.Contains(err.Error(), "generator") {
		t.Errorf("New with an empty store: %v", err)
	}
	if got := (Config{Kind: KindConv}).WithDefaults(); got.NoiseDim != 64 || got.ImageSize != 28 {
		t.Errorf("conv defaults: noise %d, size %d; want 64, 28", got.NoiseDim, got.ImageSize)
	}
}
