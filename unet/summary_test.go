package unet

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// summaryConfigs are configurations whose Summary the tests check against
// NumParams and ForwardFLOPs: the named ones, and small ones covering
// attention inside the levels (AttentionResolutions), several heads, the
// linear time embedding, classes, learned variance, dropout, padding
// (ImageSize 7 → 8), no middle attention and SpatialTransformers.
func summaryConfigs(t *testing.T) (names []string, cs []UNetConfig) {
	for _, name := range UNetConfigNames() {
		c, err := UNetConfigByName(name)
		if err != nil {
			t.Fatal(err)
		}
		names, cs = append(names, name), append(cs, c)
	}
	ref, _ := UNetConfigByName("reference")
	ref.AttentionResolutions, ref.Heads = []int{14, 7}, 2
	names, cs = append(names, "reference+attn14,7"), append(cs, ref)
	for i, c := range summaryBuildConfigs {
		names, cs = append(names, fmt.Sprint("tiny", i)), append(cs, c)
	}
	names = append(names, "dropout,noMiddleAttn")
	cs = append(cs, UNetConfig{ImageSize: 16, BaseChannels: 8, ChannelMults: []int{1, 2, 4}, Dropout: 0.1, NoMiddleAttention: true,
		GroupNormGroups: 4, NumClasses: 10})
	return names, cs
}

// summaryBuildConfigs are tiny UNets whose graph TestSummaryParamsPerScope
// builds: skip convolutions, attention at a level with two heads, the
// linear time embedding and learned variance; a text-conditional one
// (SpatialTransformers, classes, 7×7 padded to 8×8); three levels without
// middle attention.
var summaryBuildConfigs = []UNetConfig{
	{ImageSize: 8, InChannels: 3, BaseChannels: 8, ChannelMults: []int{1, 3}, NumResBlocks: 2, AttentionResolutions: []int{4},
		Heads: 2, GroupNormGroups: 4, TimeEmbedding: TimeEmbeddingLinear, TimeEmbedDim: 16, LearnedVariance: true},
	{ImageSize: 7, InChannels: 2, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1, GroupNormGroups: 4,
		AttentionResolutions: []int{8}, Heads: 2, TimeEmbedDim: 16, ContextDim: 6, NumClasses: 2},
	{ImageSize: 12, BaseChannels: 4, ChannelMults: []int{1, 1, 2}, NumResBlocks: 1, GroupNormGroups: 2, NumClasses: 3,
		NoMiddleAttention: true, AttentionResolutions: []int{12}},
}

// TestSummaryTotals checks that the rows' parameters sum to NumParams and
// their FLOPs to ForwardFLOPs, exactly, and that Total agrees.
func TestSummaryTotals(t *testing.T) {
	names, cs := summaryConfigs(t)
	for i, c := range cs {
		s := c.Summary()
		var params int
		var flops, act int64
		for _, r := range s {
			params += r.Params
			flops += r.FLOPs
			act += r.ActivationBytes
		}
		if params != c.NumParams() {
			t.Errorf("%s: rows sum to %d parameters, NumParams %d", names[i], params, c.NumParams())
		}
		if flops != c.ForwardFLOPs() {
			t.Errorf("%s: rows sum to %d FLOPs, ForwardFLOPs %d", names[i], flops, c.ForwardFLOPs())
		}
		if tot := s.Total(); tot.Params != params || tot.FLOPs != flops || tot.ActivationBytes != act {
			t.Errorf("%s: Total %+v, want %d params, %d FLOPs, %d bytes", names[i], tot, params, flops, act)
		}
		var byRes ResolutionSummary
		blocks := 0
		for _, g := range s.ByResolution() {
			blocks += g.Blocks
			byRes.Params += g.Params
			byRes.FLOPs += g.FLOPs
			byRes.ActivationBytes += g.ActivationBytes
		}
		if blocks != len(s) || byRes.Params != params || byRes.FLOPs != flops || byRes.ActivationBytes != act {
			t.Errorf("%s: ByResolution sums to %d blocks %+v, want %d blocks, %d params, %d FLOPs, %d bytes",
				names[i], blocks, byRes, len(s), params, flops, act)
		}
	}
}

