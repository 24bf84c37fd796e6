package unet

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
)

// refGroupNorm is GroupNorm in float64 on x [C,B,H,W] with two passes (the
// mean, then the mean of squared deviations), written independently of the
// one-pass sums the layer uses.
func refGroupNorm(x []float64, c, b, p, groups int, scale, offset []float64, eps float64) []float64 {
	y := make([]float64, len(x))
	cg := c / groups
	for n := range b {
		for g := range groups {
			idx := func(yield func(int) bool) {
				for ci := g * cg; ci < (g+1)*cg; ci++ {
					for q := range p {
						if !yield((ci*b+n)*p + q) {
							return
						}
					}
				}
			}
			var mean, count float64
			for i := range idx {
				mean += x[i]
				count++
			}
			mean /= count
			var v float64
			for i := range idx {
				v += (x[i] - mean) * (x[i] - mean)
			}
			v /= count
			for i := range idx {
				ci := i / (b * p)
				y[i] = (x[i]-mean)/math.Sqrt(v+eps)*scale[ci] + offset[ci]
			}
		}
	}
	return y
}

// gnExec builds GroupNorm on x [C,B,H,W] with the given scale and offset as
// the layer's variables, returning the output and the gradients of
// Σ tanh(y)⊙r with respect to x, scale and offset.
func gnExec(t *testing.T, c, b, h, w, groups int, scale, offset []float64) *model.Exec {
	t.Helper()
	e, err := model.NewExec(backend.MustShared(), model.NewStore(), func(scope *model.Scope, x, r *Node) []*Node {
		s := scope.In("gn")
		sv := s.VariableWithValue("scale", scale).NodeValue(x.Graph())
		ov := s.VariableWithValue("offset", offset).NodeValue(x.Graph())
		y := GroupNorm(s, x, groups, 1e-5)
		loss := ReduceAllSum(Mul(Tanh(y), r))
		return append([]*Node{y, loss}, Gradient(loss, x, sv, ov)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestGroupNorm compares GroupNorm with the float64 two-pass reference, for
// inputs with a mean far from 0 too (where the one-pass variance is most
// fragile), and its gradients with central finite differences of the loss
// the graph computes, with the hand-written gradient and with automatic
// differentiation.
func TestGroupNorm(t *testing.T) {
	for _, auto := range []bool{false, true} {
		t.Run(map[bool]string{false: "hand-written gradient", true: "automatic gradient"}[auto], func(t *testing.T) {
			old := autodiffOnly
			autodiffOnly = auto
			defer func() { autodiffOnly = old }()
			testGroupNorm(t)
		})
	}
}

func testGroupNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const c, b, h, w, groups = 6, 2, 3, 2, 3
	p := h * w
	scale, offset := randVec(rng, c), randVec(rng, c)
	e := gnExec(t, c, b, h, w, groups, scale, offset)
	e.MustCall(tensors.FromFlatDataAndDimensions(make([]float64, c*b*p), c, b, h, w), tensors.FromFlatDataAndDimensions(make([]float64, c*b*p), c, b, h, w)) // builds the graph now
	for _, shift := range []float64{0, 20} {
		x := randVec(rng, c*b*p)
		for i := range x {
			x[i] = 3*x[i] + shift
		}
		r := randVec(rng, len(x))
		call := func(x []float64) []*tensors.Tensor {
			return e.MustCall(tensors.FromFlatDataAndDimensions(x, c, b, h, w), tensors.FromFlatDataAndDimensions(r, c, b, h, w))
		}
		out := call(x)
		want := refGroupNorm(x, c, b, p, groups, scale, offset, 1e-5)
		if d := maxAbsDiff(tensors.MustCopyFlatData[float64](out[0]), want); d > 1e-9 {
			t.Errorf("shift %g: GroupNorm differs from the reference by %g", shift, d)
		}
		if shift != 0 {
			continue
		}
		// Finite differences on x (the loss is computed by the same exec).
		dx := tensors.MustCopyFlatData[float64](out[2])
		for i := range x {
			const eps = 1e-6
			old := x[i]
			x[i] = old + eps
			up := call(x)[1].Value().(float64)
			x[i] = old - eps
			down := call(x)[1].Value().(float64)
			x[i] = old
			if fd := (up - down) / (2 * eps); math.Abs(fd-dx[i]) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("dL/dx[%d] = %g, finite difference %g", i, dx[i], fd)
			}
		}
		// The gradients of scale and offset against their closed forms:
		// dL/dscale[c] = Σ g·x̂, dL/doffset[c] = Σ g with g = r·(1 − tanh²(y)).
		y := tensors.MustCopyFlatData[float64](out[0])
		xhat := refGroupNorm(x, c, b, p, groups, ones(c), make([]float64, c), 1e-5)
		ds, do := make([]float64, c), make([]float64, c)
		for i := range y {
			gr := r[i] * (1 - math.Tanh(y[i])*math.Tanh(y[i]))
			ds[i/(b*p)] += gr * xhat[i]
			do[i/(b*p)] += gr
		}
		if d := maxAbsDiff(tensors.MustCopyFlatData[float64](out[3]), ds); d > 1e-9 {
			t.Errorf("dL/dscale differs from Σ g·x̂ by %g", d)
		}
		if d := maxAbsDiff(tensors.MustCopyFlatData[float64](out[4]), do); d > 1e-9 {
			t.Errorf("dL/doffset differs from Σ g by %g", d)
		}
	}
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}
