package text

import (
	"math"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
)

// small is an encoder small enough for quick tests.
var small = EncoderConfig{VocabSize: 20, MaxLen: 8, Width: 16, Layers: 2, Heads: 2, MLPMult: 2}

func TestEncoderConfig(t *testing.T) {
	c := EncoderConfig{VocabSize: 80}.WithDefaults()
	want := EncoderConfig{VocabSize: 80, MaxLen: DefaultMaxLen, Width: 64, Layers: 2, Heads: 4, MLPMult: 4}
	if c != want {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
	tok, err := Train(corpus, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ec := tok.EncoderConfig(); ec.VocabSize != tok.VocabSize() || ec.MaxLen != 6 || ec.Validate() != nil {
		t.Errorf("tokenizer's EncoderConfig %+v: %v", ec, ec.Validate())
	}
	for _, tc := range []struct {
		c    EncoderConfig
		want string
	}{
		{EncoderConfig{}, "VocabSize must be ≥ 3"},
		{EncoderConfig{VocabSize: 10, MaxLen: 1}, "MaxLen must be ≥ 2"},
		{EncoderConfig{VocabSize: 10, Width: -4}, "Width"},
		{EncoderConfig{VocabSize: 10, Layers: -1}, "Layers must be ≥ 1"},
		{EncoderConfig{VocabSize: 10, Width: 30, Heads: 4}, "divide Width 30"},
		{EncoderConfig{VocabSize: 10, MLPMult: -2}, "MLPMult"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error with %q", tc.c, err, tc.want)
		}
	}
}

// encode runs the encoder of c on ids [B, L] with the weights in store
// (created at the first call) and returns tokens and the mask.
func encode(t *testing.T, store *model.Store, c EncoderConfig, ids [][]int32) (tokens [][][]float32, mask [][]bool) {
	t.Helper()
	exec, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, ids *Node) (*Node, *Node) {
		return c.Encode(scope.In("text"), ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Call(tensors.FromValue(ids))
	if err != nil {
		t.Fatal(err)
	}
	return outs[0].Value().([][][]float32), outs[1].Value().([][]bool)
}

func TestEncodeShapesAndParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    EncoderConfig
	}{
		{"small", small},
		{"defaults, vocabulary 80", EncoderConfig{VocabSize: 80}},
		{"one block, one head", EncoderConfig{VocabSize: 5, MaxLen: 4, Width: 8, Layers: 1, Heads: 1}},
		{"three heads of 4, MLP ×3", EncoderConfig{VocabSize: 7, MaxLen: 5, Width: 12, Layers: 3, Heads: 3, MLPMult: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c.WithDefaults()
			ids := make([][]int32, 3)
			for i := range ids {
				ids[i] = make([]int32, c.MaxLen)
				ids[i][0] = BOSID
				for j := 1; j <= i; j++ {
					ids[i][j] = int32(3 + j%(c.VocabSize-3))
				}
			}
			store := model.NewStore()
			tokens, mask := encode(t, store, c, ids)
			if len(tokens) != 3 || len(tokens[0]) != c.MaxLen || len(tokens[0][0]) != c.Width {
				t.Fatalf("tokens shaped [%d, %d, %d], want [3, %d, %d]", len(tokens), len(tokens[0]), len(tokens[0][0]), c.MaxLen, c.Width)
			}
			for i, row := range mask {
				for j, m := range row {
					if m != (ids[i][j] != PadID) {
						t.Errorf("mask[%d][%d] = %v for id %d", i, j, m, ids[i][j])
					}
				}
			}
			for i, seq := range tokens {
				for j, v := range seq {
					for _, x := range v {
						if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
							t.Fatalf("tokens[%d][%d] not finite: %v", i, j, v)
						}
					}
				}
			}
			var n int
			var paths []string
			for v := range store.Scope("/text").IterVariables() {
				n += v.Shape().Size()
				paths = append(paths, v.Path())
			}
			if n != c.NumParams() {
				t.Errorf("%d parameters in %d variables, NumParams says %d", n, len(paths), c.NumParams())
			}
			for _, p := range []string{"/text/token_embedding", "/text/position_embedding", "/text/final_norm/gain"} {
				if !slices.Contains(paths, p) {
					t.Errorf("no variable %s among %v", p, paths)
				}
			}
			for _, p := range paths {
				if !strings.HasPrefix(p, "/text/") {
					t.Errorf("variable %s outside the encoder's scope /text", p)
				}
			}
		})
	}
	if got := (EncoderConfig{VocabSize: 80}).NumParams(); got != 105856 {
		t.Errorf("NumParams of the default encoder with 80 tokens = %d, want 105856", got)
	}
}

