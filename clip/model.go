package clip

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/fastmm"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/unet"
)

// normEps is the ε of the image encoder's GroupNorms.
const normEps = 1e-5

// ImageEmbedding returns the image embeddings [B, EmbedDim] (not
// normalised) of images x [B, ImageSize, ImageSize, InChannels] in [−1, 1]:
// a small convolutional network, a global mean over the positions and a
// projection. Scopes, under scope:
//
//	image/conv_in    Conv3×3 InChannels → b            (b = ImageBase; feature maps [C,B,H,W])
//	image/norm_0     GroupNorm, SiLU
//	image/down_0     Conv3×3 stride 2, b → 2b          (H → ⌈H/2⌉)
//	image/norm_1     GroupNorm, SiLU
//	image/down_1     Conv3×3 stride 2, 2b → 2b         (→ ⌈H/4⌉)
//	image/norm_out   GroupNorm, SiLU, then the mean over the ⌈H/4⌉² positions → [B, 2b]
//	image_proj       Dense 2b → EmbedDim
//
// The mean keeps what is in an image more than where: position reaches the
// embedding only through the zero padding at the borders, within the
// network's receptive field (9×9 pixels at the input; the whole image for
// 8×8 images).
func (c Config) ImageEmbedding(scope *model.Scope, x *Node) *Node {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	d := x.Shape().Dimensions
	if x.Rank() != 4 || d[1] != c.ImageSize || d[2] != c.ImageSize || d[3] != c.InChannels || !x.DType().IsFloat() {
		exceptions.Panicf("clip: the image encoder for %d×%d×%d images needs float images [B, %d, %d, %d], got %s",
			c.ImageSize, c.ImageSize, c.InChannels, c.ImageSize, c.ImageSize, c.InChannels, x.Shape())
	}
	s := scope.In("image")
	b, g := c.ImageBase, c.GroupNormGroups
	act := func(name string, h *Node) *Node { return unet.SiLU(unet.GroupNorm(s.In("%s", name), h, g, normEps)) }
	h := unet.Conv2D(s.In("conv_in"), unet.ToCBHW(x), b, 3, 1)
	h = unet.Downsample(s.In("down_0"), act("norm_0", h), 2*b)
	h = unet.Downsample(s.In("down_1"), act("norm_1", h), 2*b)
	h = act("norm_out", h) // [2b, B, h, w]
	hd := h.Shape().Dimensions
	pooled := DivScalar(fastmm.SumLastAxis(Reshape(h, hd[0]*hd[1], hd[2]*hd[3])), float64(hd[2]*hd[3]))
	pooled = Transpose(Reshape(pooled, hd[0], hd[1]), 0, 1) // [B, 2b]
	return unet.Dense(scope.In("image_proj"), pooled, c.EmbedDim)
}

// TextScope is the scope, under the CLIP's, of its text encoder: a
// text-conditional diffusion model copies the weights found there.
const TextScope = "text"

// TextEmbedding returns the text embeddings [B, EmbedDim] (not normalised)
// of token ids [B, L] (L ≤ Text.MaxLen): the text encoder (text.EncoderConfig.Encode,
// scope TextScope), its output at the BOS position (text.Pooled), and a
// projection (unet.Dense, scope "text_proj").
func (c Config) TextEmbedding(scope *model.Scope, ids *Node) *Node {
	if err := c.Validate(); err != nil {
		exceptions.Panicf("%v", err)
	}
	c = c.WithDefaults()
	tokens, _ := c.Text.Encode(scope.In(TextScope), ids)
	return unet.Dense(scope.In("text_proj"), text.Pooled(tokens), c.EmbedDim)
}

// LogitScale returns the inverse temperature s = exp(min(logit_scale,
// log MaxLogitScale)), a scalar of dtype dt, from the variable
// "logit_scale" in scope (a scalar started at log(1/InitTemperature),
// float64 when dt is, else float32).
// Where the cap is active its gradient is 0, as in CLIP.
func (c Config) LogitScale(scope *model.Scope, g *Graph, dt dtypes.DType) *Node {
	c = c.WithDefaults()
	var init any = float32(math.Log(1 / c.InitTemperature)) // the variable is float32, or float64 for float64 models
	if dt == dtypes.Float64 {
		init = math.Log(1 / c.InitTemperature)
	}
	v := ConvertDType(scope.VariableWithValue("logit_scale", init).NodeValue(g), dt)
	return Exp(Min(v, Scalar(g, dt, math.Log(MaxLogitScale))))
}

// Logits returns the B×B image–text logits L_ij = s·u_i·v_j of images x
// [B, H, W, C] and token ids [B, L], with u and v the L2-normalised
// embeddings, and the inverse temperature s (a scalar; see [Config.LogitScale]).
// Row i compares image i with every caption, column j caption j with
// every image.
func (c Config) Logits(scope *model.Scope, x, ids *Node) (logits, scale *Node) {
	if ids.Rank() < 1 || x.Rank() < 1 || ids.Shape().Dimensions[0] != x.Shape().Dimensions[0] {
		exceptions.Panicf("clip: images %s and token ids %s must have the same batch size", x.Shape(), ids.Shape())
	}
	u := Normalize(c.ImageEmbedding(scope, x))
	v := Normalize(c.TextEmbedding(scope, ids))
	scale = c.LogitScale(scope, x.Graph(), u.DType())
	cos := DotGeneral(u, []int{1}, nil, v, []int{1}, nil) // [B, B]: u_i·v_j
	return Mul(cos, scale), scale
}

