package text

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// TestContext: the context of a prompt is the encoder's output; examples
// marked null, and every example of a condition without prompts, get the
// empty prompt's; no gradient reaches the encoder through it.
func TestContext(t *testing.T) {
	store := model.NewStore()
	ids := [][]int32{{BOSID, 5, 7, PadID, PadID, PadID, PadID, PadID}, {BOSID, 9, PadID, PadID, PadID, PadID, PadID, PadID}}
	empty := [][]int32{{BOSID, 0, 0, 0, 0, 0, 0, 0}}
	want, _ := encode(t, store, small, ids)
	wantEmpty, _ := encode(t, store, small, empty)

	run := func(withIDs, withNull bool) ([][][]float32, [][]bool) {
		exec, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) []*Node {
			g := in[0].Graph()
			cn := cond.Nodes{}
			if withIDs {
				cn.Inputs = map[string]*Node{cond.Text: in[0]}
			}
			if withNull {
				cn.Null = in[1]
			}
			out := small.Context(scope.In("text"), g, cn, 2)
			return []*Node{out.Get(cond.Context), out.Get(cond.ContextMask)}
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Call(tensors.FromValue(ids), tensors.FromValue([]bool{false, true}))
		if err != nil {
			t.Fatal(err)
		}
		return outs[0].Value().([][][]float32), outs[1].Value().([][]bool)
	}
	got, mask := run(true, false)
	for i := range 2 {
		if d := maxDiff(flat(got[i]), flat(want[i])); d > 1e-6 {
			t.Errorf("prompt %d: context differs from the encoder's output by %g", i, d)
		}
	}
	if !mask[0][2] || mask[0][3] || !mask[1][1] || mask[1][2] {
		t.Errorf("mask %v does not mark the real tokens", mask)
	}
	got, mask = run(true, true) // example 1 null
	if d := maxDiff(flat(got[0]), flat(want[0])); d > 1e-6 {
		t.Errorf("the non-null example changed by %g", d)
	}
	if d := maxDiff(flat(got[1]), flat(wantEmpty[0])); d > 1e-6 {
		t.Errorf("the null example differs from the empty prompt by %g", d)
	}
	if !mask[1][0] || mask[1][1] {
		t.Errorf("the null example's mask %v, want only BOS", mask[1])
	}
	got, _ = run(false, false) // no prompts: every example ∅
	for i := range 2 {
		if d := maxDiff(flat(got[i]), flat(wantEmpty[0])); d > 1e-6 {
			t.Errorf("no prompts, example %d: differs from the empty prompt by %g", i, d)
		}
	}

	// No gradient through the context.
	exec, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, idsN *Node) *Node {
		out := small.Context(scope.In("text"), idsN.Graph(), cond.Nodes{Inputs: map[string]*Node{cond.Text: idsN}}, 2)
		emb := store.GetVariable("/text/token_embedding").NodeValue(idsN.Graph())
		return ReduceAllSum(Abs(Gradient(ReduceAllSum(out.Get(cond.Context)), emb)[0]))
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Call(tensors.FromValue(ids))
	if err != nil {
		t.Fatal(err)
	}
	if g := outs[0].Value().(float32); g != 0 {
		t.Errorf("a gradient of total size %g reached the encoder through the context", g)
	}
}

func flat(m [][]float32) []float32 {
	var out []float32
	for _, r := range m {
		out = append(out, r...)
	}
	return out
}
