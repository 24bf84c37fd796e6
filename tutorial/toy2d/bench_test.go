package toy2d

import "testing"

// BenchmarkLogDensity measures one LogDensity call at points drawn from each
// dataset.
func BenchmarkLogDensity(b *testing.B) {
	for _, ds := range []Dataset{Gaussians8{}, Moons{}, SwissRoll{}, Checkerboard{}} {
		b.Run(ds.Name(), func(b *testing.B) {
			pts := ds.Sample(newRNG(1), 1024)
			b.ResetTimer()
			for i := range b.N {
				ds.LogDensity(pts[i%len(pts)])
			}
		})
	}
}
