package unet

import (
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

// The references below are the layers written as loops in float64, on
// row-major slices.

// refDense is x·w + b for x [n, in], w [in, out], b [out] (nil: no bias).
func refDense(x []float64, n, in, out int, w, b []float64) []float64 {
	y := make([]float64, n*out)
	for r := range n {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := range in {
				s += x[r*in+i] * w[i*out+o]
			}
			y[r*out+o] = s
		}
	}
	return y
}

// refLayerNorm normalises each of the n rows of x [n, d].
func refLayerNorm(x []float64, n, d int, gain, offset []float64, eps float64) []float64 {
	y := make([]float64, n*d)
	for r := range n {
		row := x[r*d : (r+1)*d]
		mean, variance := 0.0, 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(d)
		for _, v := range row {
			variance += (v - mean) * (v - mean)
		}
		variance /= float64(d)
		for i, v := range row {
			y[r*d+i] = (v-mean)/math.Sqrt(variance+eps)*gain[i] + offset[i]
		}
	}
	return y
}

// refGELU is x·Φ(x).
func refGELU(x float64) float64 { return x * 0.5 * math.Erfc(-x/math.Sqrt2) }

// mhaWeights are the variables of a MultiHeadAttention.
type mhaWeights struct{ q, k, v, o, bo []float64 }

// refMHA is MultiHeadAttention on x [b, p, d] and ctx [b, l, dc] with mask
// [b, l] (nil: all true); it returns out [b, p, d] and the weights
// [b, heads, p, l].
func refMHA(x []float64, b, p, d int, ctx []float64, l, dc int, mask []bool, heads int, w mhaWeights) (out, weights []float64) {
	q := refDense(x, b*p, d, d, w.q, nil)
	k := refDense(ctx, b*l, dc, d, w.k, nil)
	v := refDense(ctx, b*l, dc, d, w.v, nil)
	dh := d / heads
	weights = make([]float64, b*heads*p*l)
	o := make([]float64, b*p*d)
	for n := range b {
		for h := range heads {
			for i := range p {
				a := weights[((n*heads+h)*p+i)*l : ((n*heads+h)*p+i+1)*l]
				top := math.Inf(-1)
				for j := range l {
					s := 0.0
					for e := range dh {
						s += q[(n*p+i)*d+h*dh+e] * k[(n*l+j)*d+h*dh+e]
					}
					s /= math.Sqrt(float64(dh))
					if mask != nil && !mask[n*l+j] {
						s -= 1e9
					}
					a[j] = s
					top = max(top, s)
				}
				sum := 0.0
				for j := range l {
					a[j] = math.Exp(a[j] - top)
					sum += a[j]
				}
				for j := range l {
					a[j] /= sum
					for e := range dh {
						o[(n*p+i)*d+h*dh+e] += a[j] * v[(n*l+j)*d+h*dh+e]
					}
				}
			}
		}
	}
	return refDense(o, b*p, d, d, w.o, w.bo), weights
}

// floatsAs returns v as a tensor of dtype dt (float32 or float64).
func floatsAs(dt dtypes.DType, v []float64, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float32 {
		f := make([]float32, len(v))
		for i, e := range v {
			f[i] = float32(e)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), dims...)
}

// float64s returns the values of a float32 or float64 tensor.
func float64s(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float32 {
		f := tensors.MustCopyFlatData[float32](t)
		v := make([]float64, len(f))
		for i, e := range f {
			v[i] = float64(e)
		}
		return v
	}
	return tensors.MustCopyFlatData[float64](t)
}

// variable returns the value of the store's variable path as float64.
func variable(t *testing.T, store *model.Store, path string) []float64 {
	t.Helper()
	v := store.GetVariable(path)
	if v == nil {
		t.Fatalf("no variable %s", path)
	}
	return float64s(v.MustValue())
}

