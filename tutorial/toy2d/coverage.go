package toy2d

// CoveredShare is the share of a mode's fair share 1/K that its samples must
// reach for [ModeCoverage] to count the mode as covered: a quarter, so with
// gaussians8's 8 modes a mode needs at least 1/32 of the samples. A model
// that collapsed onto fewer modes leaves the others far below it; a model
// that covers a mode, even unevenly, reaches it with ease at a few hundred
// samples (a fair share of 1,000 samples is 125, a quarter of it 31).
const CoveredShare = 0.25

// Coverage is how samples spread over the modes of a [Labeled] dataset.
type Coverage struct {
	// Shares[k] is the fraction of the samples that lie in mode k (by the
	// dataset's Mode rule).
	Shares []float64
	// OffMode is the fraction of the samples that lie in no mode.
	OffMode float64
	// Covered counts the modes whose share is at least CoveredShare/K.
	Covered int
}

// ModeCoverage assigns each sample to its mode with ds.Mode and reports the
// shares, the off-mode fraction and the number of modes covered. For
// gaussians8 a point is in a mode when it lies within 5σ (0.5) of the
// nearest centre; for moons every point is in its nearest moon, so OffMode
// is 0. An empty sample gives zero shares and nothing covered.
func ModeCoverage(ds Labeled, samples []Point) Coverage {
	c := Coverage{Shares: make([]float64, ds.Classes())}
	if len(samples) == 0 {
		return c
	}
	off := 0
	for _, p := range samples {
		if k := ds.Mode(p); k >= 0 {
			c.Shares[k]++
		} else {
			off++
		}
	}
	n := float64(len(samples))
	for k := range c.Shares {
		c.Shares[k] /= n
		if c.Shares[k] >= CoveredShare/float64(len(c.Shares)) {
			c.Covered++
		}
	}
	c.OffMode = float64(off) / n
	return c
}
