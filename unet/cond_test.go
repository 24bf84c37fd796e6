package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// condNet is a network of the conditioning tests with its inputs: a batch
// of 4 examples that differ in x and t.
type condNet struct {
	name       string
	fn         modelFn
	numClasses int
	x          *tensors.Tensor
	ts         []int32
	streams    int // StreamsOverride while it runs (0: StreamsFor's choice)
}

// condTestBatch is the batch size of condNets.
const condTestBatch = 4

// condNets returns the class-conditional networks (numClasses > 0) of the
// conditioning tests, or unconditional ones with the same inputs. The UNet
// runs in one stream and in two, so that the condition is sliced between
// streams.
func condNets(numClasses int) []condNet {
	uc := tinyConfigs[2]
	uc.NumClasses = numClasses
	mc := MLPConfig{Hidden: 16, Blocks: 2, TimeDim: 8, NumClasses: numClasses}
	rng := rand.New(rand.NewPCG(11, 3))
	pts := make([]float32, condTestBatch*2)
	for i := range pts {
		pts[i] = 2*rng.Float32() - 1
	}
	ts := []int32{3, 50, 400, 999}
	return []condNet{
		{name: "UNet/streams=1", fn: UNet(uc), numClasses: numClasses, x: randomImagesSized(condTestBatch, 12, 7), ts: ts, streams: 1},
		{name: "UNet/streams=2", fn: UNet(uc), numClasses: numClasses, x: randomImagesSized(condTestBatch, 12, 7), ts: ts, streams: 2},
		{name: "MLP", fn: MLP(mc), numClasses: numClasses, x: tensors.FromFlatDataAndDimensions(pts, condTestBatch, 2), ts: ts},
	}
}

// run runs the network on its inputs with the condition c.
func (n condNet) run(t *testing.T, store *model.Store, c cond.Condition) [][]float32 {
	t.Helper()
	old := StreamsOverride
	StreamsOverride = n.streams
	defer func() { StreamsOverride = old }()
	return examples(runModel(t, store, n.fn, n.x, n.ts, c))
}

// examples splits a float32 output [B, ...] into its B examples.
func examples(out *tensors.Tensor) [][]float32 {
	v := tensors.MustCopyFlatData[float32](out)
	b := out.Shape().Dimensions[0]
	per := len(v) / b
	ex := make([][]float32, b)
	for i := range ex {
		ex[i] = v[i*per : (i+1)*per]
	}
	return ex
}

// maxDiff returns the largest absolute difference between a and b.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// withNull returns the condition of the labels with the null mask null.
func withNull(labels []int32, null []bool) cond.Condition {
	c := cond.Classes(labels)
	c.Null = null
	return c
}

// TestClassConditionNull checks, for the UNet (in one and two streams) and
// the MLP, that every example the condition leaves without a class (zero
// condition, a null mask, no class input, the explicit null label) gets
// exactly the output of the unconditional call for that example, and every
// other example the output of the call with its label and no mask; and that
// each label moves the output away from the unconditional one.
func TestClassConditionNull(t *testing.T) {
	const k = 3
	labels := []int32{0, 1, 2, 1}
	text := tensors.FromFlatDataAndDimensions(make([]float32, condTestBatch*5), condTestBatch, 5)
	all := []bool{true, true, true, true}
	none := []bool{false, false, false, false}
	cases := []struct {
		name string
		c    cond.Condition
		null []bool // examples that must equal the unconditional output
	}{
		{"zero condition", cond.Condition{}, all},
		{"null mask without inputs", cond.Condition{Null: none}, all},
		{"no class input", cond.Condition{Inputs: map[string]*tensors.Tensor{"text": text}}, all},
		{"labels, all null", withNull(labels, all), all},
		{"labels, first and last null", withNull(labels, []bool{true, false, false, true}), []bool{true, false, false, true}},
		{"labels, middle null", withNull(labels, []bool{false, true, true, false}), []bool{false, true, true, false}},
		{"labels, none null", withNull(labels, none), none},
		{"labels, no mask", cond.Classes(labels), none},
		{"explicit null label", cond.Classes([]int32{k, k, k, k}), all},
		{"null label and mask", withNull([]int32{0, k, 2, 1}, []bool{false, false, false, true}), []bool{false, true, false, true}},
	}
	for _, net := range condNets(k) {
		t.Run(net.name, func(t *testing.T) {
			store := seededStore()
			// The references: every example unconditional (the zero
			// condition: no inputs, no mask), every example labelled.
			uncond := net.run(t, store, cond.Condition{})
			labelled := net.run(t, store, cond.Classes(labels))
			for i := range condTestBatch {
				if d := maxDiff(uncond[i], labelled[i]); d < 1e-4 {
					t.Errorf("example %d: label %d gives the unconditional output (max difference %g)", i, labels[i], d)
				}
			}
			for _, tc := range cases {
				got := net.run(t, store, tc.c)
				for i := range condTestBatch {
					want, what := labelled[i], fmt.Sprintf("label %d", labels[i])
					if tc.null[i] {
						want, what = uncond[i], "the unconditional output"
					}
					if d := maxDiff(got[i], want); d > 1e-6 {
						t.Errorf("%s: example %d differs from %s by %g", tc.name, i, what, d)
					}
				}
			}
		})
	}
}

