package safecall

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestCall runs a graph that adds its two inputs: with matching shapes it
// returns their sum, with mismatched ones GoMLX panics while building the
// graph and Call must return that as an error instead.
func TestCall(t *testing.T) {
	exec, err := model.NewExec(backend.MustShared(), model.NewStore(), func(_ *model.Scope, a, b *Node) *Node { return Add(a, b) })
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	outs, err := Call(exec, tensors.FromValue([]float32{1, 2}), tensors.FromValue([]float32{10, 20}))
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](outs[0]); got[0] != 11 || got[1] != 22 {
		t.Errorf("1+10, 2+20 = %v", got)
	}
	if _, err := Call(exec, tensors.FromValue([]float32{1, 2}), tensors.FromValue([]float32{1, 2, 3})); err == nil {
		t.Error("adding shapes [2] and [3]: no error")
	}
}

// TestCompile builds the same graph without running it: for shapes [2] and
// [2] the graph's output is shaped [2]; for [2] and [3] the panic comes back
// as an error.
func TestCompile(t *testing.T) {
	exec, err := model.NewExec(backend.MustShared(), model.NewStore(), func(_ *model.Scope, a, b *Node) *Node { return Add(a, b) })
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	f32 := func(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n) }
	g, err := Compile(exec, f32(2), f32(2))
	if err != nil {
		t.Fatal(err)
	}
	if last := g.LastNode(); last == nil || !last.Shape().Equal(f32(2)) {
		t.Errorf("the graph's last node is %v, want a [2] sum", last)
	}
	if _, err := Compile(exec, f32(2), f32(3)); err == nil {
		t.Error("adding shapes [2] and [3]: no error")
	}
}
