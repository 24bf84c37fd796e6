package unet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/support/exceptions"
)

// This file describes a UNet block by block, from its configuration alone
// (no graph is built): parameters, FLOPs, the activations that training
// keeps and the receptive field of each block, for the architecture tables
// of the notebooks. The tests check the rows against the variables of the
// built network and against NumParams and ForwardFLOPs.

// BlockKind is the kind of a row of [UNetConfig.Summary].
type BlockKind string

// The kinds of blocks.
const (
	// KindLinear is a layer of the time MLP (time_1, time_2).
	KindLinear BlockKind = "Linear"
	// KindClassEmbedding is the class embedding table (class_embedding).
	KindClassEmbedding BlockKind = "ClassEmbedding"
	// KindConv is a plain 3×3 convolution (conv_in, conv_out).
	KindConv BlockKind = "Conv"
	// KindResBlock is a [ResBlock].
	KindResBlock BlockKind = "ResBlock"
	// KindAttention is a self-attention [AttentionBlock].
	KindAttention BlockKind = "Attention"
	// KindSpatialTransformer is a [SpatialTransformer] (ContextDim > 0).
	KindSpatialTransformer BlockKind = "SpatialTransformer"
	// KindDownsample is a [Downsample] (3×3 convolution of stride 2).
	KindDownsample BlockKind = "Downsample"
	// KindUpsample is an [Upsample] (nearest ×2, then a 3×3 convolution).
	KindUpsample BlockKind = "Upsample"
	// KindGroupNorm is the output GroupNorm followed by SiLU (out_norm).
	KindGroupNorm BlockKind = "GroupNorm"
)

// summaryValueBytes is the size of the float32 values ActivationBytes counts.
const summaryValueBytes = 4

