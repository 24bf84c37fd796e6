package captions

import (
	"fmt"
	"math"
	"slices"
)

// Attributes are the style measurements of one grey image of a digit.
// Pixels with a value above 0 are ink, the rest background.
type Attributes struct {
	// Thickness is the stroke width in pixels, estimated as 2·A/P where A is
	// the number of ink pixels and P the number of ink/background edges
	// between 4-neighbours (pixels outside the image count as background).
	// A stroke of width w and length L ≫ w has A ≈ w·L and P ≈ 2·L, so
	// 2·A/P ≈ w. It is 0 for an image without ink.
	Thickness float64
	// Slant is the shear of the ink, cov(x, y) / var(y) over the ink pixels,
	// with x the column (growing to the right) and y the row counted upwards
	// (y = H−1−row). It is the slope dx/dy of the least-squares line x = a +
	// Slant·y: positive when the top of the digit lies to the right of its
	// bottom (leaning right), negative when leaning left, 0 for an upright
	// digit. It is 0 when the ink has no vertical extent (var(y) = 0).
	Slant float64
	// Size is the radius of gyration of the ink in pixels,
	// sqrt(var(x) + var(y)) over the ink pixels: the root-mean-square
	// distance of the ink from its centroid. MNIST digits are scaled so that
	// the larger side of their bounding box is 20 pixels, so the box height
	// is 17–20 pixels for nine digits in ten and says little; the radius of
	// gyration instead grows with how far the strokes spread from the centre
	// (a wide, open 0 or 2 is large, a narrow 1 or a cramped 9 small). See
	// DefaultThresholds for its distribution. It is 0 for an image without ink.
	Size float64
}

// Measure returns the Attributes of a grey image of h×w pixels, row-major,
// with values in [−1, 1] (ink is a value above 0). An image without ink has
// zero Attributes. It is an error when len(pixels) ≠ h·w or h or w < 1.
func Measure(pixels []float32, h, w int) (Attributes, error) {
	if h < 1 || w < 1 {
		return Attributes{}, fmt.Errorf("captions: Measure: image size %d×%d, want at least 1×1", h, w)
	}
	if len(pixels) != h*w {
		return Attributes{}, fmt.Errorf("captions: Measure: %d pixels for a %d×%d image, want %d", len(pixels), h, w, h*w)
	}
	return measure(pixels, h, w), nil
}

// MeasureSet returns the Attributes of n grey images of h×w pixels stored
// one after the other in pixels (the layout of mnist.Set.Pixels with C = 1).
// It is an error when len(pixels) ≠ n·h·w.
func MeasureSet(pixels []float32, n, h, w int) ([]Attributes, error) {
	if n < 0 || h < 1 || w < 1 {
		return nil, fmt.Errorf("captions: MeasureSet: %d images of %d×%d pixels, want n ≥ 0 and at least 1×1", n, h, w)
	}
	if len(pixels) != n*h*w {
		return nil, fmt.Errorf("captions: MeasureSet: %d pixels for %d images of %d×%d, want %d", len(pixels), n, h, w, n*h*w)
	}
	out := make([]Attributes, n)
	k := h * w
	for i := range out {
		out[i] = measure(pixels[i*k:(i+1)*k], h, w)
	}
	return out, nil
}

// measure computes the Attributes of a valid h×w image.
func measure(pixels []float32, h, w int) Attributes {
	ink := func(r, c int) bool {
		return r >= 0 && r < h && c >= 0 && c < w && pixels[r*w+c] > 0
	}
	var area, edges int
	var sx, sy, sxx, syy, sxy float64
	for r := range h {
		for c := range w {
			if !ink(r, c) {
				continue
			}
			area++
			// Count each ink pixel's background neighbours: every
			// ink/background edge has exactly one ink side.
			for _, d := range [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
				if !ink(r+d[0], c+d[1]) {
					edges++
				}
			}
			x, y := float64(c), float64(h-1-r)
			sx += x
			sy += y
			sxx += x * x
			syy += y * y
			sxy += x * y
		}
	}
	if area == 0 {
		return Attributes{}
	}
	n := float64(area)
	mx, my := sx/n, sy/n
	// Population moments; clamp rounding noise below zero.
	vx := max(sxx/n-mx*mx, 0)
	vy := max(syy/n-my*my, 0)
	cxy := sxy/n - mx*my
	a := Attributes{
		Thickness: 2 * n / float64(edges),
		Size:      math.Sqrt(vx + vy),
	}
	if vy > 0 {
		a.Slant = cxy / vy
	}
	return a
}

// Quantiles returns the values of xs at the given probabilities (each in
// [0, 1]), by linear interpolation between order statistics: the quantile
// at p is the value at position p·(n−1) of xs sorted. xs is not modified.
// It returns nil for an empty xs, and NaN for a p outside [0, 1] or NaN.
func Quantiles(xs []float64, ps ...float64) []float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	out := make([]float64, len(ps))
	for i, p := range ps {
		if !(p >= 0 && p <= 1) {
			out[i] = math.NaN()
			continue
		}
		pos := p * float64(len(s)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(s)-1)
		f := pos - float64(lo)
		out[i] = s[lo] + f*(s[hi]-s[lo])
	}
	return out
}
