package unet

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Time embeddings of [UNetConfig.TimeEmbedding].
const (
	// TimeEmbeddingSinusoidal: sinusoidal(t) of dimension E, then Linear E→E, SiLU, Linear E→E.
	TimeEmbeddingSinusoidal = "sinusoidal"
	// TimeEmbeddingLinear: the scalar t/T as a single feature, then Linear 1→E, SiLU, Linear E→E.
	TimeEmbeddingLinear = "linear"
)

// UNetConfig configures the image denoiser of [UNet]. The zero value of a
// field means its default; the zero UNetConfig is the reference UNet
// (see [UNetConfigByName]).
type UNetConfig struct {
	// ImageSize is the height and width of the images (default 28). Any
	// size ≥ 1 works: when it is not divisible by f = 2^(len(ChannelMults)−1)
	// (one halving per level after the first), the UNet zero-pads x_t at the
	// bottom and on the right to [UNetConfig.PaddedSize], the next multiple
	// of f, runs the whole network at that size and crops its output back
	// to ImageSize×ImageSize. The levels then work at PaddedSize,
	// PaddedSize/2, …, PaddedSize/f (7×7 with ChannelMults [1, 2]: 8 and 4).
	ImageSize int
	// InChannels is the number of image channels (default 1).
	InChannels int
	// BaseChannels is the width of the first level (default 32).
	BaseChannels int
	// ChannelMults gives each level's width as a multiple of BaseChannels,
	// from the full resolution down; each level after the first works at
	// half the previous resolution (default [1, 2, 2]).
	ChannelMults []int
	// NumResBlocks is the number of ResBlocks per level on the way down and
	// on the way up (default 2).
	NumResBlocks int
	// AttentionResolutions lists the image sides (e.g. 14) of the levels
	// where every ResBlock, down and up, is followed by an AttentionBlock
	// (default none). The sides are those of the levels' feature maps,
	// PaddedSize/2^i for level i: with ImageSize 7 and ChannelMults [1, 2]
	// they are 8 and 4, not 7 and 4 (see ImageSize).
	AttentionResolutions []int
	// NoMiddleAttention removes the AttentionBlock between the two middle
	// ResBlocks (present by default).
	NoMiddleAttention bool
	// Heads is the number of attention heads (default 1); it must divide the
	// channels of every level with attention.
	Heads int
	// Dropout is the dropout rate inside the ResBlocks (default 0). It acts
	// only in graphs marked as training: see [Dropout].
	Dropout float64
	// GroupNormGroups is the number of groups of every GroupNorm (default
	// 8); it must divide every width, concatenated skips included.
	GroupNormGroups int
	// TimeEmbedding is TimeEmbeddingSinusoidal (default) or
	// TimeEmbeddingLinear (the simpler embedding, for comparison).
	TimeEmbedding string
	// TimeEmbedDim is the width E of the time embedding: the sinusoidal
	// dimension and both linear layers (default 4·BaseChannels).
	TimeEmbedDim int
	// Timesteps is the number of diffusion steps T, used only by the linear
	// time embedding t/T (default 1000).
	Timesteps int
	// NumClasses > 0 adds class conditioning on the condition's cond.Class
	// input (int32 [B], labels in [0, NumClasses)): a learned embedding, a
	// table of NumClasses+1 rows added to the time embedding, whose row
	// NumClasses is the "no class" embedding of the null condition ∅ of
	// classifier-free guidance. The examples that the condition marks null
	// (cond.Nodes.NullMask: all of them when it has no inputs), and all when
	// it has no class input, get that row. 0 (the default): unconditional,
	// the condition is ignored.
	NumClasses int
	// LearnedVariance doubles the output channels: the prediction, then the
	// variance interpolation values v.
	LearnedVariance bool
	// ContextDim > 0 makes the network conditional on a sequence, such as a
	// text encoder's output tokens (a miniature Stable Diffusion): every
	// attention block (at the levels of AttentionResolutions, and in the
	// middle unless NoMiddleAttention) becomes a [SpatialTransformer] whose
	// cross-attention attends to the condition's cond.Context input, float
	// [B, L, ContextDim] (any L), through its optional cond.ContextMask
	// input, bool [B, L] (true for real tokens; absent: all real). The
	// network does not read the condition's null mask for the context: the
	// caller gives the null examples of classifier-free guidance the context
	// of the empty prompt. It panics without a cond.Context input. It may
	// be combined with NumClasses (the class embedding keeps its own ∅).
	// 0 (the default): self-attention AttentionBlocks, no context.
	ContextDim int
	// GradCheckpoint turns on gradient checkpointing: the backward pass
	// recomputes the activations inside each ResBlock, attention block
	// (AttentionBlock or SpatialTransformer), Downsample, Upsample and the
	// output head (out_norm, SiLU, conv_out), one block at a time, from the
	// block's input, instead of keeping them from the forward pass; training
	// keeps only the blocks' inputs (and outputs). It trades time for
	// memory: measured on the pure-Go backend (BenchmarkGradCheckpoint, one
	// forward and backward pass), the reference UNet at batch 64 peaks at
	// about half the memory for about 1.4× the time of a step. The forward
	// value is the same, bit for bit, and so are the gradients up to the
	// order of a few float32 additions (see checkpoint.go). It changes
	// neither the variables nor their names: a store trained with it serves
	// a network without it and vice versa, and NumParams, ForwardFLOPs and
	// Validate ignore it. Graphs without a gradient (sampling) are not
	// affected, apart from a few no-op barrier nodes.
	GradCheckpoint bool
}

