package experiment

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // the attention probe is a graph
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/unet"
)

// TextToImage is a text-conditional latent model opened for use: it turns
// prompts into images and shows where its cross-attention looks.
type TextToImage struct {
	// Config is the model's configuration.
	Config Config
	// Model is the model as the sampling core sees it (without guidance).
	Model diffusion.Model
	// Store holds its weights (the EMA ones when the checkpoint has them).
	Store *model.Store
	// Autoencoder decodes its latents.
	Autoencoder *latent.Autoencoder
	// CLIP is the mini-CLIP whose text encoder it reads.
	CLIP *clip.Model

	backend compute.Backend
}

// OpenTextToImage opens the text-conditional model at path (a training
// checkpoint, whose autoencoder and CLIP are read from the files it
// recorded, or a bundle that carries them).
func OpenTextToImage(b compute.Backend, path string) (*TextToImage, error) {
	ck, err := diffusion.ReadCheckpoint(AutoencoderFile(path))
	if err != nil {
		return nil, err
	}
	c, err := FromJSON(ck.Config)
	if err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", path, err)
	}
	if !c.IsText() {
		return nil, fmt.Errorf("experiment: %s is not a text-conditional model", path)
	}
	p := &TextToImage{Config: c, backend: b}
	if p.Model, err = c.SamplingModel(); err != nil {
		return nil, err
	}
	if p.Store, err = diffusion.SamplingStore(ck, diffusion.HasEMA(ck)); err != nil {
		return nil, err
	}
	if p.Autoencoder, err = c.OpenAutoencoder(b, ck); err != nil {
		return nil, err
	}
	if p.CLIP, err = c.OpenCLIP(b, ck); err != nil {
		return nil, err
	}
	return p, nil
}

// Latents samples one latent (scaled, s·z) for each prompt with
// DPM-Solver++(2M) over steps levels (0: its default, 20) under
// classifier-free guidance w (1: none), from noise seeded by seed.
func (p *TextToImage) Latents(prompts []string, w float64, steps int, seed int64) ([]float32, error) {
	c, _, err := p.Config.Prompts(prompts)
	if err != nil {
		return nil, err
	}
	m := p.Model
	if w != 1 {
		if m, err = diffusion.ClassifierFree(m, w); err != nil {
			return nil, err
		}
	}
	x, err := diffusion.Sample(p.backend, p.Store, m, diffusion.DPMSolverPP2M{Steps: steps}, len(prompts), p.Config.DataDims(),
		diffusion.SampleOptions{Seed: seed, Cond: c})
	if err != nil {
		return nil, err
	}
	return tensors.MustCopyFlatData[float32](x), nil
}

// Generate returns one image for each prompt (flat, [len(prompts)] images
// of the dataset's shape, in [−1, 1] as far as the decoder learnt): the
// decoded Latents.
func (p *TextToImage) Generate(prompts []string, w float64, steps int, seed int64) ([]float32, error) {
	z, err := p.Latents(prompts, w, steps, seed)
	if err != nil {
		return nil, err
	}
	return p.Autoencoder.DecodeScaled(z, len(prompts), nil)
}

// CrossAttention shows where the model's cross-attention looks when it
// denoises the latent z0 (scaled, as Latents returns it) under prompt: z0
// is noised to each of the training steps ts (indices 0…T−1, with noise
// seeded by seed), the network is run on it with the prompt, and the
// weights of every cross-attention at the latent's full resolution are
// averaged over heads, blocks and steps. It returns the prompt's tokens as
// the model reads them (the start token "<bos>" first) and, for each, a map
// over the latent grid (h×w, row-major; for each pixel the weights of the
// tokens sum to 1).
func (p *TextToImage) CrossAttention(prompt string, z0 []float32, ts []int, seed int64) (tokens []string, maps [][]float32, err error) {
	c := p.Config
	dims := c.DataDims()
	size := dims[0] * dims[1] * dims[2]
	if len(z0) != size {
		return nil, nil, fmt.Errorf("experiment: CrossAttention needs one latent of %d values, got %d", size, len(z0))
	}
	if len(ts) == 0 {
		return nil, nil, fmt.Errorf("experiment: CrossAttention needs at least one step")
	}
	proc, _, _, err := c.Build()
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		if t < 0 || t >= proc.T() {
			return nil, nil, fmt.Errorf("experiment: step %d is outside 0…%d", t, proc.T()-1)
		}
	}
	uc, err := c.unetConfig(false)
	if err != nil {
		return nil, nil, err
	}
	cn, reports, err := c.Prompts([]string{prompt})
	if err != nil {
		return nil, nil, err
	}
	ids := tensors.MustCopyFlatData[int32](cn.Inputs[cond.Text])
	real := 1 + reports[0].Words - reports[0].Truncated // BOS and the words read
	for _, id := range ids[:real] {
		tokens = append(tokens, c.Tokenizer.Token(id))
	}
	n := len(ts)
	batchIDs := make([]int32, 0, n*len(ids))
	xs := make([]float32, 0, n*size)
	steps := make([]int32, n)
	for i, t := range ts {
		batchIDs = append(batchIDs, ids...)
		xs = append(xs, z0...)
		steps[i] = int32(t)
	}
	net := unet.UNetWithAttention(uc)
	enc := c.CLIP.Text
	side := uc.PaddedSize()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7a11))
	noise := make([]float32, len(xs))
	for i := range noise {
		noise[i] = float32(rng.NormFloat64())
	}
	exec, err := model.NewExec(p.backend, p.Store, func(scope *model.Scope, x0, t, eps, idsN *Node) *Node {
		ms := scope.In(diffusion.ModelScope)
		g := x0.Graph()
		xt := proc.QSample(x0, t, eps)
		ctx := enc.Context(ms.In(TextEncoderScope), g, cond.Nodes{Inputs: map[string]*Node{cond.Text: idsN}}, n)
		_, aMaps := net(ms, xt, t, ctx)
		var sum *Node
		count := 0
		for _, m := range aMaps {
			if m.Resolution != side {
				continue
			}
			w := ReduceSum(m.Weights, 0, 1) // over steps and heads: [P, L]
			if sum == nil {
				sum = w
			} else {
				sum = Add(sum, w)
			}
			count += n * m.Weights.Shape().Dimensions[1]
		}
		return DivScalar(sum, float64(count))
	})
	if err != nil {
		return nil, nil, err
	}
	shape := append([]int{n}, dims...)
	outs, err := exec.Call(tensors.FromFlatDataAndDimensions(xs, shape...), tensors.FromValue(steps),
		tensors.FromFlatDataAndDimensions(noise, shape...), tensors.FromFlatDataAndDimensions(batchIDs, n, len(ids)))
	if err != nil {
		return nil, nil, err
	}
	avg := tensors.MustCopyFlatData[float32](outs[0]) // [side·side, L]
	l := len(ids)
	maps = make([][]float32, real)
	for k := range maps {
		maps[k] = make([]float32, dims[0]*dims[1])
		for r := range dims[0] {
			for q := range dims[1] {
				maps[k][r*dims[1]+q] = avg[(r*side+q)*l+k] // the padded grid's top-left h×w
			}
		}
	}
	return tokens, maps, nil
}
