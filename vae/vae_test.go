package vae

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	dmath "github.com/godiffusion/diffusion-models/math"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// The linear-Gaussian VAE of the closed-form tests: D = 3, L = 2,
// p(z) = N(0, I), p(x|z) = N(x; W z + b, σ² I), with W's columns orthogonal so
// that the exact posterior has a diagonal covariance, which the encoder can
// represent.
var (
	linW  = [3][2]float64{{1.2, 0.3}, {-0.4, 0.9}, {0.9, 0}} // columns (1.2, −0.4, 0.9) and (0.3, 0.9, 0): dot product 0
	linB  = [3]float64{0.5, -1, 0.2}
	linS2 = 0.3 // σ²
)

var linCfg = Config{DataDim: 3, LatentDim: 2, Linear: true}

// posterior returns the exact posterior p(z|x) = N(m, diag s) of the linear
// model: s_j = 1/(1 + ‖w_j‖²/σ²), m = diag(s) Wᵀ (x − b)/σ², as the encoder's
// affine map m = A x + c.
func posterior() (a [2][3]float64, c [2]float64, s [2]float64) {
	for j := range 2 {
		var n2 float64
		for i := range 3 {
			n2 += linW[i][j] * linW[i][j]
		}
		s[j] = 1 / (1 + n2/linS2)
		for i := range 3 {
			a[j][i] = s[j] * linW[i][j] / linS2
			c[j] -= a[j][i] * linB[i]
		}
	}
	return a, c, s
}

