package text

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/unet"
)

// EncoderConfig configures the Transformer text encoder. The zero value of
// a field means its default; VocabSize has none and must be set (it is the
// tokenizer's, see [Tokenizer.EncoderConfig]).
type EncoderConfig struct {
	// VocabSize is the number of token ids, special tokens included
	// ([Tokenizer.VocabSize]; ≥ 3).
	VocabSize int `json:"vocab_size"`
	// MaxLen is the longest sequence of ids the encoder reads, the number
	// of rows of its position embedding ([Tokenizer.Len]; default
	// DefaultMaxLen).
	MaxLen int `json:"max_len"`
	// Width is the size D of a token's vector (default 64).
	Width int `json:"width"`
	// Layers is the number of Transformer blocks (default 2).
	Layers int `json:"layers"`
	// Heads is the number of attention heads; it must divide Width
	// (default 4).
	Heads int `json:"heads"`
	// MLPMult is the hidden width of the feed-forward block as a multiple
	// of Width (default 4).
	MLPMult int `json:"mlp_mult"`
}

// EncoderConfig returns the encoder configuration that reads this
// tokenizer's ids (VocabSize and MaxLen; the other fields zero, i.e. their
// defaults).
func (t *Tokenizer) EncoderConfig() EncoderConfig {
	return EncoderConfig{VocabSize: t.VocabSize(), MaxLen: t.Len()}
}

// WithDefaults returns the configuration with every zero field but
// VocabSize set to its default.
func (c EncoderConfig) WithDefaults() EncoderConfig {
	if c.MaxLen == 0 {
		c.MaxLen = DefaultMaxLen
	}
	if c.Width == 0 {
		c.Width = 64
	}
	if c.Layers == 0 {
		c.Layers = 2
	}
	if c.Heads == 0 {
		c.Heads = 4
	}
	if c.MLPMult == 0 {
		c.MLPMult = 4
	}
	return c
}

// Validate reports a configuration that cannot be built, saying which
// field is wrong.
func (c EncoderConfig) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("text: invalid EncoderConfig: "+format, args...)
	}
	switch {
	case c.VocabSize < len(Specials):
		return bad("VocabSize must be ≥ %d (the special tokens; use the tokenizer's VocabSize), got %d", len(Specials), c.VocabSize)
	case c.MaxLen < 2:
		return bad("MaxLen must be ≥ 2 (BOS and one word), got %d", c.MaxLen)
	case c.Width < 1:
		return bad("Width must be ≥ 1, got %d", c.Width)
	case c.Layers < 1:
		return bad("Layers must be ≥ 1, got %d", c.Layers)
	case c.Heads < 1 || c.Width%c.Heads != 0:
		return bad("Heads must be ≥ 1 and divide Width %d, got %d", c.Width, c.Heads)
	case c.MLPMult < 1:
		return bad("MLPMult must be ≥ 1, got %d", c.MLPMult)
	}
	return nil
}

// NumParams returns the number of trainable parameters, for V = VocabSize,
// L = MaxLen, D = Width, m = MLPMult and N = Layers:
//
//	V·D + L·D                     token and position embeddings
//	+ N·((4 + 2m)·D² + (m + 6)·D)  blocks: two LayerNorms 4D; attention q, k, v (no biases)
//	                               and out 4D² + D; feed-forward 2m·D² + m·D + D
//	+ 2D                          the final LayerNorm
func (c EncoderConfig) NumParams() int {
	c = c.WithDefaults()
	d, m := c.Width, c.MLPMult
	block := (4+2*m)*d*d + (m+6)*d
	return c.VocabSize*d + c.MaxLen*d + c.Layers*block + 2*d
}

// encoderEps is the ε of the encoder's LayerNorms.
const encoderEps = 1e-5

// Initial standard deviations of the embeddings (CLIP's).
const (
	tokenInitStd    = 0.02
	positionInitStd = 0.01
)

