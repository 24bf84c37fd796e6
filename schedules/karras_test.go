package schedules

import (
	"math"
	"testing"
)

func TestKarrasSigmas(t *testing.T) {
	// By hand, ρ = 2, σ ∈ [1, 16]: √σ runs 4, 2.5, 1, so σ = 16, 6.25, 1.
	got, err := KarrasSigmas(3, 1, 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{16, 6.25, 1} {
		checkNear(t, "σ_i (ρ=2)", got[i], want, 1e-15, 0)
	}

	// EDM's values: n = 18, σ ∈ [0.002, 80], ρ = 7.
	s, err := KarrasSigmas(18, 0.002, 80, KarrasRho)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 18 || s[0] != 80 || s[17] != 0.002 {
		t.Errorf("EDM sigmas: len %d, ends %v, %v; want 18, 80, 0.002", len(s), s[0], s[len(s)-1])
	}
	for i := 1; i < len(s); i++ {
		if !(s[i] < s[i-1]) {
			t.Errorf("not strictly descending at %d: %v, %v", i, s[i-1], s[i])
		}
		// σ^{1/ρ} is linear in i: equal steps.
		step := (math.Pow(0.002, 1/7.0) - math.Pow(80, 1/7.0)) / 17
		checkNear(t, "Δσ^{1/7}", math.Pow(s[i], 1/7.0)-math.Pow(s[i-1], 1/7.0), step, 1e-10, 0)
	}

	// ρ = 1 is plain linspace from σ_max to σ_min.
	lin, err := KarrasSigmas(5, 1, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{9, 7, 5, 3, 1} {
		checkNear(t, "σ_i (ρ=1)", lin[i], want, 1e-15, 0)
	}

	one, err := KarrasSigmas(1, 0.002, 80, 7)
	if err != nil || len(one) != 1 || one[0] != 80 {
		t.Errorf("KarrasSigmas(1, …) = %v, %v; want [80]", one, err)
	}
}
