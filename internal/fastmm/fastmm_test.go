package fastmm

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestGradientsMatchGoMLX compares the value and the gradients of a loss
// through Dense with the same loss written with GoMLX's MatMul and
// broadcasting Add (and their stock gradients), for shapes where either the
// input or the output gradient is the smaller operand.
func TestGradientsMatchGoMLX(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{5, 3, 7}, {6, 9, 2}, {1, 4, 4}, {8, 1, 3}} {
		m, k, n := sh[0], sh[1], sh[2]
		vec := func(size int) []float64 {
			v := make([]float64, size)
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			return v
		}
		x := tensors.FromFlatDataAndDimensions(vec(m*k), m, k)
		w := tensors.FromFlatDataAndDimensions(vec(k*n), k, n)
		b := tensors.FromFlatDataAndDimensions(vec(n), n)
		c := tensors.FromFlatDataAndDimensions(vec(m*n), m, n) // loss weights
		build := func(fast bool) func(in []*graph.Node) []*graph.Node {
			return func(in []*graph.Node) []*graph.Node {
				x, w, b, c := in[0], in[1], in[2], in[3]
				var y *graph.Node
				if fast {
					y = Dense(x, w, b)
				} else {
					y = graph.Add(graph.MatMul(x, w), graph.ExpandAxes(b, 0))
				}
				loss := graph.ReduceAllSum(graph.Mul(graph.Tanh(y), c))
				return append([]*graph.Node{loss}, graph.Gradient(loss, x, w, b)...)
			}
		}
		var outs [2][]*tensors.Tensor
		for i, fast := range []bool{true, false} {
			e, err := graph.NewExec(backend.MustShared(), build(fast))
			if err != nil {
				t.Fatal(err)
			}
			if outs[i], err = e.Call(x, w, b, c); err != nil {
				t.Fatal(err)
			}
		}
		for j, name := range []string{"loss", "dx", "dw", "db"} {
			a := tensors.MustCopyFlatData[float64](outs[0][j])
			r := tensors.MustCopyFlatData[float64](outs[1][j])
			for i := range a {
				if math.Abs(a[i]-r[i]) > 1e-12*(1+math.Abs(r[i])) {
					t.Errorf("shape %v, %s[%d]: fastmm %.15g, GoMLX %.15g", sh, name, i, a[i], r[i])
				}
			}
		}
	}
}