// BlockSummary is one block of a UNet as [UNetConfig.Summary] describes it.
// Every per-image figure is for one image (multiply by the batch size).
type BlockSummary struct {
	// Scope is the variable scope the block's variables live under, exactly
	// as the network names them (without the leading "/"): "time_1",
	// "time_2", "class_embedding", "conv_in", "down_1/res_0",
	// "down_1/attn_0", "down_0/downsample", "middle/res_0", "middle/attn",
	// "up_1/upsample", "out_norm", "conv_out"… (see [UNet]).
	Scope string
	// Kind is the kind of block.
	Kind BlockKind
	// Level is the level the scope belongs to: i for down_i/… and up_i/…,
	// the last level (len(ChannelMults)−1) for middle/…, 0 for conv_in,
	// out_norm and conv_out, and −1 for the time embedding and class
	// embedding, which work on vectors, not feature maps.
	Level int
	// InResolution and Resolution are the sides of the block's input and
	// output feature maps: equal except for a Downsample (its output is
	// half its input) and an Upsample (twice). They are sides of the
	// padded maps (PaddedSize/2^level, see [UNetConfig.PaddedSize]); the
	// network crops conv_out's output to ImageSize afterwards. 0 for the
	// time and class embeddings.
	InResolution, Resolution int
	// InChannels and OutChannels are the widths of the block's input and
	// output: for the first ResBlock of an up level, InChannels is the width
	// after the skip concatenation. For the time MLP they are the vector
	// widths (1 for the linear embedding's t/T); for the class embedding,
	// NumClasses+1 (the rows of the table) and the embedding width.
	InChannels, OutChannels int
	// Params is the exact number of trainable parameters under Scope.
	Params int
	// FLOPs are the floating-point operations of the block's forward pass
	// for one image, counted as [UNetConfig.ForwardFLOPs] counts them (two
	// per multiply–add of a convolution, dense layer or attention product;
	// GroupNorm, LayerNorm, SiLU, GELU, softmax, additions and the class
	// embedding lookup are not counted; cross-attention with a context of
	// [FLOPsContextLen] tokens), so that the rows sum to ForwardFLOPs.
	FLOPs int64
	// ActivationBytes are the float32 bytes (4 per value; half that for
	// 16-bit activations) per image of the activations
	// that the backward pass needs from this block's forward pass, by the
	// textbook rule (what a minimal reverse-mode autodiff keeps, whatever
	// the backend):
	//
	//   - the input of every convolution and dense layer (its weight gradient needs it);
	//   - the input of every GroupNorm and LayerNorm (their per-group statistics are not counted);
	//   - the input of every SiLU and GELU;
	//   - in an attention, q, k and v (operands of the two products) and the
	//     softmax output A (heads·P² values for self-attention over P = side²
	//     positions, heads·P·L for cross-attention to L = FLOPsContextLen tokens).
	//
	// A tensor that several layers of the block read is counted once (a
	// ResBlock's input x feeds norm_1 and the skip convolution). Additions,
	// reshapes, transposes, constant scalings, the skip concatenations and
	// nearest upsampling need no values and keep nothing. A tensor that
	// several blocks read is counted in the first block, in execution order,
	// that keeps it: the time embedding e (which every ResBlock passes
	// through SiLU) in the first ResBlock, the context in the first
	// SpatialTransformer. With Dropout > 0 a ResBlock also counts the
	// dropped-out tensor (conv_2's input; the mask is not counted). So a
	// ResBlock Cin→Cout over P pixels keeps 3·Cin·P (x, GroupNorm output,
	// SiLU output) + 3·Cout·P (the same after conv_1) + E (SiLU(e)) values,
	// an AttentionBlock of C channels 6·C·P + heads·P², a Downsample its
	// input, an Upsample its upsampled input (4× the values of its input).
	// Real backends keep more (this package's hand-written GroupNorm and
	// SiLU gradients keep the broadcast scale, σ(x) and SiLU's output) or
	// less (recomputation, see Node.Checkpoint); the loss and optimizer
	// state are not activations of any block.
	ActivationBytes int64
	// ReceptiveField is the side, in pixels of the padded input, of the
	// receptive field of one output pixel of the block, by the standard
	// recurrence from r = 1, j = 1 at the input: a k×k convolution of
	// stride s gives r ← r + (k−1)·j, j ← j·s; nearest upsampling ×2 gives
	// j ← j/2 (r unchanged, which is exact for the 3×3 convolution that
	// follows: its 3 neighbouring pixels come from 2 source pixels). A
	// ResBlock is two 3×3 convolutions (the residual path, narrower, does
	// not widen it); a skip concatenation takes the larger field of its two
	// branches (the deep one; the half-pixel offsets of nearest upsampling
	// are ignored). The value is not clipped to the image: above PaddedSize
	// the window reaches into the zero padding. An attention block mixes
	// every position of its map, so from the first one on every output
	// pixel depends on every input pixel: Global is then true and
	// ReceptiveField is PaddedSize. 0 for the time and class embeddings.
	ReceptiveField int
	// Jump is the distance, in input pixels, between neighbouring output
	// pixels of the block (the j of the recurrence: 2^level for a feature
	// map at level level); 0 for the time and class embeddings.
	Jump int
	// Global is true when an attention block upstream (or this one) makes
	// every output pixel depend on the whole input (see ReceptiveField).
	Global bool
}

// Summary is the block-by-block description of a UNet, in execution order
// (see [UNetConfig.Summary]).
type Summary []BlockSummary

