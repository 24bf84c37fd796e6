package diffusion

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// labelModel is a hand-written conditional model: for a labelled example
// ε = 0.3 x + 0.1 (label + 1), for a null one ε = 0.3 x − 0.2; with learned
// variance its v channels are tanh(x) + label (−1 when null).
func labelModel(learned bool) Model {
	return Model{
		Net: func(_ *model.Scope, x *Node, _ LevelNodes, c cond.Nodes) *Node {
			b := x.Shape().Dimensions[0]
			null := perExampleNode(ConvertDType(c.NullMask(x.Graph(), b), x.DType()), x)
			label := perExampleNode(ConvertDType(c.Get(cond.Class), x.DType()), x)
			shift := Add(Mul(OneMinus(null), MulScalar(AddScalar(label, 1), 0.1)), MulScalar(null, -0.2))
			out := Add(MulScalar(x, 0.3), shift)
			if learned {
				v := Add(Tanh(x), Sub(Mul(OneMinus(null), label), null))
				out = Concatenate([]*Node{out, v}, -1)
			}
			return out
		},
		Prediction: PredictEpsilon, LearnedVariance: learned, Levels: testVP(), Inputs: []string{cond.Class}, Classes: 3,
	}
}

// TestClassifierFree checks the guided model against the formula
// ε̃ = ε(x, ∅) + w (ε(x, c) − ε(x, ∅)) computed by hand, example by example
// (null examples get ε(x, ∅)), with learned-variance channels taken from
// the conditional half; and that an unconditional model is refused.
func TestClassifierFree(t *testing.T) {
	xs := []float64{0.5, -1, 2, 0.25}
	labels := []int32{0, 2, 1, 1}
	null := []bool{false, false, false, true}
	for _, learned := range []bool{false, true} {
		for _, w := range []float64{0, 1, 2.5} {
			g, err := ClassifierFree(labelModel(learned), w)
			if err != nil {
				t.Fatal(err)
			}
			out := run(t, func(in []*Node) []*Node {
				lv := ConstLevelNodes(in[0].Graph(), Level{T: 0.5, Alpha: 0.8, Sigma: 0.6}, 4, dtypes.Float64)
				c := cond.Nodes{Inputs: map[string]*Node{cond.Class: in[1]}, Null: in[2]}
				return []*Node{g.Net(model.NewStore().RootScope(), in[0], lv, c)}
			}, tensors.FromFlatDataAndDimensions(xs, 4, 1), tensors.FromValue(labels), tensors.FromValue(null))[0]
			for i, x := range xs {
				eu := 0.3*x - 0.2
				ec := 0.3*x + 0.1*float64(labels[i]+1)
				if null[i] {
					ec = eu
				}
				want := eu + w*(ec-eu)
				got := out[i]
				if learned {
					got = out[2*i]
					wantV := math.Tanh(x) + float64(labels[i])
					if null[i] {
						wantV = math.Tanh(x) - 1
					}
					if !close(out[2*i+1], wantV, 1e-12) {
						t.Errorf("w=%g example %d: variance channel %g, want the conditional half's %g", w, i, out[2*i+1], wantV)
					}
				}
				if !close(got, want, 1e-12) {
					t.Errorf("learned=%v w=%g example %d: ε̃ = %.12g, want %.12g", learned, w, i, got, want)
				}
			}
		}
	}
	if _, err := ClassifierFree(GaussianModel(testVP(), 0, 1), 2); err == nil || !strings.Contains(err.Error(), "conditional") {
		t.Errorf("guidance of an unconditional model: %v", err)
	}
}

// TestCheckCondition checks the refusals of conditions a model cannot take.
func TestCheckCondition(t *testing.T) {
	m := labelModel(false)
	for name, c := range map[string]struct {
		m    Model
		cond cond.Condition
		want string
	}{
		"label too large":    {m, cond.Classes([]int32{0, 3}), "out of range"},
		"negative label":     {m, cond.Classes([]int32{-1}), "out of range"},
		"unknown input":      {m, cond.Condition{Inputs: map[string]*tensors.Tensor{"text": tensors.FromValue([]int32{1})}}, `not "text"`},
		"unconditional":      {GaussianModel(testVP(), 0, 1), cond.Classes([]int32{1}), "not conditional"},
		"float class label":  {m, cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Class: tensors.FromValue([]float32{1})}}, "int32"},
		"text ids of rank 1": {m.WithText(), cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: tensors.FromValue([]int32{2, 5})}}, "int32 [B, L]"},
		"float text ids":     {m.WithText(), cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: tensors.FromValue([][]float32{{2, 5}})}}, "int32 [B, L]"},
	} {
		if err := c.m.CheckCondition(c.cond); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
	if err := m.CheckCondition(cond.Classes([]int32{0, 1, 2})); err != nil {
		t.Errorf("valid labels refused: %v", err)
	}
	ids := cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: tensors.FromValue([][]int32{{2, 7, 0}})}}
	if err := m.WithText().CheckCondition(ids); err != nil {
		t.Errorf("valid token ids refused: %v", err)
	}
}
