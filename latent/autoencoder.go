package latent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/progress"
	"github.com/godiffusion/diffusion-models/internal/safecall"
)

// BatchSize is the number of images or latents [Autoencoder] encodes or
// decodes at once.
const BatchSize = 250

// Autoencoder is a trained autoencoder ready to encode images and decode
// latents. Its weights live in a store under diffusion.ModelScope, as a
// diffusion.Trainer of [Config.Loss] leaves them.
type Autoencoder struct {
	// Config is the autoencoder's architecture.
	Config Config
	// Scale is the latent scale factor s ([MeasureScale]): a latent
	// diffusion model works on s·μ(x). 0 means not measured yet.
	Scale float64

	backend  compute.Backend
	store    *model.Store
	enc, dec *model.Exec
}

// New returns the autoencoder of configuration c with the weights in store
// (under diffusion.ModelScope) and the scale factor scale (0: not measured).
func New(backend compute.Backend, c Config, store *model.Store, scale float64) (*Autoencoder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if scale < 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("latent: the scale factor must be finite and ≥ 0, got %g", scale)
	}
	c = c.WithDefaults()
	a := &Autoencoder{Config: c, Scale: scale, backend: backend, store: store}
	var err error
	a.enc, err = model.NewExec(backend, store, func(scope *model.Scope, x *Node) *Node {
		mu, _ := c.Encoder(scope.In(diffusion.ModelScope).In("encoder"), x)
		return mu
	})
	if err != nil {
		return nil, err
	}
	a.dec, err = model.NewExec(backend, store, func(scope *model.Scope, z *Node) *Node {
		return c.Decoder(scope.In(diffusion.ModelScope).In("decoder"), z)
	})
	return a, err
}

// Encode returns the posterior means μ of n images (flat, [n, ImageSize,
// ImageSize, InChannels] channels last, in [−1, 1]), flat [n, LatentSize,
// LatentSize, LatentChannels], unscaled. A progress bar goes to bar (nil:
// none).
func (a *Autoencoder) Encode(images []float32, n int, bar io.Writer) ([]float32, error) {
	return a.run(a.enc, "encoding", images, n, a.Config.ImageDims(), a.Config.LatentDims(), bar)
}

// Decode returns the images of n latents z (flat, [n, LatentSize,
// LatentSize, LatentChannels], unscaled: divide a diffusion model's samples
// by Scale first, or use [Autoencoder.DecodeScaled]), flat [n, ImageSize,
// ImageSize, InChannels], not clipped.
func (a *Autoencoder) Decode(z []float32, n int, bar io.Writer) ([]float32, error) {
	return a.run(a.dec, "decoding", z, n, a.Config.LatentDims(), a.Config.ImageDims(), bar)
}

// EncodeScaled returns s·μ of n images: the latents a latent diffusion
// model is trained on. It is an error before the scale is measured.
func (a *Autoencoder) EncodeScaled(images []float32, n int, bar io.Writer) ([]float32, error) {
	if a.Scale == 0 {
		return nil, fmt.Errorf("latent: the autoencoder's scale factor has not been measured")
	}
	mu, err := a.Encode(images, n, bar)
	if err != nil {
		return nil, err
	}
	Scale(mu, a.Scale)
	return mu, nil
}

// DecodeScaled returns the images of n latents of a latent diffusion model,
// decoder(z/s).
func (a *Autoencoder) DecodeScaled(z []float32, n int, bar io.Writer) ([]float32, error) {
	if a.Scale == 0 {
		return nil, fmt.Errorf("latent: the autoencoder's scale factor has not been measured")
	}
	u := make([]float32, len(z))
	copy(u, z)
	Scale(u, 1/a.Scale)
	return a.Decode(u, n, bar)
}

// Reconstruct returns decoder(μ(x)) of n images.
func (a *Autoencoder) Reconstruct(images []float32, n int, bar io.Writer) ([]float32, error) {
	mu, err := a.Encode(images, n, bar)
	if err != nil {
		return nil, err
	}
	return a.Decode(mu, n, bar)
}

// Scale multiplies the latents v by s in place (in float64, rounded once):
// s·μ for a latent model's training data, 1/s before decoding its samples.
func Scale(v []float32, s float64) {
	for i := range v {
		v[i] = float32(float64(v[i]) * s)
	}
}

// run applies exec to n inputs of dims in batches of BatchSize.
func (a *Autoencoder) run(exec *model.Exec, desc string, in []float32, n int, dims, outDims []int, w io.Writer) ([]float32, error) {
	per, outPer := prod(dims), prod(outDims)
	if n < 0 || len(in) != n*per {
		return nil, fmt.Errorf("latent: %s %d items of %v needs %d values, got %d", desc, n, dims, n*per, len(in))
	}
	out := make([]float32, 0, n*outPer)
	bar := progress.New(w, n, desc)
	for from := 0; from < n; from += BatchSize {
		b := min(BatchSize, n-from)
		x := tensors.FromFlatDataAndDimensions(in[from*per:(from+b)*per], append([]int{b}, dims...)...)
		outs, err := safecall.Call(exec, x)
		if err != nil {
			return nil, fmt.Errorf("latent: %s: %w", desc, err)
		}
		out = append(out, tensors.MustCopyFlatData[float32](outs[0])...)
		bar.Add(b, "")
	}
	bar.Done()
	return out, nil
}

func prod(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}

// MeasureScale returns the scale factor s = 1/std(v) of latents v, the
// standard deviation taken over all their elements (population, in
// float64), so that s·v has unit variance. It is an error for fewer than
// two values or a zero or non-finite spread.
func MeasureScale(v []float32) (float64, error) {
	if len(v) < 2 {
		return 0, fmt.Errorf("latent: measuring the scale needs at least 2 latent values, got %d", len(v))
	}
	var mean float64
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(len(v))
	var ss float64
	for _, x := range v {
		d := float64(x) - mean
		ss += d * d
	}
	std := math.Sqrt(ss / float64(len(v)))
	if !(std > 0) || math.IsInf(std, 0) {
		return 0, fmt.Errorf("latent: the latents' standard deviation is %g: cannot scale them to unit variance", std)
	}
	return 1 / std, nil
}

// FileSHA256 returns the hex SHA-256 of the file at path: the identity of
// an autoencoder checkpoint that a latent diffusion model records.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("latent: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("latent: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrMismatch is wrapped by [CheckPair]'s error.
var ErrMismatch = fmt.Errorf("autoencoder mismatch")

// CheckPair returns nil when the autoencoder checkpoint at path has the
// SHA-256 want that a latent diffusion model recorded, else an error
// naming both hashes.
func CheckPair(path, want string) error {
	got, err := FileSHA256(path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("latent: %w: the latent model was trained on the autoencoder with SHA-256 %s, but %s has SHA-256 %s; use the autoencoder it was trained with",
			ErrMismatch, want, path, got)
	}
	return nil
}
