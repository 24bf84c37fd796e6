package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Tests of image sizes not divisible by 2^(len(ChannelMults)−1): the UNet
// zero-pads them to PaddedSize and crops its output back.

// paddedConfigs are small UNets whose ImageSize is not divisible by
// 2^(len(ChannelMults)−1): 7×7×4 latents with two and three levels
// (attention at the padded top resolution 8 in the first, classes and a
// learned variance in the second), and a single-channel 5×5 image.
var paddedConfigs = []struct {
	name   string
	cfg    UNetConfig
	padded int // PaddedSize
}{
	{"7x7x4/mults=1,2", UNetConfig{ImageSize: 7, InChannels: 4, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1,
		GroupNormGroups: 4, AttentionResolutions: []int{8}, Heads: 2, TimeEmbedDim: 16}, 8},
	{"7x7x4/mults=1,2,2", UNetConfig{ImageSize: 7, InChannels: 4, BaseChannels: 8, ChannelMults: []int{1, 2, 2}, NumResBlocks: 1,
		GroupNormGroups: 4, TimeEmbedDim: 16, NumClasses: 3, LearnedVariance: true}, 8},
	{"5x5x1/mults=1,2", UNetConfig{ImageSize: 5, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1,
		GroupNormGroups: 4, TimeEmbedDim: 16}, 6},
}

// randomImagesChannels returns n size×size images with ch channels of
// uniform noise in [−1, 1].
func randomImagesChannels(n, size, ch int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float32, n*size*size*ch)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(v, n, size, size, ch)
}

// testLabels returns the class condition of a batch of n for a
// configuration with classes (the labels 0, 1, … cycling, the null label
// included), or the zero condition.
func testLabels(c UNetConfig, n int) cond.Condition {
	if c.NumClasses == 0 {
		return cond.Condition{}
	}
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(i % (c.NumClasses + 1))
	}
	return cond.Classes(labels)
}

func TestPaddedSize(t *testing.T) {
	for _, tc := range []struct {
		size  int
		mults []int
		want  int
	}{
		{28, []int{1, 2, 2}, 28}, {7, []int{1, 2}, 8}, {7, []int{1, 2, 2}, 8}, {5, []int{1, 2, 2}, 8},
		{5, []int{1, 2}, 6}, {7, []int{1}, 7}, {1, []int{1, 2, 2, 2}, 8}, {30, []int{1, 2, 2}, 32},
		{0, nil, 28}, // the defaults: 28, (1, 2, 2)
	} {
		c := UNetConfig{ImageSize: tc.size, ChannelMults: tc.mults}
		if got := c.PaddedSize(); got != tc.want {
			t.Errorf("ImageSize %d, ChannelMults %v: PaddedSize %d, want %d", tc.size, tc.mults, got, tc.want)
		}
	}
	for _, tc := range paddedConfigs {
		if got := tc.cfg.PaddedSize(); got != tc.padded {
			t.Errorf("%s: PaddedSize %d, want %d", tc.name, got, tc.padded)
		}
	}
}

// TestUNetPaddedShapes checks that sizes not divisible by
// 2^(len(ChannelMults)−1) are accepted, give outputs of the input's size,
// and create the NumParams parameters; and that the divisible path (28) is
// unchanged in shape.
func TestUNetPaddedShapes(t *testing.T) {
	cases := []struct {
		name string
		cfg  UNetConfig
	}{{"28x28x1/mults=1,2,2", UNetConfig{BaseChannels: 8, NumResBlocks: 1, GroupNormGroups: 4, TimeEmbedDim: 16}}}
	for _, pc := range paddedConfigs {
		cases = append(cases, struct {
			name string
			cfg  UNetConfig
		}{pc.name, pc.cfg})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg.WithDefaults()
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			const batch = 3
			store := seededStore()
			out := runModel(t, store, UNet(c), randomImagesChannels(batch, c.ImageSize, c.InChannels, 1), []int32{0, 10, 999}, testLabels(c, batch))
			want := []int{batch, c.ImageSize, c.ImageSize, c.OutChannels()}
			if !equalInts(out.Shape().Dimensions, want) {
				t.Errorf("output shape %v, want %v", out.Shape().Dimensions, want)
			}
			if n := trainableParams(store); n != c.NumParams() {
				t.Errorf("graph has %d parameters, NumParams says %d", n, c.NumParams())
			}
			for i, v := range tensors.MustCopyFlatData[float32](out) {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("output %d is %g", i, v)
				}
			}
		})
	}
}

// padCropNet returns the network of c8 (ImageSize = the padded size P)
// applied to its input padded with zeros at the bottom and on the right by
// GoMLX's Pad (not the package's concatenation), its output cropped to
// size×size: what the UNet of a size×size configuration claims to be.
func padCropNet(c8 UNetConfig, size int) modelFn {
	pad := c8.ImageSize - size
	fn := UNet(c8)
	return func(scope *model.Scope, xt, t *Node, cn cond.Nodes) *Node {
		p := Pad(xt, ScalarZero(xt.Graph(), xt.DType()), PadAxis{}, PadAxis{End: pad}, PadAxis{End: pad}, PadAxis{})
		return Slice(fn(scope, p, t, cn), AxisRange(), AxisRange(0, size), AxisRange(0, size))
	}
}

