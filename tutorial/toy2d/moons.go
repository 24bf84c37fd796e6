package toy2d

import (
	"math"
	"math/rand/v2"
)

// Moons is the two-moons distribution with the geometry of scikit-learn's
// make_moons: an outer half circle c_out(θ) = (cos θ, sin θ) and an inner one
// c_in(θ) = (1 − cos θ, 1 − sin θ − 0.5), θ ∈ [0, π], each carrying half of the
// mass, plus isotropic Gaussian noise of standard deviation σ:
//
//	p(x) = ½ (1/π) ∫_0^π N(x; c_out(θ), σ² I) dθ + ½ (1/π) ∫_0^π N(x; c_in(θ), σ² I) dθ.
//
// The points are not centred or rescaled: the support's core is
// [−1, 2] × [−0.5, 1]. The zero value has σ = 0.05.
//
// Unlike make_moons, which puts θ on an evenly spaced grid and splits n
// exactly in halves, Sample draws θ uniformly at random and picks the moon by
// a fair coin for every point, so that the points are independent draws from p
// (the halves are equal in expectation).
type Moons struct {
	// Noise is σ, the standard deviation of the Gaussian noise added to each
	// coordinate; 0 means 0.05. Negative values make the methods panic.
	Noise float64
}

// DefaultMoonsNoise is the noise σ of the zero [Moons].
const DefaultMoonsNoise = 0.05

func (m Moons) noise() float64 { return orDefault(m.Noise, DefaultMoonsNoise, "Moons.Noise") }

// Name returns "moons".
func (Moons) Name() string { return "moons" }

// halfCircle is a half circle of radius 1, c(θ) = centre + side·(cos θ,
// sin θ) for θ ∈ [0, π]: the half on which side·(y − centre_y) ≥ 0, with
// ends centre ± (1, 0).
type halfCircle struct {
	centre Point
	side   float64 // +1: the upper half, −1: the lower half
}

// at returns c(θ).
func (h halfCircle) at(theta float64) (x, y float64) {
	return h.centre[0] + h.side*math.Cos(theta), h.centre[1] + h.side*math.Sin(theta)
}

// distance returns the distance from p to the half circle: |‖p − centre‖ − 1|
// when p is on its side (side·(p_y − centre_y) ≥ 0), else the distance to
// the nearer end.
func (h halfCircle) distance(p Point) float64 {
	dx, dy := p[0]-h.centre[0], p[1]-h.centre[1]
	if h.side*dy >= 0 {
		return math.Abs(math.Hypot(dx, dy) - 1)
	}
	return math.Min(math.Hypot(dx-1, dy), math.Hypot(dx+1, dy))
}

// The two moons: the outer one (cos θ, sin θ), the upper half circle about
// (0, 0), and the inner one (1 − cos θ, 0.5 − sin θ), the lower half circle
// about (1, 0.5).
var (
	moonOuterArc = halfCircle{centre: Point{0, 0}, side: 1}
	moonInnerArc = halfCircle{centre: Point{1, 0.5}, side: -1}
)

// The two half circles as curves. Both have unit speed and unit curvature;
// the inner one's centre is (1, 0.5), so |c_in| ≤ 1 + √1.25.
var (
	moonOuter = &curve{
		key: "moons/outer", lo: 0, hi: math.Pi,
		at:    moonOuterArc.at,
		speed: 1, accel: 1, radius: 1,
	}
	moonInner = &curve{
		key: "moons/inner", lo: 0, hi: math.Pi,
		at:    moonInnerArc.at,
		speed: 1, accel: 1, radius: 1 + math.Sqrt(1.25),
	}
	moonCurves = []*curve{moonOuter, moonInner}
)

// Sample draws n points: for each, θ uniform on [0, π), a fair coin choosing
// the outer or inner moon, and σ·(z₁, z₂) with z₁, z₂ standard normals added.
func (m Moons) Sample(rng *rand.Rand, n int) []Point {
	pts, _ := m.SampleLabeled(rng, n)
	return pts
}

// Classes returns 2: label 0 is the outer moon, 1 the inner one.
func (Moons) Classes() int { return 2 }

// SampleLabeled draws n points as Sample does (the same points for the same
// generator state) with their labels: 0 for the outer moon (the upper arc,
// centred at the origin), 1 for the inner one.
func (m Moons) SampleLabeled(rng *rand.Rand, n int) ([]Point, []int32) {
	checkSample("Moons", n)
	sd := m.noise()
	out := make([]Point, n)
	labels := make([]int32, n)
	for i := range out {
		theta := math.Pi * rng.Float64()
		c := moonOuter
		if rng.IntN(2) == 1 {
			c, labels[i] = moonInner, 1
		}
		x, y := c.at(theta)
		out[i] = Point{x + sd*rng.NormFloat64(), y + sd*rng.NormFloat64()}
	}
	return out, labels
}

// Mode returns the moon whose curve is nearer to p: 0 (the outer moon) when
// p is at least as near the outer half circle as the inner one, else 1. The
// distance to a half circle is |‖p − centre‖ − 1| on its side of the
// centre's horizontal, else the distance to its nearer end. Every point is
// in a moon, so Mode never returns −1; a point with a NaN coordinate, nearer
// neither, gets 1. The curves are at least 0.5 apart, so a true sample is
// nearer the other moon's curve only when its noise moves it by 0.25 or more
// (5σ for the zero value: probability e^(−25/2) ≈ 3.7e-6 at most), and Mode
// is otherwise the label [Moons.SampleLabeled] gave it.
func (Moons) Mode(p Point) int {
	if moonOuterArc.distance(p) <= moonInnerArc.distance(p) {
		return 0
	}
	return 1
}

// LogDensity is log p(x) for the density in the type's comment. The two
// integrals over θ are computed by composite 8-point Gauss–Legendre
// quadrature in log space (a running log-sum-exp), with panels no wider than
// 3w, w = σ/√(1 + |x| + 1 + √1.25) being the narrowest width in θ of a peak of
// the integrand; the panels at θ = 0 and θ = π are graded geometrically for
// points whose nearest curve point is an end, where the integrand falls off
// exponentially. Panels far from x (beyond √(d² + 90σ²), d the distance to a
// nearby curve point) are skipped, with their mass bounded below e^−28
// relative. The relative error of p is below 1e-9 at any x (1.2e-10 measured
// against Simpson's rule); a call costs a few microseconds.
func (m Moons) LogDensity(p Point) float64 {
	return curveLogDensity(p, m.noise(), moonCurves)
}
