package schedules

import (
	"math"
	"math/big"
	"slices"
	"testing"
)

// identityCases returns every named schedule (plain and zero-SNR) at a few T,
// respaced schedules, and tiny hand-made ones.
func identityCases(t *testing.T) []*Schedule {
	t.Helper()
	var out []*Schedule
	for _, name := range Names() {
		for _, suffix := range []string{"", "+zero-snr"} {
			for _, T := range []int{1000, 50} {
				out = append(out, mustNew(t, name+suffix, T))
			}
		}
	}
	respaced := []struct{ name, spec string }{
		{"cosine", "ddim50"},
		{"linear", "10,15,20"},
		{"linear+zero-snr", "trailing:10"},
		{"scaled-linear", "leading:7"},
		{"sigmoid", "linspace:1"},
	}
	for _, r := range respaced {
		s, err := mustNew(t, r.name, 1000).RespaceSpec(r.spec)
		if err != nil {
			t.Fatalf("%s RespaceSpec(%q): %v", r.name, r.spec, err)
		}
		out = append(out, s)
	}
	for _, beta := range [][]float64{{0.3}, {1}, {0.2, 1}, {0.6, 0.7, 0.8}} {
		s, err := FromBetas("hand", beta)
		if err != nil {
			t.Fatalf("FromBetas(%v): %v", beta, err)
		}
		out = append(out, s)
	}
	s, err := FromAlphaBar("hand ᾱ", []float64{0.9, 0.5, 0.1, 0})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, s)
}