// TestUNetPaddingIsZeroPadding checks independently that the padded path
// is what the documentation says: with the same variables, the output of
// the size×size UNet on x equals that of the same architecture configured
// for P×P (P = PaddedSize) on x zero-padded to P×P (by GoMLX's Pad), cropped
// to size×size — in one stream and in several.
func TestUNetPaddingIsZeroPadding(t *testing.T) {
	oldStreams := StreamsOverride
	defer func() { StreamsOverride = oldStreams }()
	for _, tc := range paddedConfigs {
		for _, streams := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/streams=%d", tc.name, streams), func(t *testing.T) {
				StreamsOverride = streams
				c := tc.cfg.WithDefaults()
				c8 := c
				c8.ImageSize = c.PaddedSize()
				if c8.PaddedSize() != c8.ImageSize || c8.ImageSize == c.ImageSize {
					t.Fatalf("padded size %d of %d is not a larger divisible size", c8.ImageSize, c.ImageSize)
				}
				const batch = 4
				x := randomImagesChannels(batch, c.ImageSize, c.InChannels, 3)
				ts := []int32{0, 50, 500, 999}
				store := seededStore()
				got := tensors.MustCopyFlatData[float32](runModel(t, store, UNet(c), x, ts, testLabels(c, batch)))
				nVars := 0
				for range store.IterVariables() {
					nVars++
				}
				out := runModel(t, store, padCropNet(c8, c.ImageSize), x, ts, testLabels(c, batch))
				if want := []int{batch, c.ImageSize, c.ImageSize, c.OutChannels()}; !equalInts(out.Shape().Dimensions, want) {
					t.Fatalf("padded-and-cropped output shape %v, want %v", out.Shape().Dimensions, want)
				}
				n := 0
				for range store.IterVariables() {
					n++
				}
				if n != nVars {
					t.Fatalf("the %d×%d network created %d new variables: the weights are not shared", c8.ImageSize, c8.ImageSize, n-nVars)
				}
				want := tensors.MustCopyFlatData[float32](out)
				scale := 0.0
				for _, v := range want {
					scale = max(scale, math.Abs(float64(v)))
				}
				if scale < 0.05 {
					t.Fatalf("outputs too small (max %g) for the comparison to mean anything", scale)
				}
				if d := maxDiff(got, want); d > 1e-5*max(1, scale) {
					t.Errorf("the %d×%d UNet differs by %g (outputs up to %g) from the %d×%d one on the zero-padded input, cropped",
						c.ImageSize, c.ImageSize, d, scale, c8.ImageSize, c8.ImageSize)
				}
			})
		}
	}
}

// TestUNetPaddedGradients checks the gradients through the padding and the
// crop: for L = Σ out·r (r fixed and random), the gradients with respect to
// the input x and to conv_in's weights are finite and nonzero (every input
// pixel and every weight reaches the output), and equal those of the P×P
// network on the zero-padded input (gradient with respect to the padded
// input, restricted to the size×size corner), with the same variables.
func TestUNetPaddedGradients(t *testing.T) {
	for _, tc := range paddedConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg.WithDefaults()
			c8 := c
			c8.ImageSize = c.PaddedSize()
			const batch = 2
			x := randomImagesChannels(batch, c.ImageSize, c.InChannels, 4)
			r := randomImagesChannels(batch, c.ImageSize, c.OutChannels(), 5)
			ts := tensors.FromValue([]int32{20, 700})
			store := seededStore()
			// grads returns [loss, ∂L/∂x (batch×size×size×C), ∂L/∂conv_in/weights].
			grads := func(padded bool) [][]float32 {
				e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, r, ts *Node) []*Node {
					in := x
					if padded {
						pad := c8.ImageSize - c.ImageSize
						in = Pad(x, ScalarZero(x.Graph(), x.DType()), PadAxis{}, PadAxis{End: pad}, PadAxis{End: pad}, PadAxis{})
						out := UNet(c8)(scope, in, ts, cond.Nodes{})
						out = Slice(out, AxisRange(), AxisRange(0, c.ImageSize), AxisRange(0, c.ImageSize))
						loss := ReduceAllSum(Mul(out, r))
						w := store.GetVariable("/conv_in/weights").NodeValue(x.Graph())
						g := Gradient(loss, in, w)
						return []*Node{loss, Slice(g[0], AxisRange(), AxisRange(0, c.ImageSize), AxisRange(0, c.ImageSize)), g[1]}
					}
					loss := ReduceAllSum(Mul(UNet(c)(scope, in, ts, cond.Nodes{}), r))
					w := store.GetVariable("/conv_in/weights").NodeValue(x.Graph())
					return append([]*Node{loss}, Gradient(loss, in, w)...)
				})
				if err != nil {
					t.Fatal(err)
				}
				outs, err := e.Call(x, r, ts)
				if err != nil {
					t.Fatal(err)
				}
				v := make([][]float32, len(outs))
				for i, o := range outs {
					v[i] = tensors.MustCopyFlatData[float32](o)
				}
				return v
			}
			got := grads(false)
			names := []string{"loss", "∂L/∂x", "∂L/∂conv_in/weights"}
			for i, g := range got[1:] {
				zeros := 0
				for _, v := range g {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s has %g", names[i+1], v)
					}
					if v == 0 {
						zeros++
					}
				}
				if zeros > 0 {
					t.Errorf("%s: %d of %d components are 0", names[i+1], zeros, len(g))
				}
			}
			if d := x.Shape().Size(); len(got[1]) != d {
				t.Fatalf("∂L/∂x has %d components, want %d", len(got[1]), d)
			}
			want := grads(true)
			for i := range got {
				scale := 0.0
				for _, v := range want[i] {
					scale = max(scale, math.Abs(float64(v)))
				}
				if d := maxDiff(got[i], want[i]); d > 1e-4*max(1, scale) {
					t.Errorf("%s differs by %g (values up to %g) from the padded %d×%d network's", names[i], d, scale, c8.ImageSize, c8.ImageSize)
				}
			}
		})
	}
}
