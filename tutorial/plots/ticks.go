package plots

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// linearTicks places the ticks of a linear axis: labelled major ticks at
// the multiples of a "nice" step s = m·10ᵏ, m ∈ {1, 2, 2.5, 5}, the
// smallest such step that gives at most 8 labelled ticks in [min, max]
// (which gives 4 to 8, usually 5 to 8), and unlabelled minor ticks between
// them, at s/5 (m = 1, 2.5 and 5) or s/4 (m = 2). Labels are written
// without floating-point noise (0.3, not 0.30000000000000004), with a
// Unicode minus sign "−", and as m×10ᵏ beyond 10⁵ or below 10⁻⁴.
type linearTicks struct{}

// maxMajorTicks is the most labelled ticks linearTicks puts on an axis.
const maxMajorTicks = 8

// niceStep returns the step of the major ticks of [min, max] as m·10ᵏ, and
// the number of minor intervals per step.
func niceStep(min, max float64) (m float64, k int, sub int) {
	span := max - min
	k = int(math.Floor(math.Log10(span / maxMajorTicks)))
	for ; ; k++ {
		for _, mm := range []float64{1, 2, 2.5, 5} {
			step := mm * math.Pow10(k)
			n := math.Floor(max/step+1e-9) - math.Ceil(min/step-1e-9) + 1
			if n <= maxMajorTicks {
				sub = 5
				if mm == 2 {
					sub = 4
				}
				return mm, k, sub
			}
		}
	}
}

// Ticks implements plot.Ticker.
func (linearTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) || math.IsNaN(max-min) {
		return nil
	}
	m, k, sub := niceStep(min, max)
	// Ticks are counted in minor steps, i·(m·10ᵏ/sub), and their values
	// computed from the integer i, so that errors do not accumulate.
	minor := m * math.Pow10(k) / float64(sub)
	lo := int64(math.Ceil(min/minor - 1e-9))
	hi := int64(math.Floor(max/minor + 1e-9))
	var ticks []plot.Tick
	for i := lo; i <= hi; i++ {
		t := plot.Tick{Value: float64(i) * minor}
		if i%int64(sub) == 0 {
			t.Label = formatLinear(i/int64(sub), m, k)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// formatLinear writes the label of the major tick j·m·10ᵏ.
// All labels of one axis get the same number of decimals ("0.0", "0.5",
// "1.0").
func formatLinear(j int64, m float64, k int) string {
	v := float64(j) * m * math.Pow10(k)
	decimals := -k
	if m == 2.5 {
		decimals++
	}
	var s string
	switch a := math.Abs(v); {
	case j == 0 && (k >= 5 || k < -4):
		s = "0"
	case a >= 1e5 || (a < 1e-4 && j != 0):
		s = sciLabel(v)
	case decimals > 0:
		s = strconv.FormatFloat(v, 'f', decimals, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.Replace(s, "-", "−", 1)
}

// superDigits maps '0'–'9' and '-' to Unicode superscripts.
var superDigits = strings.NewReplacer(
	"-", "⁻", "0", "⁰", "1", "¹", "2", "²", "3", "³", "4", "⁴",
	"5", "⁵", "6", "⁶", "7", "⁷", "8", "⁸", "9", "⁹")

// sciLabel writes v as "m×10ᵉ" (or "10ᵉ" when m is 1), with up to 3
// significant digits in m, the exponent in Unicode superscripts and a
// Unicode minus sign.
func sciLabel(v float64) string {
	s := strconv.FormatFloat(v, 'e', 2, 64) // "-2.50e-05"
	mant, exp, _ := strings.Cut(s, "e")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	e, _ := strconv.Atoi(exp)
	pow := "10" + superDigits.Replace(strconv.Itoa(e))
	var out string
	switch mant {
	case "1":
		out = pow
	case "-1":
		out = "−" + pow
	default:
		out = mant + "×" + pow
	}
	return strings.Replace(out, "-", "−", 1)
}