// TestSummaryMatchesWalk checks the rows against walk, the description of
// the architecture that NumParams, ForwardFLOPs and Validate read: the same
// blocks in the same order with the same widths and sides (walk's "out" is
// the rows out_norm and conv_out; its "down" and "up" give the input side).
func TestSummaryMatchesWalk(t *testing.T) {
	kinds := map[string]BlockKind{"conv_in": KindConv, "res": KindResBlock, "attn": KindAttention,
		"xattn": KindSpatialTransformer, "down": KindDownsample, "up": KindUpsample}
	names, cs := summaryConfigs(t)
	for i, c := range cs {
		var want []BlockSummary
		c.WithDefaults().walk(func(kind string, cin, cout, res int) {
			if kind == "out" {
				want = append(want, BlockSummary{Scope: "out_norm", Kind: KindGroupNorm, InChannels: cin, OutChannels: cin, InResolution: res},
					BlockSummary{Scope: "conv_out", Kind: KindConv, InChannels: cin, OutChannels: cout, InResolution: res})
				return
			}
			want = append(want, BlockSummary{Kind: kinds[kind], InChannels: cin, OutChannels: cout, InResolution: res})
		})
		var got []BlockSummary
		for _, r := range c.Summary() {
			if r.Level >= 0 { // the time and class embeddings are not in walk
				got = append(got, r)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d feature-map rows, walk visits %d blocks", names[i], len(got), len(want))
			continue
		}
		for j, w := range want {
			g := got[j]
			if g.Kind != w.Kind || g.InChannels != w.InChannels || g.OutChannels != w.OutChannels || g.InResolution != w.InResolution ||
				(w.Scope != "" && g.Scope != w.Scope) {
				t.Errorf("%s: row %d is %s %s %d→%d at %d, walk says %s %d→%d at %d", names[i], j, g.Scope, g.Kind,
					g.InChannels, g.OutChannels, g.InResolution, w.Kind, w.InChannels, w.OutChannels, w.InResolution)
			}
		}
	}
}

// graphVariableSizes builds the UNet of c on a fresh store (running it once
// on a batch of 2 zero images, with class labels and a context of 3 tokens
// where c needs them) and returns the size of every trainable variable by
// its path without the leading "/".
func graphVariableSizes(t *testing.T, c UNetConfig) map[string]int {
	t.Helper()
	c = c.WithDefaults()
	const batch = 2
	cn := cond.Condition{Inputs: map[string]*tensors.Tensor{}}
	if c.NumClasses > 0 {
		cn.Inputs[cond.Class] = tensors.FromValue([]int32{0, 1})
	}
	if c.ContextDim > 0 {
		cn.Inputs[cond.Context] = tensors.FromShape(shapes.Make(dtypes.Float32, batch, 3, c.ContextDim))
	}
	names := cn.Names()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(1))
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) *Node {
		nodes, _ := cond.FromArgs(names, false, in[2:])
		return UNet(c)(scope, in[0], in[1], nodes)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, batch, c.ImageSize, c.ImageSize, c.InChannels))
	if _, err := e.Call(append([]any{x, tensors.FromValue([]int32{3, 7})}, cn.Args(batch, false)...)...); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{}
	for v := range store.IterVariables() {
		if v.Trainable {
			sizes[strings.TrimPrefix(v.Path(), "/")] = v.Shape().Size()
		}
	}
	return sizes
}

// TestSummaryParamsPerScope builds tiny UNets and checks each row's Params
// against the variables the graph creates under its Scope, every variable
// belonging to exactly one row (so the scopes are the network's own).
func TestSummaryParamsPerScope(t *testing.T) {
	for i, c := range summaryBuildConfigs {
		t.Run(fmt.Sprint("tiny", i), func(t *testing.T) {
			s := c.Summary()
			perRow := make([]int, len(s))
			total := 0
			for path, n := range graphVariableSizes(t, c) {
				total += n
				owner := -1
				for j, r := range s {
					if strings.HasPrefix(path, r.Scope+"/") {
						if owner >= 0 {
							t.Errorf("variable %s is under both %s and %s", path, s[owner].Scope, r.Scope)
						}
						owner = j
					}
				}
				if owner < 0 {
					t.Errorf("variable %s (%d values) is under no row's scope", path, n)
					continue
				}
				perRow[owner] += n
			}
			for j, r := range s {
				if perRow[j] != r.Params {
					t.Errorf("%s (%s): the graph has %d parameters under it, the summary says %d", r.Scope, r.Kind, perRow[j], r.Params)
				}
			}
			if total != s.Total().Params || total != c.NumParams() {
				t.Errorf("graph %d parameters, summary %d, NumParams %d", total, s.Total().Params, c.NumParams())
			}
		})
	}
}