// Encode runs the text encoder on token ids [B, L] (an integer dtype;
// L ≤ MaxLen, usually L = MaxLen; ids in [0, VocabSize)) and returns
//
//	tokens [B, L, Width] float32, the encoder's output at every position;
//	mask   [B, L] bool, ids ≠ PadID: the real positions (the BOS at position
//	       0 of an encoded prompt is one, so every row has a real position).
//
// The network, for h₀[b, l] = E[ids[b, l]] + P[l]:
//
//	token_embedding     variable E [VocabSize, Width], initialised N(0, 0.02²)
//	position_embedding  variable P [MaxLen, Width], initialised N(0, 0.01²) (rows 0…L−1 are used)
//	block_i, i < Layers:
//	    h ← h + MultiHeadAttention(LN(h), LN(h), mask)   scopes "norm_1", "attn"
//	    h ← h + FeedForward(LN(h), MLPMult)             scopes "norm_2", "ff"
//	final_norm          tokens = LN(h)
//
// with the layers of package unet (LayerNorm with ε = 1e-5). Attention is
// bidirectional and masked: no position attends to padding, so the output
// at the real positions does not depend on how much padding follows them.
// The outputs at padded positions are computed like the others (they attend
// to the real ones) and should be ignored, as the mask says. An id outside
// [0, VocabSize) is read as UnkID.
//
// It panics (as graph-building functions do) on an invalid configuration
// or ids of the wrong shape.
func (c EncoderConfig) Encode(scope *model.Scope, ids *Node) (tokens, mask *Node) {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	if !ids.DType().IsInt() || ids.Rank() != 2 || ids.Shape().Dimensions[1] > c.MaxLen || ids.Shape().Dimensions[1] < 1 {
		exceptions.Panicf("text: the encoder needs integer token ids [B, L] with 1 ≤ L ≤ MaxLen = %d, got %s", c.MaxLen, ids.Shape())
	}
	g := ids.Graph()
	b, l, d := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1], c.Width
	dt := dtypes.Float32
	mask = NotEqual(ids, Scalar(g, ids.DType(), PadID))

	emb := scope.WithInitializer(initializer.RandomNormalFn(scope, tokenInitStd)).
		VariableWithShape("token_embedding", shapes.Make(dt, c.VocabSize, d)).NodeValue(g)
	pos := scope.WithInitializer(initializer.RandomNormalFn(scope, positionInitStd)).
		VariableWithShape("position_embedding", shapes.Make(dt, c.MaxLen, d)).NodeValue(g)
	if l < c.MaxLen {
		pos = Slice(pos, AxisRange(0, l))
	}
	h := Reshape(lookup(emb, Reshape(ids, b*l)), b, l, d)
	h = Add(h, Reshape(pos, 1, l, d))

	for i := range c.Layers {
		s := scope.In("block_%d", i)
		n := unet.LayerNorm(s.In("norm_1"), h, encoderEps)
		a, _ := unet.MultiHeadAttention(s.In("attn"), n, n, mask, c.Heads)
		h = Add(h, a)
		h = Add(h, unet.FeedForward(s.In("ff"), unet.LayerNorm(s.In("norm_2"), h, encoderEps), c.MLPMult))
	}
	return unet.LayerNorm(scope.In("final_norm"), h, encoderEps), mask
}

// lookup returns the rows of table [V, D] picked by ids [N] (Gather; its
// gradient scatters the rows' gradients back into a zero [V, D]). On the
// pure-Go backend this is faster than the product of a one-hot [N, V] with
// the table already for V = 80, and 25× faster for V = 10,000 (see
// BenchmarkLookup). An id outside [0, V) is read as UnkID: the pure-Go
// backend's scatter crashes the process (an index out of range in a worker
// goroutine, which no recover catches) on such an id.
func lookup(table, ids *Node) *Node {
	g := ids.Graph()
	v := table.Shape().Dimensions[0]
	dt := ids.DType()
	ok := LogicalAnd(GreaterOrEqual(ids, ScalarZero(g, dt)), LessThan(ids, Scalar(g, dt, v)))
	ids = Where(ok, ids, Scalar(g, dt, UnkID))
	return Gather(table, Reshape(ids, ids.Shape().Size(), 1))
}

// Pooled returns the encoder's summary of each prompt, tokens[:, 0, :]
// [B, Width]: the output at the BOS position, which attends to every word.
func Pooled(tokens *Node) *Node {
	if tokens.Rank() != 3 {
		exceptions.Panicf("text: Pooled needs tokens [B, L, D], got %s", tokens.Shape())
	}
	d := tokens.Shape().Dimensions
	return Reshape(Slice(tokens, AxisRange(), AxisRange(0, 1)), d[0], d[2])
}
