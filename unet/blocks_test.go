package unet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestNearest2x checks every output pixel against its source and the
// gradient against the sum of the output gradient over each 2×2 block.
func TestNearest2x(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const c, b, h, w = 2, 3, 2, 3
	x := randVec(rng, c*b*h*w)
	r := randVec(rng, c*b*4*h*w)
	e, err := NewExec(backend.MustShared(), func(x, r *Node) (*Node, *Node) {
		y := Nearest2x(x)
		return y, Gradient(ReduceAllSum(Mul(y, r)), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	out := e.MustCall(tensors.FromFlatDataAndDimensions(x, c, b, h, w), tensors.FromFlatDataAndDimensions(r, c, b, 2*h, 2*w))
	if dims := out[0].Shape().Dimensions; dims[2] != 2*h || dims[3] != 2*w {
		t.Fatalf("shape %v", dims)
	}
	y := tensors.MustCopyFlatData[float64](out[0])
	dx := tensors.MustCopyFlatData[float64](out[1])
	wantDX := make([]float64, len(x))
	for cb := range c * b {
		for i := range 2 * h {
			for j := range 2 * w {
				src := (cb*h+i/2)*w + j/2
				dst := (cb*2*h+i)*2*w + j
				if y[dst] != x[src] {
					t.Fatalf("y[%d,%d,%d] = %g, want x[%d,%d] = %g", cb, i, j, y[dst], i/2, j/2, x[src])
				}
				wantDX[src] += r[dst]
			}
		}
	}
	if d := maxAbsDiff(dx, wantDX); d > 1e-12 {
		t.Errorf("gradient differs from the block sums by %g", d)
	}
}

// TestSamplingShapes checks Downsample and Upsample sizes, odd sizes included.
func TestSamplingShapes(t *testing.T) {
	for _, tc := range []struct{ h, w int }{{8, 6}, {7, 5}} {
		e, err := model.NewExec(backend.MustShared(), model.NewStore(), func(scope *model.Scope, x *Node) (*Node, *Node) {
			return Downsample(scope.In("down"), x, 5), Upsample(scope.In("up"), x, 4)
		})
		if err != nil {
			t.Fatal(err)
		}
		out := e.MustCall(tensors.FromShape(shapes.Make(dtypes.Float32, 3, 2, tc.h, tc.w)))
		if got, want := out[0].Shape().Dimensions, []int{5, 2, (tc.h + 1) / 2, (tc.w + 1) / 2}; !equalInts(got, want) {
			t.Errorf("Downsample of %dx%d: %v, want %v", tc.h, tc.w, got, want)
		}
		if got, want := out[1].Shape().Dimensions, []int{4, 2, 2 * tc.h, 2 * tc.w}; !equalInts(got, want) {
			t.Errorf("Upsample of %dx%d: %v, want %v", tc.h, tc.w, got, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResBlock compares ResBlock with its definition evaluated in float64
// from the references of its parts (refGroupNorm, refConv), with random
// weights, for a block that changes the width (1×1 skip) and one that does
// not.
func TestResBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const b, h, w, e, groups = 2, 3, 4, 3, 2
	p := h * w
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	for _, io := range [][2]int{{2, 4}, {4, 4}} {
		cin, out := io[0], io[1]
		vals := map[string][]float64{}
		dims := map[string][]int{}
		add := func(path string, d ...int) {
			n := 1
			for _, v := range d {
				n *= v
			}
			vals[path], dims[path] = randVec(rng, n), d
		}
		add("/rb/norm_1/scale", cin)
		add("/rb/norm_1/offset", cin)
		add("/rb/conv_1/weights", 3, 3, cin, out)
		add("/rb/conv_1/biases", out)
		add("/rb/time/weights", e, out)
		add("/rb/time/biases", out)
		add("/rb/norm_2/scale", out)
		add("/rb/norm_2/offset", out)
		add("/rb/conv_2/weights", 3, 3, out, out)
		add("/rb/conv_2/biases", out)
		if cin != out {
			add("/rb/skip/weights", 1, 1, cin, out)
			add("/rb/skip/biases", out)
		}
		store := model.NewStore()
		for path, v := range vals {
			store.VariableWithValue(path, tensors.FromFlatDataAndDimensions(v, dims[path]...))
		}
		ex, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, temb *Node) *Node {
			return ResBlock(scope.In("rb"), x, temb, out, groups, 0)
		})
		if err != nil {
			t.Fatal(err)
		}
		x, temb := randVec(rng, cin*b*p), randVec(rng, b*e)
		got := tensors.MustCopyFlatData[float64](ex.MustCall(tensors.FromFlatDataAndDimensions(x, cin, b, h, w),
			tensors.FromFlatDataAndDimensions(temb, b, e))[0])

		// The definition, step by step.
		act := func(v []float64) []float64 {
			r := make([]float64, len(v))
			for i := range v {
				r[i] = silu(v[i])
			}
			return r
		}
		h1, _, _ := refConv(act(refGroupNorm(x, cin, b, p, groups, vals["/rb/norm_1/scale"], vals["/rb/norm_1/offset"], 1e-5)),
			b, h, w, cin, vals["/rb/conv_1/weights"], 3, out, 1)
		for o := range out {
			for n := range b {
				tp := vals["/rb/time/biases"][o]
				for k := range e {
					tp += silu(temb[n*e+k]) * vals["/rb/time/weights"][k*out+o]
				}
				for q := range p {
					h1[(o*b+n)*p+q] += vals["/rb/conv_1/biases"][o] + tp
				}
			}
		}
		h2, _, _ := refConv(act(refGroupNorm(h1, out, b, p, groups, vals["/rb/norm_2/scale"], vals["/rb/norm_2/offset"], 1e-5)),
			b, h, w, out, vals["/rb/conv_2/weights"], 3, out, 1)
		skip := x
		if cin != out {
			skip, _, _ = refConv(x, b, h, w, cin, vals["/rb/skip/weights"], 1, out, 1)
			for i := range skip {
				skip[i] += vals["/rb/skip/biases"][i/(b*p)]
			}
		}
		want := make([]float64, len(h2))
		for i := range want {
			want[i] = skip[i] + h2[i] + vals["/rb/conv_2/biases"][i/(b*p)]
		}
		if d := maxAbsDiff(got, want); d > 1e-9 {
			t.Errorf("%d→%d: ResBlock differs from its definition by %g", cin, out, d)
		}
	}
}

// TestDropout checks that dropout is the identity unless the graph is
// marked as training, and then zeroes about rate of the values and scales
// the others by 1/(1−rate).
func TestDropout(t *testing.T) {
	const n, rate = 20000, 0.3
	for _, training := range []bool{false, true} {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(3))
		e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x *Node) *Node {
			scope.Store().SetTraining(x.Graph(), training)
			return Dropout(scope, x, rate)
		})
		if err != nil {
			t.Fatal(err)
		}
		ones := make([]float32, n)
		for i := range ones {
			ones[i] = 1
		}
		y := tensors.MustCopyFlatData[float32](e.MustCall(tensors.FromValue(ones))[0])
		zeros := 0
		for _, v := range y {
			switch {
			case v == 0:
				zeros++
			case training && math.Abs(float64(v)-1/(1-rate)) > 1e-6, !training && v != 1:
				t.Fatalf("training=%v: kept value %g", training, v)
			}
		}
		frac := float64(zeros) / n
		// Binomial standard deviation √(rate(1−rate)/n) ≈ 0.0032; allow 5σ.
		if want := map[bool]float64{false: 0, true: rate}[training]; math.Abs(frac-want) > 5*math.Sqrt(rate*(1-rate)/n) {
			t.Errorf("training=%v: %.4f of the values dropped, want %.2f", training, frac, want)
		}
	}
}

// TestSiLU checks SiLU's value and gradient against x/(1+e^−x) and its
// derivative σ(x) + x·σ(x)(1−σ(x)), both in float64.
func TestSiLU(t *testing.T) {
	xs := []float64{-30, -5, -1.5, -0.1, 0, 0.3, 2, 7, 40}
	e, err := NewExec(backend.MustShared(), func(x *Node) (*Node, *Node) {
		y := SiLU(x)
		return y, Gradient(ReduceAllSum(y), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	out := e.MustCall(xs)
	y, dy := tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
	for i, x := range xs {
		s := 1 / (1 + math.Exp(-x))
		if want := x * s; math.Abs(y[i]-want) > 1e-12*(1+math.Abs(want)) {
			t.Errorf("SiLU(%g) = %g, want %g", x, y[i], want)
		}
		if want := s + x*s*(1-s); math.Abs(dy[i]-want) > 1e-12 {
			t.Errorf("SiLU'(%g) = %g, want %g", x, dy[i], want)
		}
	}
}