func TestGELU(t *testing.T) {
	xs := []float64{-6, -3, -1.5, -1, -0.3, 0, 0.2, 0.7, 1, 2.5, 6}
	e, err := model.NewExec(backend.MustShared(), model.NewStore(), func(scope *model.Scope, x *Node) []*Node {
		y := GELU(x)
		return []*Node{y, Gradient(ReduceAllSum(y), x)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Call(tensors.FromValue(xs))
	if err != nil {
		t.Fatal(err)
	}
	y, dy := float64s(out[0]), float64s(out[1])
	for i, x := range xs {
		phi := 0.5 * math.Erfc(-x/math.Sqrt2)
		if d := math.Abs(y[i] - refGELU(x)); d > 1e-12 {
			t.Errorf("GELU(%g) = %g, want x·Φ(x) = %g", x, y[i], refGELU(x))
		}
		// GELU'(x) = Φ(x) + x·φ(x).
		want := phi + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		if d := math.Abs(dy[i] - want); d > 1e-12 {
			t.Errorf("GELU'(%g) = %g, want Φ(x) + x·φ(x) = %g", x, dy[i], want)
		}
	}
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const a, b, d = 2, 3, 5
	x := randVec(rng, a*b*d)
	for i := range x {
		x[i] = 3*x[i] + 1 // away from mean 0, variance 1
	}
	gain, offset := randVec(rng, d), randVec(rng, d)
	for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			store := model.NewStore()
			store.VariableWithValue("/ln/gain", floatsAs(dt, gain, d))
			store.VariableWithValue("/ln/offset", floatsAs(dt, offset, d))
			e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x *Node) *Node {
				return LayerNorm(scope.In("ln"), x, 1e-5)
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Call(floatsAs(dt, x, a, b, d))
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].Shape().Dimensions; !equalInts(got, []int{a, b, d}) {
				t.Fatalf("shape %v, want [%d %d %d]", got, a, b, d)
			}
			tol := map[dtypes.DType]float64{dtypes.Float64: 1e-12, dtypes.Float32: 1e-5}[dt]
			if diff := maxAbsDiff(float64s(out[0]), refLayerNorm(x, a*b, d, gain, offset, 1e-5)); diff > tol {
				t.Errorf("differs from the reference by %g", diff)
			}
		})
	}
	// Initial values: gain 1 and offset 0, so each row has mean 0 and variance ≈ 1.
	e, err := model.NewExec(backend.MustShared(), model.NewStore(), func(scope *model.Scope, x *Node) *Node {
		return LayerNorm(scope, x, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Call(floatsAs(dtypes.Float64, x, a*b, d))
	if err != nil {
		t.Fatal(err)
	}
	if diff := maxAbsDiff(float64s(out[0]), refLayerNorm(x, a*b, d, ones(d), make([]float64, d), 0)); diff > 1e-12 {
		t.Errorf("at initialisation differs from the plain normalisation by %g", diff)
	}
}

// TestMultiHeadAttention checks MultiHeadAttention (keys of another width
// than the queries, two heads, a mask hiding some keys) against refMHA in
// float64 and float32; that the weights' rows sum to 1 and give the hidden
// keys no weight; that the hidden context rows do not change the output;
// and that an all-true mask is no mask.
func TestMultiHeadAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const b, p, l, d, dc, heads = 2, 3, 4, 4, 3, 2
	w := mhaWeights{q: randVec(rng, d*d), k: randVec(rng, dc*d), v: randVec(rng, dc*d), o: randVec(rng, d*d), bo: randVec(rng, d)}
	for i := range w.q { // sharper attention than U(−1, 1) weights give
		w.q[i] *= 2
	}
	x, ctx := randVec(rng, b*p*d), randVec(rng, b*l*dc)
	mask := []bool{true, false, true, false, false, true, true, false}
	allTrue := []bool{true, true, true, true, true, true, true, true}
	// Context rows the mask hides, replaced by others.
	ctx2 := append([]float64(nil), ctx...)
	for i, m := range mask {
		if !m {
			for j := range dc {
				ctx2[i*dc+j] = 10 * rng.Float64()
			}
		}
	}
	for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			store := model.NewStore()
			store.VariableWithValue("/mha/q/weights", floatsAs(dt, w.q, d, d))
			store.VariableWithValue("/mha/k/weights", floatsAs(dt, w.k, dc, d))
			store.VariableWithValue("/mha/v/weights", floatsAs(dt, w.v, dc, d))
			store.VariableWithValue("/mha/out/weights", floatsAs(dt, w.o, d, d))
			store.VariableWithValue("/mha/out/biases", floatsAs(dt, w.bo, d))
			masked, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, ctx, mask *Node) []*Node {
				out, weights := MultiHeadAttention(scope.In("mha"), x, ctx, mask, heads)
				return []*Node{out, weights}
			})
			if err != nil {
				t.Fatal(err)
			}
			unmasked, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, ctx *Node) []*Node {
				out, weights := MultiHeadAttention(scope.In("mha"), x, ctx, nil, heads)
				return []*Node{out, weights}
			})
			if err != nil {
				t.Fatal(err)
			}
			run := func(ctx []float64, mask []bool) (out, weights []float64) {
				var res []*tensors.Tensor
				var err error
				if mask == nil {
					res, err = unmasked.Call(floatsAs(dt, x, b, p, d), floatsAs(dt, ctx, b, l, dc))
				} else {
					res, err = masked.Call(floatsAs(dt, x, b, p, d), floatsAs(dt, ctx, b, l, dc),
						tensors.FromFlatDataAndDimensions(append([]bool(nil), mask...), b, l))
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := res[0].Shape().Dimensions; !equalInts(got, []int{b, p, d}) {
					t.Fatalf("out shape %v, want [%d %d %d]", got, b, p, d)
				}
				if got := res[1].Shape().Dimensions; !equalInts(got, []int{b, heads, p, l}) {
					t.Fatalf("weights shape %v, want [%d %d %d %d]", got, b, heads, p, l)
				}
				return float64s(res[0]), float64s(res[1])
			}
			tol := map[dtypes.DType]float64{dtypes.Float64: 1e-12, dtypes.Float32: 1e-5}[dt]
			for _, m := range [][]bool{mask, nil} {
				out, weights := run(ctx, m)
				wantOut, wantWeights := refMHA(x, b, p, d, ctx, l, dc, m, heads, w)
				if diff := maxAbsDiff(out, wantOut); diff > tol {
					t.Errorf("mask %v: output differs from the reference by %g", m, diff)
				}
				if diff := maxAbsDiff(weights, wantWeights); diff > tol {
					t.Errorf("mask %v: weights differ from the reference by %g", m, diff)
				}
				for r := range b * heads * p {
					sum := 0.0
					for j := range l {
						a := weights[r*l+j]
						sum += a
						if n := r / (heads * p); m != nil && !m[n*l+j] && a > 1e-6 {
							t.Errorf("example %d, row %d: the hidden key %d has weight %g", n, r, j, a)
						}
					}
					if math.Abs(sum-1) > tol {
						t.Errorf("mask %v: row %d of the weights sums to %g", m, r, sum)
					}
				}
			}
			out, _ := run(ctx, mask)
			out2, _ := run(ctx2, mask)
			if diff := maxAbsDiff(out, out2); diff > tol {
				t.Errorf("changing the hidden context rows changed the output by %g", diff)
			}
			outAll, _ := run(ctx, allTrue)
			outNil, _ := run(ctx, nil)
			if diff := maxAbsDiff(outAll, outNil); diff > tol {
				t.Errorf("an all-true mask differs from no mask by %g", diff)
			}
			if diff := maxAbsDiff(out, outNil); diff < 1e-3 {
				t.Errorf("the mask changed the output by only %g", diff)
			}
		})
	}
}

