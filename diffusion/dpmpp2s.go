package diffusion

// DPMSolverPP2S is DPM-Solver++(2S) (Lu et al. 2022, "DPM-Solver++",
// Algorithm 1 with r = ½): a second-order single-step solver of the
// probability-flow ODE. From level t_{k−1} to t_k, with h = λ_k − λ_{k−1} and
// an intermediate level s at λ_s = λ_{k−1} + r h,
//
//	u   = (σ_s/σ_{k−1}) x − α_s (e^{−rh} − 1) x̂₀(x, t_{k−1}),
//	D   = (1 − 1/(2r)) x̂₀(x, t_{k−1}) + 1/(2r) x̂₀(u, s),
//	x_k = (σ_k/σ_{k−1}) x − α_k (e^{−h} − 1) D,
//
// two model evaluations a step. On a discrete process s is the step nearest
// to λ_s, and r is recomputed from it (a step whose midpoint coincides with
// an end is taken at first order). The last step, to the data, is x = x̂₀.
// The grid has Steps levels spaced like [DPMSolverPP2M]'s, as [EDM]'s, so a
// solve takes Steps−1 two-stage steps and the step to the data: 2·Steps − 1
// model evaluations (2·Steps − 2 with StopAtMinTime).
type DPMSolverPP2S struct {
	// Steps is the number of levels (0: DefaultFastSteps/2, 19 model
	// evaluations).
	Steps int
	// Spacing spaces the levels as for [DPMSolverPP2M].
	Spacing string
	// ClipX0 clips x̂₀ to [−1, 1] (pixel data).
	ClipX0 bool
	// StopAtMinTime ends at the last level (MinTime) instead of stepping to
	// the data.
	StopAtMinTime bool
}

// Start implements Solver.
func (s DPMSolverPP2S) Start(b *Batch) (Stepper, error) {
	steps := s.Steps
	if steps == 0 {
		steps = DefaultFastSteps / 2
	}
	grid, err := fastGrid(b.Levels, steps, s.Spacing)
	if err != nil {
		return nil, err
	}
	return &dpm2sStepper{s: s, levels: b.Levels, grid: gridWithData(grid, s.StopAtMinTime), x: b.X}, nil
}

type dpm2sStepper struct {
	s      DPMSolverPP2S
	levels NoiseLevels
	grid   []Level
	k      int
	x      []float64
	// Within a step: the first stage's x̂₀, the intermediate point u and level.
	x0a []float64
	u   []float64
	mid Level
	r   float64
}

func (st *dpm2sStepper) Len() int { return len(st.grid) - 1 }

func (st *dpm2sStepper) Next() (Query, bool) {
	if st.k >= len(st.grid)-1 {
		return Query{}, false
	}
	if st.x0a != nil {
		return Query{X: st.u, Level: st.mid}, true
	}
	return Query{X: st.x, Level: st.grid[st.k]}, true
}

func (st *dpm2sStepper) Tell(out Output) (*StepInfo, error) {
	from, to := st.grid[st.k], st.grid[st.k+1]
	x0 := out.X0
	if st.s.ClipX0 {
		x0 = clip(x0)
	}
	if st.x0a == nil { // first stage at x_{k−1}
		if !to.IsData() {
			h := to.Lambda() - from.Lambda()
			mid := LevelAtLambda(st.levels, from.Lambda()+h/2)
			if r := (mid.Lambda() - from.Lambda()) / h; r > 1e-6 && r < 1-1e-6 {
				st.mid, st.r = mid, r
				st.x0a = x0
				st.u = dpmUpdate(st.x, from, mid, r*h, x0)
				return nil, nil
			}
		}
		return st.finish(from, to, x0), nil // first order: to the data, or a degenerate midpoint
	}
	d := make([]float64, len(x0))
	a, b := 1-1/(2*st.r), 1/(2*st.r)
	for i := range d {
		d[i] = a*st.x0a[i] + b*x0[i]
	}
	st.x0a, st.u = nil, nil
	return st.finish(from, to, d), nil
}

// finish takes the step from → to with the data estimate d.
func (st *dpm2sStepper) finish(from, to Level, d []float64) *StepInfo {
	next := dpmUpdate(st.x, from, to, to.Lambda()-from.Lambda(), d)
	st.x = next
	info := &StepInfo{K: st.k, T: to.T, X: next, X0: d}
	st.k++
	return info
}

func (st *dpm2sStepper) Result() []float64 { return st.x }
