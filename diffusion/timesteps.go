package diffusion

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// TimestepSampler draws the training step of every example and the
// importance weight that keeps the loss an unbiased estimate of the
// uniform-t objective: weight = 1/(T·p_t).
type TimestepSampler interface {
	// Sample draws n step indices in [0, T) and their weights.
	Sample(rng *rand.Rand, n int) (t []int32, weights []float32)
	// Update records the per-example losses observed at steps t.
	Update(t []int32, losses []float64)
	// State and SetState serialise the sampler for exact resumption.
	State() ([]byte, error)
	SetState([]byte) error
}

// NewTimestepSampler returns "uniform" or "loss-aware" sampling over T steps.
func NewTimestepSampler(name string, T int) (TimestepSampler, error) {
	if T <= 0 {
		return nil, fmt.Errorf("diffusion: timestep sampler needs T > 0, got %d", T)
	}
	switch name {
	case "", "uniform":
		return UniformSampler{T: T}, nil
	case "loss-aware", "loss-second-moment":
		return NewLossAwareSampler(T), nil
	}
	return nil, fmt.Errorf("diffusion: unknown timestep sampler %q (want uniform or loss-aware)", name)
}

// UniformSampler draws t uniformly; every weight is 1.
type UniformSampler struct {
	// T is the number of steps.
	T int
}

// Sample implements TimestepSampler.
func (u UniformSampler) Sample(rng *rand.Rand, n int) ([]int32, []float32) {
	t := make([]int32, n)
	w := make([]float32, n)
	for i := range t {
		t[i] = int32(rng.IntN(u.T))
		w[i] = 1
	}
	return t, w
}

// Update implements TimestepSampler (uniform sampling learns nothing).
func (UniformSampler) Update([]int32, []float64) {}

// State implements TimestepSampler.
func (UniformSampler) State() ([]byte, error) { return []byte("null"), nil }

// SetState implements TimestepSampler.
func (UniformSampler) SetState([]byte) error { return nil }

// LossAwareSampler is improved DDPM's importance sampling of L_vlb: it keeps
// the last History losses seen at every step and samples t with probability
// p_t ∝ √E[L_t²], mixed with a small uniform part (Uniform) so that no step
// is starved. Until every step has History losses it samples uniformly.
type LossAwareSampler struct {
	// T is the number of steps.
	T int
	// History is how many recent losses are kept per step (10 in improved DDPM).
	History int
	// Uniform is the probability mass spread uniformly (0.001 in improved DDPM).
	Uniform float64

	losses [][]float64
}

// NewLossAwareSampler returns a loss-aware sampler with improved DDPM's settings.
func NewLossAwareSampler(T int) *LossAwareSampler {
	return &LossAwareSampler{T: T, History: 10, Uniform: 0.001, losses: make([][]float64, T)}
}

// warm reports whether every step has a full history.
func (s *LossAwareSampler) warm() bool {
	for _, h := range s.losses {
		if len(h) < s.History {
			return false
		}
	}
	return true
}

// Probabilities returns p_t for every step: uniform until every step has
// a full history, or while every recorded loss is 0.
func (s *LossAwareSampler) Probabilities() []float64 {
	p := make([]float64, s.T)
	uniform := func() []float64 {
		for i := range p {
			p[i] = 1 / float64(s.T)
		}
		return p
	}
	if !s.warm() {
		return uniform()
	}
	var sum float64
	for i, h := range s.losses {
		var m2 float64
		for _, l := range h {
			m2 += l * l
		}
		p[i] = math.Sqrt(m2 / float64(len(h)))
		sum += p[i]
	}
	if !(sum > 0) {
		return uniform()
	}
	for i := range p {
		p[i] = p[i]/sum*(1-s.Uniform) + s.Uniform/float64(s.T)
	}
	return p
}

// Sample implements TimestepSampler.
func (s *LossAwareSampler) Sample(rng *rand.Rand, n int) ([]int32, []float32) {
	p := s.Probabilities()
	cdf := make([]float64, len(p))
	var acc float64
	for i, v := range p {
		acc += v
		cdf[i] = acc
	}
	t := make([]int32, n)
	w := make([]float32, n)
	for i := range t {
		u := rng.Float64() * acc
		k := sort.SearchFloat64s(cdf, u)
		if k >= s.T {
			k = s.T - 1
		}
		t[i] = int32(k)
		w[i] = float32(1 / (float64(s.T) * p[k]))
	}
	return t, w
}

// Update implements TimestepSampler.
func (s *LossAwareSampler) Update(t []int32, losses []float64) {
	for i, k := range t {
		h := append(s.losses[k], losses[i])
		if len(h) > s.History {
			h = h[len(h)-s.History:]
		}
		s.losses[k] = h
	}
}

// State implements TimestepSampler.
func (s *LossAwareSampler) State() ([]byte, error) { return json.Marshal(s.losses) }

// SetState implements TimestepSampler.
func (s *LossAwareSampler) SetState(b []byte) error {
	var l [][]float64
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("diffusion: loss-aware sampler state: %w", err)
	}
	if len(l) != s.T {
		return fmt.Errorf("diffusion: loss-aware sampler state has %d steps, want %d", len(l), s.T)
	}
	for t, h := range l {
		if len(h) > s.History {
			return fmt.Errorf("diffusion: loss-aware sampler state holds %d losses at step %d, more than the history of %d", len(h), t, s.History)
		}
		for _, v := range h {
			if !(math.Abs(v) <= maxStateLoss) {
				return fmt.Errorf("diffusion: loss-aware sampler state holds the loss %g at step %d, outside [−%g, %g]", v, t, maxStateLoss, maxStateLoss)
			}
		}
	}
	s.losses = l
	return nil
}

// maxStateLoss bounds the losses SetState accepts, so that the sums of
// their squares in Probabilities stay finite.
const maxStateLoss = 1e100