// WithDefaults returns the configuration with every zero field set to its default.
func (c UNetConfig) WithDefaults() UNetConfig {
	if c.ImageSize == 0 {
		c.ImageSize = 28
	}
	if c.InChannels == 0 {
		c.InChannels = 1
	}
	if c.BaseChannels == 0 {
		c.BaseChannels = 32
	}
	if len(c.ChannelMults) == 0 {
		c.ChannelMults = []int{1, 2, 2}
	}
	if c.NumResBlocks == 0 {
		c.NumResBlocks = 2
	}
	if c.Heads == 0 {
		c.Heads = 1
	}
	if c.GroupNormGroups == 0 {
		c.GroupNormGroups = 8
	}
	if c.TimeEmbedding == "" {
		c.TimeEmbedding = TimeEmbeddingSinusoidal
	}
	if c.TimeEmbedDim == 0 {
		c.TimeEmbedDim = 4 * c.BaseChannels
	}
	if c.Timesteps == 0 {
		c.Timesteps = 1000
	}
	c.ChannelMults = slices.Clone(c.ChannelMults)
	c.AttentionResolutions = slices.Clone(c.AttentionResolutions)
	return c
}

// OutChannels returns the number of output channels: InChannels, doubled
// with LearnedVariance.
func (c UNetConfig) OutChannels() int {
	c = c.WithDefaults()
	if c.LearnedVariance {
		return 2 * c.InChannels
	}
	return c.InChannels
}

// PaddedSize returns the side at which the network runs: the smallest
// multiple of f = 2^(len(ChannelMults)−1) that is ≥ ImageSize, ImageSize
// itself when f divides it (see [UNetConfig.ImageSize]). For example 7 with
// ChannelMults [1, 2] gives 8, 5 with [1, 2, 2] gives 8, 28 with [1, 2, 2]
// gives 28.
func (c UNetConfig) PaddedSize() int {
	c = c.WithDefaults()
	if c.ImageSize < 1 {
		return c.ImageSize // invalid: Validate says so
	}
	f := 1 << (len(c.ChannelMults) - 1)
	return (c.ImageSize + f - 1) / f * f
}

// Validate reports a configuration that cannot be built, saying which field is wrong.
func (c UNetConfig) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("unet: invalid UNetConfig: "+format, args...)
	}
	switch {
	case c.ImageSize < 1:
		return bad("ImageSize must be ≥ 1, got %d", c.ImageSize)
	case c.InChannels < 1:
		return bad("InChannels must be ≥ 1, got %d", c.InChannels)
	case c.BaseChannels < 1:
		return bad("BaseChannels must be ≥ 1, got %d", c.BaseChannels)
	case c.NumResBlocks < 1:
		return bad("NumResBlocks must be ≥ 1, got %d", c.NumResBlocks)
	case c.Heads < 1:
		return bad("Heads must be ≥ 1, got %d", c.Heads)
	case c.GroupNormGroups < 1:
		return bad("GroupNormGroups must be ≥ 1, got %d", c.GroupNormGroups)
	case c.Dropout < 0 || c.Dropout >= 1:
		return bad("Dropout must be in [0, 1), got %g", c.Dropout)
	case c.NumClasses < 0:
		return bad("NumClasses must be ≥ 0, got %d", c.NumClasses)
	case c.ContextDim < 0:
		return bad("ContextDim must be ≥ 0, got %d", c.ContextDim)
	case c.Timesteps < 1:
		return bad("Timesteps must be ≥ 1, got %d", c.Timesteps)
	case c.TimeEmbedDim < 1:
		return bad("TimeEmbedDim must be ≥ 1, got %d", c.TimeEmbedDim)
	}
	switch c.TimeEmbedding {
	case TimeEmbeddingSinusoidal:
		if c.TimeEmbedDim%2 != 0 {
			return bad("the sinusoidal time embedding needs an even TimeEmbedDim, got %d", c.TimeEmbedDim)
		}
	case TimeEmbeddingLinear:
	default:
		return bad("TimeEmbedding must be %q or %q, got %q", TimeEmbeddingSinusoidal, TimeEmbeddingLinear, c.TimeEmbedding)
	}
	for i, m := range c.ChannelMults {
		if m < 1 {
			return bad("ChannelMults[%d] must be ≥ 1, got %d", i, m)
		}
	}
	// Every GroupNorm input width, and every width with attention.
	var err error
	c.walk(func(kind string, cin, cout, res int) {
		if err != nil {
			return
		}
		switch kind {
		case "res":
			if cin%c.GroupNormGroups != 0 || cout%c.GroupNormGroups != 0 {
				err = bad("GroupNormGroups %d does not divide a ResBlock's widths %d → %d", c.GroupNormGroups, cin, cout)
			}
		case "attn", "xattn":
			if cin%c.GroupNormGroups != 0 {
				err = bad("GroupNormGroups %d does not divide the attention width %d", c.GroupNormGroups, cin)
			} else if cin%c.Heads != 0 {
				err = bad("Heads %d does not divide the attention width %d at resolution %d", c.Heads, cin, res)
			}
		}
	})
	return err
}

