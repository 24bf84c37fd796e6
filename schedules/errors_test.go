package schedules

import (
	"math"
	"strings"
	"testing"
)

// checkErr fails unless err is a schedules error containing want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("got no error, want one containing %q", want)
		return
	}
	if !strings.HasPrefix(err.Error(), "schedules: ") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want prefix \"schedules: \" and %q", err, want)
	}
}

func TestErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	lin := func() *Schedule { return mustNew(t, "linear", 1000) }
	var nilSchedule *Schedule
	errOf := func(_ any, err error) error { return err }

	tests := []struct {
		name string
		err  error
		want string
	}{
		// Named β schedules.
		{"LinearBetas T=0", errOf(LinearBetas(0)), "LinearBetas: T must be > 0, got 0"},
		{"LinearBetas T<0", errOf(LinearBetas(-3)), "LinearBetas: T must be > 0, got -3"},
		{"LinearBetas T=19", errOf(LinearBetas(19)), "LinearBetas: T = 19 gives β_T"},
		{"CosineBetas", errOf(CosineBetas(0)), "CosineBetas: T must be > 0, got 0"},
		{"SqrtLinearBetas", errOf(SqrtLinearBetas(-1)), "SqrtLinearBetas: T must be > 0, got -1"},
		{"ScaledLinearBetas", errOf(ScaledLinearBetas(0)), "ScaledLinearBetas: T must be > 0, got 0"},
		{"SigmoidBetas", errOf(SigmoidBetas(0)), "SigmoidBetas: T must be > 0, got 0"},

		// New.
		{"New unknown", errOf(New("quadratic", 1000)), `New: unknown schedule "quadratic"; valid names are linear, cosine, sqrt-linear, scaled-linear, sigmoid`},
		{"New bad suffix", errOf(New("cosine+zero", 1000)), `unknown schedule "cosine+zero"`},
		{"New T=0", errOf(New("cosine", 0)), "CosineBetas: T must be > 0, got 0"},
		{"New zero-snr T=1", errOf(New("cosine+zero-snr", 1)), "RescaleZeroTerminalSNR: schedule \"cosine\" has T = 1"},

		// FromBetas.
		{"FromBetas empty", errOf(FromBetas("x", nil)), "FromBetas: no β given"},
		{"FromBetas NaN", errOf(FromBetas("x", []float64{0.1, nan})), "FromBetas: beta[1] = NaN"},
		{"FromBetas 0", errOf(FromBetas("x", []float64{0})), "FromBetas: beta[0] = 0"},
		{"FromBetas <0", errOf(FromBetas("x", []float64{-0.1})), "FromBetas: beta[0] = -0.1"},
		{"FromBetas >1", errOf(FromBetas("x", []float64{0.1, 1.5})), "FromBetas: beta[1] = 1.5"},
		{"FromBetas Inf", errOf(FromBetas("x", []float64{inf})), "FromBetas: beta[0] = +Inf"},
		{"FromBetas 1 early", errOf(FromBetas("x", []float64{0.1, 1, 0.1})), "FromBetas: beta[1] = 1 before the last step"},
		{"FromBetas tiny", errOf(FromBetas("x", []float64{1e-20})), "FromBetas: beta[0] = 1e-20 is too small"},

		// FromAlphaBar.
		{"FromAlphaBar empty", errOf(FromAlphaBar("x", []float64{})), "FromAlphaBar: no ᾱ given"},
		{"FromAlphaBar NaN", errOf(FromAlphaBar("x", []float64{0.5, nan})), "FromAlphaBar: alphaBar[1] = NaN"},
		{"FromAlphaBar 1", errOf(FromAlphaBar("x", []float64{1, 0.5})), "FromAlphaBar: alphaBar[0] = 1"},
		{"FromAlphaBar <0", errOf(FromAlphaBar("x", []float64{0.5, -0.1})), "FromAlphaBar: alphaBar[1] = -0.1"},
		{"FromAlphaBar 0 early", errOf(FromAlphaBar("x", []float64{0.5, 0, 0})), "FromAlphaBar: alphaBar[1] = 0 before the last step"},
		{"FromAlphaBar increasing", errOf(FromAlphaBar("x", []float64{0.5, 0.6})), "FromAlphaBar: alphaBar[1] = 0.6 ≥ alphaBar[0] = 0.5"},
		{"FromAlphaBar flat", errOf(FromAlphaBar("x", []float64{0.5, 0.5})), "alphaBar[1] = 0.5 ≥ alphaBar[0] = 0.5"},
		{"FromAlphaBar -Inf", errOf(FromAlphaBar("x", []float64{math.Inf(-1)})), "alphaBar[0] = -Inf"},

		// RescaleZeroTerminalSNR.
		{"Rescale nil", errOf(RescaleZeroTerminalSNR(nil)), "RescaleZeroTerminalSNR: nil schedule"},

		// SpacedTimesteps.
		{"Spaced T=0", errOf(SpacedTimesteps(0, "ddim1")), "SpacedTimesteps: T must be > 0, got 0"},
		{"Spaced N=0", errOf(SpacedTimesteps(10, "linspace:0")), `spec "linspace:0" asks for 0 steps, want 1 ≤ N ≤ T = 10`},
		{"Spaced N>T", errOf(SpacedTimesteps(10, "trailing:11")), `spec "trailing:11" asks for 11 steps`},
		{"Spaced N<0", errOf(SpacedTimesteps(10, "leading:-2")), `asks for -2 steps`},
		{"Spaced N not int", errOf(SpacedTimesteps(10, "leading:x")), `spec "leading:x": "x" is not an integer`},
		{"Spaced N empty", errOf(SpacedTimesteps(10, "trailing:")), `spec "trailing:": "" is not an integer`},
		{"Spaced unknown kind", errOf(SpacedTimesteps(10, "uniform:3")), `unknown spacing "uniform"`},
		{"Spaced ddim empty", errOf(SpacedTimesteps(10, "ddim")), `spec "ddim": "" is not an integer`},
		{"Spaced ddim0", errOf(SpacedTimesteps(10, "ddim0")), `spec "ddim0" asks for 0 steps`},
		{"Spaced ddim>T", errOf(SpacedTimesteps(10, "ddim11")), `spec "ddim11" asks for 11 steps`},
		{"Spaced ddim no stride", errOf(SpacedTimesteps(10, "ddim6")), `spec "ddim6": no integer stride gives exactly 6 of T = 10 steps`},
		{"Spaced empty", errOf(SpacedTimesteps(10, "")), "SpacedTimesteps: empty spec"},
		{"Spaced bad count", errOf(SpacedTimesteps(10, "1,,2")), `spec "1,,2": section count "" is not an integer`},
		{"Spaced word", errOf(SpacedTimesteps(10, "fast")), `section count "fast" is not an integer`},
		{"Spaced count 0", errOf(SpacedTimesteps(10, "0,3")), `spec "0,3": section 0 count is 0, want ≥ 1`},
		{"Spaced count<0", errOf(SpacedTimesteps(10, "-2")), `section 0 count is -2`},
		{"Spaced count too big", errOf(SpacedTimesteps(10, "5,6")), `spec "5,6": section 1 has 5 steps, cannot keep 6`},
		{"Spaced more sections than T", errOf(SpacedTimesteps(2, "1,1,1")), `section 2 has 0 steps, cannot keep 1`},

		// Respace.
		{"Respace nil", errOf(nilSchedule.Respace([]int{0})), "Respace: nil schedule"},
		{"RespaceSpec nil", errOf(nilSchedule.RespaceSpec("ddim10")), "Respace: nil schedule"},
		{"Respace empty", errOf(lin().Respace(nil)), `Respace: no timesteps to keep from schedule "linear"`},
		{"Respace too big", errOf(lin().Respace([]int{0, 1000})), "Respace: timesteps[1] = 1000 is outside [0, 1000)"},
		{"Respace negative", errOf(lin().Respace([]int{-1, 5})), "Respace: timesteps[0] = -1 is outside"},
		{"Respace descending", errOf(lin().Respace([]int{5, 3})), "Respace: timesteps[1] = 3 ≤ timesteps[0] = 5"},
		{"Respace duplicate", errOf(lin().Respace([]int{3, 3})), "timesteps[1] = 3 ≤ timesteps[0] = 3"},
		{"RespaceSpec bad", errOf(lin().RespaceSpec("ddim0")), `SpacedTimesteps: spec "ddim0"`},

		// KarrasSigmas.
		{"Karras n=0", errOf(KarrasSigmas(0, 0.002, 80, 7)), "KarrasSigmas: n must be ≥ 1, got 0"},
		{"Karras min=0", errOf(KarrasSigmas(10, 0, 80, 7)), "KarrasSigmas: sigmaMin = 0, sigmaMax = 80"},
		{"Karras min>max", errOf(KarrasSigmas(10, 80, 0.002, 7)), "sigmaMin = 80, sigmaMax = 0.002"},
		{"Karras equal", errOf(KarrasSigmas(10, 1, 1, 7)), "sigmaMin = 1, sigmaMax = 1"},
		{"Karras NaN", errOf(KarrasSigmas(10, nan, 80, 7)), "sigmaMin = NaN"},
		{"Karras Inf", errOf(KarrasSigmas(10, 0.002, inf, 7)), "sigmaMax = +Inf"},
		{"Karras rho=0", errOf(KarrasSigmas(10, 0.002, 80, 0)), "KarrasSigmas: rho = 0"},
		{"Karras rho NaN", errOf(KarrasSigmas(10, 0.002, 80, nan)), "rho = NaN"},
		{"Karras rho Inf", errOf(KarrasSigmas(10, 0.002, 80, inf)), "rho = +Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkErr(t, tc.err, tc.want) })
	}

	// A one-step schedule cannot be rescaled.
	one, err := FromBetas("one", []float64{0.5})
	if err != nil {
		t.Fatal(err)
	}
	_, err = RescaleZeroTerminalSNR(one)
	checkErr(t, err, `RescaleZeroTerminalSNR: schedule "one" has T = 1, need T ≥ 2`)
}
