package unet

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

// tinyConfigs are small UNets covering the options: attention inside the
// levels with two heads, the linear time embedding, classes, learned
// variance, three channels, odd multipliers, and an image size (7) that the
// levels do not divide (padded to 8, attention at the padded sides 8 and 2);
// and a text-conditional one (ContextDim: SpatialTransformers at 8 and in
// the middle at 4, with classes too).
var tinyConfigs = []UNetConfig{
	{ImageSize: 8, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1, GroupNormGroups: 4},
	{ImageSize: 8, InChannels: 3, BaseChannels: 8, ChannelMults: []int{1, 3}, NumResBlocks: 2, AttentionResolutions: []int{4},
		Heads: 2, GroupNormGroups: 4, TimeEmbedding: TimeEmbeddingLinear, TimeEmbedDim: 16, LearnedVariance: true},
	{ImageSize: 12, BaseChannels: 4, ChannelMults: []int{1, 1, 2}, NumResBlocks: 1, GroupNormGroups: 2, NumClasses: 3,
		NoMiddleAttention: true, AttentionResolutions: []int{12}},
	{ImageSize: 7, InChannels: 4, BaseChannels: 4, ChannelMults: []int{1, 2, 2}, NumResBlocks: 1, GroupNormGroups: 2,
		AttentionResolutions: []int{8, 2}, NumClasses: 2},
	{ImageSize: 7, InChannels: 2, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1, GroupNormGroups: 4,
		AttentionResolutions: []int{8}, Heads: 2, TimeEmbedDim: 16, ContextDim: 6, NumClasses: 2},
}

// modelFn is the signature of the networks of this package (diffusion.ModelFn).
type modelFn = func(scope *model.Scope, xt, t *Node, c cond.Nodes) *Node

// callModel builds fn on store and runs it once on x with timesteps ts and
// the condition c, fed as cond.Condition.Args feeds it (the null mask only
// when c has one).
func callModel(store *model.Store, fn modelFn, x *tensors.Tensor, ts []int32, c cond.Condition) (*tensors.Tensor, error) {
	names, hasNull := c.Names(), c.Null != nil
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) *Node {
		cn, rest := cond.FromArgs(names, hasNull, in[2:])
		if len(rest) != 0 {
			panic(fmt.Sprintf("%d unused condition arguments", len(rest)))
		}
		return fn(scope, in[0], in[1], cn)
	})
	if err != nil {
		return nil, err
	}
	out, err := e.Call(append([]any{x, tensors.FromValue(ts)}, c.Args(len(ts), hasNull)...)...)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// runModel is callModel failing the test on an error.