// TestSummaryReference checks the reference UNet's rows, scope by scope in
// execution order, against the parameter counts of the layer-by-layer table
// in the UNetConfigByName documentation (checked against the PyTorch peer),
// with their sides and widths.
func TestSummaryReference(t *testing.T) {
	type row struct {
		scope    string
		kind     BlockKind
		in, out  int // sides
		cin, cou int
		params   int
	}
	want := []row{
		{"time_1", KindLinear, 0, 0, 128, 128, 16512},
		{"time_2", KindLinear, 0, 0, 128, 128, 16512},
		{"conv_in", KindConv, 28, 28, 1, 32, 320},
		{"down_0/res_0", KindResBlock, 28, 28, 32, 32, 22752},
		{"down_0/res_1", KindResBlock, 28, 28, 32, 32, 22752},
		{"down_0/downsample", KindDownsample, 28, 14, 32, 32, 9248},
		{"down_1/res_0", KindResBlock, 14, 14, 32, 64, 65984},
		{"down_1/res_1", KindResBlock, 14, 14, 64, 64, 82368},
		{"down_1/downsample", KindDownsample, 14, 7, 64, 64, 36928},
		{"down_2/res_0", KindResBlock, 7, 7, 64, 64, 82368},
		{"down_2/res_1", KindResBlock, 7, 7, 64, 64, 82368},
		{"middle/res_0", KindResBlock, 7, 7, 64, 64, 82368},
		{"middle/attn", KindAttention, 7, 7, 64, 64, 16768},
		{"middle/res_1", KindResBlock, 7, 7, 64, 64, 82368},
		{"up_2/res_0", KindResBlock, 7, 7, 128, 64, 127616},
		{"up_2/res_1", KindResBlock, 7, 7, 64, 64, 82368},
		{"up_2/upsample", KindUpsample, 7, 14, 64, 64, 36928},
		{"up_1/res_0", KindResBlock, 14, 14, 128, 64, 127616},
		{"up_1/res_1", KindResBlock, 14, 14, 64, 64, 82368},
		{"up_1/upsample", KindUpsample, 14, 28, 64, 32, 18464},
		{"up_0/res_0", KindResBlock, 28, 28, 64, 32, 34112},
		{"up_0/res_1", KindResBlock, 28, 28, 32, 32, 22752},
		{"out_norm", KindGroupNorm, 28, 28, 32, 32, 64},
		{"conv_out", KindConv, 28, 28, 32, 1, 289},
	}
	c, err := UNetConfigByName("reference")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Summary()
	if len(s) != len(want) {
		t.Fatalf("%d rows, want %d", len(s), len(want))
	}
	for i, w := range want {
		g := s[i]
		got := row{g.Scope, g.Kind, g.InResolution, g.Resolution, g.InChannels, g.OutChannels, g.Params}
		if got != w {
			t.Errorf("row %d: %+v, want %+v", i, got, w)
		}
	}
	if n := s.Total().Params; n != 1152193 {
		t.Errorf("total %d parameters, want 1,152,193", n)
	}
}

