package plots

import (
	"fmt"
	"math"
)

// HeatOverlay paints a heat map over a grey image, as used to show where a
// cross-attention map looks in a digit, and returns an RGB image of h·w·3
// values in [−1, 1], channels last (element (y, x, ch) at index
// (y·w + x)·3 + ch), the layout [ImageGrid] takes with c = 3.
//
// gray holds h·w values in [−1, 1] (−1 black, 1 white; values outside are
// clipped). heat holds h·w non-negative values of any scale; it is divided
// by its largest value, giving t in [0, 1] per pixel. Each pixel is then
//
//	out = (1 − a)·g + a·heatTint(t),   a = alpha·t,
//
// computed per channel in [−1, 1], with g the grey value in all three
// channels and heatTint(t) running from yellow (t = 0) through orange to
// red (t = 1): cold pixels show the grey image unchanged, the hottest ones
// are the reddest. alpha in [0, 1] is the opacity of the hottest pixel.
// When heat is all zero (or alpha is 0) the result is the grey image
// replicated in the three channels, exactly.
//
// Bring a coarser map to the image size first, e.g. a 7×7 attention map
// to 28×28 with UpsampleNearest(att, 7, 7, 4).
//
// It returns an error, naming the argument, if h or w is not positive, if
// gray or heat does not hold h·w values, if alpha is outside [0, 1], if
// gray has a NaN, or if heat has a negative, NaN or infinite value.
func HeatOverlay(gray []float32, heat []float32, h, w int, alpha float64) ([]float32, error) {
	const fn = "plots: HeatOverlay"
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("%s: image size must be > 0, got h=%d w=%d", fn, h, w)
	}
	n := h * w
	if len(gray) != n {
		return nil, fmt.Errorf("%s: gray has %d values, want h·w = %d·%d = %d", fn, len(gray), h, w, n)
	}
	if len(heat) != n {
		return nil, fmt.Errorf("%s: heat has %d values, want h·w = %d·%d = %d", fn, len(heat), h, w, n)
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("%s: alpha must be in [0, 1], got %v", fn, alpha)
	}
	peak := 0.0
	for k := range n {
		if v := gray[k]; v != v {
			return nil, fmt.Errorf("%s: gray has NaN at index %d (y=%d, x=%d)", fn, k, k/w, k%w)
		}
		v := float64(heat[k])
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: heat[%d] (y=%d, x=%d) is %v; heat must be finite and ≥ 0", fn, k, k/w, k%w, v)
		}
		peak = math.Max(peak, v)
	}

	out := make([]float32, 3*n)
	for k := range n {
		g := max(-1, min(1, gray[k]))
		a := 0.0
		if peak > 0 {
			a = alpha * float64(heat[k]) / peak
		}
		px := out[3*k : 3*k+3]
		if a == 0 {
			px[0], px[1], px[2] = g, g, g
			continue
		}
		t := float64(heat[k]) / peak
		tint := [3]float64{1, 1 - 2*t, -1} // yellow (1, 1, −1) → red (1, −1, −1)
		for ch := range 3 {
			v := (1-a)*float64(g) + a*tint[ch]
			px[ch] = float32(max(-1, min(1, v)))
		}
	}
	return out, nil
}

// UpsampleNearest enlarges an h×w single-channel image (row-major, h·w
// values) by an integer factor with nearest-neighbour sampling: output
// pixel (y, x) of the (h·factor)×(w·factor) result is input pixel
// (y/factor, x/factor), so each value becomes a factor×factor block (no
// interpolation; a 7×7 attention map becomes 28×28 with factor 4).
//
// It panics, naming the bad argument, if h, w or factor is not positive or
// len(values) ≠ h·w, like an out-of-range index: these are programming
// errors, and the single result keeps calls composable.
func UpsampleNearest(values []float32, h, w, factor int) []float32 {
	if h <= 0 || w <= 0 || factor <= 0 {
		panic(fmt.Sprintf("plots: UpsampleNearest: h, w and factor must be > 0, got h=%d w=%d factor=%d", h, w, factor))
	}
	if len(values) != h*w {
		panic(fmt.Sprintf("plots: UpsampleNearest: values has %d elements, want h·w = %d·%d = %d", len(values), h, w, h*w))
	}
	W := w * factor
	out := make([]float32, h*factor*W)
	for y := range h * factor {
		src := values[(y/factor)*w:]
		dst := out[y*W : (y+1)*W]
		for x := range W {
			dst[x] = src[x/factor]
		}
	}
	return out
}
