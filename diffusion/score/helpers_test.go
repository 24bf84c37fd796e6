package score

import (
	"math"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/schedules"
)

// tb is the backend of the tests.
func tb() compute.Backend { return backend.MustShared() }

// testMixture is a 2-D mixture of five modes on a circle of radius 2 with
// unequal weights and widths, so that a sampler with the wrong mode masses
// or widths fails. Adjacent means are 2.35 apart, ≥ 5.8 widest stds from
// the midpoint, so assigning points to the nearest mean misclassifies a
// fraction < 1e-8.
func testMixture(t *testing.T) *Mixture {
	t.Helper()
	means := make([][]float64, 5)
	for k := range means {
		s, c := math.Sincos(2 * math.Pi * float64(k) / 5)
		means[k] = []float64{2 * c, 2 * s}
	}
	m, err := NewMixture(means, []float64{0.1, 0.15, 0.2, 0.1, 0.15}, []float64{0.1, 0.15, 0.2, 0.25, 0.3})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testVE is a VE SDE with σ_max = 10, about twice the largest distance
// between the test mixture's points (Song et al.'s rule of thumb), which
// keeps the step counts of the tests small.
func testVE() SDE { return VE(schedules.VESDE{SigmaMin: 0.01, SigmaMax: 10}) }

// toRows converts a [n, d] float tensor to n rows of float64.
func toRows(t *testing.T, x *tensors.Tensor) [][]float64 {
	t.Helper()
	flat := toFloat64(t, x)
	dims := x.Shape().Dimensions
	d := 1
	for _, v := range dims[1:] {
		d *= v
	}
	rows := make([][]float64, dims[0])
	for i := range rows {
		rows[i] = flat[i*d : (i+1)*d]
	}
	return rows
}

func toFloat64(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float32:
		v := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

// modeStats assigns every point to its nearest mean of target and returns
// per-mode counts, sample means and per-axis variances (pooled over axes).
func modeStats(target *Mixture, pts [][]float64) (count []int, mean [][]float64, variance []float64) {
	k, d := len(target.Means), target.Dim()
	count = make([]int, k)
	mean = make([][]float64, k)
	sum2 := make([]float64, k)
	for j := range mean {
		mean[j] = make([]float64, d)
	}
	assign := make([]int, len(pts))
	for i, p := range pts {
		best, bd := 0, math.Inf(1)
		for j, mu := range target.Means {
			dd := 0.0
			for a := range p {
				dd += (p[a] - mu[a]) * (p[a] - mu[a])
			}
			if dd < bd {
				best, bd = j, dd
			}
		}
		assign[i] = best
		count[best]++
		for a := range p {
			mean[best][a] += p[a]
		}
	}
	for j := range mean {
		for a := range mean[j] {
			mean[j][a] /= max(float64(count[j]), 1)
		}
	}
	for i, p := range pts {
		j := assign[i]
		for a := range p {
			sum2[j] += (p[a] - mean[j][a]) * (p[a] - mean[j][a])
		}
	}
	variance = make([]float64, k)
	for j := range variance {
		variance[j] = sum2[j] / max(float64(d*(count[j]-1)), 1)
	}
	return count, mean, variance
}
