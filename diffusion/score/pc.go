package score

import (
	"math"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// Default signal-to-noise ratios r of the Langevin corrector (Song et al.
// 2021, Appendix G): 0.16 for the VE SDE and 0.01 for VP and sub-VP.
const (
	DefaultSNRVE = 0.16
	DefaultSNRVP = 0.01
)

// PredictorCorrector is predictor–corrector sampling (Song et al. 2021,
// Algorithms 2 and 3), in the order of Song et al.'s code: every step runs
// Corrector Langevin steps at t_k, then a reverse-diffusion predictor from
// t_k to t_{k+1}.
//
// Corrector (Langevin, Algorithms 4 and 5), at t = t_k, repeated M times:
//
//	g = s_θ(x, t),  z ~ N(0, I),  ε = 2 (r ‖z‖/‖g‖)²,  x ← x + ε g + √(2ε) z,
//
// where ‖z‖ and ‖g‖ are the per-example norms averaged over the batch (as in
// Song et al.'s code, so ε is one scalar per batch) and r is the SNR. The
// α_i factor of Algorithm 5 (VP) is left out: it is 1 − O(1/N).
//
// Predictor: the forward transition from t' = t_{k+1} to t = t_k is
// x_t = a x_{t'} + √v z with a = m(t)/m(t') and v = σ(t)² − a² σ(t')²;
// reversing it with the score at t gives
//
//	x' = (x + v s_θ(x, t))/a + √v z.
//
// For the VE SDE (a = 1, v = σ_t² − σ_{t'}²) this is Algorithm 2's predictor;
// for the VP SDE (a = √α_i, v ≈ β_i) it is DDPM's ancestral step with σ² = β
// (Song et al.'s reverse-diffusion predictor to first order). It is computed
// as that step, diffusion.DDPM.Step with Variance FixedLarge from level t to
// level t': with x̂₀ = (x + σ(t)² s_θ)/m(t), its mean
// m(t') v/σ(t)² x̂₀ + a σ(t')²/σ(t)² x equals (x + v s_θ)/a since
// v + a² σ(t')² = σ(t)², and its variance is β = v. A model's learned
// variance is not used. The last step is returned without its noise term.
// The model's noise levels must be an [SDE].
type PredictorCorrector struct {
	// Steps is N ≥ 1, the number of predictor steps.
	Steps int
	// Corrector is M ≥ 0, the number of Langevin corrector steps before each
	// predictor step (0: predictor only; Song et al. use 1).
	Corrector int
	// SNR is r > 0; 0 means DefaultSNRVE for the VE SDE and DefaultSNRVP otherwise.
	SNR float64
}

// Start implements diffusion.Solver.
func (s PredictorCorrector) Start(b *diffusion.Batch) (diffusion.Stepper, error) {
	sde, err := sdeOf(b.Levels, "predictor–corrector")
	if err != nil {
		return nil, err
	}
	if s.Corrector < 0 {
		return nil, errorf("PredictorCorrector needs Corrector ≥ 0, got %d", s.Corrector)
	}
	if s.SNR < 0 || math.IsNaN(s.SNR) {
		return nil, errorf("PredictorCorrector needs SNR ≥ 0, got %v", s.SNR)
	}
	times, err := timeGrid("PredictorCorrector", sde, s.Steps)
	if err != nil {
		return nil, err
	}
	snr := s.SNR
	if snr == 0 {
		snr = DefaultSNRVP
		if sde.Name() == "ve" {
			snr = DefaultSNRVE
		}
	}
	return &pcStepper{s: s, snr: snr, sde: sde, times: times, b: b, x: b.X}, nil
}

type pcStepper struct {
	s     PredictorCorrector
	snr   float64
	sde   SDE
	times []float64
	b     *diffusion.Batch
	k     int
	j     int // corrector steps taken in this step
	x     []float64
}

func (st *pcStepper) Len() int { return len(st.times) - 1 }

func (st *pcStepper) Next() (diffusion.Query, bool) {
	if st.k >= len(st.times)-1 {
		return diffusion.Query{}, false
	}
	return diffusion.Query{X: st.x, Level: st.sde.At(st.times[st.k])}, true
}

func (st *pcStepper) Tell(out diffusion.Output) (*diffusion.StepInfo, error) {
	t, tn := st.times[st.k], st.times[st.k+1]
	lv := st.sde.At(t)
	if st.j < st.s.Corrector { // Langevin corrector at t_k
		sc := out.Score(lv)
		z := st.b.Noise.Normal(len(st.x))
		ratio := st.snr * batchNorm(z, st.b.N, st.b.D) / batchNorm(sc, st.b.N, st.b.D)
		eps := 2 * ratio * ratio
		next := make([]float64, len(st.x))
		for i, x := range st.x {
			next[i] = x + eps*sc[i] + math.Sqrt(2*eps)*z[i]
		}
		st.x = next
		st.j++
		return nil, nil
	}
	// Predictor: DDPM's ancestral step from t_k to t_{k+1} with σ² = β = v
	// (FixedLarge), without out.V (a learned variance). DDPM.Step adds noise
	// unless the target is the data, which ε is not, so the last step passes
	// z = 0 to drop its noise term.
	var z []float64
	if st.k == len(st.times)-2 {
		z = make([]float64, len(st.x))
	} else {
		z = st.b.Noise.Normal(len(st.x))
	}
	pred := out
	pred.V = nil
	next, _, err := diffusion.DDPM{Variance: diffusion.FixedLarge}.Step(lv, st.sde.At(tn), st.x, pred, z)
	if err != nil {
		return nil, err
	}
	st.x = next
	info := &diffusion.StepInfo{K: st.k, T: tn, X: next, X0: out.X0}
	st.k++
	st.j = 0
	return info, nil
}

func (st *pcStepper) Result() []float64 { return st.x }