// Summary returns one row per block of the network of c, in execution
// order: the time MLP (time_1, time_2), the class embedding (when
// NumClasses > 0), conv_in, the down levels (each ResBlock, each attention
// block or SpatialTransformer, the downsampling), the middle, the up levels
// (the same, then the upsampling) and the output (out_norm, conv_out). The
// rows' Params sum to NumParams and their FLOPs to ForwardFLOPs. It is
// arithmetic on the configuration, like NumParams: no graph is built. It
// panics if c does not Validate.
func (c UNetConfig) Summary() Summary {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	s := &summaryBuilder{c: c, e: c.TimeEmbedDim}
	s.time()
	s.res, s.ch, s.field = c.PaddedSize(), c.InChannels, receptiveField{Size: 1, Jump: 1}
	s.conv("conv_in", 0, c.BaseChannels)
	attnAt := func(r int) bool { return slices.Contains(c.AttentionResolutions, r) }
	last := len(c.ChannelMults) - 1
	type skip struct {
		field receptiveField
		ch    int
	}
	skips := make([]skip, len(c.ChannelMults))
	for i, m := range c.ChannelMults {
		for r := range c.NumResBlocks {
			s.resBlock(fmt.Sprintf("down_%d/res_%d", i, r), i, c.BaseChannels*m)
			if attnAt(s.res) {
				s.attention(fmt.Sprintf("down_%d/attn_%d", i, r), i)
			}
		}
		skips[i] = skip{s.field, s.ch}
		if i < last {
			s.downsample(fmt.Sprintf("down_%d/downsample", i), i)
		}
	}
	s.resBlock("middle/res_0", last, s.ch)
	if !c.NoMiddleAttention {
		s.attention("middle/attn", last)
	}
	s.resBlock("middle/res_1", last, s.ch)
	for i := last; i >= 0; i-- {
		// concat(h, skip_i): the channels add up, the field is the larger one
		// (always h's: its path extends the skip's).
		s.ch += skips[i].ch
		s.field = s.field.union(skips[i].field)
		for r := range c.NumResBlocks {
			s.resBlock(fmt.Sprintf("up_%d/res_%d", i, r), i, c.BaseChannels*c.ChannelMults[i])
			if attnAt(s.res) {
				s.attention(fmt.Sprintf("up_%d/attn_%d", i, r), i)
			}
		}
		if i > 0 {
			s.upsample(fmt.Sprintf("up_%d/upsample", i), i, c.BaseChannels*c.ChannelMults[i-1])
		}
	}
	s.outNorm()
	s.conv("conv_out", 0, c.OutChannels())
	return s.rows
}

// summaryBuilder accumulates the rows of Summary, following the state of
// the network as build constructs it: the current side, width, receptive
// field and jump.
type summaryBuilder struct {
	c    UNetConfig
	e    int // time embedding width
	rows Summary

	res, ch int            // side and width of the current feature map
	field   receptiveField // receptive field of its pixels
	global  bool           // an attention block has mixed every position

	embCounted, ctxCounted bool // the shared tensors e and the context are counted once
}

// receptiveField is the receptive field of a pixel of a feature map: the
// side Size, in input pixels, of the window of the input it depends on, and
// the distance Jump, in input pixels, between neighbouring pixels of the map.
// The input itself is {1, 1}.
type receptiveField struct{ Size, Jump int }

// conv is the field after a k×k convolution of the given stride:
// Size + (k−1)·Jump, Jump·stride.
func (f receptiveField) conv(k, stride int) receptiveField {
	return receptiveField{f.Size + (k-1)*f.Jump, f.Jump * stride}
}

// nearest2x is the field after nearest-neighbour upsampling ×2: each output
// pixel copies one input pixel (same Size), and neighbouring output pixels
// are half as far apart (Jump/2; the UNet only upsamples maps it has
// downsampled, so Jump is even there).
func (f receptiveField) nearest2x() receptiveField {
	return receptiveField{f.Size, f.Jump / 2}
}

// union is the field of a concatenation (or sum) of two maps with the same
// jump: the larger window, the windows being taken as centred alike.
func (f receptiveField) union(g receptiveField) receptiveField {
	return receptiveField{max(f.Size, g.Size), f.Jump}
}

// summaryConvParams is the parameter count of a k×k convolution cin → cout with bias.
func summaryConvParams(k, cin, cout int) int { return k*k*cin*cout + cout }

// summaryConvFLOPs is the forward FLOPs of a k×k convolution cin → cout with a side×side output.
func summaryConvFLOPs(k, cin, cout, side int) int64 {
	return 2 * int64(k*k) * int64(cin) * int64(cout) * int64(side) * int64(side)
}

