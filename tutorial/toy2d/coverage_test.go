package toy2d

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestModeCoverage(t *testing.T) {
	g := Gaussians8{}
	cs := g.Centres()
	far := Point{0, 0} // the ring's centre is 2 from every mode centre
	tests := []struct {
		name    string
		pts     []Point
		shares  []float64
		off     float64
		covered int
	}{
		{"empty", nil, make([]float64, 8), 0, 0},
		// 32 points: mode 0 gets 1 (1/32, exactly the threshold: covered),
		// mode 1 none, modes 2–7 five each; one more point is off-mode.
		{"threshold", append(append(append(
			repeat(cs[0], 1), repeat(cs[2], 5)...), append(repeat(cs[3], 5), append(repeat(cs[4], 5),
			append(repeat(cs[5], 5), append(repeat(cs[6], 5), repeat(cs[7], 5)...)...)...)...)...), far),
			[]float64{1. / 32, 0, 5. / 32, 5. / 32, 5. / 32, 5. / 32, 5. / 32, 5. / 32}, 1. / 32, 7},
		{"collapsed", repeat(cs[1], 100), []float64{0, 1, 0, 0, 0, 0, 0, 0}, 0, 1},
	}
	for _, tc := range tests {
		c := ModeCoverage(g, tc.pts)
		for k := range tc.shares {
			if math.Abs(c.Shares[k]-tc.shares[k]) > 1e-12 {
				t.Errorf("%s: share %d = %g, want %g", tc.name, k, c.Shares[k], tc.shares[k])
			}
		}
		if math.Abs(c.OffMode-tc.off) > 1e-12 || c.Covered != tc.covered {
			t.Errorf("%s: off-mode %g, covered %d; want %g, %d", tc.name, c.OffMode, c.Covered, tc.off, tc.covered)
		}
	}
}

// TestModeCoverageData: 4,000 true samples of gaussians8 cover all 8 modes,
// each share within 4 binomial standard errors of 1/8, and the off-mode share
// (probability e^(−12.5) per point) is 0.
func TestModeCoverageData(t *testing.T) {
	g := Gaussians8{}
	n := 4000
	c := ModeCoverage(g, g.Sample(rand.New(rand.NewPCG(1, 2)), n))
	se := math.Sqrt(1. / 8 * 7. / 8 / float64(n))
	for k, s := range c.Shares {
		if math.Abs(s-1./8) > 4*se {
			t.Errorf("share of mode %d = %.4f, want 0.125 ± %.4f", k, s, 4*se)
		}
	}
	if c.Covered != 8 || c.OffMode != 0 {
		t.Errorf("covered %d, off-mode %g; want 8, 0", c.Covered, c.OffMode)
	}
	m := ModeCoverage(Moons{}, Moons{}.Sample(rand.New(rand.NewPCG(3, 4)), n))
	if m.OffMode != 0 || m.Covered != 2 || math.Abs(m.Shares[0]-0.5) > 4*math.Sqrt(0.25/float64(n)) {
		t.Errorf("moons: %+v, want both moons near 1/2 and nothing off-mode", m)
	}
}

func repeat(p Point, n int) []Point {
	out := make([]Point, n)
	for i := range out {
		out[i] = p
	}
	return out
}
