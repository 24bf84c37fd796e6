package toy2d

import (
	"math"
	"math/rand/v2"
)

// Gaussians8 is the equal-weight mixture of eight isotropic Gaussians with
// centres on a circle:
//
//	p(x) = (1/8) Σ_{k=0}^{7} N(x; c_k, σ² I),   c_k = R (cos kπ/4, sin kπ/4).
//
// The zero value is the usual toy problem: σ = 0.1, R = 2.
type Gaussians8 struct {
	// Std is σ, the standard deviation of each Gaussian along each axis;
	// 0 means 0.1. Negative values are invalid and make the methods panic.
	Std float64
	// Radius is R, the distance of every centre from the origin; 0 means 2.
	// Negative values are invalid and make the methods panic.
	Radius float64
}

// Default parameters of [Gaussians8].
const (
	DefaultGaussians8Std    = 0.1
	DefaultGaussians8Radius = 2.0
)

func (g Gaussians8) std() float64 { return orDefault(g.Std, DefaultGaussians8Std, "Gaussians8.Std") }
func (g Gaussians8) radius() float64 {
	return orDefault(g.Radius, DefaultGaussians8Radius, "Gaussians8.Radius")
}

// Name returns "gaussians8".
func (Gaussians8) Name() string { return "gaussians8" }

// unitCentres holds (cos kπ/4, sin kπ/4), k = 0…7.
var unitCentres = func() (u [8]Point) {
	for k := range u {
		s, c := math.Sincos(float64(k) * math.Pi / 4)
		u[k] = Point{c, s}
	}
	return u
}()

// centres returns the eight centres c_k = R (cos kπ/4, sin kπ/4).
func (g Gaussians8) centres() (cs [8]Point) {
	r := g.radius()
	for k, u := range unitCentres {
		cs[k] = Point{r * u[0], r * u[1]}
	}
	return cs
}

// Centres returns the eight centres c_k = R (cos kπ/4, sin kπ/4), k = 0…7.
func (g Gaussians8) Centres() []Point {
	cs := g.centres()
	return cs[:]
}

// Sample draws n points: for each, a centre c_k with k uniform on 0…7, plus
// σ·(z₁, z₂) with z₁, z₂ independent standard normals.
func (g Gaussians8) Sample(rng *rand.Rand, n int) []Point {
	pts, _ := g.SampleLabeled(rng, n)
	return pts
}

// Classes returns 8: the label of a point is its mode.
func (Gaussians8) Classes() int { return 8 }

// SampleLabeled draws n points as Sample does (the same points for the same
// generator state) with their labels: label k is the mode at angle kπ/4,
// c_k = R (cos kπ/4, sin kπ/4).
func (g Gaussians8) SampleLabeled(rng *rand.Rand, n int) ([]Point, []int32) {
	checkSample("Gaussians8", n)
	cs, sd := g.centres(), g.std()
	out := make([]Point, n)
	labels := make([]int32, n)
	for i := range out {
		k := rng.IntN(8)
		c := cs[k]
		out[i] = Point{c[0] + sd*rng.NormFloat64(), c[1] + sd*rng.NormFloat64()}
		labels[i] = int32(k)
	}
	return out, labels
}

// LogDensity is, in closed form with a log-sum-exp over the components,
//
//	log p(x) = −log 8 − log(2πσ²) + log Σ_k exp(−|x − c_k|²/(2σ²)).
func (g Gaussians8) LogDensity(p Point) float64 {
	if math.IsNaN(p[0]) || math.IsNaN(p[1]) {
		return math.NaN()
	}
	sd := g.std()
	twoVar := 2 * sd * sd
	var e [8]float64
	m := math.Inf(-1)
	for k, c := range g.centres() {
		dx, dy := p[0]-c[0], p[1]-c[1]
		e[k] = -(dx*dx + dy*dy) / twoVar
		m = math.Max(m, e[k])
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, v := range e {
		s += math.Exp(v - m)
	}
	return m + math.Log(s) - math.Log(8*math.Pi*twoVar)
}

// modeSigmas is the radius, in standard deviations σ, within which
// [Gaussians8.Mode] puts a point in the mode of its nearest centre.
const modeSigmas = 5

// Mode returns k when c_k is the centre nearest to p and lies within 5σ of
// it (0.5 for the zero value), else −1: the rule of [Gaussians8.ModeCounts]
// with maxDist = 5σ. A true sample lies beyond 5σ of its centre with
// probability e^(−25/2) ≈ 3.7e-6; within 5σ it is nearest its own centre
// whenever neighbouring centres are over 10σ apart (15σ for the zero
// value), so Mode is then the label [Gaussians8.SampleLabeled] gave it for
// all but that share of the samples.
func (g Gaussians8) Mode(p Point) int {
	cs := g.centres()
	return nearestMode(&cs, p, modeSigmas*g.std())
}

// ModeCounts assigns each sample to its nearest centre when that centre is
// within maxDist of it, and counts the others as outliers. A caller choosing
// maxDist = a·σ (with a·σ below half the distance between neighbouring
// centres) expects a fraction 1 − exp(−a²/2) of true samples to be assigned,
// since |x − c_k|²/σ² is χ² with 2 degrees of freedom.
func (g Gaussians8) ModeCounts(samples []Point, maxDist float64) (counts [8]int, outliers int) {
	cs := g.centres()
	for _, p := range samples {
		if k := nearestMode(&cs, p, maxDist); k >= 0 {
			counts[k]++
		} else {
			outliers++
		}
	}
	return counts, outliers
}

// nearestMode returns the index k of the centre cs[k] nearest to p (the
// lowest on ties) when it lies within maxDist of p, else −1 (also when p
// has a NaN coordinate).
func nearestMode(cs *[8]Point, p Point, maxDist float64) int {
	best, bestSq := -1, math.Inf(1)
	for k, c := range cs {
		dx, dy := p[0]-c[0], p[1]-c[1]
		if d := dx*dx + dy*dy; d < bestSq {
			best, bestSq = k, d
		}
	}
	if best >= 0 && math.Sqrt(bestSq) <= maxDist {
		return best
	}
	return -1
}