// walk calls visit for every block of the network in build order, with the
// block's kind ("conv_in", "res", "attn", "xattn", "down", "up", "out": an
// attention block is "xattn", a SpatialTransformer, when ContextDim > 0,
// else "attn", an AttentionBlock), its input
// and output widths and its resolution (the side of its feature map, from
// PaddedSize down: the padded size, not ImageSize, where they differ): the
// arithmetic description of the architecture that NumParams and Validate
// read, written apart from the graph that build constructs (the tests check
// that they agree). c must have its defaults.
func (c UNetConfig) walk(visit func(kind string, cin, cout, res int)) {
	res := c.PaddedSize()
	ch := c.BaseChannels
	visit("conv_in", c.InChannels, ch, res)
	attnAt := func(r int) bool { return slices.Contains(c.AttentionResolutions, r) }
	attn := "attn"
	if c.ContextDim > 0 {
		attn = "xattn"
	}
	last := len(c.ChannelMults) - 1
	skips := make([]int, len(c.ChannelMults))
	for i, m := range c.ChannelMults {
		co := c.BaseChannels * m
		for range c.NumResBlocks {
			visit("res", ch, co, res)
			ch = co
			if attnAt(res) {
				visit(attn, ch, ch, res)
			}
		}
		skips[i] = ch
		if i < last {
			visit("down", ch, ch, res)
			res /= 2
		}
	}
	visit("res", ch, ch, res)
	if !c.NoMiddleAttention {
		visit(attn, ch, ch, res)
	}
	visit("res", ch, ch, res)
	for i := last; i >= 0; i-- {
		co := c.BaseChannels * c.ChannelMults[i]
		for r := range c.NumResBlocks {
			cin := co
			if r == 0 {
				cin = ch + skips[i]
			}
			visit("res", cin, co, res)
			ch = co
			if attnAt(res) {
				visit(attn, ch, ch, res)
			}
		}
		if i > 0 {
			next := c.BaseChannels * c.ChannelMults[i-1]
			visit("up", ch, next, res)
			ch = next
			res *= 2
		}
	}
	visit("out", ch, c.OutChannels(), res)
}

// NumParams returns the number of trainable parameters, from the
// configuration alone (each count is a layer's weights plus biases):
//
//	time MLP    E·E+E + E·E+E (sinusoidal) or 1·E+E + E·E+E (linear)
//	classes     (NumClasses+1)·E
//	Conv k×k    k²·Cin·Cout + Cout;  GroupNorm(C) 2C
//	ResBlock    GN(Cin) + Conv3(Cin→Cout) + Dense(E→Cout) + GN(Cout) + Conv3(Cout→Cout) [+ Conv1(Cin→Cout) if Cin ≠ Cout]
//	Attention   GN(C) + Conv1(C→3C) + Conv1(C→C)
//	out         GN(C) + Conv3(C→OutChannels)
//
// and with ContextDim = Dc > 0, instead of each Attention, a
// SpatialTransformer of width C (Dense(C→C) is C² + C; LN(C) 2C):
//
//	SpatialTransformer  GN(C) + Dense(C→C) proj_in + 3·LN(C) + self-attention + cross-attention + feed-forward + Dense(C→C) proj_out
//	self-attention      3C² (q, k, v: no biases) + Dense(C→C)
//	cross-attention     C² (q) + 2·Dc·C (k, v) + Dense(C→C)
//	feed-forward        Dense(C→4C) + Dense(4C→C)
//	                    in all 16C² + 2·Dc·C + 17C
func (c UNetConfig) NumParams() int {
	c = c.WithDefaults()
	e := c.TimeEmbedDim
	conv := func(k, cin, cout int) int { return k*k*cin*cout + cout }
	n := e*e + e // second linear layer
	if c.TimeEmbedding == TimeEmbeddingLinear {
		n += e + e
	} else {
		n += e*e + e
	}
	if c.NumClasses > 0 {
		n += (c.NumClasses + 1) * e
	}
	c.walk(func(kind string, cin, cout, _ int) {
		switch kind {
		case "conv_in":
			n += conv(3, cin, cout)
		case "res":
			n += 2*cin + conv(3, cin, cout) + e*cout + cout + 2*cout + conv(3, cout, cout)
			if cin != cout {
				n += conv(1, cin, cout)
			}
		case "attn":
			n += 2*cin + conv(1, cin, 3*cin) + conv(1, cin, cin)
		case "xattn":
			n += 16*cin*cin + 2*c.ContextDim*cin + 17*cin
		case "down", "up":
			n += conv(3, cin, cout)
		case "out":
			n += 2*cin + conv(3, cin, cout)
		}
	})
	return n
}