// add appends a row for a block of the feature-map path, whose output
// is the builder's current state (side, width, field), read from the
// input side inRes; values is the number of kept activation values.
func (s *summaryBuilder) add(scope string, kind BlockKind, level, inRes, inCh, params int, flops, values int64) {
	rf := s.field.Size
	if s.global {
		rf = s.c.PaddedSize()
	}
	s.rows = append(s.rows, BlockSummary{
		Scope: scope, Kind: kind, Level: level,
		InResolution: inRes, Resolution: s.res, InChannels: inCh, OutChannels: s.ch,
		Params: params, FLOPs: flops, ActivationBytes: summaryValueBytes * values,
		ReceptiveField: rf, Jump: s.field.Jump, Global: s.global,
	})
}

// time adds the time MLP rows and the class embedding row.
func (s *summaryBuilder) time() {
	e := s.e
	e64 := int64(e)
	in := e // sinusoidal(t), E values
	if s.c.TimeEmbedding == TimeEmbeddingLinear {
		in = 1 // t/T
	}
	vector := func(scope string, kind BlockKind, in, params int, flops, values int64) {
		s.rows = append(s.rows, BlockSummary{Scope: scope, Kind: kind, Level: -1, InChannels: in, OutChannels: e,
			Params: params, FLOPs: flops, ActivationBytes: summaryValueBytes * values})
	}
	// time_1 keeps its input; time_2 keeps SiLU's input and its own input.
	vector("time_1", KindLinear, in, in*e+e, 2*int64(in)*e64, int64(in))
	vector("time_2", KindLinear, e, e*e+e, 2*e64*e64, 2*e64)
	if k := s.c.NumClasses; k > 0 {
		// A lookup: its gradient needs only the labels (no float values, no FLOPs counted).
		vector("class_embedding", KindClassEmbedding, k+1, (k+1)*e, 0, 0)
	}
}

// conv adds a 3×3 convolution of stride 1 (conv_in, conv_out) to out channels.
func (s *summaryBuilder) conv(scope string, level, out int) {
	cin, p := s.ch, int64(s.res*s.res)
	s.ch = out
	s.field = s.field.conv(3, 1)
	s.add(scope, KindConv, level, s.res, cin, summaryConvParams(3, cin, out), summaryConvFLOPs(3, cin, out, s.res), int64(cin)*p)
}

// resBlock adds a ResBlock from the current width to out.
func (s *summaryBuilder) resBlock(scope string, level, out int) {
	cin, e, p := s.ch, s.e, int64(s.res*s.res)
	params := 2*cin + summaryConvParams(3, cin, out) + e*out + out + 2*out + summaryConvParams(3, out, out)
	flops := summaryConvFLOPs(3, cin, out, s.res) + summaryConvFLOPs(3, out, out, s.res) + 2*int64(e)*int64(out)
	if cin != out {
		params += summaryConvParams(1, cin, out)
		flops += summaryConvFLOPs(1, cin, out, s.res)
	}
	// x (norm_1 and skip input), GN_1 output (SiLU input), SiLU output
	// (conv_1 input); the same three after conv_1 with out channels;
	// SiLU(e) (the time projection's input).
	values := 3*int64(cin)*p + 3*int64(out)*p + int64(e)
	if !s.embCounted {
		values += int64(e) // e itself, SiLU's input, shared by every ResBlock
		s.embCounted = true
	}
	if s.c.Dropout > 0 {
		values += int64(out) * p // the dropped-out tensor, conv_2's input
	}
	s.ch = out
	s.field = s.field.conv(3, 1).conv(3, 1)
	s.add(scope, KindResBlock, level, s.res, cin, params, flops, values)
}

