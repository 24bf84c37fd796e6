package unet

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// MLPConfig configures the MLP denoiser for low-dimensional data (2-D toy
// sets). The zero value of a field means its default.
type MLPConfig struct {
	// Dim is the data dimension (default 2).
	Dim int
	// Hidden is the width of the hidden layers (default 128).
	Hidden int
	// Blocks is the number of residual blocks (default 3).
	Blocks int
	// TimeDim is the size of the sinusoidal time embedding (default 64).
	TimeDim int
	// LearnedVariance doubles the output (prediction, then variance values v).
	LearnedVariance bool
	// Activation is "relu" (default) or "silu"; see [Activation]. ReLU is the
	// default because on 2-D data it trained better in our runs (gaussians8,
	// 4,000 steps: true-density NLL of samples 0.63 nats against 1.43 for SiLU;
	// data 0.32) and is 1.6× faster to train and 3× faster to sample on the
	// pure-Go backend.
	Activation string
}

// WithDefaults returns the configuration with every zero field set to its default.
func (c MLPConfig) WithDefaults() MLPConfig {
	if c.Dim == 0 {
		c.Dim = 2
	}
	if c.Hidden == 0 {
		c.Hidden = 128
	}
	if c.Blocks == 0 {
		c.Blocks = 3
	}
	if c.TimeDim == 0 {
		c.TimeDim = 64
	}
	if c.Activation == "" {
		c.Activation = "relu"
	}
	return c
}

// Validate reports a configuration that cannot be built.
func (c MLPConfig) Validate() error {
	c = c.WithDefaults()
	if c.Dim < 1 || c.Hidden < 1 || c.Blocks < 0 || c.TimeDim < 2 || c.TimeDim%2 != 0 {
		return fmt.Errorf("unet: invalid MLP config %+v (need Dim, Hidden ≥ 1, Blocks ≥ 0, even TimeDim ≥ 2)", c)
	}
	if _, err := Activation(c.Activation); err != nil {
		return err
	}
	return nil
}

// NumParams returns the number of trainable parameters of the MLP.
func (c MLPConfig) NumParams() int {
	c = c.WithDefaults()
	h, e := c.Hidden, c.TimeDim
	out := c.Dim
	if c.LearnedVariance {
		out *= 2
	}
	n := (e*h + h) + (h*h + h) // time MLP
	n += c.Dim*h + h           // input layer
	n += c.Blocks * 3 * (h*h + h)
	n += h*out + out // output layer
	return n
}

// MLP returns the denoiser graph function of the configuration:
//
//	e = W₂ φ(W₁ sinusoidal(t))                 (time embedding)
//	h = W_in x
//	h ← h + W_b φ(W_a φ(h) + W_e φ(e))         (each residual block)
//	out = W_out φ(h)
//
// where φ is the activation and every W includes a bias.
//
// cond is ignored. Variables live under the scope given at call time.
func MLP(c MLPConfig) func(scope *model.Scope, xt, t, cond *Node) *Node {
	c = c.WithDefaults()
	act, err := Activation(c.Activation)
	if err != nil {
		exceptions.Panicf("%v", err)
	}
	return func(scope *model.Scope, xt, t, _ *Node) *Node {
		if xt.Rank() != 2 || xt.Shape().Dimensions[1] != c.Dim {
			exceptions.Panicf("unet: MLP with Dim=%d got x_t of shape %s", c.Dim, xt.Shape())
		}
		dt := xt.DType()
		e := SinusoidalEmbedding(t, c.TimeDim, dt)
		e = Dense(scope.In("time_1"), e, c.Hidden)
		e = Dense(scope.In("time_2"), act(e), c.Hidden)
		se := act(e)
		h := Dense(scope.In("input"), xt, c.Hidden)
		for b := range c.Blocks {
			bs := scope.In("block_%d", b)
			r := Add(Dense(bs.In("a"), act(h), c.Hidden), Dense(bs.In("time"), se, c.Hidden))
			h = Add(h, Dense(bs.In("b"), act(r), c.Hidden))
		}
		out := c.Dim
		if c.LearnedVariance {
			out *= 2
		}
		return Dense(scope.In("output"), act(h), out)
	}
}