// TestClassConditionLabels checks that on identical examples (same x and t)
// different labels give different outputs and equal labels equal ones.
func TestClassConditionLabels(t *testing.T) {
	labels := []int32{0, 1, 2, 0}
	for _, net := range condNets(3) {
		t.Run(net.name, func(t *testing.T) {
			// Every example a copy of the first, at one timestep.
			first := examples(net.x)[0]
			v := make([]float32, 0, condTestBatch*len(first))
			for range condTestBatch {
				v = append(v, first...)
			}
			dims := append([]int(nil), net.x.Shape().Dimensions...)
			net.x = tensors.FromFlatDataAndDimensions(v, dims...)
			net.ts = []int32{200, 200, 200, 200}
			out := net.run(t, seededStore(), cond.Classes(labels))
			for i := range condTestBatch {
				for j := i + 1; j < condTestBatch; j++ {
					d := maxDiff(out[i], out[j])
					switch {
					case labels[i] == labels[j] && d > 1e-6:
						t.Errorf("examples %d and %d, both label %d, differ by %g", i, j, labels[i], d)
					case labels[i] != labels[j] && d < 1e-4:
						t.Errorf("labels %d and %d give the same output (max difference %g)", labels[i], labels[j], d)
					}
				}
			}
		})
	}
}

// TestUnconditionalIgnoresCondition checks that with NumClasses = 0 the
// condition changes nothing and creates no class embedding.
func TestUnconditionalIgnoresCondition(t *testing.T) {
	for _, net := range condNets(0) {
		t.Run(net.name, func(t *testing.T) {
			store := seededStore()
			ref := net.run(t, store, cond.Condition{})
			for _, c := range []cond.Condition{
				cond.Classes([]int32{0, 1, 2, 1}),
				withNull([]int32{0, 1, 2, 1}, []bool{true, false, true, false}),
				{Null: []bool{false, false, false, false}},
			} {
				got := net.run(t, store, c)
				for i := range condTestBatch {
					if d := maxDiff(got[i], ref[i]); d > 1e-6 {
						t.Errorf("condition %v: example %d differs from the zero condition's by %g", c, i, d)
					}
				}
			}
			for v := range store.IterVariables() {
				if strings.Contains(v.Path(), "class_embedding") {
					t.Errorf("unconditional network created %s", v.Path())
				}
			}
		})
	}
}

// TestClassEmbeddingRows checks the rows classEmbedding picks from a known
// table (row r = [r+1, −10(r+1)], 3 classes, row 3 the null embedding):
// labels pick their row, null examples and conditions without a class input
// the null row, the label 3 the null row, and labels outside [0, 3] a zero
// row; and that malformed labels or masks are refused.
func TestClassEmbeddingRows(t *testing.T) {
	const k, width = 3, 2
	row := func(r int) []float64 {
		if r < 0 || r > k {
			return []float64{0, 0}
		}
		return []float64{float64(r + 1), -10 * float64(r+1)}
	}
	store := model.NewStore()
	var table []float64
	for r := range k + 1 {
		table = append(table, row(r)...)
	}
	store.VariableWithValue("/class_embedding/embeddings", tensors.FromFlatDataAndDimensions(table, k+1, width))
	embed := func(c cond.Condition, batch int) ([]float64, error) {
		names, hasNull := c.Names(), c.Null != nil
		e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) *Node {
			cn, _ := cond.FromArgs(names, hasNull, in)
			return classEmbedding(scope.In("class_embedding"), in[0].Graph(), cn, k, width, batch, dtypes.Float64)
		})
		if err != nil {
			return nil, err
		}
		out, err := e.Call(c.Args(batch, hasNull)...)
		if err != nil {
			return nil, err
		}
		return tensors.MustCopyFlatData[float64](out[0]), nil
	}
	cases := []struct {
		name string
		c    cond.Condition
		rows []int
	}{
		{"labels", cond.Classes([]int32{2, 0, 1}), []int{2, 0, 1}},
		{"null mask", withNull([]int32{2, 0, 1}, []bool{false, true, true}), []int{2, k, k}},
		{"mask without inputs", cond.Condition{Null: []bool{false, false, false}}, []int{k, k, k}},
		{"no class input", cond.Condition{Inputs: map[string]*tensors.Tensor{"text": tensors.FromValue([]float32{1, 2, 3})}}, []int{k, k, k}},
		{"null label", cond.Classes([]int32{k, 1, k}), []int{k, 1, k}},
		{"out of range", cond.Classes([]int32{-1, k + 1, 100}), []int{-1, k + 1, 100}},
		{"out of range but null", withNull([]int32{-1, k + 1, 0}, []bool{true, true, false}), []int{k, k, 0}},
	}
	for _, tc := range cases {
		got, err := embed(tc.c, 3)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for i, r := range tc.rows {
			if want := row(r); got[i*width] != want[0] || got[i*width+1] != want[1] {
				t.Errorf("%s: example %d got %v, want row %d %v", tc.name, i, got[i*width:(i+1)*width], r, want)
			}
		}
	}
	for _, tc := range []struct {
		name string
		c    cond.Condition
		want string
	}{
		{"float labels", cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Class: tensors.FromValue([]float32{0, 1, 2})}}, "class labels"},
		{"labels [3, 1]", cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Class: tensors.FromValue([][]int32{{0}, {1}, {2}})}}, "class labels"},
		{"2 labels", cond.Classes([]int32{0, 1}), "class labels"},
		{"mask of 2", withNull([]int32{0, 1, 2}, []bool{true, false}), "null mask"},
	} {
		_, err := embed(tc.c, 3)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one about the %s", tc.name, err, tc.want)
		}
	}
}