// attention adds an AttentionBlock, or a SpatialTransformer when ContextDim > 0.
func (s *summaryBuilder) attention(scope string, level int) {
	c, heads := s.ch, int64(s.c.Heads)
	ch, p := int64(c), int64(s.res*s.res)
	s.global = true
	if s.c.ContextDim == 0 {
		params := 2*c + summaryConvParams(1, c, 3*c) + summaryConvParams(1, c, c)
		flops := summaryConvFLOPs(1, c, 3*c, s.res) + summaryConvFLOPs(1, c, c, s.res) + 4*p*p*ch
		// x (norm input), GN output (qkv input), q, k, v, A, o (proj input).
		values := 6*ch*p + heads*p*p
		s.add(scope, KindAttention, level, s.res, c, params, flops, values)
		return
	}
	dc, l := int64(s.c.ContextDim), int64(FLOPsContextLen)
	params := 16*c*c + 2*s.c.ContextDim*c + 17*c
	flops := 32*p*ch*ch + 4*p*p*ch + 4*p*l*ch + 4*l*dc*ch
	// C·P each: x (norm), GN output (proj_in), h (norm_1), n_1 (q, k, v
	// input), q, k, v, o (out input), h (norm_2), n_2 (q input), q, o,
	// h (norm_3), n_3 (ff in input), h (proj_out input): 15; 4C·P each:
	// GELU input and output (ff out input): 8; cross-attention k, v: 2·L·C;
	// the softmax outputs: heads·P² and heads·P·L.
	values := 23*ch*p + 2*l*ch + heads*p*p + heads*p*l
	if !s.ctxCounted {
		values += l * dc // the context, k and v's input, shared by every transformer
		s.ctxCounted = true
	}
	s.add(scope, KindSpatialTransformer, level, s.res, c, params, flops, values)
}

// downsample adds a 3×3 convolution of stride 2.
func (s *summaryBuilder) downsample(scope string, level int) {
	c, in := s.ch, s.res
	s.res = (in + 1) / 2
	s.field = s.field.conv(3, 2)
	s.add(scope, KindDownsample, level, in, c, summaryConvParams(3, c, c), summaryConvFLOPs(3, c, c, s.res), int64(c)*int64(in*in))
}

// upsample adds nearest ×2 and a 3×3 convolution to out channels.
func (s *summaryBuilder) upsample(scope string, level, out int) {
	cin, in := s.ch, s.res
	s.res, s.ch = 2*in, out
	s.field = s.field.nearest2x().conv(3, 1)
	s.add(scope, KindUpsample, level, in, cin, summaryConvParams(3, cin, out), summaryConvFLOPs(3, cin, out, s.res), int64(cin)*int64(s.res*s.res))
}

// outNorm adds the output GroupNorm and SiLU (their inputs are kept).
func (s *summaryBuilder) outNorm() {
	c := s.ch
	s.add("out_norm", KindGroupNorm, 0, s.res, c, 2*c, 0, 2*int64(c)*int64(s.res*s.res))
}

// Total returns the sums of Params, FLOPs and ActivationBytes over the rows,
// in a row with Scope "total".
func (s Summary) Total() BlockSummary {
	t := BlockSummary{Scope: "total"}
	for _, r := range s {
		t.Params += r.Params
		t.FLOPs += r.FLOPs
		t.ActivationBytes += r.ActivationBytes
	}
	return t
}

// ResolutionSummary aggregates the blocks of a Summary that work at one
// resolution (see [Summary.ByResolution]).
type ResolutionSummary struct {
	// Resolution is the side of the feature maps (0: the time and class
	// embeddings, which have none).
	Resolution int
	// Blocks is the number of blocks aggregated.
	Blocks int
	// Params, FLOPs and ActivationBytes are the sums over those blocks.
	Params          int
	FLOPs           int64
	ActivationBytes int64
}

// ByResolution aggregates the rows by the resolution they work at, the
// larger of their input and output sides: a Downsample counts at its input
// resolution, an Upsample at its output one (each at the side of the large
// map it reads or writes, where its kept activation lives). The groups come
// from the largest side down, the time and class embeddings (Resolution 0)
// last.
func (s Summary) ByResolution() []ResolutionSummary {
	var out []ResolutionSummary
	index := map[int]int{}
	for _, r := range s {
		side := max(r.InResolution, r.Resolution)
		i, ok := index[side]
		if !ok {
			i = len(out)
			index[side] = i
			out = append(out, ResolutionSummary{Resolution: side})
		}
		out[i].Blocks++
		out[i].Params += r.Params
		out[i].FLOPs += r.FLOPs
		out[i].ActivationBytes += r.ActivationBytes
	}
	slices.SortFunc(out, func(a, b ResolutionSummary) int {
		switch {
		case a.Resolution == b.Resolution:
			return 0
		case a.Resolution == 0:
			return 1
		case b.Resolution == 0:
			return -1
		}
		return b.Resolution - a.Resolution
	})
	return out
}