// TestMultiHeadAttentionHeads checks that heads must divide the width.
func TestMultiHeadAttentionHeads(t *testing.T) {
	e, err := model.NewExec(backend.MustShared(), model.NewStore(), func(scope *model.Scope, x *Node) *Node {
		out, _ := MultiHeadAttention(scope, x, x, nil, 3)
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Call(tensors.FromFlatDataAndDimensions(make([]float32, 8), 1, 2, 4)); err == nil {
		t.Error("3 heads on 4 features: no error")
	} else if !strings.Contains(err.Error(), "3 heads cannot split the 4 features") {
		t.Errorf("unclear error: %v", err)
	}
}

// TestFeedForward checks FeedForward against Dense, GELU, Dense in float64.
func TestFeedForward(t *testing.T) {
	const n, d, mult = 6, 3, 4
	rng := rand.New(rand.NewPCG(7, 8))
	x := randVec(rng, n*d)
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(1))
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x *Node) *Node {
		return FeedForward(scope.In("ff"), x, mult)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Call(floatsAs(dtypes.Float64, x, 2, n/2, d))
	if err != nil {
		t.Fatal(err)
	}
	h := refDense(x, n, d, mult*d, variable(t, store, "/ff/in/weights"), variable(t, store, "/ff/in/biases"))
	for i := range h {
		h[i] = refGELU(h[i])
	}
	want := refDense(h, n, mult*d, d, variable(t, store, "/ff/out/weights"), variable(t, store, "/ff/out/biases"))
	if got := out[0].Shape().Dimensions; !equalInts(got, []int{2, n / 2, d}) {
		t.Fatalf("shape %v", got)
	}
	if diff := maxAbsDiff(float64s(out[0]), want); diff > 1e-12 {
		t.Errorf("differs from the reference by %g", diff)
	}
}

// refSpatialTransformer is SpatialTransformer on x [C,B,P] with the
// variables of store under scope st, in float64.
func refSpatialTransformer(t *testing.T, store *model.Store, x []float64, c, b, p int, ctx []float64, l, dc int, mask []bool, heads, groups int) (out, cross []float64) {
	v := func(name string) []float64 { return variable(t, store, "/st/"+name) }
	gn := refGroupNorm(x, c, b, p, groups, v("norm/scale"), v("norm/offset"), 1e-5)
	tok := make([]float64, b*p*c) // [B·P, C]
	for ch := range c {
		for i := range b * p {
			tok[i*c+ch] = gn[ch*b*p+i]
		}
	}
	h := refDense(tok, b*p, c, c, v("proj_in/weights"), v("proj_in/biases"))
	add := func(a []float64) {
		for i := range h {
			h[i] += a[i]
		}
	}
	attn := func(name string) mhaWeights {
		return mhaWeights{q: v(name + "/q/weights"), k: v(name + "/k/weights"), v: v(name + "/v/weights"),
			o: v(name + "/out/weights"), bo: v(name + "/out/biases")}
	}
	n := refLayerNorm(h, b*p, c, v("norm_1/gain"), v("norm_1/offset"), 1e-5)
	a, _ := refMHA(n, b, p, c, n, p, c, nil, heads, attn("attn_1"))
	add(a)
	n = refLayerNorm(h, b*p, c, v("norm_2/gain"), v("norm_2/offset"), 1e-5)
	a, cross = refMHA(n, b, p, c, ctx, l, dc, mask, heads, attn("attn_2"))
	add(a)
	n = refLayerNorm(h, b*p, c, v("norm_3/gain"), v("norm_3/offset"), 1e-5)
	f := refDense(n, b*p, c, 4*c, v("ff/in/weights"), v("ff/in/biases"))
	for i := range f {
		f[i] = refGELU(f[i])
	}
	add(refDense(f, b*p, 4*c, c, v("ff/out/weights"), v("ff/out/biases")))
	h = refDense(h, b*p, c, c, v("proj_out/weights"), v("proj_out/biases"))
	out = append([]float64(nil), x...)
	for ch := range c {
		for i := range b * p {
			out[ch*b*p+i] += h[i*c+ch]
		}
	}
	return out, cross
}

// TestSpatialTransformer checks SpatialTransformer on a 4-channel 2×3 map
// against refSpatialTransformer (reading the variables it created from the
// store), its shapes, and that the context changes the output.
func TestSpatialTransformer(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const c, b, hh, ww, l, dc, heads, groups = 4, 2, 2, 3, 3, 5, 2, 2
	p := hh * ww
	x, ctx := randVec(rng, c*b*p), randVec(rng, b*l*dc)
	mask := []bool{true, true, false, true, false, false}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(3))
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, ctx, mask *Node) []*Node {
		out, cross := SpatialTransformer(scope.In("st"), x, ctx, mask, heads, groups)
		return []*Node{out, cross}
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx []float64) (out, cross []float64) {
		res, err := e.Call(floatsAs(dtypes.Float64, x, c, b, hh, ww), floatsAs(dtypes.Float64, ctx, b, l, dc),
			tensors.FromFlatDataAndDimensions(append([]bool(nil), mask...), b, l))
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0].Shape().Dimensions; !equalInts(got, []int{c, b, hh, ww}) {
			t.Fatalf("out shape %v, want [%d %d %d %d]", got, c, b, hh, ww)
		}
		if got := res[1].Shape().Dimensions; !equalInts(got, []int{b, heads, p, l}) {
			t.Fatalf("cross-attention weights shape %v, want [%d %d %d %d]", got, b, heads, p, l)
		}
		return float64s(res[0]), float64s(res[1])
	}
	out, cross := run(ctx)
	wantOut, wantCross := refSpatialTransformer(t, store, x, c, b, p, ctx, l, dc, mask, heads, groups)
	if d := maxAbsDiff(out, wantOut); d > 1e-9 {
		t.Errorf("output differs from the reference by %g", d)
	}
	if d := maxAbsDiff(cross, wantCross); d > 1e-9 {
		t.Errorf("cross-attention weights differ from the reference by %g", d)
	}
	if d := maxAbsDiff(out, x); d < 1e-3 {
		t.Errorf("the block's output differs from its input by only %g", d)
	}
	ctx2 := randVec(rng, b*l*dc)
	if out2, _ := run(ctx2); maxAbsDiff(out, out2) < 1e-4 {
		t.Errorf("another context changed the output by only %g", maxAbsDiff(out, out2))
	}
}