// TestIdentities checks every field of every schedule against references
// computed here from β alone: the products, the telescoping sum for 1 − ᾱ,
// and the posterior from Gaussian conditioning.
func TestIdentities(t *testing.T) {
	for _, s := range identityCases(t) {
		t.Run(s.Name, func(t *testing.T) {
			T := s.T
			for _, f := range [][]float64{s.Beta, s.Alpha, s.AlphaBar, s.AlphaBarPrev, s.OneMinusAlphaBar,
				s.SqrtAlphaBar, s.SqrtOneMinusAlphaBar, s.SqrtRecipAlphaBar, s.SqrtRecipM1AlphaBar,
				s.PosteriorVariance, s.PosteriorLogVarianceClipped, s.PosteriorMeanCoef1, s.PosteriorMeanCoef2,
				s.SNR, s.LogSNR} {
				if len(f) != T {
					t.Fatalf("a field has length %d, want T = %d", len(f), T)
				}
			}
			if len(s.Timesteps) != T {
				t.Fatalf("len(Timesteps) = %d, want %d", len(s.Timesteps), T)
			}
			for i := 1; i < T; i++ {
				if s.Timesteps[i] <= s.Timesteps[i-1] {
					t.Errorf("Timesteps not ascending at %d: %v", i, s.Timesteps[i-1:i+1])
				}
			}

			// References from β: ᾱ_t = ∏ (1 − β_s), and 1 − ᾱ_t as the
			// telescoping sum Σ_s β_s ∏_{r<s} (1 − β_r).
			abRef := make([]float64, T)
			omRef := make([]float64, T)
			prod, sum := 1.0, 0.0
			for i, b := range s.Beta {
				if !(b > 0 && b <= 1) {
					t.Fatalf("β[%d] = %v outside (0, 1]", i, b)
				}
				sum += b * prod
				prod *= 1 - b
				abRef[i], omRef[i] = prod, sum
			}
			for i := range T {
				checkNear(t, "α", s.Alpha[i], 1-s.Beta[i], 0, 0)
				checkNear(t, "ᾱ vs ∏α", s.AlphaBar[i], abRef[i], 1e-10, 1e-300)
				checkNear(t, "1 − ᾱ", s.OneMinusAlphaBar[i], omRef[i], 1e-12, 0)
				// Both are accumulated over up to T steps, each to its own
				// rounding: they add up to 1 within T·ε, not exactly.
				checkNear(t, "ᾱ + (1 − ᾱ)", s.AlphaBar[i]+s.OneMinusAlphaBar[i], 1, 0, 1e-13)
				checkNear(t, "√ᾱ²", s.SqrtAlphaBar[i]*s.SqrtAlphaBar[i], abRef[i], 1e-10, 1e-300)
				checkNear(t, "√(1−ᾱ)²", s.SqrtOneMinusAlphaBar[i]*s.SqrtOneMinusAlphaBar[i], omRef[i], 1e-12, 0)
				if abRef[i] == 0 {
					if !math.IsInf(s.SqrtRecipAlphaBar[i], 1) || !math.IsInf(s.SqrtRecipM1AlphaBar[i], 1) {
						t.Errorf("step %d has ᾱ = 0 but 1/√ᾱ = %v, √(1/ᾱ−1) = %v, want +Inf", i, s.SqrtRecipAlphaBar[i], s.SqrtRecipM1AlphaBar[i])
					}
				} else {
					checkNear(t, "1/√ᾱ", s.SqrtRecipAlphaBar[i], 1/math.Sqrt(abRef[i]), 1e-10, 0)
					checkNear(t, "√(1/ᾱ−1)", s.SqrtRecipM1AlphaBar[i], math.Sqrt(omRef[i]/abRef[i]), 1e-10, 0)
				}
			}
			// The off-by-one: at t = 1, 1 − ᾱ_1 is β_1 itself.
			if s.OneMinusAlphaBar[0] != s.Beta[0] {
				t.Errorf("1 − ᾱ_1 = %v, want β_1 = %v", s.OneMinusAlphaBar[0], s.Beta[0])
			}
			if s.AlphaBarPrev[0] != 1 {
				t.Errorf("AlphaBarPrev[0] = %v, want ᾱ_0 = 1", s.AlphaBarPrev[0])
			}
			for i := 1; i < T; i++ {
				if s.AlphaBarPrev[i] != s.AlphaBar[i-1] {
					t.Errorf("AlphaBarPrev[%d] = %v, want AlphaBar[%d] = %v", i, s.AlphaBarPrev[i], i-1, s.AlphaBar[i-1])
				}
			}

			// Posterior at t = 1: x₀ is known, so β̃_1 = 0, μ̃ = x₀.
			if s.PosteriorVariance[0] != 0 {
				t.Errorf("β̃_1 = %v, want 0", s.PosteriorVariance[0])
			}
			checkNear(t, "coef1 at t=1", s.PosteriorMeanCoef1[0], 1, 1e-15, 0)
			checkNear(t, "coef2 at t=1", s.PosteriorMeanCoef2[0], 0, 0, 0)
			// t ≥ 2: combine q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t) as a
			// likelihood for x_{t−1} with the prior
			// q(x_{t−1} | x₀) = N(√ᾱ_{t−1} x₀, 1 − ᾱ_{t−1}): precisions add,
			// means are precision-weighted.
			for i := 1; i < T; i++ {
				b, a := s.Beta[i], 1-s.Beta[i]
				priorVar, priorMeanCoef := omRef[i-1], math.Sqrt(abRef[i-1])
				precision := 1/priorVar + a/b
				v := 1 / precision
				checkNear(t, "β̃ vs conditioning", s.PosteriorVariance[i], v, 1e-10, 0)
				checkNear(t, "coef of x₀", s.PosteriorMeanCoef1[i], v*priorMeanCoef/priorVar, 1e-10, 0)
				checkNear(t, "coef of x_t", s.PosteriorMeanCoef2[i], v*math.Sqrt(a)/b, 1e-10, 0)
			}
			for i := range T {
				if pv := s.PosteriorVariance[i]; pv < 0 || pv > s.Beta[i] {
					t.Errorf("β̃[%d] = %v outside [0, β = %v]", i, pv, s.Beta[i])
				}
			}
			// Clipped log variance.
			if T > 1 {
				checkNear(t, "clipped log[0]", s.PosteriorLogVarianceClipped[0], math.Log(s.PosteriorVariance[1]), 1e-15, 0)
			} else {
				checkNear(t, "clipped log[0] (T=1)", s.PosteriorLogVarianceClipped[0], math.Log(s.Beta[0]), 1e-15, 0)
			}
			for i := 1; i < T; i++ {
				checkNear(t, "clipped log", s.PosteriorLogVarianceClipped[i], math.Log(s.PosteriorVariance[i]), 1e-15, 0)
			}

			// SNR.
			for i := range T {
				checkNear(t, "SNR", s.SNR[i], abRef[i]/omRef[i], 1e-10, 1e-300)
				checkNear(t, "LogSNR = log SNR", s.LogSNR[i], math.Log(s.SNR[i]), 0, 1e-12)
				if i > 0 && !(s.SNR[i] < s.SNR[i-1]) {
					t.Errorf("SNR not strictly decreasing at %d: %v then %v", i, s.SNR[i-1], s.SNR[i])
				}
			}
		})
	}
}

