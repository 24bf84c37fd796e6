package score

import (
	"math"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// EulerMaruyama integrates the reverse-time SDE
//
//	dx = [f(t) x − g(t)² s_θ(x, t)] dt + g(t) dw̄
//
// with the Euler–Maruyama scheme over Steps equal steps from t = 1 to
// ε = MinTime: with Δt = t_k − t_{k+1} > 0 and z ~ N(0, I),
//
//	x_{k+1} = x_k − [f x_k − g² s_θ(x_k, t_k)] Δt + g(t_k) √Δt z.
//
// The last step is returned without its noise term (Song et al.'s code does
// the same). The model's noise levels must be an [SDE].
type EulerMaruyama struct {
	// Steps is N ≥ 1, the number of steps.
	Steps int
}

// Start implements diffusion.Solver.
func (s EulerMaruyama) Start(b *diffusion.Batch) (diffusion.Stepper, error) {
	sde, err := sdeOf(b.Levels, "Euler–Maruyama")
	if err != nil {
		return nil, err
	}
	times, err := timeGrid("EulerMaruyama", sde, s.Steps)
	if err != nil {
		return nil, err
	}
	return &emStepper{sde: sde, times: times, b: b, x: b.X}, nil
}

type emStepper struct {
	sde   SDE
	times []float64
	b     *diffusion.Batch
	k     int
	x     []float64
}

func (st *emStepper) Len() int { return len(st.times) - 1 }

func (st *emStepper) Next() (diffusion.Query, bool) {
	if st.k >= len(st.times)-1 {
		return diffusion.Query{}, false
	}
	return diffusion.Query{X: st.x, Level: st.sde.At(st.times[st.k])}, true
}

func (st *emStepper) Tell(out diffusion.Output) (*diffusion.StepInfo, error) {
	t, tn := st.times[st.k], st.times[st.k+1]
	lv := st.sde.At(t)
	f, g := st.sde.DriftDiffusion(t)
	dt := t - tn
	last := st.k == len(st.times)-2
	var z []float64
	if !last {
		z = st.b.Noise.Normal(len(st.x))
	}
	sc := out.Score(lv)
	next := make([]float64, len(st.x))
	noise := g * math.Sqrt(dt)
	for i, x := range st.x {
		next[i] = x - (f*x-g*g*sc[i])*dt
		if !last {
			next[i] += noise * z[i]
		}
	}
	st.x = next
	info := &diffusion.StepInfo{K: st.k, T: tn, X: next, X0: out.X0}
	st.k++
	return info, nil
}

func (st *emStepper) Result() []float64 { return st.x }
