package toy2d

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Point is a point of the plane, (x, y).
type Point = [2]float64

// Dataset is a distribution on the plane that can be sampled and whose
// density is known exactly.
type Dataset interface {
	// Name is the dataset's name as [ByName] accepts it.
	Name() string
	// Sample draws n independent points. The same generator state gives the
	// same points. rng must not be nil; n < 0 panics.
	Sample(rng *rand.Rand, n int) []Point
	// LogDensity is the natural log of the true probability density of the
	// distribution Sample draws from, at p: −Inf outside the support, NaN if
	// p has a NaN coordinate.
	LogDensity(p Point) float64
}

// Labeled is a dataset whose points come with class labels, for
// class-conditional models: gaussians8 (8 labels, one per mode) and moons
// (2 labels, one per moon).
type Labeled interface {
	Dataset
	// Classes returns the number of labels K.
	Classes() int
	// SampleLabeled draws n points, exactly as Sample does for the same
	// generator state, and the label in [0, K) of each.
	SampleLabeled(rng *rand.Rand, n int) ([]Point, []int32)
	// Mode returns the label in [0, K) of the mode that p lies in, by the
	// dataset's geometry (for a point SampleLabeled draws, almost always
	// its label), or −1 when p lies in none.
	Mode(p Point) int
}

// names lists the datasets in the order [Names] reports them.
var names = []string{"gaussians8", "moons", "swissroll", "checkerboard"}

// Names returns the names [ByName] accepts, in a fixed order.
func Names() []string {
	return append([]string(nil), names...)
}

// ByName returns the dataset called name, with its default parameters.
// An unknown name is an error that lists the valid ones.
func ByName(name string) (Dataset, error) {
	switch name {
	case "gaussians8":
		return Gaussians8{}, nil
	case "moons":
		return Moons{}, nil
	case "swissroll":
		return SwissRoll{}, nil
	case "checkerboard":
		return Checkerboard{}, nil
	}
	return nil, fmt.Errorf("toy2d: unknown dataset %q; valid names are %s", name, strings.Join(names, ", "))
}

// Flatten32 returns the points as a row-major [n, 2] float32 slice
// (x₀, y₀, x₁, y₁, …), the layout of a model's input tensor.
func Flatten32(points []Point) []float32 {
	flat := make([]float32, 2*len(points))
	for i, p := range points {
		flat[2*i] = float32(p[0])
		flat[2*i+1] = float32(p[1])
	}
	return flat
}

// FromFlat32 is the inverse of [Flatten32]: it reads a row-major [n, 2]
// float32 slice back into points. An odd length is an error.
func FromFlat32(flat []float32) ([]Point, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("toy2d: FromFlat32 needs an even number of values (n×2), got %d", len(flat))
	}
	points := make([]Point, len(flat)/2)
	for i := range points {
		points[i] = Point{float64(flat[2*i]), float64(flat[2*i+1])}
	}
	return points, nil
}

// MeanNLL is the mean negative log-likelihood of samples under the true
// density of ds, in nats:
//
//	MeanNLL = −(1/n) Σ_i log p(x_i).
//
// For samples drawn from ds it estimates the differential entropy of ds.
// It is +Inf if any sample lies outside a bounded support (p = 0 there, as for
// [Checkerboard]), and NaN if samples is empty or contains a NaN.
func MeanNLL(ds Dataset, samples []Point) float64 {
	if len(samples) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, p := range samples {
		sum -= ds.LogDensity(p)
	}
	return sum / float64(len(samples))
}

// checkSample panics when Sample is called with n < 0.
func checkSample(name string, n int) {
	if n < 0 {
		panic(fmt.Sprintf("toy2d: %s.Sample: n must be ≥ 0, got %d", name, n))
	}
}

// orDefault returns v, or def when v is 0. A negative or NaN v panics with a
// message naming the dataset and field.
func orDefault(v, def float64, what string) float64 {
	if v == 0 {
		return def
	}
	if !(v > 0) || math.IsInf(v, 1) {
		panic(fmt.Sprintf("toy2d: %s must be > 0 and finite (0 selects the default %g), got %g", what, def, v))
	}
	return v
}
