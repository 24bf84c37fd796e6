package schedules

import (
	"math"
	"testing"
)

func TestLinearBetas(t *testing.T) {
	tests := []struct {
		T                int
		wantFirst, wantN float64
	}{
		{1000, 1e-4, 0.02},
		{250, 4e-4, 0.08}, // endpoints × 1000/250 = 4
		{2000, 0.5e-4, 0.01},
	}
	for _, tc := range tests {
		beta, err := LinearBetas(tc.T)
		if err != nil {
			t.Fatalf("LinearBetas(%d): %v", tc.T, err)
		}
		if len(beta) != tc.T {
			t.Fatalf("LinearBetas(%d) has %d entries", tc.T, len(beta))
		}
		checkNear(t, "β_1", beta[0], tc.wantFirst, 1e-15, 0)
		checkNear(t, "β_T", beta[tc.T-1], tc.wantN, 1e-15, 0)
		// Evenly spaced: every difference equals (β_T − β_1)/(T − 1).
		step := (tc.wantN - tc.wantFirst) / float64(tc.T-1)
		for i := 1; i < tc.T; i++ {
			checkNear(t, "β_{t+1} − β_t", beta[i]-beta[i-1], step, 1e-9, 0)
		}
	}
}

// TestLinearTerminal checks ᾱ_T of DDPM's schedule at T = 1000 against a
// reference summed in logs here, and against the widely quoted √ᾱ_T ≈ 0.0064
// and ᾱ_T ≈ 4.0358e-5.
func TestLinearTerminal(t *testing.T) {
	const T = 1000
	logSum := 0.0
	for i := range T {
		b := 1e-4 + (0.02-1e-4)*float64(i)/float64(T-1)
		logSum += math.Log1p(-b)
	}
	ref := math.Exp(logSum)
	checkNear(t, "reference ᾱ_T", ref, 4.0358e-5, 1e-4, 0)
	checkNear(t, "reference √ᾱ_T", math.Sqrt(ref), 0.0064, 0, 0.00005)

	s := mustNew(t, "linear", T)
	checkNear(t, "ᾱ_T", s.AlphaBar[T-1], ref, 1e-12, 0)
	checkNear(t, "√ᾱ_T", s.SqrtAlphaBar[T-1], math.Sqrt(ref), 1e-12, 0)
	// log SNR_T = log(ᾱ_T/(1 − ᾱ_T)) ≈ −10.1177.
	wantLog := logSum - math.Log(-math.Expm1(logSum))
	checkNear(t, "LogSNR_T", s.LogSNR[T-1], wantLog, 1e-12, 0)
	checkNear(t, "LogSNR_T (rounded)", s.LogSNR[T-1], -10.1177, 0, 5e-5)
}

// cosineF is improved DDPM's f(t) = cos²((t/T + s)/(1 + s) · π/2) written
// here from the paper.
func cosineF(t, T int) float64 {
	c := math.Cos((float64(t)/float64(T) + 0.008) / 1.008 * math.Pi / 2)
	return c * c
}

