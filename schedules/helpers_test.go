package schedules

import (
	"math"
	"testing"
)

// near reports whether got is within abs + rel·|want| of want; equal
// infinities count as near, NaN never does.
func near(got, want, rel, abs float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return false
	}
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		return got == want
	}
	return math.Abs(got-want) <= abs+rel*math.Abs(want)
}

// checkNear fails t when got is not near want.
func checkNear(t *testing.T, what string, got, want, rel, abs float64) {
	t.Helper()
	if !near(got, want, rel, abs) {
		t.Errorf("%s = %.17g, want %.17g (rel %g, abs %g)", what, got, want, rel, abs)
	}
}

// mustNew is New for tests.
func mustNew(t *testing.T, name string, T int) *Schedule {
	t.Helper()
	s, err := New(name, T)
	if err != nil {
		t.Fatalf("New(%q, %d): %v", name, T, err)
	}
	return s
}

// rk4 integrates dy/dt = f(t, y) from t0 to t1 in n classical Runge–Kutta
// steps and returns y(t1).
func rk4(f func(t float64, y []float64) []float64, y0 []float64, t0, t1 float64, n int) []float64 {
	y := append([]float64(nil), y0...)
	h := (t1 - t0) / float64(n)
	axpy := func(a float64, x, y []float64) []float64 {
		out := make([]float64, len(y))
		for i := range y {
			out[i] = y[i] + a*x[i]
		}
		return out
	}
	for k := range n {
		t := t0 + float64(k)*h
		k1 := f(t, y)
		k2 := f(t+h/2, axpy(h/2, k1, y))
		k3 := f(t+h/2, axpy(h/2, k2, y))
		k4 := f(t+h, axpy(h, k3, y))
		for i := range y {
			y[i] += h / 6 * (k1[i] + 2*k2[i] + 2*k3[i] + k4[i])
		}
	}
	return y
}
