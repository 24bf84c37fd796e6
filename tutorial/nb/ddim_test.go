package nb

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Slerp between two orthogonal unit vectors is (cos(uπ/2), sin(uπ/2)) by
// hand; its ends are a and b; between two Gaussian latents of the same norm
// every interpolant keeps that norm, while Lerp's midpoint is shorter by
// about √2; parallel vectors fall back to the straight line.
func TestSlerp(t *testing.T) {
	a, b := []float64{1, 0}, []float64{0, 1}
	for _, u := range []float64{0, 0.25, 0.5, 0.8, 1} {
		got := Slerp(a, b, u)
		want := []float64{math.Cos(u * math.Pi / 2), math.Sin(u * math.Pi / 2)}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("Slerp(e₁, e₂, %g) = %v, want %v", u, got, want)
			}
		}
	}
	// Two latents of 784 values, b rescaled to a's norm.
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, 784), make([]float32, 784)
	for i := range x {
		x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	s := float32(Norm(x) / Norm(y))
	for i := range y {
		y[i] *= s
	}
	for _, u := range []float64{0, 0.1, 0.5, 0.9, 1} {
		if n := Slerp(x, y, u); math.Abs(Norm(n)/Norm(x)-1) > 1e-5 {
			t.Errorf("u = %g: slerp's norm %.4f, want %.4f", u, Norm(n), Norm(x))
		}
	}
	if e := Slerp(x, y, 0); e[3] != x[3] || Slerp(x, y, 1)[7] != y[7] {
		t.Errorf("slerp's ends are not a and b")
	}
	if ratio := Norm(x) / Norm(Lerp(x, y, 0.5)); math.Abs(ratio-math.Sqrt2) > 0.1 {
		t.Errorf("|x| / |lerp midpoint| = %.3f, want about √2", ratio)
	}
	// Parallel: the straight line.
	if got := Slerp([]float64{1, 2}, []float64{2, 4}, 0.5); math.Abs(got[0]-1.5) > 1e-12 || math.Abs(got[1]-3) > 1e-12 {
		t.Errorf("Slerp of parallel vectors = %v, want (1.5, 3)", got)
	}
	if got := Lerp([]float64{1, -2}, []float64{3, 2}, 0.25); got[0] != 1.5 || got[1] != -1 {
		t.Errorf("Lerp = %v, want (1.5, −1)", got)
	}
	if n := Norm([]float64{3, 4}); n != 5 {
		t.Errorf("Norm(3, 4) = %g", n)
	}
}

// MeanAbsError and MeanStd against values worked by hand; MeanAbsError clips
// the reconstruction as PSNR does.
func TestMeanAbsErrorAndMeanStd(t *testing.T) {
	if e := MeanAbsError([]float32{0, 1, -1, 0.5}, []float32{0.5, 3, -1, 0}); math.Abs(e-0.25) > 1e-7 {
		t.Errorf("MeanAbsError = %g, want (0.5 + 0 (clipped) + 0 + 0.5)/4 = 0.25", e)
	}
	m, s := MeanStd([]float64{1, 3, 5, 7})
	if m != 4 || math.Abs(s-math.Sqrt(5)) > 1e-12 {
		t.Errorf("MeanStd(1, 3, 5, 7) = %g, %g, want 4, √5", m, s)
	}
	if m, s := MeanStd([]float32{}); !math.IsNaN(m) || !math.IsNaN(s) {
		t.Errorf("MeanStd of nothing = %g, %g, want NaN, NaN", m, s)
	}
}