// linearStore returns a store holding the linear VAE with encoder
// μ = A x + c, log σ² = logS (constant).
func linearStore(t *testing.T, a [2][3]float64, c [2]float64, logS [2]float64) *model.Store {
	t.Helper()
	store := model.NewStore()
	encW := make([]float32, 3*4) // [D, 2L]: μ columns, then log σ² columns (zero weights)
	for i := range 3 {
		for j := range 2 {
			encW[i*4+j] = float32(a[j][i])
		}
	}
	encB := []float32{float32(c[0]), float32(c[1]), float32(logS[0]), float32(logS[1])}
	decW := make([]float32, 2*3) // [L, D]: row j is column j of W
	for j := range 2 {
		for i := range 3 {
			decW[j*3+i] = float32(linW[i][j])
		}
	}
	lv := float32(math.Log(linS2))
	for path, v := range map[string]*tensors.Tensor{
		"/model/encoder/out/weights": tensors.FromFlatDataAndDimensions(encW, 3, 4),
		"/model/encoder/out/biases":  tensors.FromFlatDataAndDimensions(encB, 4),
		"/model/decoder/out/weights": tensors.FromFlatDataAndDimensions(decW, 2, 3),
		"/model/decoder/out/biases":  tensors.FromFlatDataAndDimensions([]float32{float32(linB[0]), float32(linB[1]), float32(linB[2])}, 3),
		"/model/decoder/log_var":     tensors.FromFlatDataAndDimensions([]float32{lv, lv, lv}, 3),
	} {
		if _, err := store.CreateVariable(path, v); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// logMarginal is log p(x) = log N(x; b, W Wᵀ + σ² I) in float64, by Cholesky.
func logMarginal(x [3]float64) float64 {
	var cov [3][3]float64
	for i := range 3 {
		for k := range 3 {
			for j := range 2 {
				cov[i][k] += linW[i][j] * linW[k][j]
			}
		}
		cov[i][i] += linS2
	}
	var l [3][3]float64
	for i := range 3 {
		for k := 0; k <= i; k++ {
			s := cov[i][k]
			for j := range k {
				s -= l[i][j] * l[k][j]
			}
			if i == k {
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][k] = s / l[k][k]
			}
		}
	}
	var r, y [3]float64
	for i := range 3 {
		r[i] = x[i] - linB[i]
	}
	var logDet, quad float64
	for i := range 3 { // solve L y = r
		s := r[i]
		for j := range i {
			s -= l[i][j] * y[j]
		}
		y[i] = s / l[i][i]
		quad += y[i] * y[i]
		logDet += 2 * math.Log(l[i][i])
	}
	return -0.5 * (3*math.Log(2*math.Pi) + logDet + quad)
}

// exactELBO is the ELBO of the linear model with q(z|x) = N(m, diag s), in
// closed form (float64): E_q[log N(x; Wz + b, σ²I)] = log N(x; Wm + b, σ²I) −
// Σ_j s_j ‖w_j‖²/(2σ²), minus KL(q ‖ N(0, I)) = ½ Σ_j (s_j + m_j² − 1 − log s_j).
// It also returns KL(q ‖ p(z|x)), the gap log p(x) − ELBO.
func exactELBO(x [3]float64, m, s [2]float64) (elbo, gap float64) {
	for i := range 3 {
		mean := linB[i]
		for j := range 2 {
			mean += linW[i][j] * m[j]
		}
		elbo -= 0.5 * (math.Log(2*math.Pi*linS2) + (x[i]-mean)*(x[i]-mean)/linS2)
	}
	a, c, ps := posterior()
	for j := range 2 {
		var n2 float64
		for i := range 3 {
			n2 += linW[i][j] * linW[i][j]
		}
		elbo -= s[j] * n2 / (2 * linS2)
		elbo -= 0.5 * (s[j] + m[j]*m[j] - 1 - math.Log(s[j]))
		pm := c[j]
		for i := range 3 {
			pm += a[j][i] * x[i]
		}
		gap += 0.5 * (s[j]/ps[j] + (m[j]-pm)*(m[j]-pm)/ps[j] - 1 - math.Log(s[j]/ps[j]))
	}
	return elbo, gap
}

// TestELBOLinearGaussian checks the ELBO of a linear-Gaussian VAE whose
// weights are set by hand against the exact marginal likelihood
// log p(x) = log N(x; b, WWᵀ + σ²I) (float64, Cholesky):
//
//   - with the encoder equal to the exact posterior, the closed-form ELBO
//     equals log p(x) (to 1e-9), and both the evaluator's Monte Carlo
//     estimate (VAE.ELBO) and the training loss (Config.Loss, its noise from
//     the store's generator) agree with −log p(x) within 4 standard errors
//     of their N = 4000 draws;
//   - with a wrong encoder (means scaled by 0.7, variances by e^0.8), the
//     closed-form ELBO equals log p(x) − KL(q ‖ p(z|x)) (to 1e-9), the gap is
//     more than 8 standard errors wide, and both estimates land within 4
//     standard errors of the closed form, so below log p(x): a bound that
//     were not a bound, or a term off by a constant, fails;
//   - the KL term reported by both equals the closed form to float32 precision.
func TestELBOLinearGaussian(t *testing.T) {
	const n = 4000
	b := backend.MustShared()
	a, c, s := posterior()
	points := [][3]float64{{0.7, -0.2, 1.1}, {-1.5, 0.4, -0.3}}
	for _, exact := range []bool{true, false} {
		encA, encC, encS := a, c, s
		if !exact {
			for j := range 2 {
				for i := range 3 {
					encA[j][i] *= 0.7
				}
				encC[j] *= 0.7
				encS[j] *= math.Exp(0.8)
			}
		}
		logS := [2]float64{math.Log(encS[0]), math.Log(encS[1])}
		store := linearStore(t, encA, encC, logS)
		v, err := New(b, linCfg, store)
		if err != nil {
			t.Fatal(err)
		}
		lossExec, err := model.NewExec(b, store, func(scope *model.Scope, x *Node) []*Node {
			loss, terms := linCfg.Loss()(scope.In(diffusion.ModelScope), x, cond.Nodes{})
			return append([]*Node{loss}, terms...)
		})
		if err != nil {
			t.Fatal(err)
		}
		for pi, x := range points {
			logP := logMarginal(x)
			var m [2]float64
			for j := range 2 {
				m[j] = encC[j]
				for i := range 3 {
					m[j] += encA[j][i] * x[i]
				}
			}
			elbo, gap := exactELBO(x, m, encS)
			if d := math.Abs(elbo - (logP - gap)); d > 1e-9 {
				t.Fatalf("float64 reference: ELBO %v ≠ log p(x) − KL(q‖posterior) = %v − %v", elbo, logP, gap)
			}
			if exact && gap > 1e-12 {
				t.Fatalf("float64 reference: the exact posterior has a gap %v", gap)
			}
			var wantKL float64
			for j := range 2 {
				wantKL += 0.5 * (encS[j] + m[j]*m[j] - 1 - math.Log(encS[j]))
			}
			flat := make([]float32, 3*n)
			for r := range n {
				for i := range 3 {
					flat[3*r+i] = float32(x[i])
				}
			}
			res, err := v.ELBO(flat, n, ELBOOptions{Seed: uint64(pi)})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := lossExec.Call(tensors.FromFlatDataAndDimensions(flat, n, 3))
			if err != nil {
				t.Fatal(err)
			}
			loss := tensors.MustCopyFlatData[float32](outs[0])
			kl := tensors.MustCopyFlatData[float32](outs[2])
			lm, lse := meanSE(loss)
			t.Logf("exact=%v x=%v: log p %.5f, ELBO %.5f (gap %.4f); evaluator −ELBO %.5f ± %.5f, loss %.5f ± %.5f",
				exact, x, logP, elbo, gap, res.Mean, res.StdErr, lm, lse)
			if !exact && gap < 8*math.Max(res.StdErr, lse) {
				t.Fatalf("the test's wrong encoder is too close to the posterior: gap %v, standard errors %v, %v", gap, res.StdErr, lse)
			}
			if d := math.Abs(res.Mean + elbo); d > 4*res.StdErr {
				t.Errorf("exact=%v x=%v: evaluator −ELBO %v ± %v, closed form %v", exact, x, res.Mean, res.StdErr, -elbo)
			}
			if d := math.Abs(lm + elbo); d > 4*lse {
				t.Errorf("exact=%v x=%v: training loss %v ± %v, closed form −ELBO %v", exact, x, lm, lse, -elbo)
			}
			if d := math.Abs(res.KL[0] - wantKL); d > 1e-5*math.Max(1, wantKL) {
				t.Errorf("evaluator KL %v, closed form %v", res.KL[0], wantKL)
			}
			if d := math.Abs(float64(kl[0]) - wantKL); d > 1e-5*math.Max(1, wantKL) {
				t.Errorf("loss KL term %v, closed form %v", kl[0], wantKL)
			}
			if want := res.Mean / (3 * math.Ln2); math.Abs(res.BitsPerDim-want) > 1e-12 {
				t.Errorf("bits/dim %v, want mean/(D ln 2) = %v", res.BitsPerDim, want)
			}
		}
	}
}

func meanSE(v []float32) (mean, se float64) {
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	var sq float64
	for _, x := range v {
		sq += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(sq / float64(len(v)-1) / float64(len(v)))
}

// TestKL checks KL(N(μ, σ²) ‖ N(0, 1)) summed per example against the
// textbook form log(1/σ) + (σ² + μ²)/2 − ½ per element (float64), including
// log σ² near 0 where a naive σ² − 1 − log σ² cancels.
func TestKL(t *testing.T) {
	mus := []float64{0, 0.5, -1.2, 2, 0.1, -0.3}
	logVars := []float64{0, -1, 0.7, -3, 1e-3, -2e-4}
	got := MustExecOnce(backend.MustShared(), func(mu, lv *Node) *Node { return KL(mu, lv) },
		tensors.FromFlatDataAndDimensions(toF32(mus), 2, 3), tensors.FromFlatDataAndDimensions(toF32(logVars), 2, 3))
	kl := tensors.MustCopyFlatData[float32](got)
	for ex := range 2 {
		var want float64
		for j := 3 * ex; j < 3*ex+3; j++ {
			s := math.Exp(logVars[j] / 2)
			want += math.Log(1/s) + (s*s+mus[j]*mus[j])/2 - 0.5
		}
		if d := math.Abs(float64(kl[ex]) - want); d > 1e-6*math.Max(1, want) {
			t.Errorf("example %d: KL %v, closed form %v", ex, kl[ex], want)
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

// TestReconstructionMatchesFloat64 checks the graph's −log p(x|z) against
// float64: for KindMLP the Gaussian density written out here, for KindConv
// dmath.DiscretizedGaussianLogLikelihood summed over pixels (tested in
// package math against an integral of the density), on 8-bit levels that
// include both open end bins.
func TestReconstructionMatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b := backend.MustShared()
	for _, c := range []Config{{DataDim: 3}, {Kind: KindConv, ImageSize: 4}} {
		d := c.Dims()
		const n = 3
		x, m, lv := make([]float32, n*d), make([]float32, n*d), make([]float32, n*d)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if c.Kind == KindConv {
				x[i] = float32(dmath.Quantize8Bit(rng.Float64()*2.2 - 1.1))
			}
			m[i] = float32(float64(x[i]) + 0.2*rng.NormFloat64())
			lv[i] = float32(-4 + 3*rng.Float64())
		}
		dims := append([]int{n}, c.DataDims()...)
		got := tensors.MustCopyFlatData[float32](MustExecOnce(b, func(x, m, lv *Node) *Node { return c.Reconstruction(x, m, lv) },
			tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(m, dims...), tensors.FromFlatDataAndDimensions(lv, dims...)))
		for e := range n {
			var want float64
			for i := e * d; i < (e+1)*d; i++ {
				if c.Kind == KindConv {
					want -= dmath.DiscretizedGaussianLogLikelihood(float64(x[i]), float64(m[i]), float64(lv[i]))
				} else {
					dx := float64(x[i] - m[i])
					v := math.Exp(float64(lv[i]))
					want -= -0.5*math.Log(2*math.Pi*v) - dx*dx/(2*v)
				}
			}
			if math.Abs(float64(got[e])-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%s example %d: −log p(x|z) %v, float64 %v", c.WithDefaults().Kind, e, got[e], want)
			}
		}
	}
}

// gaussians8 is the toy data, a deterministic function of the step.
type gaussians8 struct{}

func (gaussians8) Batch(step int64, n int) (*tensors.Tensor, cond.Condition, error) {
	pts := toy2d.Gaussians8{}.Sample(rand.New(rand.NewPCG(11, uint64(step))), n)
	return tensors.FromFlatDataAndDimensions(toy2d.Flatten32(pts), n, 2), cond.Condition{}, nil
}

func newTrainer(t *testing.T, c Config) *diffusion.Trainer {
	t.Helper()
	tr, err := diffusion.NewTrainerWithTerms(backend.MustShared(), c.Loss(), TermNames(),
		diffusion.TrainConfig{LearningRate: 3e-3, EMADecay: 0.99, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrainGaussians8 trains the default MLP VAE on gaussians8 for 1500
// steps with diffusion.Trainer and checks that (1) the reported terms add up
// to the loss, (2) the loss falls by more than 1 nat (mean of the last 50
// steps against the first 10), and (3) the held-out −ELBO of the EMA weights
// (VAE.ELBO, 2000 points never trained on) is below 3.54 nats, the entropy
// 1 + log 2π + log(R²/2 + σ²) of the best single Gaussian for these data,
// which an untrained VAE does not reach (it is checked too).
func TestTrainGaussians8(t *testing.T) {
	c := Config{}
	tr := newTrainer(t, c)
	var last diffusion.StepResult
	if err := tr.Run(gaussians8{}, diffusion.RunOptions{Steps: 1500, BatchSize: 128, OnStep: func(_ int64, r diffusion.StepResult) { last = r }}); err != nil {
		t.Fatal(err)
	}
	if math.Abs(last.Terms[0]+last.Terms[1]-last.Loss) > 1e-4*math.Abs(last.Loss) {
		t.Errorf("loss %v ≠ reconstruction + kl = %v", last.Loss, last.Terms[0]+last.Terms[1])
	}
	losses := tr.Losses()
	first, end := avg(losses[:10]), avg(losses[len(losses)-50:])
	t.Logf("loss: first 10 steps %.3f, last 50 %.3f; terms %v", first, end, last.Terms)
	if end > first-1 {
		t.Errorf("the loss fell from %.3f to %.3f only", first, end)
	}
	held, _, _ := gaussians8{}.Batch(-1, 2000)
	x := tensors.MustCopyFlatData[float32](held)
	gauss := 1 + math.Log(2*math.Pi) + math.Log(2*2/2.0+0.01)
	eval := func(useEMA bool, steps bool) ELBOResult {
		var store *model.Store
		if steps {
			ck, err := tr.Checkpoint(nil)
			if err != nil {
				t.Fatal(err)
			}
			if store, err = diffusion.SamplingStore(ck, useEMA); err != nil {
				t.Fatal(err)
			}
		} else {
			fresh := newTrainer(t, c)
			if _, err := fresh.TrainStep(held, cond.Condition{}); err != nil { // creates the weights (one step from them)
				t.Fatal(err)
			}
			ck, _ := fresh.Checkpoint(nil)
			store, _ = diffusion.SamplingStore(ck, true) // the EMA after one step: the initial weights
		}
		v, err := New(backend.MustShared(), c, store)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.ELBO(x, 2000, ELBOOptions{Samples: 4, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	trained, untrained := eval(true, true), eval(true, false)
	t.Logf("held-out −ELBO: trained %.3f ± %.3f nats (%.3f bits/dim), untrained %.3f; best Gaussian %.3f",
		trained.Mean, trained.StdErr, trained.BitsPerDim, untrained.Mean, gauss)
	if trained.Mean > gauss {
		t.Errorf("trained −ELBO %.3f is not below the best single Gaussian's %.3f", trained.Mean, gauss)
	}
	if untrained.Mean < gauss {
		t.Errorf("the untrained VAE's −ELBO %.3f is already below %.3f: the check above proves nothing", untrained.Mean, gauss)
	}
	v, _ := New(backend.MustShared(), c, mustSamplingStore(t, tr))
	samples, err := v.Sample(500, SampleOptions{Seed: 2, DecoderNoise: true})
	if err != nil || len(samples) != 1000 {
		t.Fatalf("Sample: %d values, %v", len(samples), err)
	}
}

func mustSamplingStore(t *testing.T, tr *diffusion.Trainer) *model.Store {
	t.Helper()
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := diffusion.SamplingStore(ck, true)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func avg(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestResume checks that training resumes exactly: 40 steps in one run
// equal 20 steps, a checkpoint file, and 20 more in a new trainer, bit for
// bit (losses and every variable, the reparameterisation noise's generator
// state included).
func TestResume(t *testing.T) {
	const k = 20
	c := Config{Hidden: []int{32, 32}}
	full := newTrainer(t, c)
	if err := full.Run(gaussians8{}, diffusion.RunOptions{Steps: 2 * k, BatchSize: 32}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vae.ckpt")
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

// TestConvVAE trains the convolutional VAE (8×8 for speed) for a few steps
// on 8-bit images and checks the evaluator's contract: −ELBO finite and
// equal to reconstruction + KL per example, bits/dim = mean/(D ln 2),
// samples shaped [n, 8, 8, 1] and, with decoder noise, 8-bit levels; pixels
// that are not 8-bit levels are refused with an error naming the pixel.
func TestConvVAE(t *testing.T) {
	c := Config{Kind: KindConv, ImageSize: 8, Channels: 4, LatentDim: 3}
	tr := newTrainer(t, c)
	if err := tr.Run(bars{}, diffusion.RunOptions{Steps: 5, BatchSize: 8}); err != nil {
		t.Fatal(err)
	}
	v, err := New(backend.MustShared(), c, mustSamplingStore(t, tr))
	if err != nil {
		t.Fatal(err)
	}
	xb, _, _ := bars{}.Batch(-1, 6)
	x := tensors.MustCopyFlatData[float32](xb)
	res, err := v.ELBO(x, 6, ELBOOptions{Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res.NegELBO {
		if math.IsNaN(e) || math.IsInf(e, 0) || e != res.Reconstruction[i]+res.KL[i] {
			t.Errorf("example %d: −ELBO %v, reconstruction %v, KL %v", i, e, res.Reconstruction[i], res.KL[i])
		}
	}
	if want := res.Mean / (64 * math.Ln2); math.Abs(res.BitsPerDim-want) > 1e-12 || res.BitsPerDim <= 0 {
		t.Errorf("bits/dim %v, want %v > 0", res.BitsPerDim, want)
	}
	t.Logf("8×8 conv VAE after 5 steps: %.3f bits/dim", res.BitsPerDim)
	s, err := v.Sample(3, SampleOptions{Seed: 1, DecoderNoise: true})
	if err != nil || len(s) != 3*64 {
		t.Fatalf("Sample: %d values, %v", len(s), err)
	}
	for _, p := range s {
		if float64(p) != float64(float32(dmath.Quantize8Bit(float64(p)))) {
			t.Fatalf("a noisy sample's pixel %v is not an 8-bit level", p)
		}
	}
	x[7] = 0.1234
	if _, err := v.ELBO(x, 6, ELBOOptions{}); err == nil || !strings.Contains(err.Error(), "pixel 7") {
		t.Errorf("a pixel off the 8-bit levels: error %v", err)
	}
}

// bars are 8×8 8-bit images of a bright horizontal bar at a random row.
type bars struct{}

func (bars) Batch(step int64, n int) (*tensors.Tensor, cond.Condition, error) {
	rng := rand.New(rand.NewPCG(3, uint64(step)))
	x := make([]float32, n*64)
	for i := range n {
		r := rng.IntN(8)
		for p := range 64 {
			x[i*64+p] = -1
			if p/8 == r {
				x[i*64+p] = float32(dmath.Quantize8Bit(0.6 + 0.4*rng.Float64()))
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(x, n, 8, 8, 1), cond.Condition{}, nil
}

func TestConfigAndNewErrors(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Kind: "gan"}, "Kind"},
		{Config{Kind: KindConv, ImageSize: 30}, "ImageSize"},
		{Config{LatentDim: -1}, "LatentDim"},
		{Config{Hidden: []int{8, 0}}, "Hidden[1]"},
		{Config{DecoderStd: -1}, "DecoderStd"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", tc.c, err, tc.want)
		}
	}
	if _, err := New(backend.MustShared(), Config{}, model.NewStore()); err == nil || !strings.Contains(err.Error(), "encoder") {
		t.Errorf("New with an empty store: %v", err)
	}
	if got := (Config{Kind: KindConv}).WithDefaults(); got.LatentDim != 16 || got.Dims() != 784 {
		t.Errorf("conv defaults: latent %d, D %d; want 16, 784", got.LatentDim, got.Dims())
	}
}