// randomContext returns a float32 context [b, l, d] of values in [−1, 1).
func randomContext(b, l, d int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, b*l*d)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(v, b, l, d)
}

// textCondition is the condition of a context and its mask (nil: none).
func textCondition(ctx *tensors.Tensor, mask []bool) cond.Condition {
	c := cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Context: ctx}}
	if mask != nil {
		d := ctx.Shape().Dimensions
		c.Inputs[cond.ContextMask] = tensors.FromFlatDataAndDimensions(append([]bool(nil), mask...), d[0], d[1])
	}
	return c
}

// TestUNetContext checks the text-conditional UNet (tinyConfigs[4]: a
// SpatialTransformer at the 8×8 level, down and up, and in the middle at
// 4×4): the context changes the output but its masked positions do not;
// UNetWithAttention gives UNet's output (split in two streams) and maps of
// the documented scopes and shapes whose rows sum to 1 and leave the masked
// tokens out; the gradient reaches the cross-attention weights; and a
// missing context or one of the wrong width panics clearly.
func TestUNetContext(t *testing.T) {
	c := tinyConfigs[4].WithDefaults()
	const b, l = 4, 5
	x := randomImagesChannels(b, c.ImageSize, c.InChannels, 21)
	ts := []int32{3, 50, 400, 999}
	ctx := randomContext(b, l, c.ContextDim, 22)
	mask := []bool{
		true, true, true, false, false,
		true, false, true, true, false,
		true, true, true, true, true,
		true, false, false, false, false,
	}
	// ctx2 is ctx with other values at the masked positions.
	v := tensors.MustCopyFlatData[float32](ctx)
	for i, m := range mask {
		if !m {
			for j := range c.ContextDim {
				v[i*c.ContextDim+j] = 5 + float32(j)
			}
		}
	}
	ctx2 := tensors.FromFlatDataAndDimensions(v, b, l, c.ContextDim)
	store := seededStore()
	oldStreams := StreamsOverride
	defer func() { StreamsOverride = oldStreams }()
	StreamsOverride = 2
	out := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, textCondition(ctx, mask)))
	if n, want := trainableParams(store), c.NumParams(); n != want {
		t.Errorf("graph has %d parameters, NumParams says %d", n, want)
	}
	out2 := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, textCondition(ctx2, mask)))
	if d := maxDiff(out, out2); d > 1e-5 {
		t.Errorf("changing the masked context positions changed the output by %g", d)
	}
	other := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, textCondition(randomContext(b, l, c.ContextDim, 23), mask)))
	for n := range b {
		size := len(out) / b
		if d := maxDiff(out[n*size:(n+1)*size], other[n*size:(n+1)*size]); d < 1e-4 {
			t.Errorf("example %d: another context changed the output by only %g", n, d)
		}
	}
	unmasked := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, textCondition(ctx, nil)))
	if d := maxDiff(out, unmasked); d < 1e-4 {
		t.Errorf("the mask changed the output by only %g", d)
	}

	// UNetWithAttention: same output, the maps (their Go fields recorded
	// while the graph is built).
	var maps []AttentionMap
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) []*Node {
		cn, _ := cond.FromArgs([]string{cond.Context, cond.ContextMask}, false, in[2:])
		out, m := UNetWithAttention(c)(scope, in[0], in[1], cn)
		maps = m
		res := []*Node{out}
		for _, m := range maps {
			res = append(res, m.Weights)
		}
		return res
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Call(append([]any{x, tensors.FromValue(ts)}, textCondition(ctx, mask).Args(b, false)...)...)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(tensors.MustCopyFlatData[float32](res[0]), out); d > 1e-5 {
		t.Errorf("UNetWithAttention's output differs from UNet's by %g", d)
	}
	wantScopes := []string{"down_0/attn_0", "middle/attn", "up_0/attn_0"}
	wantRes := []int{8, 4, 8}
	if len(maps) != len(wantScopes) || len(res) != 1+len(wantScopes) {
		t.Fatalf("%d maps, want %d", len(maps), len(wantScopes))
	}
	for i, m := range maps {
		if m.Scope != wantScopes[i] || m.Resolution != wantRes[i] {
			t.Errorf("map %d: scope %q at %d, want %q at %d", i, m.Scope, m.Resolution, wantScopes[i], wantRes[i])
		}
		p := wantRes[i] * wantRes[i]
		if got := res[1+i].Shape().Dimensions; !equalInts(got, []int{b, c.Heads, p, l}) {
			t.Errorf("map %s: shape %v, want [%d %d %d %d]", m.Scope, got, b, c.Heads, p, l)
			continue
		}
		w := tensors.MustCopyFlatData[float32](res[1+i])
		for r := range b * c.Heads * p {
			sum := 0.0
			n := r / (c.Heads * p)
			for j := range l {
				sum += float64(w[r*l+j])
				if !mask[n*l+j] && w[r*l+j] > 1e-6 {
					t.Fatalf("map %s, example %d: the masked token %d has weight %g", m.Scope, n, j, w[r*l+j])
				}
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Fatalf("map %s: row %d sums to %g", m.Scope, r, sum)
			}
		}
	}

	// Gradients reach the cross-attention's projections.
	paths := []string{"/middle/attn/attn_2/k/weights", "/up_0/attn_0/attn_2/q/weights", "/down_0/attn_0/attn_2/v/weights"}
	ge, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) []*Node {
		cn, _ := cond.FromArgs([]string{cond.Context, cond.ContextMask}, false, in[2:])
		loss := ReduceAllSum(Square(UNet(c)(scope, in[0], in[1], cn)))
		ws := make([]*Node, len(paths))
		for i, p := range paths {
			ws[i] = store.GetVariable(p).NodeValue(loss.Graph())
		}
		return Gradient(loss, ws...)
	})
	if err != nil {
		t.Fatal(err)
	}
	grads, err := ge.Call(append([]any{x, tensors.FromValue(ts)}, textCondition(ctx, mask).Args(b, false)...)...)
	if err != nil {
		t.Fatal(err)
	}
	for i, gr := range grads {
		norm := 0.0
		for _, v := range tensors.MustCopyFlatData[float32](gr) {
			if math.IsNaN(float64(v)) {
				t.Fatalf("∂L/∂%s has NaN", paths[i])
			}
			norm += float64(v) * float64(v)
		}
		if norm < 1e-12 {
			t.Errorf("∂L/∂%s is zero", paths[i])
		}
	}

	// Errors.
	if _, err := callModel(seededStore(), UNet(c), x, ts, cond.Condition{}); err == nil ||
		!strings.Contains(err.Error(), `needs the condition input "context"`) {
		t.Errorf("no context: error %v", err)
	}
	if _, err := callModel(seededStore(), UNet(c), x, ts, textCondition(randomContext(b, l, 5, 1), nil)); err == nil ||
		!strings.Contains(err.Error(), "width 5, but ContextDim is 6") {
		t.Errorf("context of width 5: error %v", err)
	}
}

