package math

import (
	"fmt"
	gomath "math"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// simpson integrates f over [a, b] with the composite Simpson rule on n
// intervals (n is rounded up to even).
func simpson(f func(float64) float64, a, b float64, n int) float64 {
	if n%2 == 1 {
		n++
	}
	h := (b - a) / float64(n)
	sum := f(a) + f(b)
	for i := 1; i < n; i++ {
		w := 4.0
		if i%2 == 0 {
			w = 2
		}
		sum += w * f(a+float64(i)*h)
	}
	return sum * h / 3
}

// logGaussianMass returns ln ∫_lo^hi φ(t) dt, with φ the standard normal
// density, by Simpson integration, without erf or erfc. The integrand is
// scaled by its maximum φ(c) on [lo, hi], and the interval is cut where the
// scaled integrand is below e^-60 (relative to its maximum), so far tails
// neither underflow nor need more points.
func logGaussianMass(lo, hi float64) float64 {
	var c, from, to float64
	switch {
	case lo <= 0 && hi >= 0:
		c, from, to = 0, gomath.Max(lo, -40), gomath.Min(hi, 40)
	case lo > 0:
		c = lo
		from, to = lo, gomath.Min(hi, lo+60/gomath.Max(lo, 1))
	default:
		c = hi
		from, to = gomath.Max(lo, hi-60/gomath.Max(-hi, 1)), hi
	}
	scaled := func(t float64) float64 { return gomath.Exp(-0.5 * (t - c) * (t + c)) }
	return -0.5*c*c - 0.5*gomath.Log(2*gomath.Pi) + gomath.Log(simpson(scaled, from, to, 20000))
}

// level returns the k-th of the 256 levels of 8-bit data in [−1, 1].
func level(k int) float64 { return -1 + 2*float64(k)/255 }

// closeTo reports whether got is within relTol·|want| + absTol of want.
func closeTo(got, want, relTol, absTol float64) bool {
	if gomath.IsNaN(got) || gomath.IsNaN(want) {
		return false
	}
	if got == want {
		return true
	}
	return gomath.Abs(got-want) <= relTol*gomath.Abs(want)+absTol
}

// input is one operand of a graph test: flat float64 values and dimensions
// (none for a scalar).
type input struct {
	values []float64
	dims   []int
}

// tensorOf converts in to a tensor of dtype (Float32 or Float64).
func tensorOf(in input, dtype dtypes.DType) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		f := make([]float32, len(in.values))
		for i, v := range in.values {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, in.dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), in.values...), in.dims...)
}

// rounded returns v as the dtype stores it, so that float64 references see
// the same inputs as a float32 graph.
func rounded(v float64, dtype dtypes.DType) float64 {
	if dtype == dtypes.Float32 {
		return float64(float32(v))
	}
	return v
}

// runGraph executes fn on the shared backend with the inputs converted to
// dtype, checks that every output has that dtype, and returns the outputs as
// float64 values with their dimensions.
func runGraph(t *testing.T, dtype dtypes.DType, fn func([]*graph.Node) []*graph.Node, ins ...input) ([][]float64, [][]int) {
	t.Helper()
	values, dims, err := tryRunGraph(dtype, fn, ins...)
	if err != nil {
		t.Fatalf("running graph in %s: %v", dtype, err)
	}
	return values, dims
}

// tryRunGraph is runGraph that returns errors (GoMLX turns panics while
// building the graph into errors).
func tryRunGraph(dtype dtypes.DType, fn func([]*graph.Node) []*graph.Node, ins ...input) ([][]float64, [][]int, error) {
	exec, err := graph.NewExec(backend.MustShared(), fn)
	if err != nil {
		return nil, nil, err
	}
	defer exec.Finalize()
	args := make([]any, len(ins))
	for i, in := range ins {
		args[i] = tensorOf(in, dtype)
	}
	outs, err := exec.Call(args...)
	if err != nil {
		return nil, nil, err
	}
	values := make([][]float64, len(outs))
	dims := make([][]int, len(outs))
	for i, out := range outs {
		if out.DType() != dtype {
			return nil, nil, fmt.Errorf("output %d has dtype %s, want %s", i, out.DType(), dtype)
		}
		dims[i] = out.Shape().Dimensions
		if dtype == dtypes.Float32 {
			f, err := tensors.CopyFlatData[float32](out)
			if err != nil {
				return nil, nil, err
			}
			values[i] = make([]float64, len(f))
			for j, v := range f {
				values[i][j] = float64(v)
			}
		} else {
			values[i], err = tensors.CopyFlatData[float64](out)
			if err != nil {
				return nil, nil, err
			}
		}
	}
	return values, dims, nil
}

// vector is an input of one axis holding values.
func vector(values []float64) input { return input{values: values, dims: []int{len(values)}} }

// grid returns the Cartesian product of the axes, one slice per axis, each of
// length ∏ len(axes[i]), the first axis varying slowest.
func grid(axes ...[]float64) [][]float64 {
	n := 1
	for _, a := range axes {
		n *= len(a)
	}
	out := make([][]float64, len(axes))
	for i := range out {
		out[i] = make([]float64, 0, n)
	}
	for idx := 0; idx < n; idx++ {
		rest := idx
		for i := len(axes) - 1; i >= 0; i-- {
			out[i] = append(out[i], axes[i][rest%len(axes[i])])
			rest /= len(axes[i])
		}
	}
	return out
}