func runModel(t *testing.T, store *model.Store, fn modelFn, x *tensors.Tensor, ts []int32, c cond.Condition) *tensors.Tensor {
	t.Helper()
	out, err := callModel(store, fn, x, ts, c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// trainableParams returns the number of trainable parameters in store.
func trainableParams(store *model.Store) int {
	n := 0
	for v := range store.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}

// runUNet builds the UNet of c, runs it once on x (channels-last) with
// timesteps t and class labels (nil: the zero condition), and returns the
// output and the number of trainable parameters the graph created. When c
// has a ContextDim the condition also holds a context of 3 random tokens.
func runUNet(t *testing.T, c UNetConfig, store *model.Store, x *tensors.Tensor, ts []int32, labels []int32) (*tensors.Tensor, int) {
	t.Helper()
	var cn cond.Condition
	if labels != nil {
		cn = cond.Classes(labels)
	}
	if d := c.WithDefaults().ContextDim; d > 0 {
		if cn.Inputs == nil {
			cn.Inputs = map[string]*tensors.Tensor{}
		}
		cn.Inputs[cond.Context] = randomContext(len(ts), 3, d, 1)
	}
	out := runModel(t, store, UNet(c), x, ts, cn)
	return out, trainableParams(store)
}

func seededStore() *model.Store {
	s := model.NewStore()
	s.SetParam(model.ParamInitialSeed, int64(1))
	return s
}

func zerosImages(c UNetConfig, batch int) *tensors.Tensor {
	c = c.WithDefaults()
	return tensors.FromShape(shapes.Make(dtypes.Float32, batch, c.ImageSize, c.ImageSize, c.InChannels))
}

// TestUNetParams checks, for every named configuration and the tiny test
// ones, that NumParams (config arithmetic) equals the number of trainable
// parameters the built graph creates, and the output shape; that the
// reference UNet has the 1,152,193 parameters of its PyTorch peer; and that
// "latent" (7×7×4, built at the padded size 8) has the 713,156 of its
// documentation (counted by hand: time MLP 33,024, conv_in 2,368, four
// 64→64 ResBlocks of 82,368, downsample and upsample 36,928 each, middle
// attention 16,768, two 128→64 up ResBlocks of 127,616, out 2,436).
func TestUNetParams(t *testing.T) {
	var cases []UNetConfig
	var names []string
	for _, name := range UNetConfigNames() {
		c, err := UNetConfigByName(name)
		if err != nil {
			t.Fatal(err)
		}
		cases, names = append(cases, c), append(names, name)
	}
	for i, c := range tinyConfigs {
		cases, names = append(cases, c), append(names, fmt.Sprint("tiny", i))
	}
	for i, c := range cases {
		t.Run(names[i], func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			d := c.WithDefaults()
			var cond []int32
			if d.NumClasses > 0 {
				cond = []int32{0, int32(d.NumClasses)}
			}
			out, n := runUNet(t, c, seededStore(), zerosImages(c, 2), []int32{0, 999}, cond)
			if n != c.NumParams() {
				t.Errorf("graph has %d parameters, NumParams says %d", n, c.NumParams())
			}
			want := []int{2, d.ImageSize, d.ImageSize, d.InChannels * map[bool]int{false: 1, true: 2}[d.LearnedVariance]}
			if !equalInts(out.Shape().Dimensions, want) {
				t.Errorf("output shape %v, want %v", out.Shape().Dimensions, want)
			}
		})
	}
	ref, err := UNetConfigByName("reference")
	if err != nil {
		t.Fatal(err)
	}
	if n := ref.NumParams(); n != 1152193 {
		t.Errorf("reference UNet has %d parameters, want 1152193", n)
	}
	if n := (UNetConfig{}).NumParams(); n != 1152193 {
		t.Errorf("the zero UNetConfig has %d parameters, want the reference's 1152193", n)
	}
	lat, err := UNetConfigByName("latent")
	if err != nil {
		t.Fatal(err)
	}
	if n := lat.NumParams(); n != 713156 {
		t.Errorf("latent UNet has %d parameters, want 713156", n)
	}
	if lat.PaddedSize() != 8 {
		t.Errorf("latent UNet runs at %d×%d, want 8×8", lat.PaddedSize(), lat.PaddedSize())
	}
}

// TestUNetClasses checks class conditioning: the zero condition is the null
// label NumClasses, and different labels give different outputs.
func TestUNetClasses(t *testing.T) {
	c := tinyConfigs[2]
	x := zerosImages(c, 2)
	ts := []int32{5, 5}
	store := seededStore()
	null, _ := runUNet(t, c, store, x, ts, []int32{3, 3})
	none, _ := runUNet(t, c, store, x, ts, nil)
	labels, _ := runUNet(t, c, store, x, ts, []int32{0, 1})
	a, b, l := tensors.MustCopyFlatData[float32](null), tensors.MustCopyFlatData[float32](none), tensors.MustCopyFlatData[float32](labels)
	half := len(a) / 2
	var dNone, dLabels float64
	for i := range a {
		dNone = max(dNone, math.Abs(float64(a[i]-b[i])))
	}
	for i := range half {
		dLabels = max(dLabels, math.Abs(float64(l[i]-l[half+i])))
	}
	if dNone > 1e-6 {
		t.Errorf("the zero condition differs from the null label by %g", dNone)
	}
	if dLabels < 1e-4 {
		t.Errorf("labels 0 and 1 give the same output (max difference %g)", dLabels)
	}
}

// TestUNetConfigErrors checks that invalid configurations are refused,
// sizes that the levels do not divide included, and that such sizes are
// otherwise accepted, with attention resolutions counted at the padded
// size.
func TestUNetConfigErrors(t *testing.T) {
	for _, c := range []UNetConfig{
		{ImageSize: -3},                     // not ≥ 1
		{GroupNormGroups: 5},                // 5 does not divide 32
		{ImageSize: 30, GroupNormGroups: 5}, // the same at a padded size
		{ImageSize: 7, ChannelMults: []int{1, 2}, BaseChannels: 16, NoMiddleAttention: true,
			AttentionResolutions: []int{8}, Heads: 32}, // attention at the padded side 8 (16 channels)
		{Heads: 3},                        // 3 does not divide 64 (middle attention)
		{TimeEmbedding: "learned"},        // unknown embedding
		{TimeEmbedDim: 7},                 // odd sinusoidal width
		{Dropout: 1},                      // not < 1
		{ChannelMults: []int{1, 0}},       // zero width
		{NumClasses: -1},                  // negative classes
		{BaseChannels: 12, ImageSize: 28}, // 12·2 + 12 concatenated = 36, fine; 12 not divisible by 8
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := UNetConfigByName("huge"); err == nil {
		t.Error("UNetConfigByName accepted an unknown name")
	}
	for _, c := range []UNetConfig{
		{ImageSize: 30}, // padded to 32
		{ImageSize: 7, ChannelMults: []int{1, 2}},
		{ImageSize: 1, ChannelMults: []int{1, 2, 2, 2}},
		// No level at side 7 (they are 8 and 4): no attention, so Heads is not checked.
		{ImageSize: 7, ChannelMults: []int{1, 2}, BaseChannels: 16, NoMiddleAttention: true, AttentionResolutions: []int{7}, Heads: 32},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v refused: %v", c, err)
		}
	}
}

// TestUNetTrains runs a few diffusion.Trainer steps of the "small" UNet
// (28×28×1) and of the "latent" one (7×7×4, through the padding to 8×8) on
// a fixed batch of random images: the loss must fall (from about the
// variance of ε, 1, for an untrained network).
func TestUNetTrains(t *testing.T) {
	s, err := schedules.New("linear", 100)
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.NewProcess(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"small", "latent"} {
		t.Run(name, func(t *testing.T) {
			c, err := UNetConfigByName(name)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := diffusion.NewTrainer(backend.MustShared(), p, diffusion.Denoiser{Fn: UNet(c), Prediction: diffusion.PredictEpsilon},
				diffusion.TrainConfig{LearningRate: 2e-3, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			x0 := randomImagesChannels(8, c.ImageSize, c.InChannels, 3)
			const steps, window = 30, 8
			var losses []float64
			for range steps {
				r, err := tr.TrainStep(x0, cond.Condition{})
				if err != nil {
					t.Fatal(err)
				}
				if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
					t.Fatalf("loss %g", r.Loss)
				}
				losses = append(losses, r.Loss)
			}
			mean := func(v []float64) float64 {
				s := 0.0
				for _, x := range v {
					s += x
				}
				return s / float64(len(v))
			}
			first, last := mean(losses[:window]), mean(losses[steps-window:])
			t.Logf("loss: first %d steps %.3f, last %d steps %.3f", window, first, window, last)
			if last > 0.7*first {
				t.Errorf("loss fell from %.3f only to %.3f", first, last)
			}
		})
	}
}

// TestReferenceLayers checks the reference UNet's parameters scope by scope
// against the table of UNetConfigByName's documentation (counted by hand
// from the layer formulas, the numbers a PyTorch peer must match).
func TestReferenceLayers(t *testing.T) {
	want := map[string]int{
		"time_1": 16512, "time_2": 16512, "conv_in": 320,
		"down_0/res_0": 22752, "down_0/res_1": 22752, "down_0/downsample": 9248,
		"down_1/res_0": 65984, "down_1/res_1": 82368, "down_1/downsample": 36928,
		"down_2/res_0": 82368, "down_2/res_1": 82368,
		"middle/res_0": 82368, "middle/attn": 16768, "middle/res_1": 82368,
		"up_2/res_0": 127616, "up_2/res_1": 82368, "up_2/upsample": 36928,
		"up_1/res_0": 127616, "up_1/res_1": 82368, "up_1/upsample": 18464,
		"up_0/res_0": 34112, "up_0/res_1": 22752,
		"out_norm": 64, "conv_out": 289,
	}
	ref, err := UNetConfigByName("reference")
	if err != nil {
		t.Fatal(err)
	}
	store := seededStore()
	runUNet(t, ref, store, zerosImages(ref, 1), []int32{3}, nil)
	got := map[string]int{}
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(v.Path(), "/"), "/")
		key := parts[0]
		if strings.HasPrefix(key, "down_") || strings.HasPrefix(key, "up_") || key == "middle" {
			key += "/" + parts[1]
		}
		got[key] += v.Shape().Size()
	}
	total := 0
	for k, n := range want {
		total += n
		if got[k] != n {
			t.Errorf("%s: %d parameters, want %d", k, got[k], n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected scope %s (%d parameters)", k, got[k])
		}
	}
	if total != 1152193 {
		t.Errorf("the table sums to %d", total)
	}
	// Initial values follow PyTorch's defaults: weights and biases of a
	// layer with fan-in f in U(±1/√f) (f = Cin·k² for a convolution),
	// GroupNorm scale 1 and offset 0.
	for v := range store.IterVariables() {
		if !v.Trainable {
			continue
		}
		vals := tensors.MustCopyFlatData[float32](v.MustValue())
		path := v.Path()
		switch {
		case strings.HasSuffix(path, "/scale") || strings.HasSuffix(path, "/offset"):
			want := map[bool]float32{true: 1, false: 0}[strings.HasSuffix(path, "/scale")]
			for _, x := range vals {
				if x != want {
					t.Fatalf("%s starts at %g, want %g", path, x, want)
				}
			}
		case strings.HasSuffix(path, "/weights"):
			dims := v.Shape().Dimensions
			fanIn := dims[0] // Linear [in, out]
			if len(dims) == 4 {
				fanIn = dims[0] * dims[1] * dims[2] // Conv [k, k, Cin, out]
			}
			bound := 1 / math.Sqrt(float64(fanIn))
			biases := tensors.MustCopyFlatData[float32](store.GetVariable(strings.TrimSuffix(path, "weights") + "biases").MustValue())
			for _, x := range append(vals, biases...) {
				if math.Abs(float64(x)) > bound {
					t.Fatalf("%s: initial value %g outside ±%g", path, x, bound)
				}
			}
		}
	}
}

// TestUNetSameFunction checks that the convolution formulations and the
// number of streams change the speed, not the function: the same weights
// give the same output (up to float32 rounding) with every formulation and
// with the batch in one, two or four streams.
func TestUNetSameFunction(t *testing.T) {
	c := tinyConfigs[1]
	x := randomImagesSized(4, 8, 5)
	// Three channels: repeat the random single channel with offsets.
	v := tensors.MustCopyFlatData[float32](x)
	v3 := make([]float32, 3*len(v))
	for i, e := range v {
		v3[3*i], v3[3*i+1], v3[3*i+2] = e, -e, 0.5*e
	}
	x3 := tensors.FromFlatDataAndDimensions(v3, 4, 8, 8, 3)
	ts := []int32{0, 10, 500, 999}
	store := seededStore()
	oldConv, oldStreams := ConvOverride, StreamsOverride
	defer func() { ConvOverride, StreamsOverride = oldConv, oldStreams }()
	var ref []float32
	for _, kind := range ConvKinds {
		for _, streams := range []int{1, 2, 4} {
			ConvOverride, StreamsOverride = kind, streams
			out, _ := runUNet(t, c, store, x3, ts, nil)
			got := tensors.MustCopyFlatData[float32](out)
			if ref == nil {
				ref = got
				scale := 0.0
				for _, e := range ref {
					scale = max(scale, math.Abs(float64(e)))
				}
				if scale < 0.05 {
					t.Fatalf("outputs too small (max %g) for the comparison to mean anything", scale)
				}
				continue
			}
			d := 0.0
			for i := range got {
				d = max(d, math.Abs(float64(got[i]-ref[i])))
			}
			if d > 1e-4 {
				t.Errorf("%s with %d streams differs by %g from native with 1 stream", kind, streams, d)
			}
		}
	}
}

// TestLinearTimeEmbedding checks the linear time embedding: with time_1 set
// to weights 1 and time_2 to the identity, it must be SiLU(t/T) in every
// component.
func TestLinearTimeEmbedding(t *testing.T) {
	const e, T = 4, 200
	c := UNetConfig{TimeEmbedding: TimeEmbeddingLinear, TimeEmbedDim: e, Timesteps: T}.WithDefaults()
	store := model.NewStore()
	id := make([]float64, e*e)
	for i := range e {
		id[i*e+i] = 1
	}
	store.VariableWithValue("/time_1/weights", tensors.FromFlatDataAndDimensions(ones(e), 1, e))
	store.VariableWithValue("/time_1/biases", make([]float64, e))
	store.VariableWithValue("/time_2/weights", tensors.FromFlatDataAndDimensions(id, e, e))
	store.VariableWithValue("/time_2/biases", make([]float64, e))
	ex, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, ts *Node) *Node {
		return c.timeEmbedding(scope, ts, dtypes.Float64)
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := []int32{0, 50, 199}
	got := tensors.MustCopyFlatData[float64](ex.MustCall(ts)[0])
	for i, tt := range ts {
		u := float64(tt) / T
		want := u / (1 + math.Exp(-u))
		for k := range e {
			if d := math.Abs(got[i*e+k] - want); d > 1e-12 {
				t.Errorf("t=%d component %d: %g, want SiLU(%g) = %g", tt, k, got[i*e+k], u, want)
			}
		}
	}
}

// TestForwardFLOPs checks ForwardFLOPs on a 4×4 UNet counted by hand (base
// 8, mults (1, 2), one ResBlock per level, middle attention, E = 16):
// conv_in 2,304; down_0/res_0 37,120; downsample 4,608; down_1/res_0 29,184;
// middle ResBlocks 37,376 each and attention 9,216; up_1/res_0 59,904;
// upsample 36,864; up_0/res_0 59,648; conv_out 2,304; time MLP 1,024.
func TestForwardFLOPs(t *testing.T) {
	c := UNetConfig{ImageSize: 4, InChannels: 1, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1, TimeEmbedDim: 16, GroupNormGroups: 4}
	if got, want := c.ForwardFLOPs(), int64(316928); got != want {
		t.Errorf("ForwardFLOPs = %d, want %d", got, want)
	}
	// A 3×3 image padded to 4 costs what the 4×4 network costs.
	c3 := c
	c3.ImageSize = 3
	if c3.ForwardFLOPs() != c.ForwardFLOPs() {
		t.Errorf("the padded 3×3 network costs %d, the 4×4 one %d", c3.ForwardFLOPs(), c.ForwardFLOPs())
	}
}