// UNet returns the denoiser graph function of the configuration (it panics
// if c does not Validate). For xt [B, ImageSize, ImageSize, InChannels], t
// int32 [B] and the condition cn it builds, with E the time embedding width,
// P = PaddedSize() and every convolution "same"-padded:
//
//	e = Linear(SiLU(Linear(emb(t))))  [+ ClassEmbedding(cn)]          scopes time_1, time_2, class_embedding
//	x = xt with P−ImageSize rows of zeros at the bottom and columns on the right (P×P; xt when P = ImageSize)
//	h = Conv3×3(x) → BaseChannels                                    conv_in
//	down, level i (width BaseChannels·ChannelMults[i]):              down_i/res_r, down_i/attn_r
//	    NumResBlocks × [ResBlock(h, e) (+ AttentionBlock)]; skip_i = h;
//	    then, except at the last level, h = Downsample(h)             down_i/downsample
//	middle: ResBlock, AttentionBlock (unless NoMiddleAttention), ResBlock   middle/res_0, middle/attn, middle/res_1
//	up, level i from the last to the first:                          up_i/res_r, up_i/attn_r
//	    h = concat(h, skip_i) on channels; NumResBlocks × [ResBlock(h, e) (+ AttentionBlock)];
//	    then, except at the first level, h = Upsample(h) → BaseChannels·ChannelMults[i−1]   up_i/upsample
//	out = Conv3×3(SiLU(GroupNorm(h))) → OutChannels                   out_norm, conv_out
//	      cropped to its top-left ImageSize×ImageSize pixels (when P > ImageSize)
//
// Level i works at resolution P/2^i: when ImageSize is not divisible by
// 2^(len(ChannelMults)−1) the whole network runs on the zero-padded P×P
// image, its resolutions (those AttentionResolutions names) are the padded
// ones, and the padded pixels, which the convolutions fill as they go,
// take part in every GroupNorm's statistics and every attention; only the
// output is cropped. The 7×7 network is thus exactly the P×P network (same
// variables, same parameter count) applied to the padded input, its output
// cropped.
//
// With ContextDim > 0 every AttentionBlock is instead a
// SpatialTransformer(h, context, mask) with the same scope (down_i/attn_r,
// middle/attn, up_i/attn_r), context and mask the condition's cond.Context
// [B, L, ContextDim] and cond.ContextMask [B, L] (optional) inputs; see
// [UNetConfig.ContextDim] and [UNetWithAttention] for its attention maps.
//
// ClassEmbedding (only when NumClasses > 0) is the row of the table
// class_embedding/embeddings [NumClasses+1, E] (initialised N(0, 1)) of
// each example's label, or row NumClasses (∅) for the examples that cn marks
// null and for all of them when cn has no cond.Class input. The rows are
// picked by a one-hot product: a label equal to NumClasses also gives ∅, and
// a label outside [0, NumClasses] a zero row (no error). With NumClasses = 0
// the condition is ignored.
//
// Only the first ResBlock of an up level receives the skip (one skip per
// level, the level's output before downsampling); the upsampling
// convolution changes the width to the next level's. The reference
// configuration is documented layer by layer at [UNetConfigByName].
//
// The batch is split into [StreamsFor] independent streams (slices of the
// batch and of the condition through the same variables, concatenated
// back): the same function, built so that the pure-Go backend can run the
// streams' operations on different cores. Inside, feature maps are channels-first (see the
// package documentation); the output is [B, ImageSize, ImageSize,
// OutChannels()], of xt's dtype. With a BFloat16 or Float16 xt the network
// runs in mixed precision, with float32 variables (see the package
// documentation).
func UNet(c UNetConfig) func(scope *model.Scope, xt, t *Node, cn cond.Nodes) *Node {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	return func(scope *model.Scope, xt, t *Node, cn cond.Nodes) *Node {
		b := xt.Shape().Dimensions[0]
		n := StreamsFor(xt.Graph().Backend(), b)
		if n <= 1 {
			return c.build(scope, xt, t, cn, nil)
		}
		outs := make([]*Node, n)
		for i := range n {
			from, to := i*b/n, (i+1)*b/n
			part := func(v *Node) *Node { return Slice(v, AxisRange(from, to)) }
			// The same variables (paths) for every stream.
			outs[i] = c.build(scope.ResetVisited(), part(xt), part(t), cn.Slice(from, to), nil)
		}
		return Concatenate(outs, 0)
	}
}

// AttentionMap is the cross-attention of one SpatialTransformer of a UNet
// with ContextDim > 0 (see [UNetWithAttention]).
type AttentionMap struct {
	// Scope is the transformer's scope, e.g. "middle/attn" or "up_1/attn_0".
	Scope string
	// Resolution is the side of the feature map that attends: PaddedSize/2^i
	// at level i (the padded side, 8 for 7×7 latents at the first level).
	Resolution int
	// Weights are the attention weights [B, heads, P, L] of the P =
	// Resolution² positions (p = row·Resolution + column, rows of the padded
	// map included) over the L context tokens; each row sums to 1.
	Weights *Node
}

