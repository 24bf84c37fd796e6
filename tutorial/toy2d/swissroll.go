package toy2d

import (
	"math"
	"math/rand/v2"
)

// SwissRoll is a planar spiral plus isotropic Gaussian noise. With
// u ~ U(0, 1) and θ = 1.5π (1 + 2u) ∈ [1.5π, 4.5π] (scikit-learn's
// make_swiss_roll angle, one and a half turns), the curve point is
//
//	c(θ) = s θ (cos θ, sin θ),   s = 2/(4.5π),
//
// scaled so that the outer end lies at distance 2 from the origin (the core of
// the support is inside [−2, 2]²; turns are 2πs ≈ 0.44 apart). The density is
//
//	p(x) = (1/(3π)) ∫_{1.5π}^{4.5π} N(x; c(θ), σ² I) dθ.
//
// The zero value has σ = 0.05.
type SwissRoll struct {
	// Noise is σ, the standard deviation of the Gaussian noise added to each
	// coordinate (in the scaled units above); 0 means 0.05. Negative values
	// make the methods panic.
	Noise float64
}

// DefaultSwissRollNoise is the noise σ of the zero [SwissRoll].
const DefaultSwissRollNoise = 0.05

// Geometry of the spiral: c′(θ) = s (cos θ − θ sin θ, sin θ + θ cos θ) has
// |c′| = s√(1 + θ²); c″(θ) = s (−2 sin θ − θ cos θ, 2 cos θ − θ sin θ) has
// |c″| = s√(4 + θ²); both grow with θ, so their bounds are taken at 4.5π.
const (
	swissScale    = 2 / (4.5 * math.Pi)
	swissThetaMin = 1.5 * math.Pi
	swissThetaMax = 4.5 * math.Pi
)

var swissCurve = &curve{
	key: "swissroll", lo: swissThetaMin, hi: swissThetaMax,
	at: func(t float64) (float64, float64) {
		s, c := math.Sincos(t)
		return swissScale * t * c, swissScale * t * s
	},
	speed:  swissScale * math.Sqrt(1+swissThetaMax*swissThetaMax),
	accel:  swissScale * math.Sqrt(4+swissThetaMax*swissThetaMax),
	radius: swissScale * swissThetaMax,
}

func (r SwissRoll) noise() float64 {
	return orDefault(r.Noise, DefaultSwissRollNoise, "SwissRoll.Noise")
}

// Name returns "swissroll".
func (SwissRoll) Name() string { return "swissroll" }

// Sample draws n points: for each, u uniform on [0, 1), θ = 1.5π(1 + 2u),
// c(θ) plus σ·(z₁, z₂) with z₁, z₂ standard normals.
func (r SwissRoll) Sample(rng *rand.Rand, n int) []Point {
	checkSample("SwissRoll", n)
	sd := r.noise()
	out := make([]Point, n)
	for i := range out {
		theta := 1.5 * math.Pi * (1 + 2*rng.Float64())
		x, y := swissCurve.at(theta)
		out[i] = Point{x + sd*rng.NormFloat64(), y + sd*rng.NormFloat64()}
	}
	return out
}

// LogDensity is log p(x) for the density in the type's comment, computed as
// for [Moons.LogDensity] by composite 8-point Gauss–Legendre quadrature over θ
// in log space, with panels no wider than 3w, w = σ/√(S² + (|x| + 2) A), where
// S = s√(1 + (4.5π)²) and A = s√(4 + (4.5π)²) bound the curve's speed and
// acceleration; graded end panels; far panels skipped. The relative error of p
// is below 1e-9 at any x; a call costs a few microseconds near the roll, more
// for points far from it or for σ below about 0.005.
func (r SwissRoll) LogDensity(p Point) float64 {
	return curveLogDensity(p, r.noise(), []*curve{swissCurve})
}