func TestFromAlphaBarKeepsValues(t *testing.T) {
	ab := []float64{0.99, 0.7, 0.3, 0.01}
	s, err := FromAlphaBar("x", ab)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.AlphaBar, ab) {
		t.Errorf("AlphaBar = %v, want %v", s.AlphaBar, ab)
	}
	// β by hand: 1 − 0.99, 1 − 0.7/0.99, 1 − 0.3/0.7, 1 − 0.01/0.3.
	want := []float64{0.01, 0.29 / 0.99, 0.4 / 0.7, 0.29 / 0.3}
	for i := range want {
		checkNear(t, "β", s.Beta[i], want[i], 1e-13, 0)
	}
	if !slices.Equal(s.Timesteps, []int{0, 1, 2, 3}) {
		t.Errorf("Timesteps = %v, want identity", s.Timesteps)
	}
	// The input slice is not aliased.
	ab[0] = 0.5
	if s.AlphaBar[0] != 0.99 {
		t.Error("FromAlphaBar aliases its input")
	}
}

func TestFromBetasRoundTrip(t *testing.T) {
	s := mustNew(t, "cosine", 200)
	r, err := FromAlphaBar("again", s.AlphaBar)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Beta {
		checkNear(t, "β through ᾱ", r.Beta[i], s.Beta[i], 1e-9, 0)
	}
}

// TestZeroTerminalSNR checks Lin et al.'s rescaling: √ᾱ_T = 0, √ᾱ_1 kept,
// and √ᾱ' an affine function of the original √ᾱ.
func TestZeroTerminalSNR(t *testing.T) {
	for _, name := range Names() {
		Ts := []int{1000, 20, 2}
		if name == "linear" {
			Ts = []int{1000, 21} // LinearBetas needs T ≥ 20
		}
		for _, T := range Ts {
			s := mustNew(t, name, T)
			z, err := RescaleZeroTerminalSNR(s)
			if err != nil {
				t.Fatalf("%s T=%d: %v", name, T, err)
			}
			if z.Name != name+"+zero-snr" {
				t.Errorf("Name = %q", z.Name)
			}
			if z.SqrtAlphaBar[T-1] != 0 || z.AlphaBar[T-1] != 0 || z.Beta[T-1] != 1 || z.Alpha[T-1] != 0 {
				t.Errorf("%s T=%d: last step √ᾱ = %v, ᾱ = %v, β = %v, α = %v; want 0, 0, 1, 0",
					name, T, z.SqrtAlphaBar[T-1], z.AlphaBar[T-1], z.Beta[T-1], z.Alpha[T-1])
			}
			if z.SNR[T-1] != 0 || !math.IsInf(z.LogSNR[T-1], -1) || !math.IsInf(z.SqrtRecipAlphaBar[T-1], 1) {
				t.Errorf("%s T=%d: last SNR = %v, LogSNR = %v, 1/√ᾱ = %v; want 0, −Inf, +Inf",
					name, T, z.SNR[T-1], z.LogSNR[T-1], z.SqrtRecipAlphaBar[T-1])
			}
			if z.AlphaBar[0] != s.AlphaBar[0] || z.Beta[0] != s.Beta[0] {
				t.Errorf("%s T=%d: first step changed: ᾱ_1 %v → %v", name, T, s.AlphaBar[0], z.AlphaBar[0])
			}
			// Affine map through the two end points, derived here.
			a1, aT := s.SqrtAlphaBar[0], s.SqrtAlphaBar[T-1]
			slope := a1 / (a1 - aT)
			for i := range T {
				checkNear(t, "√ᾱ' affine", z.SqrtAlphaBar[i], slope*(s.SqrtAlphaBar[i]-aT), 1e-12, 1e-15)
			}
			if !slices.Equal(z.Timesteps, s.Timesteps) {
				t.Errorf("Timesteps changed")
			}
			// New with the suffix gives the same schedule.
			n := mustNew(t, name+"+zero-snr", T)
			if !slices.Equal(n.AlphaBar, z.AlphaBar) {
				t.Errorf("New(%q) differs from RescaleZeroTerminalSNR", name+"+zero-snr")
			}
		}
	}
}