// UNetWithAttention returns the graph function of [UNet] that also returns
// the cross-attention maps of every SpatialTransformer, in build order (down
// levels, middle, up levels), for inspection: which image regions attend to
// which tokens of the prompt. It builds the same network with the same
// variables (a store trained with UNet works with it, and out equals UNet's
// output), on one stream: the batch is not split (see [StreamsFor]). With
// ContextDim = 0 there is no cross-attention and maps is empty. It panics
// if c does not Validate.
func UNetWithAttention(c UNetConfig) func(scope *model.Scope, xt, t *Node, cn cond.Nodes) (out *Node, maps []AttentionMap) {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	return func(scope *model.Scope, xt, t *Node, cn cond.Nodes) (*Node, []AttentionMap) {
		collect := []AttentionMap{}
		out := c.build(scope, xt, t, cn, &collect)
		return out, collect
	}
}

// contextOf returns the condition's context, in dtype dt, and its mask (nil
// when cn has none), checking their shapes for a batch of b.
func (c UNetConfig) contextOf(cn cond.Nodes, b int, dt dtypes.DType) (ctx, mask *Node) {
	ctx = cn.Get(cond.Context)
	if ctx == nil {
		exceptions.Panicf("unet: the UNet with ContextDim %d needs the condition input %q, float [B, L, %d] (got inputs %v; "+
			"give the null examples the context of the empty prompt)", c.ContextDim, cond.Context, c.ContextDim, slices.Sorted(maps.Keys(cn.Inputs)))
	}
	d := ctx.Shape().Dimensions
	switch {
	case !ctx.DType().IsFloat() || ctx.Rank() != 3:
		exceptions.Panicf("unet: the context (condition input %q) must be float [B, L, %d], got %s", cond.Context, c.ContextDim, ctx.Shape())
	case d[0] != b:
		exceptions.Panicf("unet: the context (condition input %q) %s has %d examples, x_t %d", cond.Context, ctx.Shape(), d[0], b)
	case d[2] != c.ContextDim:
		exceptions.Panicf("unet: the context (condition input %q) %s has width %d, but ContextDim is %d", cond.Context, ctx.Shape(), d[2], c.ContextDim)
	}
	if ctx.DType() != dt {
		ctx = ConvertDType(ctx, dt)
	}
	mask = cn.Get(cond.ContextMask)
	if mask != nil && (mask.DType() != dtypes.Bool || !slices.Equal(mask.Shape().Dimensions, d[:2])) {
		exceptions.Panicf("unet: the context mask (condition input %q) must be bool %v for the context %s, got %s",
			cond.ContextMask, d[:2], ctx.Shape(), mask.Shape())
	}
	return ctx, mask
}

