package gan

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// BatchSize is the number of examples [GAN] generates or scores at once.
const BatchSize = 250

// GAN is a trained GAN ready to sample and to score examples. Its weights
// live in a store under diffusion.ModelScope, as a diffusion.Trainer of
// [Config.Loss] leaves them: diffusion.SamplingStore of its checkpoint, with
// the EMA weights (the usual choice for the generator) or the raw ones.
type GAN struct {
	// Config is the GAN's architecture (defaults filled in).
	Config Config

	gen, disc *model.Exec
}

// New returns the GAN of configuration c with the weights in store. It is
// an error when the store holds no generator or no discriminator weights.
func New(backend compute.Backend, c Config, store *model.Store) (*GAN, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	for _, part := range []string{"generator", "discriminator"} {
		if !diffusion.HasModelWeights(store, part) {
			return nil, fmt.Errorf("gan: the store has no %s weights (no variable under /%s/%s/)", part, diffusion.ModelScope, part)
		}
	}
	m := &GAN{Config: c}
	var err error
	m.gen, err = model.NewExec(backend, store, func(scope *model.Scope, z *Node) *Node {
		return c.Generator(scope.In(diffusion.ModelScope).In("generator"), z)
	})
	if err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	m.disc, err = model.NewExec(backend, store, func(scope *model.Scope, x *Node) *Node {
		return c.Discriminator(scope.In(diffusion.ModelScope).In("discriminator"), x, false)
	})
	if err != nil {
		return nil, fmt.Errorf("gan: %w", err)
	}
	return m, nil
}

// Sample returns n generated examples G(z), z ~ N(0, I) drawn from a
// generator seeded by seed, flat [n, DataDims...]. A progress bar goes to
// bar (nil: none).
func (m *GAN) Sample(n int, seed uint64, bar io.Writer) ([]float32, error) {
	if n < 0 {
		return nil, fmt.Errorf("gan: Sample needs n ≥ 0, got %d", n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x67616e73616d706c)) // "gansampl"
	z := make([]float32, n*m.Config.NoiseDim)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	return m.run(m.gen, "sampling", z, n, []int{m.Config.NoiseDim}, prod(m.Config.DataDims()), bar)
}

// Logits returns the discriminator's logits D(x) of n examples x (flat [n,
// DataDims...]); σ(D(x)) is its probability that x is real.
func (m *GAN) Logits(x []float32, n int) ([]float32, error) {
	return m.run(m.disc, "scoring", x, n, m.Config.DataDims(), 1, nil)
}

// run applies exec to n inputs of dims in batches of BatchSize; each input
// gives outPer values.
func (m *GAN) run(exec *model.Exec, desc string, in []float32, n int, dims []int, outPer int, w io.Writer) ([]float32, error) {
	per := prod(dims)
	if n < 0 || len(in) != n*per {
		return nil, fmt.Errorf("gan: %s %d items of %v needs %d values, got %d", desc, n, dims, n*per, len(in))
	}
	out := make([]float32, 0, n*outPer)
	bar := progress.New(w, n, desc)
	defer bar.Done()
	for from := 0; from < n; from += BatchSize {
		b := min(BatchSize, n-from)
		x := tensors.FromFlatDataAndDimensions(in[from*per:(from+b)*per], append([]int{b}, dims...)...)
		outs, err := safecall.Call(exec, x)
		if err != nil {
			return nil, fmt.Errorf("gan: %s: %w", desc, err)
		}
		out = append(out, tensors.MustCopyFlatData[float32](outs[0])...)
		bar.Add(b, "")
	}
	return out, nil
}

func prod(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}
