package plots

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// logTicks places the ticks of a base-10 logarithmic axis. gonum's
// plot.LogTicks truncates log₁₀(min) towards zero and can leave a range such
// as 0.2..0.8 with no labelled tick at all, so this ticker is used instead:
//
//   - a labelled major tick at every power of ten 10ᵏ in [min, max] (every
//     s-th power when the range spans more than 8 decades, s = ⌈decades/8⌉);
//   - minor ticks at m·10ᵏ, m = 2..9 (left out beyond 20 decades);
//   - when fewer than three powers of ten fall in the range (it spans less
//     than about two decades), the ticks 2·10ᵏ and 5·10ᵏ are labelled too,
//     then 3·10ᵏ, and if that still gives fewer than three labels, every
//     tick is labelled;
//   - labels are decimals ("0.01", "1", "1000") when all lie in
//     [0.01, 10⁴], and otherwise powers of ten in Unicode superscripts
//     ("10⁻³", "2×10⁻³"), which MathText draws raised.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max >= min) || math.IsInf(max, 0) {
		return nil
	}
	kLo := int(math.Floor(math.Log10(min)))
	kHi := int(math.Ceil(math.Log10(max)))
	decades := kHi - kLo
	step := max1((decades + 7) / 8)
	inRange := func(v float64) bool { return v >= min*(1-1e-9) && v <= max*(1+1e-9) }

	type cand struct {
		v    float64
		m, k int
	}
	var cs []cand
	for k := kLo; k <= kHi; k++ {
		p := math.Pow10(k)
		for m := 1; m <= 9; m++ {
			if m > 1 && decades > 20 {
				break
			}
			if v := float64(m) * p; inRange(v) {
				cs = append(cs, cand{v, m, k})
			}
		}
	}
	isMajor := func(c cand) bool { return c.m == 1 && (c.k-kLo)%step == 0 }
	// Label tiers, from sparsest: powers of ten, then 1, 2, 5, then 1, 2,
	// 3, 5, then every tick; the first with three labels wins.
	tiers := []func(c cand) bool{
		isMajor,
		func(c cand) bool { return c.m == 1 || c.m == 2 || c.m == 5 },
		func(c cand) bool { return c.m == 1 || c.m == 2 || c.m == 3 || c.m == 5 },
	}
	label := func(cand) bool { return true }
	for _, tier := range tiers {
		n := 0
		for _, c := range cs {
			if tier(c) {
				n++
			}
		}
		if n >= 3 {
			label = tier
			break
		}
	}
	// Labels are decimals ("0.01", "1", "1000") when all of them lie in
	// [0.01, 10⁴], and powers of ten ("10⁻³", "2×10⁻³") otherwise.
	decimal := true
	for _, c := range cs {
		if label(c) && (c.v < 0.01*(1-1e-9) || c.v > 1e4*(1+1e-9)) {
			decimal = false
		}
	}
	ticks := make([]plot.Tick, len(cs))
	for i, c := range cs {
		ticks[i].Value = c.v
		if label(c) {
			if decimal {
				ticks[i].Label = formatTick(c.v)
			} else {
				ticks[i].Label = sciLabel(c.v)
			}
		}
	}
	return ticks
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// formatTick writes v with at most 3 significant digits, in plain decimal
// notation for 10⁻⁴ ≤ v < 10⁵ ("0.02", "500") and in exponent notation
// otherwise ("1e-06").
func formatTick(v float64) string {
	s := strconv.FormatFloat(v, 'g', 3, 64)
	r, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	if a := math.Abs(r); a >= 1e-4 && a < 1e5 {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return s
}
