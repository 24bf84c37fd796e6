package nb

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/janpfeifer/gonb/gonbui"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// panics returns the message of the panic f raises ("" if none).
func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = "panic"
			if err, ok := r.(error); ok {
				msg = err.Error()
			} else if s, ok := r.(string); ok {
				msg = s
			}
		}
	}()
	f()
	return ""
}

func TestMust(t *testing.T) {
	if got := Must(3, nil); got != 3 {
		t.Errorf("Must(3, nil) = %d", got)
	}
	if a, b := Must2(1, "x", nil); a != 1 || b != "x" {
		t.Errorf("Must2 = %v, %v", a, b)
	}
	if a, b, c := Must3(1, 2, 3, nil); a+b+c != 6 {
		t.Errorf("Must3 = %v, %v, %v", a, b, c)
	}
	boom := errors.New("boom")
	for name, f := range map[string]func(){
		"Must":  func() { Must(0, boom) },
		"Must2": func() { Must2(0, 0, boom) },
		"Must3": func() { Must3(0, 0, 0, boom) },
	} {
		if msg := panics(f); msg != "boom" {
			t.Errorf("%s with an error panicked with %q, want boom", name, msg)
		}
	}
}

func TestShow(t *testing.T) {
	var got [][]byte
	defer func(d func([]byte), nb bool) { display, gonbui.IsNotebook = d, nb }(display, gonbui.IsNotebook)
	display = func(b []byte) { got = append(got, b) }

	gonbui.IsNotebook = false
	Show([]byte("png"), nil)
	if len(got) != 0 {
		t.Fatalf("Show outside a notebook displayed %d images", len(got))
	}
	gonbui.IsNotebook = true
	Show([]byte("png"), nil)
	if len(got) != 1 || string(got[0]) != "png" {
		t.Fatalf("Show in a notebook displayed %q", got)
	}
	if msg := panics(func() { Show(nil, errors.New("no plot")) }); msg != "no plot" {
		t.Errorf("Show with an error panicked with %q", msg)
	}
	if len(got) != 1 {
		t.Errorf("Show with an error displayed something")
	}
}

func TestNumbers(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"Mean", Mean(v), 3},
		{"Quantile 0", Quantile(v, 0), 1},
		{"Quantile 0.5", Quantile(v, 0.5), 3},
		{"Quantile 0.9", Quantile(v, 0.9), 4}, // rank ⌊0.9·4⌋ = 3
		{"Quantile 1", Quantile(v, 1), 5},
		// x ≡ 0 against r ≡ 0.5: MSE 0.25, 10·log₁₀(4/0.25) = 10·log₁₀ 16.
		{"PSNR", PSNR([]float32{0, 0}, []float32{0.5, -0.5}), 10 * math.Log10(16)},
		// r = 3 is clipped to 1 first: MSE 1, 10·log₁₀ 4.
		{"PSNR clipped", PSNR([]float32{0}, []float32{3}), 10 * math.Log10(4)},
		// (±1, 0), (0, ±1) around (0, 0): Σ|p|² = 4 over 2n = 8.
		{"Spread", Spread([]toy2d.Point{{1, 0}, {-1, 0}, {0, 1}, {0, -1}}), math.Sqrt(0.5)},
		{"Spread shifted", Spread([]toy2d.Point{{11, 5}, {9, 5}, {10, 6}, {10, 4}}), math.Sqrt(0.5)},
	} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !math.IsNaN(Mean(nil)) || !math.IsNaN(Quantile(nil, 0.5)) {
		t.Errorf("Mean or Quantile of nothing is not NaN")
	}
	if !slices.Equal(v, []float64{5, 1, 4, 2, 3}) {
		t.Errorf("Quantile sorted its argument: %v", v)
	}
	if msg := panics(func() { PSNR([]float32{1}, nil) }); !strings.Contains(msg, "1 pixels against 0") {
		t.Errorf("PSNR of mismatched lengths: %q", msg)
	}
}

func TestPeakRSS(t *testing.T) {
	status := "Name:\tgo\nVmPeak:\t  999 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n"
	if got := peakRSS(status); got != 2 {
		t.Errorf("peakRSS = %v MiB, want 2", got)
	}
	if got := peakRSS("VmRSS: 5 kB\n"); !math.IsNaN(got) {
		t.Errorf("peakRSS without VmHWM = %v, want NaN", got)
	}
	if got := PeakRSS(); !(got > 1) {
		t.Errorf("PeakRSS of this test = %v MiB", got)
	}
}

func TestLabelsAndSplit(t *testing.T) {
	if got := PerClass(3, 2); !slices.Equal(got, []int32{0, 0, 1, 1, 2, 2}) {
		t.Errorf("PerClass(3, 2) = %v", got)
	}
	px := []float32{1, 2, 3, 4, 5, 6}
	parts := Split(px, 2)
	if len(parts) != 3 || !slices.Equal(parts[2], []float32{5, 6}) {
		t.Errorf("Split = %v", parts)
	}
	if parts[0] = append(parts[0], 9); px[2] != 3 {
		t.Errorf("appending to a part of Split overwrote the next example")
	}
	if msg := panics(func() { Split(px, 4) }); msg == "" {
		t.Errorf("Split of 6 values into 4s did not panic")
	}
	pts := []toy2d.Point{{0, 0}, {1, 1}, {2, 2}, {3, 3}}
	p := ByClass("t", pts, 2, 2, true)
	if len(p.Scatter) != 2 || p.Scatter[1].Name != "label 1" || !slices.Equal(p.Scatter[1].X, []float64{2, 3}) {
		t.Errorf("ByClass series = %+v", p.Scatter)
	}
	if s := Scatter("t", pts); *s.Opts.XMin != -3 || *s.Opts.YMax != 3 || !s.Opts.Equal || len(s.Scatter[0].Y) != 4 || s.Opts.XLabel != "x_1" {
		t.Errorf("Scatter panel = %+v", s)
	}
}

