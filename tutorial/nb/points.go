package nb

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// Points converts a [n, 2] float32 tensor (samples of a 2-D model) to points.
func Points(x *tensors.Tensor) []toy2d.Point {
	return Must(toy2d.FromFlat32(tensors.MustCopyFlatData[float32](x)))
}

// Square is the plot options of the square [−r, r]² with equal axes
// labelled x₁ and x₂, the frame of every 2-D scatter plot in the notebooks.
func Square(r float64) plots.Options {
	return plots.Options{Equal: true, XMin: Ptr(-r), XMax: Ptr(r), YMin: Ptr(-r), YMax: Ptr(r), XLabel: "x_1", YLabel: "x_2"}
}

// Series is a series of 2-D points, named name (its legend label; empty for
// none).
func Series(name string, pts []toy2d.Point) plots.Series {
	s := plots.Series{Name: name, X: make([]float64, len(pts)), Y: make([]float64, len(pts))}
	for i, q := range pts {
		s.X[i], s.Y[i] = q[0], q[1]
	}
	return s
}

// Scatter is a scatter-plot panel of 2-D points on [−3, 3]² (all the toy
// datasets fit in it), titled title.
func Scatter(title string, pts []toy2d.Point) plots.Panel {
	return plots.Panel{Title: title, Scatter: []plots.Series{Series("", pts)}, Opts: Square(3)}
}

// PerClass returns n labels of each of k classes, class-major:
// 0,…,0, 1,…,1, …, k−1 (k·n labels). Sampled with these labels, an image grid n
// wide has class r in row r.
func PerClass(k, n int) []int32 {
	labels := make([]int32, k*n)
	for i := range labels {
		labels[i] = int32(i / n)
	}
	return labels
}

// ByClass is a scatter panel of 2-D samples on [−3, 3]², one colour per
// class, for points labelled as by [PerClass](k, n). With legend, the
// classes are named "label 0", "label 1", … in a legend.
func ByClass(title string, pts []toy2d.Point, k, n int, legend bool) plots.Panel {
	if len(pts) != k*n {
		panic(fmt.Sprintf("nb.ByClass: %d points for %d classes of %d", len(pts), k, n))
	}
	var series []plots.Series
	for c := range k {
		name := ""
		if legend {
			name = fmt.Sprintf("label %d", c)
		}
		series = append(series, Series(name, pts[c*n:(c+1)*n]))
	}
	return plots.Panel{Title: title, Scatter: series, Opts: Square(3)}
}

// Spread is the root-mean-square distance of points from their own mean,
// per axis: √(Σᵢ |pᵢ − p̄|² / 2n).
func Spread(pts []toy2d.Point) float64 {
	var mx, my float64
	for _, q := range pts {
		mx, my = mx+q[0]/float64(len(pts)), my+q[1]/float64(len(pts))
	}
	var s float64
	for _, q := range pts {
		s += ((q[0]-mx)*(q[0]-mx) + (q[1]-my)*(q[1]-my)) / float64(2*len(pts))
	}
	return math.Sqrt(s)
}

// Quality measures 2-D samples pts against the dataset ds: the mean negative
// log-likelihood of pts under ds's true density (nats; lower is better), the
// share of points farther than 0.5 from every mode (gaussians8 only; 0
// otherwise), and MMD² (RBF kernel, median bandwidth) to as many fresh points
// of ds drawn with a fixed seed.
func Quality(ds toy2d.Dataset, pts []toy2d.Point) (nll, offMode, mmd float64) {
	nll = toy2d.MeanNLL(ds, pts)
	if g, ok := ds.(toy2d.Gaussians8); ok {
		_, out := g.ModeCounts(pts, 0.5)
		offMode = float64(out) / float64(len(pts))
	}
	fresh := metrics.Points2D(ds.Sample(rand.New(rand.NewPCG(99, 1)), len(pts)))
	a := metrics.Points2D(pts)
	mmd = Must(metrics.MMD2RBF(a, fresh, metrics.MedianBandwidth(a, fresh)))
	return nll, offMode, mmd
}
