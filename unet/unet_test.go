package unet

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
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

// TestMLPParams checks NumParams against the variables the graph creates
// (the class embedding table included), the output shape, that Dense's
// initial weights lie in ±1/√fan_in, and the class embedding table's shape
// [NumClasses+1, Hidden] and N(0, 1) start.
func TestMLPParams(t *testing.T) {
	for _, c := range []MLPConfig{
		{}, {Hidden: 16, Blocks: 1, TimeDim: 8, LearnedVariance: true}, {Dim: 3, Activation: "silu"},
		{Hidden: 16, Blocks: 2, TimeDim: 8, NumClasses: 4}, {Dim: 3, NumClasses: 10, LearnedVariance: true},
	} {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(1))
		d := c.WithDefaults().Dim
		x := tensors.FromFlatDataAndDimensions(make([]float32, 5*d), 5, d)
		var cn cond.Condition
		if c.NumClasses > 0 {
			cn = cond.Classes([]int32{0, 1, 2, 3, 0})
		}
		out := runModel(t, store, MLP(c), x, []int32{0, 1, 2, 3, 4}, cn)
		wantOut := d
		if c.LearnedVariance {
			wantOut *= 2
		}
		if dims := out.Shape().Dimensions; dims[0] != 5 || dims[1] != wantOut {
			t.Errorf("%+v: output shape %v, want [5 %d]", c, dims, wantOut)
		}
		n, tables := 0, 0
		for v := range store.IterVariables() {
			if !v.Trainable {
				continue
			}
			n += v.Shape().Size()
			if v.Path() == "/class_embedding/embeddings" {
				tables++
				h := c.WithDefaults().Hidden
				if dims := v.Shape().Dimensions; len(dims) != 2 || dims[0] != c.NumClasses+1 || dims[1] != h {
					t.Errorf("%+v: class embedding table %v, want [%d %d]", c, dims, c.NumClasses+1, h)
				}
				var s2 float64
				vals := tensors.MustCopyFlatData[float32](v.MustValue())
				for _, w := range vals {
					s2 += float64(w) * float64(w)
				}
				if rms := math.Sqrt(s2 / float64(len(vals))); rms < 0.7 || rms > 1.3 {
					t.Errorf("%+v: class embeddings start with RMS %g, want about 1 (N(0, 1))", c, rms)
				}
			}
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
		if want := map[bool]int{false: 0, true: 1}[c.NumClasses > 0]; tables != want {
			t.Errorf("%+v: %d class embedding tables, want %d", c, tables, want)
		}
	}
	// The default MLP is the one the PyTorch peer mirrors: 174,082 parameters.
	if n := (MLPConfig{}).NumParams(); n != 174082 {
		t.Errorf("default MLP has %d parameters, want 174082", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []MLPConfig{{TimeDim: 3}, {Hidden: -1}, {Activation: "tanh"}, {NumClasses: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