// TestOtherDotGeneralsUntouched checks that an untagged DotGeneral still
// uses GoMLX's own gradient (a batched product this package does not handle).
func TestOtherDotGeneralsUntouched(t *testing.T) {
	e, err := graph.NewExec(backend.MustShared(), func(x *graph.Node) *graph.Node {
		y := graph.Einsum("bij,bjk->bik", x, x)
		return graph.Gradient(graph.ReduceAllSum(y), x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromFlatDataAndDimensions([]float64{1, 2, 3, 4}, 1, 2, 2)
	out, err := e.Call(x)
	if err != nil {
		t.Fatal(err)
	}
	// d/dX Σ (XX)_{ik} = (row sums of X)ᵀ + (column sums of X) arranged: G_{ij} = Σ_k X_{jk} + Σ_i' X_{i'i}.
	want := []float64{(1 + 2) + (1 + 3), (3 + 4) + (1 + 3), (1 + 2) + (2 + 4), (3 + 4) + (2 + 4)}
	got := tensors.MustCopyFlatData[float64](out[0])
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("grad[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

// TestSumAndBroadcastLastAxis compares SumLastAxis and BroadcastLastAxis,
// values and gradients, with GoMLX's ReduceSum and broadcasting (and their
// stock gradients).
func TestSumAndBroadcastLastAxis(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const m, n = 4, 7
	vec := func(size int) []float64 {
		v := make([]float64, size)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	x := tensors.FromFlatDataAndDimensions(vec(m*n), m, n)
	a := tensors.FromFlatDataAndDimensions(vec(m), m)
	cs := tensors.FromFlatDataAndDimensions(vec(m), m)      // loss weights of the sums
	cb := tensors.FromFlatDataAndDimensions(vec(m*n), m, n) // loss weights of the broadcast
	build := func(fast bool) func(in []*graph.Node) []*graph.Node {
		return func(in []*graph.Node) []*graph.Node {
			x, a, cs, cb := in[0], in[1], in[2], in[3]
			var s, b *graph.Node
			if fast {
				s, b = SumLastAxis(x), BroadcastLastAxis(a, n)
			} else {
				s, b = graph.ReduceSum(x, 1), graph.BroadcastToDims(graph.ExpandAxes(a, 1), m, n)
			}
			loss := graph.Add(graph.ReduceAllSum(graph.Mul(graph.Sin(s), cs)), graph.ReduceAllSum(graph.Mul(graph.Sin(b), cb)))
			return append([]*graph.Node{s, b}, graph.Gradient(loss, x, a)...)
		}
	}
	var outs [2][]*tensors.Tensor
	for i, fast := range []bool{true, false} {
		e, err := graph.NewExec(backend.MustShared(), build(fast))
		if err != nil {
			t.Fatal(err)
		}
		if outs[i], err = e.Call(x, a, cs, cb); err != nil {
			t.Fatal(err)
		}
	}
	for j, name := range []string{"sum", "broadcast", "dx", "da"} {
		f := tensors.MustCopyFlatData[float64](outs[0][j])
		r := tensors.MustCopyFlatData[float64](outs[1][j])
		for i := range f {
			if math.Abs(f[i]-r[i]) > 1e-12*(1+math.Abs(r[i])) {
				t.Errorf("%s[%d]: fastmm %.15g, GoMLX %.15g", name, i, f[i], r[i])
			}
		}
	}
}

// TestWithGradient checks that the hand-written gradient replaces the
// automatic one (here a deliberately different function, 3x for y = x², so
// the test can tell them apart), that the value is unchanged, that inputs
// without a gradient get none, and that an OptimizationBarrier not made by
// WithGradient keeps the identity gradient.
func TestWithGradient(t *testing.T) {
	e, err := graph.NewExec(backend.MustShared(), func(x, z *graph.Node) []*graph.Node {
		// The gradient function reads the saved node 3x (nodes[2]).
		y := WithGradient(graph.Mul(x, x), []*graph.Node{x, z}, []*graph.Node{graph.MulScalar(x, 3)},
			func(dy *graph.Node, nodes []*graph.Node) []*graph.Node {
				return []*graph.Node{graph.Mul(dy, nodes[2]), nil}
			})
		plain := graph.OptimizationBarrier(graph.Mul(z, z))
		loss := graph.ReduceAllSum(graph.Add(y, plain))
		return append([]*graph.Node{y}, graph.Gradient(loss, x, z)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Call([]float64{1, -2, 0.5}, []float64{4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got *tensors.Tensor, want []float64) {
		g := tensors.MustCopyFlatData[float64](got)
		for i := range want {
			if g[i] != want[i] {
				t.Errorf("%s[%d] = %g, want %g", name, i, g[i], want[i])
			}
		}
	}
	check("y", out[0], []float64{1, 4, 0.25})
	check("dx (custom 3x)", out[1], []float64{3, -6, 1.5})
	check("dz (only through the plain barrier: 2z)", out[2], []float64{8, 10, 12})
}

// TestTagsReleased checks that the tags of a graph, WithGradient's gradient
// functions included, are released once the graph is unreachable.
func TestTagsReleased(t *testing.T) {
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(tagged)
	}
	before := count()
	func() {
		e, err := graph.NewExec(backend.MustShared(), func(x *graph.Node) *graph.Node {
			y := WithGradient(graph.Mul(x, x), []*graph.Node{x}, nil, func(dy *graph.Node, nodes []*graph.Node) []*graph.Node {
				return []*graph.Node{graph.Mul(dy, nodes[0])}
			})
			return graph.Gradient(graph.ReduceAllSum(Dense(graph.Reshape(y, 1, 3), graph.Ones(x.Graph(), shapes.Make(y.DType(), 3, 2)), nil)), x)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Call([]float64{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if count() <= before {
			t.Fatalf("no tags recorded (%d before, %d after)", before, count())
		}
		_ = e // dropped without Finalize: only the garbage collector frees the graph
	}()
	for range 20 {
		runtime.GC()
		if count() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d tags left after the graph was dropped (%d before)", count(), before)
}