// TestSummaryReceptiveFieldRecurrence checks the recurrence on a hand-worked chain:
// from the input (r = 1, j = 1), a 3×3 convolution gives r = 1 + 2·1 = 3;
// a second, r = 3 + 2·1 = 5; a 3×3 convolution of stride 2, r = 5 + 2·1 =
// 7 and j = 2; a last 3×3 convolution, r = 7 + 2·2 = 11 (j = 2). Nearest
// ×2 upsampling then halves the jump to 1 and a 3×3 convolution adds 2:
// 13. A 5-wide field is the one of two stacked 3×3 convolutions, also checked
// by brute force: the set of input pixels an output pixel reaches.
func TestSummaryReceptiveFieldRecurrence(t *testing.T) {
	f := receptiveField{Size: 1, Jump: 1}
	steps := []struct {
		f          func(receptiveField) receptiveField
		size, jump int
	}{
		{func(f receptiveField) receptiveField { return f.conv(3, 1) }, 3, 1},
		{func(f receptiveField) receptiveField { return f.conv(3, 1) }, 5, 1},
		{func(f receptiveField) receptiveField { return f.conv(3, 2) }, 7, 2},
		{func(f receptiveField) receptiveField { return f.conv(3, 1) }, 11, 2},
		{func(f receptiveField) receptiveField { return f.nearest2x() }, 11, 1},
		{func(f receptiveField) receptiveField { return f.conv(3, 1) }, 13, 1},
	}
	for i, st := range steps {
		f = st.f(f)
		if f.Size != st.size || f.Jump != st.jump {
			t.Errorf("step %d: field %+v, want size %d jump %d", i, f, st.size, st.jump)
		}
	}
	// A concatenation takes the larger field.
	if u := (receptiveField{7, 2}).union(receptiveField{17, 2}); u != (receptiveField{17, 2}) {
		t.Errorf("union of fields 7 and 17: %+v", u)
	}
	// Brute force in one dimension on the same chain (same padding: pixel i
	// of a k-wide convolution of stride s reads s·i−(k−1)/2 … s·i+(k−1)/2;
	// nearest ×2: pixel i reads i/2), for the middle output pixel of a
	// 64-pixel input: the span of the input pixels it depends on.
	type layer struct{ k, s int } // s = 0: nearest ×2
	chain := []layer{{3, 1}, {3, 1}, {3, 2}, {3, 1}, {0, 0}, {3, 1}}
	reach := func(upto int, out int) (lo, hi int) {
		set := map[int]bool{out: true}
		for l := upto - 1; l >= 0; l-- {
			next := map[int]bool{}
			for i := range set {
				if chain[l].s == 0 {
					next[i/2] = true
					continue
				}
				for d := -(chain[l].k - 1) / 2; d <= (chain[l].k-1)/2; d++ {
					next[chain[l].s*i+d] = true
				}
			}
			set = next
		}
		lo, hi = 1<<30, -1<<30
		for i := range set {
			lo, hi = min(lo, i), max(hi, i)
		}
		return lo, hi
	}
	f = receptiveField{Size: 1, Jump: 1}
	for n, st := range steps {
		f = st.f(f)
		widest := 0
		for out := 10; out < 14; out++ { // a few pixels: the upsampled ones differ by parity
			lo, hi := reach(n+1, out)
			widest = max(widest, hi-lo+1)
		}
		if widest != f.Size {
			t.Errorf("after %d layers: brute force reaches %d input pixels, the recurrence says %d", n+1, widest, f.Size)
		}
	}
}

