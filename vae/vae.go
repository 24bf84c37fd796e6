package vae

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
	dmath "github.com/godiffusion/diffusion-models/math"
)

// BatchSize is the number of examples or latents [VAE] encodes or decodes at once.
const BatchSize = 250

// VAE is a trained VAE ready to encode, decode, sample and evaluate. Its
// weights live in a store under diffusion.ModelScope, as a
// diffusion.Trainer of [Config.Loss] leaves them (diffusion.SamplingStore
// of its checkpoint, with the EMA weights or the raw ones).
type VAE struct {
	// Config is the VAE's architecture (defaults filled in).
	Config Config

	enc, dec *model.Exec
}

// New returns the VAE of configuration c with the weights in store. It is
// an error when the store holds no encoder or no decoder weights.
func New(backend compute.Backend, c Config, store *model.Store) (*VAE, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	for _, part := range []string{"encoder", "decoder"} {
		if !diffusion.HasModelWeights(store, part) {
			return nil, fmt.Errorf("vae: the store has no %s weights (no variable under /%s/%s/)", part, diffusion.ModelScope, part)
		}
	}
	v := &VAE{Config: c}
	var err error
	v.enc, err = model.NewExec(backend, store, func(scope *model.Scope, x *Node) []*Node {
		mu, logVar := c.Encoder(scope.In(diffusion.ModelScope).In("encoder"), x)
		return []*Node{mu, logVar}
	})
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	v.dec, err = model.NewExec(backend, store, func(scope *model.Scope, z *Node) []*Node {
		mean, logVar := c.Decoder(scope.In(diffusion.ModelScope).In("decoder"), z)
		return []*Node{mean, logVar}
	})
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	return v, nil
}

