package toy2d

import (
	"math"
	"math/rand/v2"
)

// Checkerboard is the uniform distribution on the dark squares of a 4×4 board
// covering [−2, 2)²: the unit squares [i − 2, i − 1) × [j − 2, j − 1),
// i, j ∈ {0, 1, 2, 3}, with i + j even (the bottom-left square is dark). The
// eight dark squares have total area 8, so
//
//	p(x) = 1/8 on the dark squares, 0 elsewhere.
//
// Squares are half-open: a point on a square's left or bottom edge belongs to
// it, and the lines x = 2 and y = 2 lie outside the board.
type Checkerboard struct{}

// Name returns "checkerboard".
func (Checkerboard) Name() string { return "checkerboard" }

// darkSquares lists (i, j) with i + j even.
var darkSquares = [8][2]int{{0, 0}, {0, 2}, {1, 1}, {1, 3}, {2, 0}, {2, 2}, {3, 1}, {3, 3}}

// Sample draws n points: for each, one of the eight dark squares uniformly,
// then a uniform point inside it.
func (Checkerboard) Sample(rng *rand.Rand, n int) []Point {
	checkSample("Checkerboard", n)
	out := make([]Point, n)
	for i := range out {
		sq := darkSquares[rng.IntN(8)]
		out[i] = Point{uniformIn(rng, sq[0]-2), uniformIn(rng, sq[1]-2)}
	}
	return out
}

// uniformIn draws uniformly from [lo, lo + 1). The sum lo + U can round up to
// lo + 1 when U is within 2⁻⁵³ of 1; such a draw is moved just inside.
func uniformIn(rng *rand.Rand, lo int) float64 {
	v := float64(lo) + rng.Float64()
	if hi := float64(lo + 1); v >= hi {
		v = math.Nextafter(hi, math.Inf(-1))
	}
	return v
}

// LogDensity is −log 8 on the dark squares, −Inf elsewhere.
func (Checkerboard) LogDensity(p Point) float64 {
	if math.IsNaN(p[0]) || math.IsNaN(p[1]) {
		return math.NaN()
	}
	if !(p[0] >= -2 && p[0] < 2 && p[1] >= -2 && p[1] < 2) {
		return math.Inf(-1)
	}
	// Floor of the exact coordinate: adding 2 first could round up across an edge.
	i, j := int(math.Floor(p[0]))+2, int(math.Floor(p[1]))+2
	if (i+j)%2 != 0 {
		return math.Inf(-1)
	}
	return -math.Log(8)
}