func TestMovingAverage(t *testing.T) {
	got := MovingAverage([]float64{1, 2, 3, 4, 5}, 2)
	if want := []float64{1, 1.5, 2.5, 3.5, 4.5}; !slices.Equal(got, want) {
		t.Errorf("MovingAverage(…, 2) = %v, want %v", got, want)
	}
	if got := MovingAverage([]float64{4, 2}, 0); !slices.Equal(got, []float64{4, 2}) {
		t.Errorf("MovingAverage(…, 0) = %v", got)
	}
}

func TestLossCurve(t *testing.T) {
	losses := make([]float64, 500)
	for i := range losses {
		losses[i] = 1 / float64(i+1)
	}
	for _, logY := range []bool{false, true} {
		b, err := LossCurve("run", losses, logY)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("LossCurve(logY=%v) is not a PNG: %v", logY, err)
		}
	}
	if _, err := LossCurve("empty run", nil, false); err == nil || !strings.Contains(err.Error(), "empty run") {
		t.Errorf("LossCurve of no losses: %v", err)
	}
}

func TestQuality(t *testing.T) {
	ds := toy2d.Gaussians8{}
	pts := ds.Sample(rand.New(rand.NewPCG(1, 2)), 2000)
	nll, off, mmd := Quality(ds, pts)
	if want := toy2d.MeanNLL(ds, pts); nll != want {
		t.Errorf("NLL = %v, want toy2d.MeanNLL's %v", nll, want)
	}
	// The modes have std 0.1, so 0.5 is 5σ: P(off) = exp(−12.5) ≈ 4e-6 per point.
	if off != 0 {
		t.Errorf("off-mode share of true samples = %v", off)
	}
	origin := make([]toy2d.Point, 2000)
	_, offAll, mmdBad := Quality(ds, origin)
	if offAll != 1 {
		t.Errorf("off-mode share of points at the origin = %v, want 1", offAll)
	}
	if !(mmd < 0.01 && mmdBad > 10*mmd) {
		t.Errorf("MMD² of true samples %v, of collapsed ones %v", mmd, mmdBad)
	}
}

// TestQSample checks x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε by Monte Carlo: mean and
// variance of 20,000 draws within 5 standard errors.
func TestQSample(t *testing.T) {
	s, err := schedules.New("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.NewProcess(s)
	if err != nil {
		t.Fatal(err)
	}
	const n, x0, step = 20000, 0.8, 300
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = x0
	}
	xs := tensors.MustCopyFlatData[float32](QSample(p, tensors.FromFlatDataAndDimensions(ones, n, 1), step, 7))
	var m, v float64
	for _, x := range xs {
		m += float64(x) / n
	}
	for _, x := range xs {
		v += (float64(x) - m) * (float64(x) - m) / (n - 1)
	}
	ab := s.AlphaBar[step]
	wantM, wantV := math.Sqrt(ab)*x0, 1-ab
	if se := math.Sqrt(wantV / n); math.Abs(m-wantM) > 5*se {
		t.Errorf("mean of x_t = %v, want %v ± %v", m, wantM, 5*se)
	}
	if se := wantV * math.Sqrt(2.0/n); math.Abs(v-wantV) > 5*se {
		t.Errorf("variance of x_t = %v, want %v ± %v", v, wantV, 5*se)
	}
}

// TestPretrained opens a committed checkpoint, samples from it, and reads
// MNIST test digits with the committed classifier.
func TestPretrained(t *testing.T) {
	if testing.Short() {
		t.Skip("samples a UNet")
	}
	t.Chdir("../../notebooks")
	if msg := panics(func() { OpenPretrained("../go.mod") }); msg == "" {
		t.Errorf("OpenPretrained accepted a path outside %s", PretrainedDir)
	}
	p := OpenPretrained("mnist-unet-small.ckpt")
	if p.AE != nil || !slices.Equal(p.Config.DataDims(), []int{28, 28, 1}) {
		t.Fatalf("mnist-unet-small: autoencoder %v, dims %v", p.AE, p.Config.DataDims())
	}
	x := p.Sample(diffusion.DDIM{Steps: 3, ClipX0: true}, 2, diffusion.SampleOptions{Seed: 1})
	if len(x) != 2*784 {
		t.Fatalf("2 samples have %d values", len(x))
	}
	for i, v := range x {
		if !(v >= -1.5 && v <= 1.5) {
			t.Fatalf("sample value %d = %v", i, v)
		}
	}
	test, err := mnist.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	const k = 50
	got := Digits(test.Pixels[:k*784])
	right := 0
	for i, d := range got {
		if d == int(test.Labels[i]) {
			right++
		}
	}
	// The classifier has 98.3% test accuracy: 45 of 50 right is 3.4σ below it.
	if right < 45 {
		t.Errorf("the classifier read %d of %d test digits right", right, k)
	}
}

func TestDigitGrid(t *testing.T) {
	px := make([]float32, 6*784)
	for i := range px {
		px[i] = float32(i/784)/2.5 - 1 // image k is all (k/2.5 − 1)
	}
	b, err := DigitGrid(px, 3, plots.GridLabels{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// Scaled ×2 by default: 3 columns of 56 pixels and 2 rows, with padding.
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < 3*56 || w > 3*56+40 || h < 2*56 || h > 2*56+40 {
		t.Errorf("grid of 2×3 digits ×2 is %d×%d pixels", w, h)
	}
	if _, err := DigitGrid(px[:100], 3, plots.GridLabels{}); err == nil {
		t.Errorf("DigitGrid of 100 values: no error")
	}
}