// Encode returns the posterior parameters μ and log σ² (each flat [n,
// LatentDim]) of n examples x (flat [n, DataDims...]).
func (v *VAE) Encode(x []float32, n int) (mu, logVar []float32, err error) {
	outs, err := v.run(v.enc, "encoding", x, n, v.Config.DataDims(), []int{v.Config.LatentDim}, nil)
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// Decode returns the mean and log-variance of p(x|z) (each flat [n,
// DataDims...]) of n latents z (flat [n, LatentDim]).
func (v *VAE) Decode(z []float32, n int) (mean, logVar []float32, err error) {
	outs, err := v.run(v.dec, "decoding", z, n, []int{v.Config.LatentDim}, v.Config.DataDims(), nil)
	if err != nil {
		return nil, nil, err
	}
	return outs[0], outs[1], nil
}

// SampleOptions configures [VAE.Sample].
type SampleOptions struct {
	// Seed seeds the draws of z (and of the decoder's noise).
	Seed uint64
	// DecoderNoise draws x ~ p(x|z) instead of returning the decoder's mean:
	// x = m(z) + σ(z)·ε, and for images the nearest 8-bit level of it
	// (dmath.Quantize8Bit, which is also a draw from the discretised
	// decoder up to the bins' probabilities being those of the Gaussian).
	// false returns m(z), the usual VAE picture (smoother, less noisy).
	DecoderNoise bool
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// Sample draws n examples from the model: z ~ N(0, I), then the decoder's
// mean m(z) (or a draw of p(x|z), see [SampleOptions.DecoderNoise]). The
// result is flat [n, DataDims...]; images are not clipped unless noise is
// drawn (then they are 8-bit levels in [−1, 1]).
func (v *VAE) Sample(n int, opts SampleOptions) ([]float32, error) {
	if n < 0 {
		return nil, fmt.Errorf("vae: Sample needs n ≥ 0, got %d", n)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x76616573616d706c)) // "vaesampl"
	z := make([]float32, n*v.Config.LatentDim)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	outs, err := v.run(v.dec, "sampling", z, n, []int{v.Config.LatentDim}, v.Config.DataDims(), opts.Progress)
	if err != nil {
		return nil, err
	}
	x, logVar := outs[0], outs[1]
	if opts.DecoderNoise {
		for i := range x {
			s := math.Exp(0.5 * float64(logVar[i]))
			val := float64(x[i]) + s*rng.NormFloat64()
			if v.Config.Kind == KindConv {
				val = dmath.Quantize8Bit(val)
			}
			x[i] = float32(val)
		}
	}
	return x, nil
}

// ELBOOptions configures [VAE.ELBO].
type ELBOOptions struct {
	// Samples is the number K of draws z ~ q(z|x) per example that estimate
	// the reconstruction term (default 1).
	Samples int
	// Seed seeds the draws.
	Seed uint64
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// ELBOResult is the negative ELBO of a set of examples, in nats per example
// and in bits per dimension.
type ELBOResult struct {
	// NegELBO holds, for each example, Reconstruction + KL: an unbiased
	// estimate of −ELBO(x) ≥ −log p(x), in nats.
	NegELBO []float64
	// Reconstruction holds, for each example, the mean over the K draws of
	// −log p(x|z), in nats.
	Reconstruction []float64
	// KL holds, for each example, KL(q(z|x) ‖ N(0, I)) in closed form, in nats.
	KL []float64
	// Mean is the mean of NegELBO over the examples, in nats per example.
	Mean float64
	// StdErr is the standard error of Mean: the spread of NegELBO over the
	// examples (data and draws together) over √n (0 for n < 2).
	StdErr float64
	// BitsPerDim is Mean/(D ln 2), D = [Config.Dims] (math/README.md §5.8):
	// for images, bits per pixel of the 8-bit data, the unit of diffusion's
	// bound (diffusion.VLB); for 2-D data, of the density.
	BitsPerDim float64
}

// ELBO evaluates the negative ELBO of n examples x (flat [n, DataDims...];
// images must be 8-bit levels 2k/255 − 1):
//
//	−ELBO(x) = E_{q(z|x)}[−log p(x|z)] + KL(q(z|x) ‖ N(0, I)),
//
// the expectation estimated with K = opts.Samples draws z = μ + σ·ε, the KL
// in closed form. Everything after the networks is computed in float64: the
// Gaussian density for KindMLP, and for KindConv the discretised Gaussian
// without the training loss's 10⁻¹² floor (dmath.DiscretizedGaussianLogLikelihood),
// exactly as diffusion.BoundEvaluator computes the diffusion bound's decoder
// term. The result therefore bounds −log P(x) of the 8-bit data and is
// comparable, in bits/dim, with diffusion.VLB's Total on the same images.
func (v *VAE) ELBO(x []float32, n int, opts ELBOOptions) (ELBOResult, error) {
	c := v.Config
	k := opts.Samples
	if k == 0 {
		k = 1
	}
	if k < 0 {
		return ELBOResult{}, fmt.Errorf("vae: ELBO needs Samples ≥ 1 (0: 1), got %d", opts.Samples)
	}
	d, l := c.Dims(), c.LatentDim
	if n < 1 || len(x) != n*d {
		return ELBOResult{}, fmt.Errorf("vae: ELBO of %d examples of %v needs %d values, got %d", n, c.DataDims(), n*d, len(x))
	}
	for i, val := range x {
		f := float64(val)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ELBOResult{}, fmt.Errorf("vae: ELBO: value %d (example %d) is %g", i, i/d, f)
		}
		if c.Kind == KindConv && math.Abs(f-dmath.Quantize8Bit(f)) > 1e-4 {
			return ELBOResult{}, fmt.Errorf("vae: ELBO: pixel %d (example %d) is %g, not an 8-bit level 2k/255 − 1: the discretised decoder's likelihood is of 8-bit images", i, i/d, f)
		}
	}
	mu, logVar, err := v.Encode(x, n)
	if err != nil {
		return ELBOResult{}, err
	}
	res := ELBOResult{NegELBO: make([]float64, n), Reconstruction: make([]float64, n), KL: make([]float64, n)}
	for i := range n {
		for j := i * l; j < (i+1)*l; j++ {
			res.KL[i] += dmath.NormalKL(float64(mu[j]), float64(logVar[j]), 0, 0)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x7661656c626f)) // "vaelbo"
	bar := progress.New(opts.Progress, k, "ELBO")
	z := make([]float32, n*l)
	for range k {
		for j := range z {
			s := math.Exp(0.5 * float64(logVar[j]))
			z[j] = float32(float64(mu[j]) + s*rng.NormFloat64())
		}
		mean, decLogVar, err := v.Decode(z, n)
		if err != nil {
			bar.Done()
			return ELBOResult{}, err
		}
		for i := range n {
			res.Reconstruction[i] += c.reconstruction64(x[i*d:(i+1)*d], mean[i*d:(i+1)*d], decLogVar[i*d:(i+1)*d]) / float64(k)
		}
		bar.Add(1, "")
	}
	bar.Done()
	var sum, sq float64
	for i := range n {
		res.NegELBO[i] = res.Reconstruction[i] + res.KL[i]
		sum += res.NegELBO[i]
	}
	res.Mean = sum / float64(n)
	for _, e := range res.NegELBO {
		sq += (e - res.Mean) * (e - res.Mean)
	}
	if n > 1 {
		res.StdErr = math.Sqrt(sq / float64(n-1) / float64(n))
	}
	res.BitsPerDim = dmath.NatsToBitsPerDim(res.Mean, d)
	return res, nil
}

// reconstruction64 is [Config.Reconstruction] of one example in float64,
// without the floor.
func (c Config) reconstruction64(x, mean, logVar []float32) float64 {
	var nll float64
	for i := range x {
		if c.Kind == KindConv {
			nll -= dmath.DiscretizedGaussianLogLikelihood(float64(x[i]), float64(mean[i]), float64(logVar[i]))
			continue
		}
		dx := float64(x[i]) - float64(mean[i])
		lv := float64(logVar[i])
		nll += 0.5 * (math.Log(2*math.Pi) + lv + dx*dx*math.Exp(-lv))
	}
	return nll
}

// run applies exec to n inputs of dims in batches of BatchSize and returns
// its two outputs, each flat [n, outDims...].
func (v *VAE) run(exec *model.Exec, desc string, in []float32, n int, dims, outDims []int, w io.Writer) ([2][]float32, error) {
	per, outPer := prod(dims), prod(outDims)
	var out [2][]float32
	if n < 0 || len(in) != n*per {
		return out, fmt.Errorf("vae: %s %d items of %v needs %d values, got %d", desc, n, dims, n*per, len(in))
	}
	out[0], out[1] = make([]float32, 0, n*outPer), make([]float32, 0, n*outPer)
	bar := progress.New(w, n, desc)
	defer bar.Done()
	for from := 0; from < n; from += BatchSize {
		b := min(BatchSize, n-from)
		x := tensors.FromFlatDataAndDimensions(in[from*per:(from+b)*per], append([]int{b}, dims...)...)
		outs, err := safecall.Call(exec, x)
		if err != nil {
			return out, fmt.Errorf("vae: %s: %w", desc, err)
		}
		for i := range out {
			out[i] = append(out[i], tensors.MustCopyFlatData[float32](outs[i])...)
		}
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
