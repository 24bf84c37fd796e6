package score

import (
	"math"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// DefaultLangevinStepSize is ε of Song & Ermon (2019) for σ_L = 0.01.
const DefaultLangevinStepSize = 2e-5

// AnnealedLangevin is annealed Langevin dynamics (Song & Ermon 2019,
// Algorithm 1). Its noise levels are the SDE's at L evenly spaced times
// τ_i from 1 to ε = MinTime (with L = 1, the single time ε), σ_i = σ(τ_i);
// for the VE SDE, σ(t) = σ_min (σ_max/σ_min)^t, so they form NCSN's
// geometric sequence from σ_max to (almost) σ_min, and a noise-conditional
// score network is a VE score model evaluated at those τ_i. At each level it
// runs T steps of
//
//	α_i = ε σ_i²/σ_L²,  x ← x + ½ α_i s_θ(x, τ_i) + √α_i z,  z ~ N(0, I),
//
// starting from the SDE's prior. With another SDE (VP) the same rule runs
// Langevin dynamics on each p_{τ_i} with σ_i the marginal std. The last step
// is returned without its noise term. The model's noise levels must be an
// [SDE].
type AnnealedLangevin struct {
	// Levels is L ≥ 1, the number of noise levels.
	Levels int
	// StepsPerLevel is T ≥ 1, the Langevin steps at each level.
	StepsPerLevel int
	// StepSize is ε > 0; 0 means DefaultLangevinStepSize.
	StepSize float64
}

// Start implements diffusion.Solver.
func (s AnnealedLangevin) Start(b *diffusion.Batch) (diffusion.Stepper, error) {
	sde, err := sdeOf(b.Levels, "annealed Langevin dynamics")
	if err != nil {
		return nil, err
	}
	if s.Levels < 1 || s.StepsPerLevel < 1 {
		return nil, errorf("AnnealedLangevin needs Levels ≥ 1 and StepsPerLevel ≥ 1, got %d and %d", s.Levels, s.StepsPerLevel)
	}
	if s.StepSize < 0 || math.IsNaN(s.StepSize) {
		return nil, errorf("AnnealedLangevin needs StepSize ≥ 0, got %v", s.StepSize)
	}
	eps := s.StepSize
	if eps == 0 {
		eps = DefaultLangevinStepSize
	}
	taus := []float64{sde.MinTime()}
	if s.Levels > 1 {
		taus = linspace(1, sde.MinTime(), s.Levels-1)
	}
	_, sigmaL := sde.Marginal(taus[len(taus)-1])
	return &langevinStepper{s: s, sde: sde, taus: taus, eps: eps, sigmaL: sigmaL, b: b, x: b.X}, nil
}

type langevinStepper struct {
	s           AnnealedLangevin
	sde         SDE
	taus        []float64 // τ_0 = 1 > … > τ_{L−1} = ε
	eps, sigmaL float64
	b           *diffusion.Batch
	k           int // step number: level k / StepsPerLevel
	x           []float64
}

func (st *langevinStepper) Len() int { return len(st.taus) * st.s.StepsPerLevel }

func (st *langevinStepper) Next() (diffusion.Query, bool) {
	if st.k >= st.Len() {
		return diffusion.Query{}, false
	}
	return diffusion.Query{X: st.x, Level: st.sde.At(st.taus[st.k/st.s.StepsPerLevel])}, true
}

func (st *langevinStepper) Tell(out diffusion.Output) (*diffusion.StepInfo, error) {
	tau := st.taus[st.k/st.s.StepsPerLevel]
	lv := st.sde.At(tau)
	alpha := st.eps * lv.Sigma * lv.Sigma / (st.sigmaL * st.sigmaL) // α_i = ε σ_i²/σ_L²
	last := st.k == st.Len()-1
	sc := out.Score(lv)
	next := make([]float64, len(st.x))
	for i, x := range st.x {
		next[i] = x + 0.5*alpha*sc[i]
	}
	if !last {
		z := st.b.Noise.Normal(len(next))
		sd := math.Sqrt(alpha)
		for i := range next {
			next[i] += sd * z[i]
		}
	}
	st.x = next
	info := &diffusion.StepInfo{K: st.k, T: tau, X: next, X0: out.X0}
	st.k++
	return info, nil
}

func (st *langevinStepper) Result() []float64 { return st.x }
