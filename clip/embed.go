package clip

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/safecall"
	"github.com/godiffusion/diffusion-models/internal/tensorutil"
)

// BatchSize is the number of images or prompts [Model] embeds at once.
const BatchSize = 256

// Model is a trained CLIP model ready to embed images and prompts. Its
// weights live in a store under diffusion.ModelScope, as a
// diffusion.Trainer of [Config.Loss] leaves them (diffusion.SamplingStore
// of its checkpoint gives such a store):
//
//	/model/image/...          the image encoder (conv_in, norm_0, down_0, norm_1, down_1, norm_out)
//	/model/image_proj/...     its projection
//	/model/text/...           the text encoder (token_embedding, position_embedding, block_i, final_norm)
//	/model/text_proj/...      its projection
//	/model/logit_scale        the log inverse temperature
type Model struct {
	// Config is the model's architecture.
	Config Config

	store    *model.Store
	img, txt *model.Exec
}

// New returns the CLIP model of configuration c with the weights in store
// (under diffusion.ModelScope). It is an error for the store to lack a
// variable of the embeddings or to hold one of another shape than c says
// (a checkpoint of another configuration): the model would otherwise
// silently start from random weights.
func New(backend compute.Backend, store *model.Store, c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("clip: New needs a store of trained weights, got nil")
	}
	c = c.WithDefaults()
	if err := checkStore(backend, store, c); err != nil {
		return nil, err
	}
	m := &Model{Config: c, store: store}
	var err error
	m.img, err = model.NewExec(backend, store, func(scope *model.Scope, x *Node) *Node {
		return Normalize(c.ImageEmbedding(scope.In(diffusion.ModelScope), x))
	})
	if err != nil {
		return nil, err
	}
	m.txt, err = model.NewExec(backend, store, func(scope *model.Scope, ids *Node) *Node {
		return Normalize(c.TextEmbedding(scope.In(diffusion.ModelScope), ids))
	})
	return m, err
}

// checkStore builds the embeddings of c on an empty store and checks that
// store holds every variable they create, with the same shape.
func checkStore(backend compute.Backend, store *model.Store, c Config) error {
	scratch := model.NewStore()
	exec, err := model.NewExec(backend, scratch, func(scope *model.Scope, x, ids *Node) (*Node, *Node) {
		s := scope.In(diffusion.ModelScope)
		return c.ImageEmbedding(s, x), c.TextEmbedding(s, ids)
	})
	if err != nil {
		return err
	}
	var compileErr error
	if err := exceptions.TryCatch[error](func() {
		_, compileErr = exec.Compile(shapes.Make(dtypes.Float32, append([]int{1}, c.ImageDims()...)...),
			shapes.Make(dtypes.Int32, 1, c.Text.MaxLen))
	}); err != nil {
		return fmt.Errorf("clip: building the model: %w", err)
	}
	if compileErr != nil {
		return fmt.Errorf("clip: building the model: %w", compileErr)
	}
	for v := range scratch.Scope("/" + diffusion.ModelScope).IterVariables() {
		have := store.GetVariable(v.Path())
		if have == nil {
			return fmt.Errorf("clip: the store has no variable %s: it does not hold the weights of a CLIP model of this Config (%+v) under /%s",
				v.Path(), c, diffusion.ModelScope)
		}
		if !have.Shape().Equal(v.Shape()) {
			return fmt.Errorf("clip: the store's variable %s is %s, but this Config (%+v) needs %s: the weights are of another configuration",
				v.Path(), have.Shape(), c, v.Shape())
		}
	}
	return nil
}

// Temperature returns the learned softmax temperature τ = 1/s of the
// stored weights (s capped at MaxLogitScale), or NaN when the store has no
// logit_scale.
func (m *Model) Temperature() float64 {
	v := m.store.GetVariable("/" + diffusion.ModelScope + "/logit_scale")
	if v == nil {
		return math.NaN()
	}
	t, err := v.Value()
	if err != nil {
		return math.NaN()
	}
	f, err := tensorutil.Float64s(t)
	if err != nil || len(f) != 1 {
		return math.NaN()
	}
	return 1 / math.Exp(min(f[0], math.Log(MaxLogitScale)))
}