// Markdown formats the rows as a Markdown table, one line per block and a
// last line of totals, padded so that it also reads as plain text. Columns:
// scope, kind, side (input→output where they differ), channels, parameters,
// FLOPs and activation KiB per image, receptive field ("global" after
// attention) and jump.
func (s Summary) Markdown() string {
	header := []string{"block", "kind", "side", "channels", "params", "FLOPs/img", "act. KiB/img", "RF", "jump"}
	right := []bool{false, false, true, true, true, true, true, true, true}
	var rows [][]string
	for _, r := range s {
		side, rf, jump := "—", "—", "—"
		if r.Resolution > 0 {
			side = strconv.Itoa(r.Resolution)
			if r.InResolution != r.Resolution {
				side = fmt.Sprintf("%d→%d", r.InResolution, r.Resolution)
			}
			rf, jump = strconv.Itoa(r.ReceptiveField), strconv.Itoa(r.Jump)
			if r.Global {
				rf = "global"
			}
		}
		rows = append(rows, []string{r.Scope, string(r.Kind), side, fmt.Sprintf("%d→%d", r.InChannels, r.OutChannels),
			groupDigits(int64(r.Params)), groupDigits(r.FLOPs), formatKiB(r.ActivationBytes), rf, jump})
	}
	t := s.Total()
	rows = append(rows, []string{"**total**", "", "", "", groupDigits(int64(t.Params)), groupDigits(t.FLOPs), formatKiB(t.ActivationBytes), "", ""})
	return summaryTable(header, right, rows)
}

// ResolutionMarkdown formats [Summary.ByResolution] as a Markdown table
// with a last line of totals: per resolution the number of blocks, their
// parameters, FLOPs per image (and share of the total) and activation KiB
// per image (and share).
func (s Summary) ResolutionMarkdown() string {
	header := []string{"side", "blocks", "params", "FLOPs/img", "FLOPs %", "act. KiB/img", "act. %"}
	right := []bool{true, true, true, true, true, true, true}
	t := s.Total()
	pct := func(a, b int64) string {
		if b == 0 {
			return "—"
		}
		return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 1, 64)
	}
	var rows [][]string
	for _, r := range s.ByResolution() {
		side := "— (embeddings)"
		if r.Resolution > 0 {
			side = fmt.Sprintf("%d×%d", r.Resolution, r.Resolution)
		}
		rows = append(rows, []string{side, strconv.Itoa(r.Blocks), groupDigits(int64(r.Params)), groupDigits(r.FLOPs),
			pct(r.FLOPs, t.FLOPs), formatKiB(r.ActivationBytes), pct(r.ActivationBytes, t.ActivationBytes)})
	}
	rows = append(rows, []string{"**total**", strconv.Itoa(len(s)), groupDigits(int64(t.Params)), groupDigits(t.FLOPs), "100.0",
		formatKiB(t.ActivationBytes), "100.0"})
	return summaryTable(header, right, rows)
}

// summaryTable lays out a Markdown table with every column padded to its
// widest cell, right-aligned where right says so.
func summaryTable(header []string, right []bool, rows [][]string) string {
	width := make([]int, len(header))
	for i := range width {
		width[i] = 3 // the separator line's minimum
	}
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			width[i] = max(width[i], len([]rune(cell)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, cell := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(cell)))
			if right[i] {
				b.WriteString(" " + pad + cell + " |")
			} else {
				b.WriteString(" " + cell + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	line(header)
	b.WriteString("|")
	for i, w := range width {
		dashes := strings.Repeat("-", w)
		if right[i] {
			dashes = dashes[:len(dashes)-1] + ":"
		}
		b.WriteString(" " + dashes + " |")
	}
	b.WriteString("\n")
	for _, row := range rows {
		line(row)
	}
	return b.String()
}

// groupDigits formats n with commas between groups of three digits.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// formatKiB formats a byte count in KiB with one decimal.
func formatKiB(bytes int64) string {
	return strconv.FormatFloat(float64(bytes)/1024, 'f', 1, 64)
}