func TestNamesAndNew(t *testing.T) {
	want := []string{"linear", "cosine", "sqrt-linear", "scaled-linear", "sigmoid"}
	if !slices.Equal(Names(), want) {
		t.Errorf("Names() = %v, want %v", Names(), want)
	}
	for _, name := range want {
		s := mustNew(t, name, 100)
		if s.Name != name || s.T != 100 || !slices.Equal(s.Timesteps, identity(100)) {
			t.Errorf("New(%q, 100): Name %q, T %d", name, s.Name, s.T)
		}
	}
	// Linear at T = 20 has β_T = 1 exactly: a legal zero-terminal schedule.
	s := mustNew(t, "linear", 20)
	if s.Beta[19] != 1 || s.AlphaBar[19] != 0 {
		t.Errorf("linear T=20: β_T = %v, ᾱ_T = %v, want 1 and 0", s.Beta[19], s.AlphaBar[19])
	}
}

// TestOneMinusAlphaBarAccuracy checks 1 − ᾱ_t against a 256-bit reference
// computed from the same float64 β: it must be accurate to a few ulps even
// where ᾱ_t ≈ 1 (where float64 1 − ᾱ_t would lose about four digits at
// β ≈ 1e-4), and exactly 1 after a step with β = 1.
func TestOneMinusAlphaBarAccuracy(t *testing.T) {
	for _, name := range []string{"linear", "cosine", "scaled-linear"} {
		s := mustNew(t, name, 1000)
		prod := new(big.Float).SetPrec(256).SetFloat64(1)
		one := new(big.Float).SetPrec(256).SetFloat64(1)
		for i, b := range s.Beta {
			alpha := new(big.Float).SetPrec(256).Sub(one, new(big.Float).SetPrec(256).SetFloat64(b))
			prod.Mul(prod, alpha)
			want, _ := new(big.Float).SetPrec(256).Sub(one, prod).Float64()
			// Error grows at most linearly with t; 4 ulps per step is generous.
			checkNear(t, name+" 1 − ᾱ vs big.Float", s.OneMinusAlphaBar[i], want, 4e-16*float64(i+1), 0)
		}
	}
	for _, s := range []*Schedule{mustNew(t, "linear", 20), mustNew(t, "cosine+zero-snr", 1000), mustNew(t, "sigmoid+zero-snr", 333)} {
		if s.OneMinusAlphaBar[s.T-1] != 1 || s.SqrtOneMinusAlphaBar[s.T-1] != 1 {
			t.Errorf("%s: last 1 − ᾱ = %v, √ = %v, want exactly 1 (x_T is pure noise)", s.Name, s.OneMinusAlphaBar[s.T-1], s.SqrtOneMinusAlphaBar[s.T-1])
		}
	}
}
