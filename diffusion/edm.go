package diffusion

// EDM is the deterministic Heun sampler of Karras et al. (2022,
// "Elucidating the design space of diffusion-based generative models",
// Algorithm 1 without churn) on Karras σ's. It works with x̃ = x/α, for which
// the probability-flow ODE reads dx̃/dσ̃ = (x̃ − x̂₀)/σ̃ with σ̃ = σ/α: from σ̃_i
// to σ̃_{i+1},
//
//	d  = (x̃ − x̂₀(x̃, σ̃_i))/σ̃_i,        x̃' = x̃ + (σ̃_{i+1} − σ̃_i) d,
//	d' = (x̃' − x̂₀(x̃', σ̃_{i+1}))/σ̃_{i+1},
//	x̃_{i+1} = x̃ + (σ̃_{i+1} − σ̃_i)(d + d')/2,
//
// except the last step, to σ̃ = 0 (the data), which is Euler's (x̃ = x̂₀).
// The model is evaluated at x = α x̃. The σ̃_i follow [KarrasGrid] (ρ = 7)
// from σ/α at t = 1 to σ/α at MinTime; a discrete process takes its nearest
// steps, without repeats, so its grid may have fewer than Steps levels. A
// grid of Steps levels takes Steps−1 Heun steps and the Euler step to the
// data: 2·Steps − 1 model evaluations (2·Steps − 2 with StopAtMinTime).
type EDM struct {
	// Steps is the number of levels (0: DefaultFastSteps).
	Steps int
	// Rho is ρ of the Karras spacing (0: 7).
	Rho float64
	// ClipX0 clips x̂₀ to [−1, 1] (pixel data).
	ClipX0 bool
	// StopAtMinTime ends at the last level (MinTime) instead of stepping to
	// the data.
	StopAtMinTime bool
}

// Start implements Solver.
func (s EDM) Start(b *Batch) (Stepper, error) {
	steps := s.Steps
	if steps == 0 {
		steps = DefaultFastSteps
	}
	grid, err := KarrasGrid(b.Levels, steps, s.Rho)
	if err != nil {
		return nil, err
	}
	grid = gridWithData(grid, s.StopAtMinTime)
	xs := make([]float64, len(b.X))
	for i, v := range b.X {
		xs[i] = v / grid[0].Alpha
	}
	return &edmStepper{s: s, grid: grid, xs: xs}, nil
}

type edmStepper struct {
	s    EDM
	grid []Level
	k    int
	xs   []float64 // x̃ = x/α at grid[k]
	// Within a step: the Euler point x̃' and the slope d.
	pred, d []float64
}

func (st *edmStepper) Len() int { return len(st.grid) - 1 }

// alphaTimes returns α x̃ at level l.
func alphaTimes(xs []float64, l Level) []float64 {
	x := make([]float64, len(xs))
	for i, v := range xs {
		x[i] = l.Alpha * v
	}
	return x
}

func (st *edmStepper) Next() (Query, bool) {
	if st.k >= len(st.grid)-1 {
		return Query{}, false
	}
	if st.pred != nil {
		l := st.grid[st.k+1]
		return Query{X: alphaTimes(st.pred, l), Level: l}, true
	}
	l := st.grid[st.k]
	return Query{X: alphaTimes(st.xs, l), Level: l}, true
}

func (st *edmStepper) Tell(out Output) (*StepInfo, error) {
	from, to := st.grid[st.k], st.grid[st.k+1]
	x0 := out.X0
	if st.s.ClipX0 {
		x0 = clip(x0)
	}
	sf, sn := from.ScaledSigma(), to.ScaledSigma()
	if st.pred == nil { // Euler predictor at σ̃_i
		st.d = make([]float64, len(x0))
		pred := make([]float64, len(x0))
		for i := range pred {
			st.d[i] = (st.xs[i] - x0[i]) / sf
			pred[i] = st.xs[i] + (sn-sf)*st.d[i]
		}
		if to.IsData() {
			return st.finish(pred, x0), nil
		}
		st.pred = pred
		return nil, nil
	}
	next := make([]float64, len(x0)) // Heun corrector at σ̃_{i+1}
	for i := range next {
		d2 := (st.pred[i] - x0[i]) / sn
		next[i] = st.xs[i] + (sn-sf)*(st.d[i]+d2)/2
	}
	st.pred, st.d = nil, nil
	return st.finish(next, x0), nil
}

func (st *edmStepper) finish(xs, x0 []float64) *StepInfo {
	st.xs = xs
	to := st.grid[st.k+1]
	info := &StepInfo{K: st.k, T: to.T, X: alphaTimes(xs, to), X0: x0}
	st.k++
	return info
}

func (st *edmStepper) Result() []float64 { return alphaTimes(st.xs, st.grid[len(st.grid)-1]) }
