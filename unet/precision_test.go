package unet

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// gradRun is what runWithGrads returns: the network's output (converted to
// float32), and for every trainable variable, by path, the gradient of the
// loss Σ out·r (r a fixed random tensor, so that ∂loss/∂out = r whatever
// the precision) and its dtype, and the variable's dtype after the run.
type gradRun struct {
	out        []float32
	paths      []string
	grads      map[string][]float32
	gradDTypes map[string]dtypes.DType
	varDTypes  map[string]dtypes.DType
}

// runWithGrads builds fn on store with x_t converted to dt (the condition
// c as given), in a graph marked as training if training is set, and runs
// it once on x and the timesteps ts.
func runWithGrads(t *testing.T, store *model.Store, fn modelFn, dt dtypes.DType, x *tensors.Tensor, ts []int32, c cond.Condition, training bool) gradRun {
	t.Helper()
	names, hasNull := c.Names(), c.Null != nil
	var paths []string
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) []*Node {
		store.SetTraining(in[0].Graph(), training)
		cn, _ := cond.FromArgs(names, hasNull, in[2:])
		xt := in[0]
		if dt != xt.DType() {
			xt = ConvertDType(xt, dt)
		}
		y := fn(scope, xt, in[1], cn)
		if y.DType() != dt {
			panic(fmt.Sprintf("output dtype %s, want %s", y.DType(), dt))
		}
		y = ConvertDType(y, dtypes.Float32)
		r := randomNormal(y.Shape().Size(), 99)
		loss := ReduceAllSum(Mul(y, Reshape(Const(y.Graph(), r), y.Shape().Dimensions...)))
		var vars []*Node
		paths = paths[:0]
		for v := range store.IterVariables() {
			if v.Trainable {
				paths = append(paths, v.Path())
				vars = append(vars, v.NodeValue(y.Graph()))
			}
		}
		return append([]*Node{y}, Gradient(loss, vars...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := e.Call(append([]any{x, tensors.FromValue(ts)}, c.Args(len(ts), hasNull)...)...)
	if err != nil {
		t.Fatal(err)
	}
	res := gradRun{out: tensors.MustCopyFlatData[float32](outs[0]), paths: slices.Clone(paths),
		grads: map[string][]float32{}, gradDTypes: map[string]dtypes.DType{}, varDTypes: map[string]dtypes.DType{}}
	for i, p := range paths {
		g := outs[1+i]
		res.gradDTypes[p] = g.DType()
		if g.DType() != dtypes.Float32 {
			g = convertTensor(g)
		}
		res.grads[p] = tensors.MustCopyFlatData[float32](g)
		res.varDTypes[p] = store.GetVariable(p).Shape().DType
	}
	return res
}

// convertTensor returns t converted to float32.
func convertTensor(t *tensors.Tensor) *tensors.Tensor {
	e := MustNewExec(backend.MustShared(), func(x *Node) *Node { return ConvertDType(x, dtypes.Float32) })
	return e.MustCall(t)[0]
}

// randomNormal returns n N(0, 1) values.
func randomNormal(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// relErr is the normwise relative error ‖a − ref‖₂ / ‖ref‖₂.
func relErr(a, ref []float32) float64 {
	var d, n float64
	for i := range ref {
		d += (float64(a[i]) - float64(ref[i])) * (float64(a[i]) - float64(ref[i]))
		n += float64(ref[i]) * float64(ref[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// unitRoundoff is u, the largest relative rounding error of a format
// (rounding to nearest): 2^−8 for BFloat16 (8 significant bits), 2^−11 for
// Float16 (11 bits), 2^−24 for float32.
func unitRoundoff(dt dtypes.DType) float64 {
	switch dt {
	case dtypes.BFloat16:
		return math.Ldexp(1, -8)
	case dtypes.Float16:
		return math.Ldexp(1, -11)
	case dtypes.Float32:
		return math.Ldexp(1, -24)
	}
	panic(fmt.Sprintf("no unit roundoff for %s", dt))
}

// unetDepth is D, the number of layers (convolutions, dense layers,
// attention products) on the longest path through the UNet of c: the time
// MLP's two layers, then the blocks in order (a ResBlock 2, an
// AttentionBlock 4: qkv, q·kᵀ, A·v, proj; a SpatialTransformer 12:
// proj_in, 4 per attention, 2 for the feed-forward, proj_out; a
// convolution 1).
func unetDepth(c UNetConfig) int {
	c = c.WithDefaults()
	d := 2
	c.walk(func(kind string, _, _, _ int) {
		switch kind {
		case "res":
			d += 2
		case "attn":
			d += 4
		case "xattn":
			d += 12
		default: // conv_in, down, up, out
			d++
		}
	})
	return d
}

// mlpDepth is D for the MLP: the time MLP (2), the input layer, two layers
// per residual block and the output layer.
func mlpDepth(c MLPConfig) int { return 2 + 1 + 2*c.WithDefaults().Blocks + 1 }

// TestMixedPrecision runs UNets (the "small" one; one with attention
// inside the levels, two heads, the linear time embedding and learned
// variance; a text-conditional one whose context mask hides every token of
// one example) and the MLP in BFloat16 and Float16 on the weights of their
// float32 run, with GOMLX_FUSION left on (the default), and checks:
//
//   - the output has the input's dtype and is finite; the variables stay
//     float32 (the same ones, NumParams of them) and the gradients with
//     respect to them are float32;
//   - the output is close to float32's: ‖y_h − y‖/‖y‖ ≤ D·u, and so are the
//     gradients of Σ y·r (r fixed, random) with respect to all the
//     variables together: ≤ 2D·u. u is the format's unit roundoff (2^−8,
//     2^−11) and D the number of layers on the network's longest path
//     (unetDepth, mlpDepth). The bound is first order: each layer rounds
//     its result to the format (a relative error of at most u) and passes
//     the error of its input on without amplifying it (its inputs are
//     normalised by GroupNorm or LayerNorm, the activations are
//     1-Lipschitz, the residual connections add), so the errors of the D
//     layers add up to at most D·u at the output; the backward pass runs
//     the same path again in the same format, hence 2D·u for the
//     gradients. (Rounding errors are random and partly cancel: the
//     measured errors are 5 to 10 times below these bounds, e.g. for the
//     "small" UNet, D = 28: output 0.014 and gradients 0.029 in BFloat16,
//     against bounds of 0.11 and 0.22.)
//   - every variable's gradient is within 0.5 of float32's (relative, in
//     norm): a loose per-tensor check that no gradient is lost, zero or of
//     the wrong sign — a single tensor, such as a bias whose gradient sums
//     the batch with cancellation, can be less accurate than the whole;
//   - the Float16 errors are less than half the BFloat16 ones (u differs
//     by 8): the error comes from the formats' rounding, not from a part
//     computed wrongly in both.
func TestMixedPrecision(t *testing.T) {
	t.Setenv(FusionEnv, "1") // fused ops on, as by default: no setting needed
	small, err := UNetConfigByName("small")
	if err != nil {
		t.Fatal(err)
	}
	text := tinyConfigs[4]
	mlp := MLPConfig{}
	mlpTs := []int32{3, 999, 500, 1, 250, 750, 100, 900}
	for _, tc := range []struct {
		name    string
		fn      modelFn
		depth   int
		nParams int
		x       *tensors.Tensor
		ts      []int32
		c       cond.Condition
	}{
		{"small", UNet(small), unetDepth(small), small.NumParams(), randomImages(2, 5), []int32{3, 999}, cond.Condition{}},
		{"attention-levels", UNet(tinyConfigs[1]), unetDepth(tinyConfigs[1]), tinyConfigs[1].NumParams(),
			randomImagesChannels(2, 8, 3, 5), []int32{3, 999}, cond.Condition{}},
		{"text", UNet(text), unetDepth(text), text.NumParams(), randomImagesChannels(2, 7, 2, 5), []int32{3, 999},
			textCondition(randomContext(2, 3, 6, 1), []bool{true, false, true, false, false, false})},
		{"mlp", MLP(mlp), mlpDepth(mlp), mlp.NumParams(), tensors.FromFlatDataAndDimensions(randomNormal(16, 4), 8, 2), mlpTs, cond.Condition{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := seededStore()
			ref := runWithGrads(t, store, tc.fn, dtypes.Float32, tc.x, tc.ts, tc.c, false)
			errs := map[dtypes.DType][2]float64{}
			for _, dt := range []dtypes.DType{dtypes.BFloat16, dtypes.Float16} {
				r := runWithGrads(t, store, tc.fn, dt, tc.x, tc.ts, tc.c, false)
				n := 0
				for _, p := range r.paths {
					if r.varDTypes[p] != dtypes.Float32 || r.gradDTypes[p] != dtypes.Float32 {
						t.Errorf("%s: variable %s is %s, its gradient %s; want float32 for both", dt, p, r.varDTypes[p], r.gradDTypes[p])
					}
					n += len(r.grads[p])
				}
				if !slices.Equal(r.paths, ref.paths) || n != tc.nParams {
					t.Fatalf("%s: %d variables (%d parameters), float32 %d (NumParams %d)", dt, len(r.paths), n, len(ref.paths), tc.nParams)
				}
				for _, v := range r.out {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s: output not finite", dt)
					}
				}
				u := unitRoundoff(dt)
				outErr := relErr(r.out, ref.out)
				var all, allRef []float32
				for _, p := range ref.paths {
					if e := relErr(r.grads[p], ref.grads[p]); !(e <= 0.5) {
						t.Errorf("%s: the gradient of %s is off by %.3g (relative)", dt, p, e)
					}
					all = append(all, r.grads[p]...)
					allRef = append(allRef, ref.grads[p]...)
				}
				gradErr := relErr(all, allRef)
				d := float64(tc.depth)
				t.Logf("%s (D = %d, u = %.3g): output error %.3g (bound D·u = %.3g), gradient error %.3g (bound 2D·u = %.3g)",
					dt, tc.depth, u, outErr, d*u, gradErr, 2*d*u)
				if !(outErr <= d*u) {
					t.Errorf("%s: output error %.3g > D·u = %.3g", dt, outErr, d*u)
				}
				if !(gradErr <= 2*d*u) {
					t.Errorf("%s: gradient error %.3g > 2D·u = %.3g", dt, gradErr, 2*d*u)
				}
				errs[dt] = [2]float64{outErr, gradErr}
			}
			bf, f16 := errs[dtypes.BFloat16], errs[dtypes.Float16]
			if !(f16[0] < bf[0]/2 && f16[1] < bf[1]/2) {
				t.Errorf("Float16 errors (output %.3g, gradients %.3g) are not below half the BFloat16 ones (%.3g, %.3g)", f16[0], f16[1], bf[0], bf[1])
			}
		})
	}
}

// TestHalfPrecisionFloat32Parts checks that the parts documented as
// computed in float32 under mixed precision are: for a BFloat16 or Float16
// input, SinusoidalEmbedding, GroupNorm and LayerNorm return exactly the
// float32 computation on the same (half-representable) values rounded once
// to the half dtype, bit for bit; computed in the half dtype they would
// differ by many roundings (for the embedding, t = 999 is not even a
// BFloat16 number). And a query of MultiHeadAttention whose keys are all
// masked gets uniform weights in Float16 too (the mask's −1e9 would be −∞
// in Float16 logits, and the weights NaN).
func TestHalfPrecisionFloat32Parts(t *testing.T) {
	x := randomImagesChannels(2, 4, 8, 9) // 256 values, read as a feature map [C=8, B=2, H=4, W=4]
	for _, dt := range []dtypes.DType{dtypes.BFloat16, dtypes.Float16} {
		store := seededStore()
		e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) []*Node {
			f32 := func(v *Node) *Node { return ConvertDType(v, dtypes.Float32) }
			half := func(v *Node) *Node { return ConvertDType(v, dt) }
			// A shift makes the mean large against the spread, where a
			// half-precision E[x²] − μ² loses the variance.
			xh := half(AddScalar(Reshape(in[0], 8, 2, 4, 4), 3))
			tm := in[1]
			// Each pair: the half computation, then float32 on the same values rounded once.
			gn := scope.In("gn")
			ln := scope.In("ln")
			tokens := Reshape(xh, 2, 16, 8)
			return []*Node{
				SinusoidalEmbedding(tm, 64, dt), half(SinusoidalEmbedding(tm, 64, dtypes.Float32)),
				GroupNorm(gn, xh, 4, normEps), half(GroupNorm(gn.ResetVisited(), f32(xh), 4, normEps)),
				LayerNorm(ln, tokens, transformerEps), half(LayerNorm(ln.ResetVisited(), f32(tokens), transformerEps)),
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := e.Call(x, tensors.FromValue([]int32{0, 1, 17, 999}))
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		for i, name := range []string{"SinusoidalEmbedding", "GroupNorm", "LayerNorm"} {
			a, b := outs[2*i], outs[2*i+1]
			if a.DType() != dt {
				t.Errorf("%s %s: dtype %s", dt, name, a.DType())
			}
			av, bv := tensors.MustCopyFlatData[float32](convertTensor(a)), tensors.MustCopyFlatData[float32](convertTensor(b))
			for j := range av {
				if av[j] != bv[j] {
					t.Errorf("%s %s: element %d is %g, float32 rounded once gives %g", dt, name, j, av[j], bv[j])
					break
				}
			}
		}
		for v := range store.IterVariables() {
			if v.Trainable && v.Shape().DType != dtypes.Float32 {
				t.Errorf("%s: variable %s is %s", dt, v.Path(), v.Shape().DType)
			}
		}
	}

	// Fully masked queries in Float16.
	store := seededStore()
	ctx := randomContext(2, 3, 4, 5)
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, c, mask *Node) *Node {
		_, w := MultiHeadAttention(scope, ConvertDType(x, dtypes.Float16), ConvertDType(c, dtypes.Float16), mask, 2)
		return ConvertDType(w, dtypes.Float32)
	})
	if err != nil {
		t.Fatal(err)
	}
	xq := tensors.FromFlatDataAndDimensions(randomNormal(2*5*8, 6), 2, 5, 8)
	out, err := e.Call(xq, ctx, tensors.FromValue([][]bool{{true, false, true}, {false, false, false}}))
	if err != nil {
		t.Fatal(err)
	}
	w := tensors.MustCopyFlatData[float32](out[0]) // [B=2, heads=2, P=5, L=3]
	for i, v := range w {
		b, l := i/(2*5*3), i%3
		want := map[bool]float32{true: 1.0 / 3, false: -1}[b == 1]
		switch {
		case math.IsNaN(float64(v)):
			t.Fatalf("Float16 attention weight %d is NaN", i)
		case b == 0 && l == 1 && v != 0:
			t.Errorf("Float16: the masked token gets weight %g", v)
		case b == 1 && math.Abs(float64(v-want)) > 1e-3:
			t.Errorf("Float16: a fully masked query's weight %d is %g, want 1/3", i, v)
		}
	}
}

// TestFullPrecisionGraphsUnchanged checks that mixed precision leaves
// float32 and float64 networks as they were: every variable has the
// input's dtype, NumParams of them, and the graph (forward and gradient)
// computes in that one float dtype, with no conversion between float
// dtypes anywhere. The same check on a BFloat16 graph finds float32
// variables and conversions (so that it detects them).
func TestFullPrecisionGraphsUnchanged(t *testing.T) {
	small, _ := UNetConfigByName("small")
	configs := append([]UNetConfig{small}, tinyConfigs...)
	type net struct {
		name    string
		fn      modelFn
		nParams int
		x       func(dt dtypes.DType) *tensors.Tensor
		c       cond.Condition
	}
	var nets []net
	for i, c := range configs {
		c := c.WithDefaults()
		cn := testLabels(c, 2)
		if c.ContextDim > 0 {
			cn = textCondition(randomContext(2, 3, c.ContextDim, 1), []bool{true, false, true, true, true, false})
			cn.Inputs[cond.Class] = tensors.FromValue([]int32{0, 1})
		}
		nets = append(nets, net{fmt.Sprintf("unet%d", i), UNet(c), c.NumParams(), func(dt dtypes.DType) *tensors.Tensor {
			return castImages(randomImagesChannels(2, c.ImageSize, c.InChannels, 3), dt)
		}, cn})
	}
	mlp := MLPConfig{NumClasses: 2, LearnedVariance: true}
	nets = append(nets, net{"mlp", MLP(mlp), mlp.NumParams(), func(dt dtypes.DType) *tensors.Tensor {
		return castImages(tensors.FromFlatDataAndDimensions(randomNormal(4, 2), 2, 2), dt)
	}, cond.Classes([]int32{0, 2})})

	for _, n := range nets {
		for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16} {
			store := seededStore()
			c := n.c
			if ctx, ok := c.Inputs[cond.Context]; ok && dt == dtypes.Float64 {
				c.Inputs = maps.Clone(c.Inputs) // the context in the network's dtype, as fed in float64
				c.Inputs[cond.Context] = castImages(ctx, dt)
			}
			names, hasNull := c.Names(), c.Null != nil
			var floatDTypes []dtypes.DType
			converts := 0
			e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) *Node {
				cn, _ := cond.FromArgs(names, hasNull, in[2:])
				if dt == dtypes.BFloat16 {
					in[0] = ConvertDType(in[0], dt)
				}
				start := len(in[0].Graph().Nodes())
				y := n.fn(scope, in[0], in[1], cn)
				var vars []*Node
				for v := range store.IterVariables() {
					if v.Trainable {
						vars = append(vars, v.NodeValue(y.Graph()))
					}
				}
				loss := ReduceAllSum(Square(y))
				grads := Gradient(loss, vars...)
				for _, node := range y.Graph().Nodes()[start:] {
					if node.NumOutputs() != 1 || !node.DType().IsFloat() {
						continue
					}
					if !slices.Contains(floatDTypes, node.DType()) {
						floatDTypes = append(floatDTypes, node.DType())
					}
					if node.Type() == NodeTypeConvertDType && node.Inputs()[0].DType().IsFloat() {
						converts++
					}
				}
				for _, g := range grads {
					loss = Add(loss, ConvertDType(ReduceAllSum(g), loss.DType()))
				}
				return loss
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Call(append([]any{n.x(dt), tensors.FromValue([]int32{5, 999})}, c.Args(2, hasNull)...)...); err != nil {
				t.Fatalf("%s %s: %v", n.name, dt, err)
			}
			count := 0
			for v := range store.IterVariables() {
				if !v.Trainable {
					continue
				}
				count += v.Shape().Size()
				if want := MasterDType(dt); v.Shape().DType != want {
					t.Errorf("%s %s: variable %s is %s, want %s", n.name, dt, v.Path(), v.Shape().DType, want)
				}
			}
			if count != n.nParams {
				t.Errorf("%s %s: %d parameters, NumParams %d", n.name, dt, count, n.nParams)
			}
			if dt == dtypes.BFloat16 {
				if converts == 0 || len(floatDTypes) != 2 {
					t.Errorf("%s BFloat16: float dtypes %v and %d conversions: want BFloat16 and float32, and conversions", n.name, floatDTypes, converts)
				}
			} else if converts != 0 || !slices.Equal(floatDTypes, []dtypes.DType{dt}) {
				t.Errorf("%s %s: the graph has float dtypes %v and %d conversions between float dtypes, want only %s and none", n.name, dt, floatDTypes, converts, dt)
			}
		}
	}
}

// castImages returns x (float32) converted to float64 when dt is, else x
// (a BFloat16 input is converted by the graph).
func castImages(x *tensors.Tensor, dt dtypes.DType) *tensors.Tensor {
	if dt != dtypes.Float64 {
		return x
	}
	e := MustNewExec(backend.MustShared(), func(x *Node) *Node { return ConvertDType(x, dt) })
	return e.MustCall(x)[0]
}
