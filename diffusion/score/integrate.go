package score

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Default tolerances of the adaptive RK45 solver (those of Song et al.'s
// likelihood and ODE-sampling code).
const (
	DefaultRTol = 1e-5
	DefaultATol = 1e-5
)

// defaultMaxSteps bounds the steps of an adaptive solve (accepted or not).
const defaultMaxSteps = 10000

// odeFunc evaluates dy/dt at (t, y) for a flat float64 state.
type odeFunc func(t float64, y []float64) ([]float64, error)

// integration configures integrate.
type integration struct {
	solver     Solver
	steps      int     // fixed-step solvers
	rtol, atol float64 // RK45
	maxSteps   int
	onStep     func(k int, t float64, y []float64) // after every accepted step
}

// axpy returns y + Σ_j c_j k_j (float64).
func axpy(y []float64, h float64, cs []float64, ks [][]float64) []float64 {
	out := append([]float64(nil), y...)
	for j, c := range cs {
		if c == 0 {
			continue
		}
		hc := h * c
		for i := range out {
			out[i] += hc * ks[j][i]
		}
	}
	return out
}

// Dormand–Prince 5(4) tableau (Dormand & Prince 1980): nodes c, stages a,
// fifth-order weights b (which equal the last stage's a row, so the last
// derivative is reused as the next step's first: "first same as last"), and
// the difference e = b − b̂ to the embedded fourth-order weights b̂.
var (
	dpC = [7]float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1}
	dpA = [7][]float64{
		nil,
		{1.0 / 5},
		{3.0 / 40, 9.0 / 40},
		{44.0 / 45, -56.0 / 15, 32.0 / 9},
		{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
		{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
		{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
	}
	dpE = [7]float64{
		35.0/384 - 5179.0/57600, 0, 500.0/1113 - 7571.0/16695, 125.0/192 - 393.0/640,
		-2187.0/6784 + 92097.0/339200, 11.0/84 - 187.0/2100, -1.0 / 40,
	}
)

// integrate solves dy/dt = f(t, y) from t0 to t1 (either direction) in
// float64 and returns y(t1) and the number of evaluations of f.
//
// Fixed-step solvers take steps equal steps h = (t1 − t0)/steps (rules in
// [Solver]). RK45 is Dormand–Prince 5(4) with local extrapolation: a step
// is accepted when the RMS over components of e_i/(atol + rtol·max(|y_i|,
// |y'_i|)) is ≤ 1, e the difference between the fifth- and fourth-order
// solutions, and the next step is h·min(5, max(0.2, 0.9·err^{−1/5})).
func integrate(f odeFunc, t0, t1 float64, y0 []float64, cfg integration) ([]float64, int, error) {
	nfe := 0
	eval := func(t float64, y []float64) ([]float64, error) {
		nfe++
		return f(t, y)
	}
	y := y0
	if cfg.solver != RK45 {
		h := (t1 - t0) / float64(cfg.steps)
		for k := range cfg.steps {
			t := t0 + float64(k)*h
			if k == cfg.steps-1 {
				h = t1 - t // land exactly on t1
			}
			k1, err := eval(t, y)
			if err != nil {
				return nil, nfe, err
			}
			switch cfg.solver {
			case Euler:
				y = axpy(y, h, []float64{1}, [][]float64{k1})
			case Heun:
				k2, err := eval(t+h, axpy(y, h, []float64{1}, [][]float64{k1}))
				if err != nil {
					return nil, nfe, err
				}
				y = axpy(y, h, []float64{0.5, 0.5}, [][]float64{k1, k2})
			case RK4:
				k2, err := eval(t+h/2, axpy(y, h, []float64{0.5}, [][]float64{k1}))
				if err != nil {
					return nil, nfe, err
				}
				k3, err := eval(t+h/2, axpy(y, h, []float64{0.5}, [][]float64{k2}))
				if err != nil {
					return nil, nfe, err
				}
				k4, err := eval(t+h, axpy(y, h, []float64{1}, [][]float64{k3}))
				if err != nil {
					return nil, nfe, err
				}
				y = axpy(y, h, []float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}, [][]float64{k1, k2, k3, k4})
			default:
				return nil, nfe, fmt.Errorf("score: unknown ODE solver %v", cfg.solver)
			}
			if cfg.onStep != nil {
				cfg.onStep(k, t+h, y)
			}
		}
		return y, nfe, nil
	}

	rtol, atol := cfg.rtol, cfg.atol
	if rtol <= 0 {
		rtol = DefaultRTol
	}
	if atol <= 0 {
		atol = DefaultATol
	}
	maxSteps := cfg.maxSteps
	if maxSteps <= 0 {
		maxSteps = defaultMaxSteps
	}
	span := t1 - t0
	dir := math.Copysign(1, span)
	h := span / 100 // first try; the controller adapts it at once
	t := t0
	k1, err := eval(t, y)
	if err != nil {
		return nil, nfe, err
	}
	accepted := 0
	for tries := 0; dir*(t1-t) > 1e-12*math.Abs(span); tries++ {
		if tries >= maxSteps {
			return nil, nfe, fmt.Errorf("score: RK45 took more than %d steps from t=%g to t=%g (stuck at t=%g, h=%g); loosen the tolerances",
				maxSteps, t0, t1, t, h)
		}
		if dir*(t+h-t1) > 0 {
			h = t1 - t
		}
		ks := make([][]float64, 7)
		ks[0] = k1
		for s := 1; s < 7; s++ {
			if ks[s], err = eval(t+dpC[s]*h, axpy(y, h, dpA[s], ks[:s])); err != nil {
				return nil, nfe, err
			}
		}
		yNew := axpy(y, h, dpA[6], ks[:6])
		// The 7th stage was evaluated at yNew (the fifth-order solution).
		errSum := 0.0
		for i := range y {
			e := 0.0
			for s, c := range dpE {
				e += c * ks[s][i]
			}
			e *= h
			sc := atol + rtol*math.Max(math.Abs(y[i]), math.Abs(yNew[i]))
			errSum += (e / sc) * (e / sc)
		}
		errNorm := math.Sqrt(errSum / float64(len(y)))
		if math.IsNaN(errNorm) {
			return nil, nfe, fmt.Errorf("score: RK45: NaN in the state at t=%g", t)
		}
		if errNorm <= 1 {
			t += h
			y = yNew
			k1 = ks[6]
			if cfg.onStep != nil {
				cfg.onStep(accepted, t, y)
			}
			accepted++
		}
		factor := 5.0
		if errNorm > 0 {
			factor = math.Min(5, math.Max(0.2, 0.9*math.Pow(errNorm, -0.2)))
		}
		h *= factor
	}
	return y, nfe, nil
}

// toTensor makes a tensor of dtype dt shaped dims from float64 values.
func toTensor(v []float64, dt dtypes.DType, dims []int) (*tensors.Tensor, error) {
	switch dt {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), dims...), nil
	case dtypes.Float32:
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...), nil
	}
	return nil, fmt.Errorf("score: host-side ODE integration supports Float32 and Float64, not %s", dt)
}

// fromTensor copies a Float32 or Float64 tensor to float64 values.
func fromTensor(t *tensors.Tensor) ([]float64, error) {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.CopyFlatData[float64](t)
	case dtypes.Float32:
		f, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("score: host-side ODE integration supports Float32 and Float64, not %s", t.DType())
}