// TestSummaryReceptiveField checks the rows of a two-level UNet worked by
// hand (3×3 convolutions; j = 1 at level 0, 2 at level 1):
//
//	conv_in            1 + 2·1                 = 3
//	down_0/res_0       3 + 2·1 + 2·1           = 7
//	down_0/downsample  7 + 2·1                 = 9,  j = 2
//	down_1/res_0       9 + 2·2 + 2·2           = 17
//	middle/res_0       17 + 8                  = 25
//	middle/res_1       25 + 8                  = 33
//	up_1/res_0         max(33, skip 17) + 8    = 41
//	up_1/upsample      j = 1, 41 + 2·1         = 43
//	up_0/res_0         max(43, skip 7) + 4     = 47
//	out_norm           47
//	conv_out           47 + 2                  = 49
//
// With the middle attention, every row from middle/attn on is global
// (ReceptiveField = PaddedSize = 8) and the earlier rows are unchanged.
func TestSummaryReceptiveField(t *testing.T) {
	c := UNetConfig{ImageSize: 8, BaseChannels: 8, ChannelMults: []int{1, 2}, NumResBlocks: 1, GroupNormGroups: 4, NoMiddleAttention: true}
	want := map[string][2]int{
		"conv_in": {3, 1}, "down_0/res_0": {7, 1}, "down_0/downsample": {9, 2}, "down_1/res_0": {17, 2},
		"middle/res_0": {25, 2}, "middle/res_1": {33, 2}, "up_1/res_0": {41, 2}, "up_1/upsample": {43, 1},
		"up_0/res_0": {47, 1}, "out_norm": {47, 1}, "conv_out": {49, 1},
	}
	check := func(c UNetConfig, global map[string]bool) {
		t.Helper()
		seen := 0
		for _, r := range c.Summary() {
			if r.Level < 0 {
				if r.ReceptiveField != 0 || r.Jump != 0 || r.Global {
					t.Errorf("%s: field %d jump %d global %v, want none", r.Scope, r.ReceptiveField, r.Jump, r.Global)
				}
				continue
			}
			w, ok := want[r.Scope]
			if !ok && !global[r.Scope] {
				t.Errorf("unexpected row %s", r.Scope)
				continue
			}
			seen++
			if global[r.Scope] {
				if !r.Global || r.ReceptiveField != 8 || (ok && r.Jump != w[1]) {
					t.Errorf("%s: field %d jump %d global %v, want global 8", r.Scope, r.ReceptiveField, r.Jump, r.Global)
				}
				continue
			}
			if r.Global || r.ReceptiveField != w[0] || r.Jump != w[1] {
				t.Errorf("%s: field %d jump %d global %v, want %d, %d", r.Scope, r.ReceptiveField, r.Jump, r.Global, w[0], w[1])
			}
		}
		if seen != len(want)+map[bool]int{false: 0, true: 1}[global["middle/attn"]] {
			t.Errorf("%d rows checked", seen)
		}
	}
	check(c, nil)
	c.NoMiddleAttention = false
	check(c, map[string]bool{"middle/attn": true, "middle/res_1": true, "up_1/res_0": true, "up_1/upsample": true,
		"up_0/res_0": true, "out_norm": true, "conv_out": true})
}

// TestSummaryActivationBytes checks blocks against counts by hand (float32,
// 4 bytes per value, one image), on the reference UNet (E = 128):
//
//   - down_0/res_0, ResBlock 32→32 at 28² (P = 784), the first ResBlock so
//     it also holds e: 3·32·784 (x, GN_1 out, SiLU out) + 3·32·784 (h, GN_2
//     out, SiLU out) + 128 (SiLU(e)) + 128 (e) = 150,784 values, 603,136 B;
//     down_0/res_1 the same without e: 602,624 B.
//   - down_1/res_0, ResBlock 32→64 at 14² (P = 196), skip conv (its input
//     is x, already counted): 3·32·196 + 3·64·196 + 128 = 56,576 values,
//     226,304 B.
//   - middle/attn, C = 64, P = 49, one head: 6·64·49 (x, GN out, q, k, v,
//     o) plus 49² (A) = 21,217 values, 84,868 B.
//   - down_0/downsample: its input 32·784 = 25,088 values, 100,352 B;
//     up_1/upsample: its upsampled input 64·28² = 50,176 values, 200,704 B.
//   - time_1: its input, 128 values, 512 B; time_2: SiLU's input and its
//     own, 1,024 B; conv_in: the image, 784 values, 3,136 B; out_norm:
//     GN and SiLU inputs, 2·32·784 values, 200,704 B; conv_out 100,352 B.
//
// and on "latent-text": down_0/attn_0, a SpatialTransformer with C = 64, P
// = 8² = 64, 4 heads, L = 16, Dc = 64, the first one so it also holds the
// context: 23·64·64 + 2·16·64 (cross k, v) + 4·64² (self A) + 4·64·16
// (cross A) + 16·64 (context) = 94,208 + 2,048 + 16,384 + 4,096 + 1,024 =
// 117,760 values, 471,040 B; the next transformer, down_1/attn_0 at 4²
// (P = 16): 23·64·16 + 2,048 + 4·256 + 4·16·16 = 23,552 + 2,048 + 1,024 +
// 1,024 = 27,648 values, 110,592 B. With Dropout > 0, down_0/res_1 of the
// reference keeps 32·784 more values: 702,976 B.
func TestSummaryActivationBytes(t *testing.T) {
	bytes := func(name string, mod func(*UNetConfig)) map[string]int64 {
		c, err := UNetConfigByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(&c)
		}
		m := map[string]int64{}
		for _, r := range c.Summary() {
			m[r.Scope] = r.ActivationBytes
		}
		return m
	}
	for name, wants := range map[string]map[string]int64{
		"reference": {"down_0/res_0": 603136, "down_0/res_1": 602624, "down_1/res_0": 226304, "middle/attn": 84868,
			"down_0/downsample": 100352, "up_1/upsample": 200704, "time_1": 512, "time_2": 1024, "conv_in": 3136,
			"out_norm": 200704, "conv_out": 100352},
		"latent-text": {"down_0/attn_0": 471040, "down_1/attn_0": 110592},
	} {
		got := bytes(name, nil)
		for scope, w := range wants {
			if got[scope] != w {
				t.Errorf("%s %s: %d activation bytes, want %d", name, scope, got[scope], w)
			}
		}
	}
	if got := bytes("reference", func(c *UNetConfig) { c.Dropout = 0.1 })["down_0/res_1"]; got != 702976 {
		t.Errorf("reference with dropout, down_0/res_1: %d activation bytes, want 702,976", got)
	}
}