// build is the network on one stream (see UNet); when collect is not nil it
// appends to it the cross-attention maps (see UNetWithAttention).
func (c UNetConfig) build(scope *model.Scope, xt, t *Node, cn cond.Nodes, collect *[]AttentionMap) *Node {
	if xt.Rank() != 4 || xt.Shape().Dimensions[1] != c.ImageSize || xt.Shape().Dimensions[2] != c.ImageSize ||
		xt.Shape().Dimensions[3] != c.InChannels {
		exceptions.Panicf("unet: UNet for %d×%d×%d images got x_t of shape %s", c.ImageSize, c.ImageSize, c.InChannels, xt.Shape())
	}
	size := c.PaddedSize()
	e := c.timeEmbedding(scope, t, xt.DType())
	if c.NumClasses > 0 {
		e = Add(e, classEmbedding(scope.In("class_embedding"), xt.Graph(), cn, c.NumClasses, c.TimeEmbedDim, xt.Shape().Dimensions[0], xt.DType()))
	}
	groups := c.GroupNormGroups
	attnAt := func(r int) bool { return slices.Contains(c.AttentionResolutions, r) }
	var ctx, ctxMask *Node
	if c.ContextDim > 0 {
		ctx, ctxMask = c.contextOf(cn, xt.Shape().Dimensions[0], xt.DType())
	}
	// attend is the attention block of scope path/name at resolution r.
	attend := func(s *model.Scope, path, name string, h *Node, r int) *Node {
		if c.ContextDim == 0 {
			if !c.GradCheckpoint {
				return AttentionBlock(s.In("%s", name), h, c.Heads, groups)
			}
			heads := c.Heads
			return checkpointed(s.In("%s", name), []*Node{h}, func(s *model.Scope, in []*Node) []*Node {
				return []*Node{AttentionBlock(s, in[0], heads, groups)}
			})[0]
		}
		var out, w *Node
		if !c.GradCheckpoint {
			out, w = SpatialTransformer(s.In("%s", name), h, ctx, ctxMask, c.Heads, groups)
		} else {
			ins := []*Node{h, ctx}
			if ctxMask != nil {
				ins = append(ins, ctxMask)
			}
			heads := c.Heads
			outs := checkpointed(s.In("%s", name), ins, func(s *model.Scope, in []*Node) []*Node {
				var mask *Node
				if len(in) > 2 {
					mask = in[2]
				}
				out, w := SpatialTransformer(s, in[0], in[1], mask, heads, groups)
				return []*Node{out, w}
			})
			out, w = outs[0], outs[1]
		}
		if collect != nil {
			*collect = append(*collect, AttentionMap{Scope: path + "/" + name, Resolution: r, Weights: w})
		}
		return out
	}
	// resBlock is the ResBlock of scope s. Checkpointed, its dropout mask
	// (in training graphs with Dropout > 0) is drawn before the block, from
	// the same random stream as without checkpointing, so that the
	// backward pass's copy reuses it.
	resBlock := func(s *model.Scope, h *Node, out int) *Node {
		if !c.GradCheckpoint {
			return ResBlock(s, h, e, out, groups, c.Dropout)
		}
		d := h.Shape().Dimensions
		dt := h.DType()
		keep := dropoutKeep(s, h.Graph(), shapes.Make(dt, out, d[1], d[2], d[3]), c.Dropout)
		ins := []*Node{h, e}
		if keep != nil {
			ins = append(ins, keep)
		}
		rate := c.Dropout
		return checkpointed(s, ins, func(s *model.Scope, in []*Node) []*Node {
			var keep *Node
			if len(in) > 2 {
				keep = in[2]
			}
			return []*Node{resBlock(s, in[0], in[1], out, groups, rate, keep)}
		})[0]
	}
	// layer is a block of one input, f(s, h, out) (a Downsample, an
	// Upsample, the output head), checkpointed like the others.
	layer := func(s *model.Scope, h *Node, out int, f func(s *model.Scope, h *Node, out int) *Node) *Node {
		if !c.GradCheckpoint {
			return f(s, h, out)
		}
		return checkpointed(s, []*Node{h}, func(s *model.Scope, in []*Node) []*Node {
			return []*Node{f(s, in[0], out)}
		})[0]
	}
	res := size
	x := ToCBHW(xt) // feature maps are [C,B,H,W]
	if pad := size - c.ImageSize; pad > 0 {
		x = padHW(x, 0, pad, 0, pad) // zeros at the bottom and on the right (concatenated: Pad has no gradient)
	}
	h := Conv2D(scope.In("conv_in"), x, c.BaseChannels, 3, 1)
	last := len(c.ChannelMults) - 1
	skips := make([]*Node, len(c.ChannelMults))
	for i, m := range c.ChannelMults {
		path := fmt.Sprintf("down_%d", i)
		s := scope.In("%s", path)
		for r := range c.NumResBlocks {
			h = resBlock(s.In("res_%d", r), h, c.BaseChannels*m)
			if attnAt(res) {
				h = attend(s, path, fmt.Sprintf("attn_%d", r), h, res)
			}
		}
		skips[i] = h
		if i < last {
			h = layer(s.In("downsample"), h, h.Shape().Dimensions[0], Downsample)
			res /= 2
		}
	}
	mid := scope.In("middle")
	ch := h.Shape().Dimensions[0]
	h = resBlock(mid.In("res_0"), h, ch)
	if !c.NoMiddleAttention {
		h = attend(mid, "middle", "attn", h, res)
	}
	h = resBlock(mid.In("res_1"), h, ch)
	for i := last; i >= 0; i-- {
		path := fmt.Sprintf("up_%d", i)
		s := scope.In("%s", path)
		h = Concatenate([]*Node{h, skips[i]}, 0)
		for r := range c.NumResBlocks {
			h = resBlock(s.In("res_%d", r), h, c.BaseChannels*c.ChannelMults[i])
			if attnAt(res) {
				h = attend(s, path, fmt.Sprintf("attn_%d", r), h, res)
			}
		}
		if i > 0 {
			h = layer(s.In("upsample"), h, c.BaseChannels*c.ChannelMults[i-1], Upsample)
			res *= 2
		}
	}
	// The output head: GroupNorm, SiLU, Conv3×3 (checkpointed as one
	// block: its scope is the network's, with the variables under out_norm
	// and conv_out).
	out := layer(scope, h, c.OutChannels(), func(s *model.Scope, h *Node, out int) *Node {
		h = SiLU(GroupNorm(s.In("out_norm"), h, groups, normEps))
		return Conv2D(s.In("conv_out"), h, out, 3, 1)
	})
	if size > c.ImageSize {
		out = Slice(out, AxisRange(), AxisRange(), AxisRange(0, c.ImageSize), AxisRange(0, c.ImageSize))
	}
	return FromCBHW(out)
}

// timeEmbedding returns the [B, E] time embedding of t (scopes time_1, time_2).
func (c UNetConfig) timeEmbedding(scope *model.Scope, t *Node, dt dtypes.DType) *Node {
	var e *Node
	if c.TimeEmbedding == TimeEmbeddingLinear {
		// t/T as one feature, computed in float32 under mixed precision (t up
		// to 1000 is not exact in BFloat16), then converted.
		ct := MasterDType(dt)
		e = fromFloat32(Reshape(DivScalar(ConvertDType(t, ct), float64(c.Timesteps)), -1, 1), dt)
	} else {
		e = SinusoidalEmbedding(t, c.TimeEmbedDim, dt)
	}
	e = Dense(scope.In("time_1"), e, c.TimeEmbedDim)
	return Dense(scope.In("time_2"), SiLU(e), c.TimeEmbedDim)
}

