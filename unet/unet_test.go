package unet

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestSinusoidalEmbedding compares with the formula evaluated in float64.
func TestSinusoidalEmbedding(t *testing.T) {
	steps := []int32{0, 1, 17, 999}
	const dim = 8
	e, err := NewExec(backend.MustShared(), func(t *Node) *Node { return SinusoidalEmbedding(t, dim, dtypes.Float64) })
	if err != nil {
		t.Fatal(err)
	}
	out := tensors.MustCopyFlatData[float64](e.MustCall(tensors.FromValue(steps))[0])
	for b, tt := range steps {
		for k := range dim / 2 {
			w := math.Pow(10000, -float64(k)/float64(dim/2))
			if got, want := out[b*dim+k], math.Sin(float64(tt)*w); math.Abs(got-want) > 1e-12 {
				t.Errorf("t=%d sin[%d] = %g, want %g", tt, k, got, want)
			}
			if got, want := out[b*dim+dim/2+k], math.Cos(float64(tt)*w); math.Abs(got-want) > 1e-12 {
				t.Errorf("t=%d cos[%d] = %g, want %g", tt, k, got, want)
			}
		}
	}
}

// TestMLPParams checks NumParams against the variables the graph creates, the
// output shape, and that Dense's initial weights lie in ±1/√fan_in.
func TestMLPParams(t *testing.T) {
	for _, c := range []MLPConfig{{}, {Hidden: 16, Blocks: 1, TimeDim: 8, LearnedVariance: true}, {Dim: 3, Activation: "silu"}} {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(1))
		e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, tt *Node) *Node {
			return MLP(c)(scope, x, tt, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		d := c.WithDefaults().Dim
		x := tensors.FromFlatDataAndDimensions(make([]float32, 5*d), 5, d)
		out, err := e.Call(x, tensors.FromValue([]int32{0, 1, 2, 3, 4}))
		if err != nil {
			t.Fatal(err)
		}
		wantOut := d
		if c.LearnedVariance {
			wantOut *= 2
		}
		if dims := out[0].Shape().Dimensions; dims[0] != 5 || dims[1] != wantOut {
			t.Errorf("%+v: output shape %v, want [5 %d]", c, dims, wantOut)
		}
		n := 0
		for v := range store.IterVariables() {
			if !v.Trainable {
				continue
			}
			n += v.Shape().Size()
			if v.Name() == "weights" {
				bound := 1 / math.Sqrt(float64(v.Shape().Dimensions[0]))
				for _, w := range tensors.MustCopyFlatData[float32](v.MustValue()) {
					if math.Abs(float64(w)) > bound {
						t.Fatalf("%s: weight %g outside ±%g", v.Path(), w, bound)
					}
				}
			}
		}
		if n != c.NumParams() {
			t.Errorf("%+v: graph has %d parameters, NumParams says %d", c, n, c.NumParams())
		}
	}
	// The default MLP is the one the PyTorch peer mirrors: 174,082 parameters.
	if n := (MLPConfig{}).NumParams(); n != 174082 {
		t.Errorf("default MLP has %d parameters, want 174082", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []MLPConfig{{TimeDim: 3}, {Hidden: -1}, {Activation: "tanh"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