// TestSummaryTables checks the formatters on the reference UNet: one line
// per row plus header, separator and totals, all of one width; the totals
// line shows 1,152,193 parameters; the resolution table has the groups 28,
// 14, 7 and the embeddings with 9, 6, 7 and 2 blocks.
func TestSummaryTables(t *testing.T) {
	c, _ := UNetConfigByName("reference")
	s := c.Summary()
	table := s.Markdown()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != len(s)+3 {
		t.Errorf("%d lines, want %d:\n%s", len(lines), len(s)+3, table)
	}
	for i, l := range lines {
		if n, w := len([]rune(l)), len([]rune(lines[0])); n != w {
			t.Errorf("line %d is %d characters wide, the header %d:\n%s", i, n, w, table)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "total") || !strings.Contains(last, "1,152,193") ||
		!strings.Contains(last, groupDigits(c.ForwardFLOPs())) {
		t.Errorf("totals line %q lacks the parameters and FLOPs", last)
	}
	if !strings.Contains(table, "| middle/attn ") || !strings.Contains(table, "global") || !strings.Contains(table, "28→14") {
		t.Errorf("table lacks the attention row, a global field or a downsampling side:\n%s", table)
	}
	groups := s.ByResolution()
	wantSides, wantBlocks := []int{28, 14, 7, 0}, []int{9, 6, 7, 2}
	if len(groups) != len(wantSides) {
		t.Fatalf("%d resolution groups %+v, want %v", len(groups), groups, wantSides)
	}
	for i, g := range groups {
		if g.Resolution != wantSides[i] || g.Blocks != wantBlocks[i] {
			t.Errorf("group %d: side %d with %d blocks, want %d with %d", i, g.Resolution, g.Blocks, wantSides[i], wantBlocks[i])
		}
	}
	res := s.ResolutionMarkdown()
	if n := strings.Count(res, "\n"); n != len(groups)+3 {
		t.Errorf("resolution table has %d lines, want %d:\n%s", n, len(groups)+3, res)
	}
	if groupDigits(-1234567) != "-1,234,567" || groupDigits(999) != "999" || groupDigits(1000) != "1,000" {
		t.Errorf("groupDigits: %q %q %q", groupDigits(-1234567), groupDigits(999), groupDigits(1000))
	}
}

// TestSummaryInvalid checks that Summary refuses a configuration that
// cannot be built, as UNet does.
func TestSummaryInvalid(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Summary of GroupNormGroups 3 with width 32 did not panic")
		}
	}()
	UNetConfig{GroupNormGroups: 3}.Summary()
}

// TestSummaryPrint logs the "small" UNet's tables (go test -v -run SummaryPrint).
func TestSummaryPrint(t *testing.T) {
	c, _ := UNetConfigByName("small")
	s := c.Summary()
	t.Logf("\n%s\n%s", s.Markdown(), s.ResolutionMarkdown())
}
