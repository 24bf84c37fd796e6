package main

import (
	"math"

	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// The modes of the labelled 2-D datasets: for gaussians8 the eight
// Gaussians (label k is the mode at angle kπ/4), a sample being in mode k
// when its nearest centre, within 0.5, is c_k (Gaussians8.ModeCounts); for
// moons the two moons (label 0 the outer, 1 the inner), a sample being in
// the moon whose half circle is nearer.

// gaussians8Radius is the distance within which a sample counts as at a
// gaussians8 mode (5σ for σ = 0.1).
const gaussians8Radius = 0.5

// modeOf returns the mode of point p (−1: none), and false for a dataset
// without modes.
func modeOf(ds toy2d.Dataset, p toy2d.Point) (int, bool) {
	switch d := ds.(type) {
	case toy2d.Gaussians8:
		counts, _ := d.ModeCounts([]toy2d.Point{p}, gaussians8Radius)
		for k, c := range counts {
			if c > 0 {
				return k, true
			}
		}
		return -1, true
	case toy2d.Moons:
		if outerMoonDistance(p) <= innerMoonDistance(p) {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

// outerMoonDistance is the distance from p to the outer moon's curve, the
// upper half circle of radius 1 about (0, 0) (ends (±1, 0)).
func outerMoonDistance(p toy2d.Point) float64 {
	return halfCircleDistance(p, 0, 0, 1)
}

// innerMoonDistance is the distance from p to the inner moon's curve, the
// lower half circle of radius 1 about (1, 0.5) (ends (0, 0.5) and (2, 0.5)).
func innerMoonDistance(p toy2d.Point) float64 {
	return halfCircleDistance(p, 1, 0.5, -1)
}

// halfCircleDistance is the distance from p to the half circle of radius 1
// about (cx, cy) on the side side·(y − cy) ≥ 0: |‖p − c‖ − 1| on that side,
// else the distance to the nearer end (cx ± 1, cy).
func halfCircleDistance(p toy2d.Point, cx, cy, side float64) float64 {
	dx, dy := p[0]-cx, p[1]-cy
	if side*dy >= 0 {
		return math.Abs(math.Hypot(dx, dy) - 1)
	}
	return math.Min(math.Hypot(dx-1, dy), math.Hypot(dx+1, dy))
}

// modeShares returns the share of the samples in each mode and the share in
// none, and false for a dataset without modes.
func modeShares(ds toy2d.Dataset, pts []toy2d.Point) (shares []float64, off float64, ok bool) {
	var k int
	switch ds.(type) {
	case toy2d.Gaussians8:
		k = 8
	case toy2d.Moons:
		k = 2
	default:
		return nil, 0, false
	}
	shares = make([]float64, k)
	for _, p := range pts {
		if m, _ := modeOf(ds, p); m >= 0 {
			shares[m]++
		} else {
			off++
		}
	}
	for i := range shares {
		shares[i] /= float64(len(pts))
	}
	return shares, off / float64(len(pts)), true
}

// inRequestedMode returns the share of the samples whose mode is their
// label, and false for a dataset without modes.
func inRequestedMode(ds toy2d.Dataset, pts []toy2d.Point, labels []int32) (float64, bool) {
	in := 0
	for i, p := range pts {
		m, ok := modeOf(ds, p)
		if !ok {
			return 0, false
		}
		if m == int(labels[i]) {
			in++
		}
	}
	return float64(in) / float64(len(pts)), true
}
