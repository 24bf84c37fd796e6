package fastmm

import (
	"math"
	"math/rand/v2"
	"testing"

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