// namedConfigs are the configurations of UNetConfigByName.
var namedConfigs = map[string]UNetConfig{
	"reference": {
		ImageSize: 28, InChannels: 1, BaseChannels: 32, ChannelMults: []int{1, 2, 2}, NumResBlocks: 2,
		Heads: 1, GroupNormGroups: 8, TimeEmbedding: TimeEmbeddingSinusoidal, TimeEmbedDim: 128,
	},
	"small": {
		ImageSize: 28, InChannels: 1, BaseChannels: 16, ChannelMults: []int{1, 2, 2}, NumResBlocks: 1,
		Heads: 1, GroupNormGroups: 8, TimeEmbedDim: 64,
	},
	"latent": {
		ImageSize: 7, InChannels: 4, BaseChannels: 64, ChannelMults: []int{1, 1}, NumResBlocks: 1,
		Heads: 1, GroupNormGroups: 8, TimeEmbedDim: 128,
	},
	"latent-text": {
		ImageSize: 7, InChannels: 4, BaseChannels: 64, ChannelMults: []int{1, 1}, NumResBlocks: 1,
		AttentionResolutions: []int{8, 4}, Heads: 4, GroupNormGroups: 8, TimeEmbedDim: 128, ContextDim: 64,
	},
}

// UNetConfigNames returns the names UNetConfigByName knows, sorted.
func UNetConfigNames() []string {
	names := make([]string, 0, len(namedConfigs))
	for n := range namedConfigs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// UNetConfigByName returns a named configuration:
//
//   - "reference": the yardstick of the speed comparisons, mirrored 1:1 by
//     a PyTorch peer; it equals the zero UNetConfig (1,152,193 parameters,
//     layer by layer below).
//   - "small": 28×28×1, base 16, mults (1, 2, 2), one ResBlock per level,
//     attention in the middle (7×7), time embedding width 64 (195,585
//     parameters): a UNet for notebooks and tests on a 2-core CPU, about
//     0.3 s per training step of 64 images on the pure-Go backend (so a
//     few minutes give several hundred steps).
//   - "latent": 7×7×4 latents (an autoencoder that maps 28×28 images to
//     7×7×4, as in latent diffusion), base 64, mults (1, 1), one ResBlock
//     per level, attention only in the middle, GroupNorm(8), time
//     embedding width 128 (713,156 parameters). 7 is odd: the network
//     runs on the latents zero-padded to 8×8 (levels at 8² and 4², the
//     middle attention at 4²) and crops its output back to 7×7 (see
//     [UNetConfig.ImageSize]).
//   - "latent-text": "latent" made text-conditional, a miniature Stable
//     Diffusion: ContextDim 64 (the width of package text's encoder), a
//     SpatialTransformer with 4 heads of 16 channels after every ResBlock
//     of both levels (AttentionResolutions 8 and 4, the padded sides) and
//     in the middle, five in all of 74,816 parameters each (1,070,468
//     parameters; 0.070 GFLOPs per image for a context of 16 tokens, against
//     "latent"'s 0.043).
//
// The reference UNet: 28×28×1 images, base 32, mults (1, 2, 2), 2
// ResBlocks per level, attention only in the middle (7×7, one head),
// GroupNorm(8), sinusoidal time embedding of width 128. Layer by layer
// (scope, layer, parameters; GN(8,C) is GroupNorm with 8 groups over C
// channels, 2C parameters; every Linear and Conv has a bias):
//
//	time_1             Linear 128→128 on sinusoidal(t) (dim 128, sines then cosines)        16,512
//	time_2             Linear 128→128 after SiLU; e = its output                            16,512
//	conv_in            Conv3×3 1→32                                                            320
//	down_0/res_0       ResBlock 32→32 @28²                                                  22,752
//	down_0/res_1       ResBlock 32→32 @28²                                                  22,752
//	down_0/downsample  Conv3×3 stride 2, 32→32 (28²→14²)                                     9,248
//	down_1/res_0       ResBlock 32→64 @14², with skip Conv1×1 32→64                         65,984
//	down_1/res_1       ResBlock 64→64 @14²                                                  82,368
//	down_1/downsample  Conv3×3 stride 2, 64→64 (14²→7²)                                     36,928
//	down_2/res_0       ResBlock 64→64 @7²                                                   82,368
//	down_2/res_1       ResBlock 64→64 @7²                                                   82,368
//	middle/res_0       ResBlock 64→64 @7²                                                   82,368
//	middle/attn        GN(8,64), qkv Conv1×1 64→192, proj Conv1×1 64→64                     16,768
//	middle/res_1       ResBlock 64→64 @7²                                                   82,368
//	up_2/res_0         concat(h 64, skip of down_2 64) → ResBlock 128→64 @7², skip conv    127,616
//	up_2/res_1         ResBlock 64→64 @7²                                                   82,368
//	up_2/upsample      nearest ×2 (7²→14²), Conv3×3 64→64                                   36,928
//	up_1/res_0         concat(h 64, skip of down_1 64) → ResBlock 128→64 @14², skip conv   127,616
//	up_1/res_1         ResBlock 64→64 @14²                                                  82,368
//	up_1/upsample      nearest ×2 (14²→28²), Conv3×3 64→32                                  18,464
//	up_0/res_0         concat(h 32, skip of down_0 32) → ResBlock 64→32 @28², skip conv     34,112
//	up_0/res_1         ResBlock 32→32 @28²                                                  22,752
//	out_norm           GN(8,32), then SiLU                                                      64
//	conv_out           Conv3×3 32→1 (predicts ε)                                               289
//	                                                                              total  1,152,193
//
// A ResBlock Cin→Cout is GN(8,Cin), SiLU, Conv3×3 Cin→Cout, plus Linear
// 128→Cout of SiLU(e) broadcast over the pixels, GN(8,Cout), SiLU, Conv3×3
// Cout→Cout, plus the input (through a Conv1×1 Cin→Cout when Cin ≠ Cout):
// 2Cin + (9CinCout+Cout) + (128Cout+Cout) + 2Cout + (9Cout²+Cout)
// [+ CinCout+Cout] parameters.
//
// The reading of the design notes that gives 1,152,193: each down level's
// skip is its output before downsampling, concatenated once (after h, on
// the channel axis) into the first ResBlock of the up level at the same
// resolution; and each upsampling convolution already maps to the next
// level's width (64→32 on the way to 28²). Keeping 64 channels through that
// upsampling (so that up_0/res_0 is 96→32) would give 1,180,961 instead.
// Padding is 1 everywhere (PyTorch padding=1, the stride-2 convolutions
// included); GroupNorm ε = 1e-5; the sinusoidal frequencies are
// 10000^(−k/64), k < 64; initial weights are PyTorch's defaults.
func UNetConfigByName(name string) (UNetConfig, error) {
	c, ok := namedConfigs[name]
	if !ok {
		return UNetConfig{}, fmt.Errorf("unet: unknown UNet configuration %q (known: %v)", name, UNetConfigNames())
	}
	return c.WithDefaults(), nil
}

// ForwardFLOPs returns the floating-point operations of one forward pass of
// the network on one image, counting the multiply–adds (2 operations each)
// of every convolution, dense layer and attention product, at the
// resolutions the network runs at (PaddedSize for sizes the levels do not
// halve): a k×k convolution Cin → Cout with an H×W output costs
// 2·k²·Cin·Cout·H·W; an attention block over P = H·W positions of C channels
// costs its 1×1 convolutions (qkv C → 3C, proj C → C) plus 2·(2·P²·C) for
// QKᵀ and the weighted sum of V. GroupNorm, SiLU, additions and the time
// embedding's sinusoids (per-element work, a few percent of the total) are
// not counted. A training step costs about three forward passes per image.
//
// With ContextDim = Dc > 0 each SpatialTransformer of width C over P = H·W
// positions, attending to L context tokens, costs
//
//	proj_in, proj_out                 2 · 2·P·C²
//	self-attention                    4 · 2·P·C² (q, k, v, out) + 2·(2·P²·C) (q kᵀ, A v)
//	cross-attention                   2 · 2·P·C² (q, out) + 2 · 2·L·Dc·C (k, v) + 2·(2·P·L·C)
//	feed-forward                      2 · 2·P·C·4C
//	                                  in all 32·P·C² + 4·P²·C + 4·P·L·C + 4·L·Dc·C
//
// with L = [FLOPsContextLen] (see [UNetConfig.ForwardFLOPsWithContext]
// for another length); LayerNorm, GELU and softmax are not counted.
func (c UNetConfig) ForwardFLOPs() int64 {
	return c.ForwardFLOPsWithContext(FLOPsContextLen)
}

// FLOPsContextLen is the context length L that [UNetConfig.ForwardFLOPs]
// assumes for the cross-attention of a UNet with ContextDim > 0 (the
// network itself takes any L).
const FLOPsContextLen = 16

// ForwardFLOPsWithContext is [UNetConfig.ForwardFLOPs] for a context of l
// tokens (it does not depend on l when ContextDim = 0).
func (c UNetConfig) ForwardFLOPsWithContext(l int) int64 {
	c = c.WithDefaults()
	e := int64(c.TimeEmbedDim)
	conv := func(k, cin, cout, res int) int64 {
		return 2 * int64(k*k) * int64(cin) * int64(cout) * int64(res) * int64(res)
	}
	var n int64
	if c.TimeEmbedding == TimeEmbeddingLinear {
		n += 2*e + 2*e*e
	} else {
		n += 4 * e * e
	}
	c.walk(func(kind string, cin, cout, res int) {
		switch kind {
		case "conv_in", "out":
			n += conv(3, cin, cout, res)
		case "res":
			n += conv(3, cin, cout, res) + conv(3, cout, cout, res) + 2*e*int64(cout)
			if cin != cout {
				n += conv(1, cin, cout, res)
			}
		case "attn":
			p := int64(res * res)
			n += conv(1, cin, 3*cin, res) + conv(1, cin, cin, res) + 4*p*p*int64(cin)
		case "xattn":
			p, ch, ll := int64(res*res), int64(cin), int64(l)
			n += 32*p*ch*ch + 4*p*p*ch + 4*p*ll*ch + 4*ll*int64(c.ContextDim)*ch
		case "down":
			n += conv(3, cin, cout, (res+1)/2)
		case "up":
			n += conv(3, cin, cout, 2*res)
		}
	})
	return n
}