// Normalize returns each row of x [B, D] divided by its L2 norm (a zero
// row stays zero).
func Normalize(x *Node) *Node { return L2Normalize(x, -1) }

// InfoNCE returns the symmetric InfoNCE loss of each example of a batch,
// [B], from the logits [B, B] of [Config.Logits] (row i: image i against
// every caption; the matching pairs on the diagonal):
//
//	ℓ_i = ½ (−log softmax_j(L_i·)_i − log softmax_j(L_·i)_i)
//	    = ½ (logsumexp_j L_ij + logsumexp_j L_ji) − L_ii,
//
// the mean of the cross-entropy of row i (image → text) and of column i
// (text → image), each with target i. With equal logits it is log B.
func InfoNCE(logits *Node) *Node {
	if logits.Rank() != 2 || logits.Shape().Dimensions[0] != logits.Shape().Dimensions[1] {
		exceptions.Panicf("clip: InfoNCE needs square logits [B, B], got %s", logits.Shape())
	}
	g := logits.Graph()
	n := logits.Shape().Dimensions[0]
	diag := Diagonal(g, n)
	zeros := ZerosLike(logits)
	rows := ReduceSum(Where(diag, LogSoftmax(logits, 1), zeros), 1) // log softmax of row i at i
	cols := ReduceSum(Where(diag, LogSoftmax(logits, 0), zeros), 0) // log softmax of column i at i
	return MulScalar(Add(rows, cols), -0.5)
}

// Names of the terms that [Config.Loss] reports.
const (
	// TermI2TAcc is 1 for an image whose own caption scores highest in its
	// row (image → text retrieval), 0 otherwise; a tie with the best counts
	// as a hit, so that a duplicated caption does not count as a miss.
	// Paraphrases are not ties: in batches where the same content is
	// captioned in several wordings it stays well below 1 even for a good
	// model, and zero-shot classification by class prompts ([ZeroShot]) is
	// the better measure.
	TermI2TAcc = "i2t_acc"
	// TermT2IAcc is the same for a caption among the images (column i).
	TermT2IAcc = "t2i_acc"
	// TermTemperature is the softmax temperature τ = 1/s (the same for
	// every example).
	TermTemperature = "temperature"
)

// TermNames returns the names of the terms [Config.Loss] reports, in order.
func (c Config) TermNames() []string { return []string{TermI2TAcc, TermT2IAcc, TermTemperature} }

// Loss returns CLIP's training objective for diffusion.NewTrainerWithTerms
// with the names [Config.TermNames]: for a batch of images x₀
// [B, ImageSize, ImageSize, InChannels] whose condition holds their
// captions as the input cond.Text (token ids [B, L], L ≤ Text.MaxLen), the
// per-example symmetric InfoNCE loss ([InfoNCE]) of their logits
// ([Config.Logits]). Every other example of a batch is a negative, so
// batches with duplicate captions hold false negatives (see the package
// documentation).
//
// It panics (the trainer reports it as the step's error) when the batch has
// no cond.Text input, or when examples are marked null: CLIP has no null
// caption; train it with TrainConfig.PUncond = 0.
func (c Config) Loss() diffusion.TermsFn {
	return func(scope *model.Scope, x0 *Node, cn cond.Nodes) (*Node, []*Node) {
		ids := cn.Get(cond.Text)
		if ids == nil {
			names := make([]string, 0, len(cn.Inputs))
			for n := range cn.Inputs {
				names = append(names, n)
			}
			exceptions.Panicf("clip: the loss needs each image's caption as token ids [B, L], the condition input %q; the batch's condition has inputs %q", cond.Text, names)
		}
		if cn.Null != nil {
			exceptions.Panicf("clip: the loss has no null caption, but the batch's condition marks examples null (a null mask, or TrainConfig.PUncond > 0); train CLIP with PUncond = 0")
		}
		logits, scale := c.Logits(scope, x0, ids)
		loss := InfoNCE(logits)
		dt := logits.DType()
		diag := Diagonal(x0.Graph(), logits.Shape().Dimensions[0])
		own := ReduceSum(Where(diag, logits, ZerosLike(logits)), 1) // L_ii
		i2t := ConvertDType(GreaterOrEqual(own, ReduceMax(logits, 1)), dt)
		t2i := ConvertDType(GreaterOrEqual(own, ReduceMax(logits, 0)), dt)
		temp := BroadcastToDims(Inverse(scale), logits.Shape().Dimensions[0])
		return loss, []*Node{i2t, t2i, temp}
	}
}