// TestUNetContextDimZero checks that a UNet without ContextDim ignores a
// context in its condition, and that ContextDim must be ≥ 0 and the heads
// must divide the transformers' widths.
func TestUNetContextDimZero(t *testing.T) {
	c := tinyConfigs[0]
	x := randomImagesChannels(2, 8, 1, 31)
	ts := []int32{10, 900}
	store := seededStore()
	plain := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, cond.Condition{}))
	with := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, textCondition(randomContext(2, 3, 4, 1), nil)))
	if d := maxDiff(plain, with); d != 0 {
		t.Errorf("a context changed the output of a UNet without ContextDim by %g", d)
	}
	bad := tinyConfigs[4]
	bad.ContextDim = -1
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "ContextDim") {
		t.Errorf("ContextDim −1: %v", err)
	}
	bad = tinyConfigs[4]
	bad.Heads = 3
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "Heads 3") {
		t.Errorf("3 heads on 8 channels: %v", err)
	}
}

// TestLatentTextConfig checks the "latent-text" configuration: its
// parameter count (that of "latent" without its middle AttentionBlock,
// 16,768, plus five SpatialTransformers of 16·64² + 2·64·64 + 17·64 =
// 74,816), its FLOPs, and the output shape of a forward pass.
func TestLatentTextConfig(t *testing.T) {
	c, err := UNetConfigByName("latent-text")
	if err != nil {
		t.Fatal(err)
	}
	if n, want := c.NumParams(), 713156-16768+5*74816; n != want {
		t.Errorf("latent-text has %d parameters, want %d", n, want)
	}
	// The five transformers at P = 64, 16, 16, 16, 64 (C = Dc = 64, L = 16)
	// replace the middle AttentionBlock at P = 16.
	lat, err := UNetConfigByName("latent")
	if err != nil {
		t.Fatal(err)
	}
	xattn := func(p int64) int64 { return 32*p*64*64 + 4*p*p*64 + 4*p*16*64 + 4*16*64*64 }
	want := lat.ForwardFLOPs() - (2*16*64*192 + 2*16*64*64 + 4*16*16*64) + 2*xattn(64) + 3*xattn(16)
	if got := c.ForwardFLOPs(); got != want {
		t.Errorf("latent-text ForwardFLOPs = %d, want %d", got, want)
	}
	if c.ForwardFLOPsWithContext(32) <= c.ForwardFLOPs() || lat.ForwardFLOPsWithContext(32) != lat.ForwardFLOPs() {
		t.Error("ForwardFLOPsWithContext does not grow with the context length (or does without ContextDim)")
	}
	store := seededStore()
	x := randomImagesChannels(2, 7, 4, 41)
	out := runModel(t, store, UNet(c), x, []int32{1, 500}, textCondition(randomContext(2, 8, 64, 2), nil))
	if got := out.Shape().Dimensions; !equalInts(got, []int{2, 7, 7, 4}) {
		t.Errorf("output shape %v, want [2 7 7 4]", got)
	}
	if n := trainableParams(store); n != c.NumParams() {
		t.Errorf("graph has %d parameters, NumParams says %d", n, c.NumParams())
	}
}
