package plots

import (
	"slices"
	"testing"
)

// TestLogTicks checks the labelled ticks against hand-written lists.
func TestLogTicks(t *testing.T) {
	tests := []struct {
		name     string
		min, max float64
		labels   []string
		nTicks   int // all ticks, labelled or not
	}{
		// Powers of ten 1..1000 and minor ticks 2..9 in each of 3 decades.
		{"three decades", 1, 1000, []string{"1", "10", "100", "1000"}, 4 + 3*8},
		// No power of ten inside and only 0.2, 0.5 of 1, 2, 5: 0.3 is
		// labelled too; 0.2..0.8 holds 0.2, 0.3, …, 0.8.
		{"inside one decade", 0.2, 0.8, []string{"0.2", "0.3", "0.5"}, 7},
		// One power of ten (1) and 2, then 3: 0.6..3 holds 0.6, 0.7, 0.8,
		// 0.9, 1, 2, 3.
		{"across one power", 0.6, 3, []string{"1", "2", "3"}, 7},
		// Two powers of ten and 2, 5 between them: 0.1, 0.2, 0.5, 1 (a
		// typical loss curve).
		{"loss curve", 0.07, 1.5, []string{"0.1", "0.2", "0.5", "1"}, 3 + 9 + 1},
		// Fewer than three of 1, 2, 3, 5: everything labelled.
		{"narrow", 0.03, 0.045, []string{"0.03", "0.04"}, 2},
		// 30 decades: every 4th power labelled (⌈30/8⌉ = 4), no minor ticks.
		// Labels beyond [0.01, 10⁴] switch the whole axis to powers of ten.
		{"thirty decades", 1e-15, 1e15, []string{"10⁻¹⁵", "10⁻¹¹", "10⁻⁷", "10⁻³", "10¹", "10⁵", "10⁹", "10¹³"}, 31},
		// 0.001..10: four decades, 4·8 minor ticks, powers of ten.
		{"milli to ten", 0.001, 10, []string{"10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹"}, 5 + 4*8},
		// 0.01..100 stays decimal.
		{"centi to hundred", 0.01, 100, []string{"0.01", "0.1", "1", "10", "100"}, 5 + 4*8},
		// One power of ten inside: 2·10⁻⁵ and 5·10⁻⁵ are labelled too.
		{"small, one decade", 1.5e-5, 2.5e-4, []string{"2×10⁻⁵", "5×10⁻⁵", "10⁻⁴", "2×10⁻⁴"}, 8 + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ticks := logTicks{}.Ticks(tc.min, tc.max)
			var labels []string
			for _, tk := range ticks {
				if tk.Value < tc.min*(1-1e-9) || tk.Value > tc.max*(1+1e-9) {
					t.Errorf("tick %v outside [%v, %v]", tk.Value, tc.min, tc.max)
				}
				if tk.Label != "" {
					labels = append(labels, tk.Label)
				}
			}
			if !slices.Equal(labels, tc.labels) {
				t.Errorf("labels %q, want %q", labels, tc.labels)
			}
			if len(ticks) != tc.nTicks {
				t.Errorf("%d ticks, want %d", len(ticks), tc.nTicks)
			}
		})
	}
	if got := (logTicks{}).Ticks(0, 1); got != nil {
		t.Errorf("Ticks(0, 1) = %v, want nil (no log ticks for a non-positive range)", got)
	}
}

func TestFormatTick(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{1, "1"}, {1000, "1000"}, {0.02, "0.02"}, {3 * 0.01, "0.03"}, {7 * 1e-4, "0.0007"},
		{1e-5, "1e-05"}, {2e6, "2e+06"}, {50000, "50000"}, {123456, "1.23e+05"},
	}
	for _, tc := range tests {
		if got := formatTick(tc.v); got != tc.want {
			t.Errorf("formatTick(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
