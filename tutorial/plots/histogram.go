package plots

import (
	"fmt"
	"math"
)

// Histogram is the count of values in equal-width bins over [Lo, Hi], with
// the values left out counted apart. Build it with [NewHistogram].
type Histogram struct {
	// Lo is the left edge of the first bin.
	Lo float64
	// Hi is the right edge of the last bin.
	Hi float64
	// Counts holds the number of values in each bin. Bin k covers
	// [Edges()[k], Edges()[k+1]); the last bin also includes Hi.
	Counts []int
	// Below counts the values < Lo, −Inf included; they are in no bin.
	Below int
	// Above counts the values > Hi, +Inf included; they are in no bin.
	Above int
	// NaN counts the NaN values; they are in no bin.
	NaN int
}

// NewHistogram counts values in bins equal-width bins over [lo, hi].
// Values outside [lo, hi] and NaNs are in no bin; they are counted in
// Below, Above and NaN so that a caller can report them. It returns an
// error if bins < 1, if lo or hi is not finite, or if lo ≥ hi.
func NewHistogram(values []float64, bins int, lo, hi float64) (Histogram, error) {
	return newHistogram("plots: NewHistogram", values, bins, lo, hi)
}

// newHistogram is NewHistogram with fn naming the caller in errors.
func newHistogram(fn string, values []float64, bins int, lo, hi float64) (Histogram, error) {
	if bins < 1 {
		return Histogram{}, fmt.Errorf("%s: bins must be ≥ 1, got %d", fn, bins)
	}
	if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return Histogram{}, fmt.Errorf("%s: lo and hi must be finite, got [%v, %v]", fn, lo, hi)
	}
	if !(lo < hi) || math.IsInf(hi-lo, 0) {
		return Histogram{}, fmt.Errorf("%s: need lo < hi with a finite hi − lo, got lo = %v, hi = %v", fn, lo, hi)
	}
	h := Histogram{Lo: lo, Hi: hi, Counts: make([]int, bins)}
	edges := h.Edges()
	for _, v := range values {
		switch {
		case math.IsNaN(v):
			h.NaN++
		case v < lo:
			h.Below++
		case v > hi:
			h.Above++
		default:
			// The first guess can be off by one through rounding; the
			// edges decide.
			k := min(bins-1, int((v-lo)/(hi-lo)*float64(bins)))
			for k > 0 && v < edges[k] {
				k--
			}
			for k < bins-1 && v >= edges[k+1] {
				k++
			}
			h.Counts[k]++
		}
	}
	return h, nil
}

// Edges returns the len(Counts)+1 bin edges, Lo + k·(Hi − Lo)/len(Counts),
// with the last one exactly Hi.
func (h Histogram) Edges() []float64 {
	n := len(h.Counts)
	e := make([]float64, n+1)
	for k := range e {
		e[k] = h.Lo + float64(k)*(h.Hi-h.Lo)/float64(n)
	}
	e[n] = h.Hi
	return e
}

// InRange returns the number of values counted in a bin, the sum of
// Counts.
func (h Histogram) InRange() int {
	s := 0
	for _, c := range h.Counts {
		s += c
	}
	return s
}

// Density returns the height of each bin as a probability density of the
// in-range values, Counts[k] / (InRange() · width of bin k), so that the
// bars integrate to 1 over [Lo, Hi]. With no value in range it is all
// zero.
func (h Histogram) Density() []float64 {
	d := make([]float64, len(h.Counts))
	n := h.InRange()
	if n == 0 {
		return d
	}
	e := h.Edges()
	for k, c := range h.Counts {
		d[k] = float64(c) / (float64(n) * (e[k+1] - e[k]))
	}
	return d
}

// Outline returns the histogram as a step line for [LinesPNG]: from
// (Lo, 0) up to the first bar, across every bar, and down to (Hi, 0), with
// bar heights Density() when density is true and Counts otherwise. The
// Series has 2·len(Counts) + 2 points and the given name.
func (h Histogram) Outline(name string, density bool) Series {
	y := h.Density()
	if !density {
		for k, c := range h.Counts {
			y[k] = float64(c)
		}
	}
	e := h.Edges()
	s := Series{Name: name, X: make([]float64, 0, 2*len(y)+2), Y: make([]float64, 0, 2*len(y)+2)}
	add := func(x, y float64) { s.X, s.Y = append(s.X, x), append(s.Y, y) }
	add(e[0], 0)
	for k, v := range y {
		add(e[k], v)
		add(e[k+1], v)
	}
	add(e[len(y)], 0)
	return s
}

// HistogramSeries bins values into bins equal-width bins over [lo, hi]
// and returns the outline of their probability density (see
// [Histogram.Outline]), unnamed: it integrates to 1 over [lo, hi], so
// samples of different sizes can share a plot. Values outside [lo, hi]
// and NaNs are left out of the density; use [NewHistogram] to count them.
// It returns an error for bad bins, lo or hi (see NewHistogram) or when no
// value lies in [lo, hi].
func HistogramSeries(values []float64, bins int, lo, hi float64) (Series, error) {
	h, err := newHistogram("plots: HistogramSeries", values, bins, lo, hi)
	if err != nil {
		return Series{}, err
	}
	if h.InRange() == 0 {
		return Series{}, fmt.Errorf("plots: HistogramSeries: none of the %d values lies in [%v, %v] (%d below, %d above, %d NaN)",
			len(values), lo, hi, h.Below, h.Above, h.NaN)
	}
	return h.Outline("", true), nil
}

// VLine returns a vertical segment at x from yLo to yHi, named name, to
// mark a threshold on a [LinesPNG] plot (it takes the next colour and dash
// pattern, and a legend entry when name is not empty).
func VLine(x, yLo, yHi float64, name string) Series {
	return Series{Name: name, X: []float64{x, x}, Y: []float64{yLo, yHi}}
}