func TestCosineBetas(t *testing.T) {
	for _, T := range []int{1000, 100, 10, 2} {
		s := mustNew(t, "cosine", T)
		capped := 0
		for i, b := range s.Beta {
			if b > 0.999 {
				t.Errorf("T=%d: β[%d] = %v > 0.999", T, i, b)
			}
			if b == 0.999 {
				capped++
			}
		}
		// The cap is active at the last step only, where f(1) = 0.
		if capped != 1 || s.Beta[T-1] != 0.999 {
			t.Errorf("T=%d: %d capped steps, β_T = %v; want only the last, with β_T = 0.999", T, capped, s.Beta[T-1])
		}
		f0 := cosineF(0, T)
		for i := 0; i < T-1; i++ {
			checkNear(t, "ᾱ_t vs f(t)/f(0)", s.AlphaBar[i], cosineF(i+1, T)/f0, 1e-12, 0)
		}
		// Last step: ᾱ_T = (1 − 0.999) ᾱ_{T−1} = 0.001 f((T−1)/T)/f(0), not 0.
		checkNear(t, "ᾱ_T", s.AlphaBar[T-1], 0.001*cosineF(T-1, T)/f0, 1e-12, 0)
	}
	// At T = 1000, f(0.999) ≈ sin²(0.001/1.008 · π/2) so ᾱ_T ≈ 2.43e-9 and
	// √ᾱ_T ≈ 4.9e-5: far from the zero terminal SNR the cosine curve aims at.
	s := mustNew(t, "cosine", 1000)
	x := 0.001 / 1.008 * math.Pi / 2
	approx := 0.001 * math.Sin(x) * math.Sin(x) / cosineF(0, 1000)
	checkNear(t, "ᾱ_T small-angle", s.AlphaBar[999], approx, 1e-6, 0)
}

// TestStableDiffusionBetas checks both names of Stable Diffusion's schedule:
// they are the same values, and √ᾱ_T matches the 0.068265 that Lin et al.
// (2024), Table 1, publish for Stable Diffusion.
func TestStableDiffusionBetas(t *testing.T) {
	for _, T := range []int{1000, 37, 1} {
		a, err := SqrtLinearBetas(T)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ScaledLinearBetas(T)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("T=%d: SqrtLinearBetas[%d] = %v ≠ ScaledLinearBetas[%d] = %v", T, i, a[i], i, b[i])
			}
			// Linear in √β.
			want := math.Sqrt(0.00085)
			if T > 1 {
				want += (math.Sqrt(0.012) - math.Sqrt(0.00085)) * float64(i) / float64(T-1)
			}
			checkNear(t, "√β", math.Sqrt(a[i]), want, 1e-14, 0)
		}
		checkNear(t, "β_1", a[0], 0.00085, 1e-14, 0)
		if T > 1 {
			checkNear(t, "β_T", a[T-1], 0.012, 1e-14, 0)
		}
	}
	for _, name := range []string{"sqrt-linear", "scaled-linear"} {
		s := mustNew(t, name, 1000)
		checkNear(t, name+" √ᾱ_T", s.SqrtAlphaBar[999], 0.068265, 0, 5e-7)
		checkNear(t, name+" SNR_T", s.SNR[999], 0.004682, 0, 5e-7)
	}
}

// sigmoidGamma is Chen's γ(u) rewritten with tanh, σ(x) = (1 + tanh(x/2))/2,
// for start = −3, end = 3, τ = 1.
func sigmoidGamma(u float64) float64 {
	return (math.Tanh(1.5) - math.Tanh(3*u-1.5)) / (2 * math.Tanh(1.5))
}

func TestSigmoidBetas(t *testing.T) {
	for _, T := range []int{1000, 64, 3} {
		s := mustNew(t, "sigmoid", T)
		for i := 0; i < T-1; i++ {
			if s.Beta[i] >= 0.999 {
				t.Errorf("T=%d: β[%d] = %v capped", T, i, s.Beta[i])
			}
			checkNear(t, "ᾱ_t vs γ(t/T)", s.AlphaBar[i], sigmoidGamma(float64(i+1)/float64(T)), 1e-12, 1e-15)
		}
		if s.Beta[T-1] != 0.999 {
			t.Errorf("T=%d: β_T = %v, want the cap 0.999 (γ(1) = 0)", T, s.Beta[T-1])
		}
		checkNear(t, "ᾱ_T", s.AlphaBar[T-1], 0.001*sigmoidGamma(float64(T-1)/float64(T)), 1e-12, 0)
	}
	// γ is symmetric about its midpoint: γ(½) = ½.
	s := mustNew(t, "sigmoid", 1000)
	checkNear(t, "ᾱ at t = T/2", s.AlphaBar[499], 0.5, 1e-12, 0)
}
