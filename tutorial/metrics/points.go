package metrics

import (
	"fmt"
	"math"
)

// Points2D converts [2]float64 points (as package toy2d produces them) to the
// [][]float64 the metrics take. The result shares no memory with points.
func Points2D(points [][2]float64) [][]float64 {
	flat := make([]float64, 2*len(points))
	out := make([][]float64, len(points))
	for i, p := range points {
		out[i] = flat[2*i : 2*i+2 : 2*i+2]
		out[i][0], out[i][1] = p[0], p[1]
	}
	return out
}

// dimension checks that every point of a sample has the same, non-zero
// dimension and returns it; which names the sample in errors.
func dimension(fn, which string, pts [][]float64) (int, error) {
	if len(pts) == 0 {
		return 0, fmt.Errorf("metrics: %s: sample %s is empty", fn, which)
	}
	d := len(pts[0])
	if d == 0 {
		return 0, fmt.Errorf("metrics: %s: point 0 of sample %s has dimension 0", fn, which)
	}
	for i, p := range pts {
		if len(p) != d {
			return 0, fmt.Errorf("metrics: %s: point %d of sample %s has dimension %d, point 0 has %d", fn, i, which, len(p), d)
		}
	}
	return d, nil
}

// checkSamples checks that both samples are non-empty, have one dimension
// each, the same one, and finite coordinates; it returns the dimension.
func checkSamples(fn string, x, y [][]float64) (int, error) {
	dx, err := dimension(fn, "x", x)
	if err != nil {
		return 0, err
	}
	dy, err := dimension(fn, "y", y)
	if err != nil {
		return 0, err
	}
	if err := checkFinite(fn, "x", x); err != nil {
		return 0, err
	}
	if err := checkFinite(fn, "y", y); err != nil {
		return 0, err
	}
	if dx != dy {
		return 0, fmt.Errorf("metrics: %s: x has dimension %d, y has dimension %d", fn, dx, dy)
	}
	return dx, nil
}

// sqDist is |a − b|².
func sqDist(a, b []float64) float64 {
	s := 0.0
	for k := range a {
		d := a[k] - b[k]
		s += d * d
	}
	return s
}

// checkFinite reports the first NaN or infinite coordinate.
func checkFinite(fn, which string, pts [][]float64) error {
	for i, p := range pts {
		for k, v := range p {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("metrics: %s: coordinate %d of point %d of sample %s is %g", fn, k, i, which, v)
			}
		}
	}
	return nil
}
