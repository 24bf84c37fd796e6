package schedules

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSpacedTimesteps checks each spacing against lists derived by hand.
func TestSpacedTimesteps(t *testing.T) {
	tests := []struct {
		T    int
		spec string
		want []int
	}{
		// linspace: round(linspace(0, 9, N)), ties to even.
		{10, "linspace:3", []int{0, 4, 9}},       // 0, 4.5, 9: 4.5 → 4
		{10, "linspace:4", []int{0, 3, 6, 9}},    // step 3
		{10, "linspace:5", []int{0, 2, 4, 7, 9}}, // 0, 2.25, 4.5, 6.75, 9
		{10, "linspace:1", []int{0}},
		{10, "linspace:10", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		// leading: i·⌊10/N⌋.
		{10, "leading:3", []int{0, 3, 6}},       // stride 3
		{10, "leading:4", []int{0, 2, 4, 6}},    // stride ⌊2.5⌋ = 2
		{10, "leading:5", []int{0, 2, 4, 6, 8}}, // stride 2
		{10, "leading:1", []int{0}},
		// trailing: round(10 − k·10/N) − 1.
		{10, "trailing:3", []int{2, 6, 9}},       // 10, 6.67, 3.33 → 10, 7, 3 → 9, 6, 2
		{10, "trailing:4", []int{1, 4, 7, 9}},    // 10, 7.5, 5, 2.5 → 10, 8, 5, 2 (ties to even) → 9, 7, 4, 1
		{10, "trailing:5", []int{1, 3, 5, 7, 9}}, // 10, 8, 6, 4, 2 → 9, 7, 5, 3, 1
		{10, "trailing:1", []int{9}},
		// ddimN: smallest stride with len(range(0, 10, stride)) == N.
		{10, "ddim3", []int{0, 4, 8}},       // stride 4 (stride 3 gives 4 steps)
		{10, "ddim4", []int{0, 3, 6, 9}},    // stride 3
		{10, "ddim5", []int{0, 2, 4, 6, 8}}, // stride 2
		{10, "ddim10", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{10, "ddim1", []int{0}}, // stride 10
		// Section counts.
		{10, "3", []int{0, 4, 9}},           // one section of 10, stride 4.5: 0, 4.5 → 4, 9
		{10, "2,3", []int{0, 4, 5, 7, 9}},   // sections [0,5) stride 4: 0, 4; [5,10) stride 2: 5, 7, 9
		{10, "1,1,1", []int{0, 4, 7}},       // sizes 4, 3, 3: first step of each
		{7, "2,2", []int{0, 3, 4, 6}},       // sizes 4, 3: 0, 3; 4, 6
		{10, " 2, 3", []int{0, 4, 5, 7, 9}}, // spaces are allowed
	}
	for _, tc := range tests {
		got, err := SpacedTimesteps(tc.T, tc.spec)
		if err != nil {
			t.Errorf("SpacedTimesteps(%d, %q): %v", tc.T, tc.spec, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SpacedTimesteps(%d, %q) = %v, want %v", tc.T, tc.spec, got, tc.want)
		}
	}
}

// TestSpacedTimestepsLinTable2 reproduces Lin et al. (2024), Table 2 (T = 1000,
// 10 steps), whose 1-based steps are linspace 1, 112, …, 1000; leading
// 1, 101, …, 901; trailing 100, 200, …, 1000. Here they are 0-based.
func TestSpacedTimestepsLinTable2(t *testing.T) {
	want := map[string][]int{
		"linspace:10": {0, 111, 222, 333, 444, 555, 666, 777, 888, 999},
		"leading:10":  {0, 100, 200, 300, 400, 500, 600, 700, 800, 900},
		"trailing:10": {99, 199, 299, 399, 499, 599, 699, 799, 899, 999},
	}
	for spec, w := range want {
		got, err := SpacedTimesteps(1000, spec)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s = %v, want %v", spec, got, w)
		}
	}
}

// TestSpacedTimestepsProperties checks, for many T and N, that every spacing
// returns N distinct ascending steps in [0, T), with the ends each promises.
func TestSpacedTimestepsProperties(t *testing.T) {
	for _, T := range []int{1, 2, 7, 10, 100, 1000, 4000} {
		for _, N := range []int{1, 2, 3, 7, 10, 25, 50, 99, 250, 1000} {
			if N > T {
				continue
			}
			for _, kind := range []string{"linspace", "leading", "trailing"} {
				spec := kind + ":" + strconv.Itoa(N)
				got, err := SpacedTimesteps(T, spec)
				if err != nil {
					t.Fatalf("T=%d %s: %v", T, spec, err)
				}
				checkSteps(t, T, spec, got, N)
				switch kind {
				case "linspace":
					if got[0] != 0 || (N > 1 && got[N-1] != T-1) {
						t.Errorf("T=%d %s: ends %d, %d, want 0 and T−1", T, spec, got[0], got[N-1])
					}
				case "leading":
					if got[0] != 0 || (N > 1 && got[1] != T/N) {
						t.Errorf("T=%d %s: starts %v, want 0, ⌊T/N⌋", T, spec, got[:min(2, N)])
					}
				case "trailing":
					if got[N-1] != T-1 {
						t.Errorf("T=%d %s: last %d, want T−1", T, spec, got[N-1])
					}
				}
			}
		}
	}
}

func checkSteps(t *testing.T, T int, spec string, got []int, n int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("T=%d %s: %d steps, want %d", T, spec, len(got), n)
		return
	}
	for i, k := range got {
		if k < 0 || k >= T || (i > 0 && k <= got[i-1]) {
			t.Errorf("T=%d %s: step %d = %d (not ascending in [0, %d)): %v", T, spec, i, k, T, got)
			return
		}
	}
}

// TestDDIMStride checks improved DDPM's rule at T = 1000: ddim50 is stride 20,
// ddim250 stride 4, ddim100 stride 10, and a count with no exact stride fails.
func TestDDIMStride(t *testing.T) {
	for _, tc := range []struct{ n, stride int }{{50, 20}, {250, 4}, {100, 10}, {1000, 1}, {334, 3}, {3, 334}} {
		got, err := SpacedTimesteps(1000, "ddim"+strconv.Itoa(tc.n))
		if err != nil {
			t.Fatalf("ddim%d: %v", tc.n, err)
		}
		var want []int
		for i := 0; i < 1000; i += tc.stride {
			want = append(want, i)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ddim%d = %v, want stride %d", tc.n, got, tc.stride)
		}
	}
	// Strides 2 and 3 give 500 and 334 steps: nothing gives 400.
	if _, err := SpacedTimesteps(1000, "ddim400"); err == nil {
		t.Error("ddim400 at T=1000 should fail (no integer stride)")
	}
}

// TestSectionCounts checks improved DDPM's "10,15,20" at T = 300: three
// sections of 100 steps, each evenly spaced with both ends kept.
func TestSectionCounts(t *testing.T) {
	got, err := SpacedTimesteps(300, "10,15,20")
	if err != nil {
		t.Fatal(err)
	}
	checkSteps(t, 300, "10,15,20", got, 45)
	// Section 0: stride 99/9 = 11 exactly: 0, 11, …, 99.
	for j := range 10 {
		if got[j] != 11*j {
			t.Errorf("section 0 step %d = %d, want %d", j, got[j], 11*j)
		}
	}
	// Sections 1 and 2 start and end at their edges.
	if got[10] != 100 || got[24] != 199 || got[25] != 200 || got[44] != 299 {
		t.Errorf("section edges %d, %d, %d, %d; want 100, 199, 200, 299", got[10], got[24], got[25], got[44])
	}
}

func TestRespace(t *testing.T) {
	s := mustNew(t, "linear", 1000)
	keep, err := SpacedTimesteps(1000, "ddim50")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Respace(keep)
	if err != nil {
		t.Fatal(err)
	}
	if r.T != 50 || !slices.Equal(r.Timesteps, keep) {
		t.Fatalf("T = %d, Timesteps = %v", r.T, r.Timesteps)
	}
	for i, k := range keep {
		if r.AlphaBar[i] != s.AlphaBar[k] {
			t.Errorf("ᾱ'[%d] = %v, want ᾱ[%d] = %v exactly", i, r.AlphaBar[i], k, s.AlphaBar[k])
		}
		prev := 1.0
		if i > 0 {
			prev = s.AlphaBar[keep[i-1]]
		}
		checkNear(t, "β'", r.Beta[i], 1-s.AlphaBar[k]/prev, 1e-12, 0)
	}
	// β'_1 = 1 − ᾱ_{k_0}/ᾱ_0 = β_1 since k_0 = 0.
	if r.Beta[0] != s.Beta[0] {
		t.Errorf("β'_1 = %v, want β_1 = %v", r.Beta[0], s.Beta[0])
	}

	// Compose: keep steps 0, 10 and 49 of the respaced schedule.
	rr, err := r.Respace([]int{0, 10, 49})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 200, 980}; !slices.Equal(rr.Timesteps, want) {
		t.Errorf("composed Timesteps = %v, want %v", rr.Timesteps, want)
	}
	for i, k := range rr.Timesteps {
		if rr.AlphaBar[i] != s.AlphaBar[k] {
			t.Errorf("composed ᾱ[%d] = %v, want original ᾱ[%d] = %v", i, rr.AlphaBar[i], k, s.AlphaBar[k])
		}
	}

	// Keeping every step reproduces the schedule bit for bit.
	all, err := s.Respace(identity(1000))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name     string
		got, old []float64
	}{
		{"Beta", all.Beta, s.Beta}, {"AlphaBar", all.AlphaBar, s.AlphaBar},
		{"PosteriorVariance", all.PosteriorVariance, s.PosteriorVariance},
		{"PosteriorMeanCoef1", all.PosteriorMeanCoef1, s.PosteriorMeanCoef1},
		{"LogSNR", all.LogSNR, s.LogSNR},
	} {
		if !slices.Equal(f.got, f.old) {
			t.Errorf("identity respacing changed %s", f.name)
		}
	}

	// A first kept step other than 0 gets β'_1 = 1 − ᾱ_{k_0}.
	late, err := s.Respace([]int{499, 999})
	if err != nil {
		t.Fatal(err)
	}
	checkNear(t, "β' from ᾱ_0 = 1", late.Beta[0], 1-s.AlphaBar[499], 1e-15, 0)

	// Names.
	named, err := mustNew(t, "cosine", 1000).RespaceSpec("ddim50")
	if err != nil {
		t.Fatal(err)
	}
	if named.Name != "cosine respaced ddim50" {
		t.Errorf("Name = %q", named.Name)
	}
	if !strings.HasPrefix(r.Name, "linear respaced 50/1000") {
		t.Errorf("Name = %q", r.Name)
	}
}

// TestRespaceZeroSNR: trailing spacing keeps the zero-SNR last step.
func TestRespaceZeroSNR(t *testing.T) {
	s := mustNew(t, "scaled-linear+zero-snr", 1000)
	r, err := s.RespaceSpec("trailing:25")
	if err != nil {
		t.Fatal(err)
	}
	if r.AlphaBar[24] != 0 || r.Beta[24] != 1 || r.Timesteps[24] != 999 {
		t.Errorf("last step ᾱ = %v, β = %v, timestep %d; want 0, 1, 999", r.AlphaBar[24], r.Beta[24], r.Timesteps[24])
	}
}