// TestPaddingInvariance checks that the mask hides padding: the outputs at
// the real positions of a prompt are the same whether it is followed by no
// padding, by five PAD, or by five PAD whose embedding row has been changed.
// Without the mask the padded positions would be keys like any other and
// change every output.
func TestPaddingInvariance(t *testing.T) {
	store := model.NewStore()
	real := []int32{BOSID, 5, 9, 4}
	padded := append(slices.Clone(real), PadID, PadID, PadID, PadID)
	short, _ := encode(t, store, small, [][]int32{real})
	long, _ := encode(t, store, small, [][]int32{padded})

	v := store.GetVariable("/text/token_embedding")
	table := tensors.MustCopyFlatData[float32](v.MustValue())
	for j := range small.Width {
		table[int(PadID)*small.Width+j] = float32(3 + j)
	}
	v.MustSetValue(tensors.FromFlatDataAndDimensions(table, small.VocabSize, small.Width))
	changed, _ := encode(t, store, small, [][]int32{padded})

	for j := range real {
		if d := maxDiff(short[0][j], long[0][j]); d > 1e-5 {
			t.Errorf("position %d: output changes by %g when padding follows the prompt", j, d)
		}
		if d := maxDiff(long[0][j], changed[0][j]); d > 1e-5 {
			t.Errorf("position %d: output changes by %g when the PAD embedding changes", j, d)
		}
	}
	// The test can fail: a word in place of the first PAD does change the
	// real positions.
	other := slices.Clone(padded)
	other[len(real)] = 7
	word, _ := encode(t, store, small, [][]int32{other})
	if d := maxDiff(long[0][0], word[0][0]); d < 1e-3 {
		t.Errorf("a fifth word changes the BOS output by only %g", d)
	}
}

// TestOrderMatters checks that the position embeddings make the encoder
// see word order: "a b" and "b a" have different summaries.
func TestOrderMatters(t *testing.T) {
	store := model.NewStore()
	tokens, _ := encode(t, store, small, [][]int32{
		{BOSID, 5, 9, PadID, PadID, PadID, PadID, PadID},
		{BOSID, 9, 5, PadID, PadID, PadID, PadID, PadID},
	})
	if d := maxDiff(tokens[0][0], tokens[1][0]); d < 1e-3 {
		t.Errorf("the BOS outputs of \"a b\" and \"b a\" differ by only %g", d)
	}
}

// TestOutOfRangeIDs checks that ids outside the vocabulary read as UnkID
// (and do not crash the backend).
func TestOutOfRangeIDs(t *testing.T) {
	store := model.NewStore()
	tokens, mask := encode(t, store, small, [][]int32{
		{BOSID, 5, UnkID, UnkID, PadID, PadID, PadID, PadID},
		{BOSID, 5, -1, int32(small.VocabSize), PadID, PadID, PadID, PadID},
	})
	for j := range 4 {
		if d := maxDiff(tokens[0][j], tokens[1][j]); d > 1e-6 {
			t.Errorf("position %d: out-of-range ids differ from UnkID by %g", j, d)
		}
	}
	if !mask[1][2] || !mask[1][3] {
		t.Errorf("out-of-range ids are masked: %v", mask[1])
	}
}

// TestGradientReachesUsedRows checks the embedding lookup's gradient: the
// summary (Pooled) of a prompt depends on the rows of its words and of BOS,
// and on no other row, PAD's included (padding is masked).
func TestGradientReachesUsedRows(t *testing.T) {
	store := model.NewStore()
	exec, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, ids *Node) *Node {
		tokens, _ := small.Encode(scope.In("text"), ids)
		loss := ReduceAllSum(Square(Pooled(tokens)))
		table := scope.Store().GetVariable("/text/token_embedding").NodeValue(ids.Graph())
		return ReduceSum(Abs(Gradient(loss, table)[0]), 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Call([][]int32{{BOSID, 5, 9, 5, PadID, PadID, PadID, PadID}})
	if err != nil {
		t.Fatal(err)
	}
	norms := outs[0].Value().([]float32)
	for id, n := range norms {
		used := id == int(BOSID) || id == 5 || id == 9
		if used != (n > 0) {
			t.Errorf("row %d (used %v): gradient size %g", id, used, n)
		}
	}
}

func TestPooled(t *testing.T) {
	exec := MustNewExec(backend.MustShared(), Pooled)
	x := [][][]float32{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}
	got := exec.MustExec(x)[0].Value().([][]float32)
	if want := [][]float32{{1, 2}, {5, 6}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Pooled = %v, want %v", got, want)
	}
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}