// ImageEmbeddings returns the unit-norm embeddings of n images (flat,
// [n, ImageSize, ImageSize, InChannels] channels last, in [−1, 1]), one
// row of EmbedDim per image.
func (m *Model) ImageEmbeddings(images []float32, n int) ([][]float32, error) {
	dims := m.Config.ImageDims()
	per := dims[0] * dims[1] * dims[2]
	if n < 0 || len(images) != n*per {
		return nil, fmt.Errorf("clip: embedding %d images of %v needs %d values, got %d", n, dims, n*per, len(images))
	}
	out := make([][]float32, 0, n)
	for from := 0; from < n; from += BatchSize {
		b := min(BatchSize, n-from)
		x := tensors.FromFlatDataAndDimensions(images[from*per:(from+b)*per], append([]int{b}, dims...)...)
		rows, err := m.run(m.img, "images", x)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// TextEmbeddings returns the unit-norm embeddings of prompts given as token
// ids, an integer tensor [N, L] with L ≤ Config.Text.MaxLen (as
// text.Tokenizer.EncodeBatch makes them), one row of EmbedDim per prompt.
func (m *Model) TextEmbeddings(ids *tensors.Tensor) ([][]float32, error) {
	if ids == nil || ids.Shape().Rank() != 2 || !ids.DType().IsInt() {
		return nil, fmt.Errorf("clip: TextEmbeddings needs integer token ids [N, L], got %v", ids)
	}
	n, l := ids.Shape().Dimensions[0], ids.Shape().Dimensions[1]
	if l < 1 || l > m.Config.Text.MaxLen {
		return nil, fmt.Errorf("clip: TextEmbeddings needs 1 ≤ L ≤ %d (the text encoder's MaxLen) ids per prompt, got %d", m.Config.Text.MaxLen, l)
	}
	out := make([][]float32, 0, n)
	for from := 0; from < n; from += BatchSize {
		b := min(BatchSize, n-from)
		part, err := tensorutil.SliceFirstAxis(ids, from, b)
		if err != nil {
			return nil, fmt.Errorf("clip: %w", err)
		}
		rows, err := m.run(m.txt, "prompts", part)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// run applies exec to one batch and returns the rows of its [b, EmbedDim] output.
func (m *Model) run(exec *model.Exec, what string, x *tensors.Tensor) ([][]float32, error) {
	outs, err := safecall.Call(exec, x)
	if err != nil {
		return nil, fmt.Errorf("clip: embedding %s: %w", what, err)
	}
	flat := tensors.MustCopyFlatData[float32](outs[0])
	e := m.Config.EmbedDim
	rows := make([][]float32, len(flat)/e)
	for i := range rows {
		rows[i] = flat[i*e : (i+1)*e : (i+1)*e]
	}
	return rows, nil
}

// Similarity returns the matrix of dot products a_i·b_j [len(a)][len(b)],
// in float64: cosine similarities for the unit-norm embeddings of [Model].
// Rows of different lengths are compared over their common prefix.
func Similarity(a, b [][]float32) [][]float64 {
	out := make([][]float64, len(a))
	for i, u := range a {
		out[i] = make([]float64, len(b))
		for j, v := range b {
			var s float64
			for k := range min(len(u), len(v)) {
				s += float64(u[k]) * float64(v[k])
			}
			out[i][j] = s
		}
	}
	return out
}

// ZeroShot classifies each image by the class prompt most similar to it:
// for each row of imageEmb, the index of the row of classTextEmb with the
// largest [Similarity] (the first on ties; −1 when there are no classes).
// With prompts such as "a photo of a seven" for each class this is CLIP's
// zero-shot classifier.
func ZeroShot(imageEmb, classTextEmb [][]float32) []int {
	sim := Similarity(imageEmb, classTextEmb)
	out := make([]int, len(sim))
	for i, row := range sim {
		best := -1
		for j, s := range row {
			if best < 0 || s > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}
