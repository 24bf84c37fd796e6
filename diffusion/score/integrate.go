package score

import (
	"fmt"
	"math"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// Default tolerances of the adaptive RK45 solver (those of Song et al.'s
// likelihood and ODE-sampling code).
const (
	DefaultRTol = 1e-5
	DefaultATol = 1e-5
)

// defaultMaxSteps bounds the steps of an adaptive solve (accepted or not).
const defaultMaxSteps = 10000

// Tolerance sets the error control of the adaptive RK45 solver: a step is
// accepted when the RMS of e_i/(ATol + RTol·max(|y_i|, |y'_i|)) is ≤ 1, e the
// local error estimate of the Dormand–Prince pair.
type Tolerance struct {
	// RTol is the relative tolerance (0: DefaultRTol).
	RTol float64
	// ATol is the absolute tolerance (0: DefaultATol).
	ATol float64
	// MaxSteps bounds the tried steps per batch (0: 10000).
	MaxSteps int
}

// tableau is an explicit Runge–Kutta method: stage s is evaluated at
// t + c_s h, y + h Σ_j a_sj k_j, and the step is y + h Σ_j b_j k_j.
type tableau struct {
	c []float64
	a [][]float64
	b []float64
}

// The fixed-step rules of [Solver].
var tableaus = map[Solver]tableau{
	Euler: {c: []float64{0}, a: [][]float64{nil}, b: []float64{1}},
	Heun:  {c: []float64{0, 1}, a: [][]float64{nil, {1}}, b: []float64{0.5, 0.5}},
	RK4: {c: []float64{0, 0.5, 0.5, 1}, a: [][]float64{nil, {0.5}, {0, 0.5}, {0, 0, 1}},
		b: []float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6}},
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

// axpy returns y + h Σ_j c_j k_j (float64).
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

// integrator solves dy/dt = F(t, y) from t0 to t1 (either direction) in
// float64, one evaluation of F at a time: point says where F is needed, feed
// gives it. Solvers wrap it to ask the model for F through the driver.
//
// Fixed-step solvers take steps equal steps h = (t1 − t0)/steps (the last
// one lands exactly on t1; rules in [Solver]). RK45 is Dormand–Prince 5(4)
// with local extrapolation: a step is accepted when the RMS over components
// of e_i/(atol + rtol·max(|y_i|, |y'_i|)) is ≤ 1, e the difference between the
// fifth- and fourth-order solutions, and the next step is
// h·min(5, max(0.2, 0.9·err^{−1/5})); the first try is h = (t1 − t0)/100.
// Either way k counts the completed steps (RK45's accepted ones), which
// stepInfo numbers for the solvers.
type integrator struct {
	solver     Solver
	steps      int
	rtol, atol float64
	maxSteps   int

	t0, t1, t, h float64
	y            []float64
	stage        int         // the stage whose derivative is needed next
	ks           [][]float64 // the derivatives of the current step
	point        []float64   // where stage `stage` is evaluated
	k            int         // steps completed (for RK45, accepted tries)
	tries        int         // RK45: steps tried, accepted or not
	done         bool
}

// newIntegrator prepares the solve of dy/dt = F from y0 at t0 to t1 for
// user (the solver's name in error messages): a fixed-step rule needs
// steps ≥ 1; RK45 chooses its own steps, so steps must be 0.
func newIntegrator(user string, solver Solver, steps int, tol Tolerance, t0, t1 float64, y0 []float64) (*integrator, error) {
	it := &integrator{solver: solver, steps: steps, rtol: tol.RTol, atol: tol.ATol, maxSteps: tol.MaxSteps, t0: t0, t1: t1, t: t0, y: y0}
	switch {
	case solver == RK45:
		if steps != 0 {
			return nil, errorf("%s with RK45 chooses its own steps; Steps must be 0, got %d", user, steps)
		}
		if tol.RTol < 0 || tol.ATol < 0 || tol.MaxSteps < 0 {
			return nil, errorf("%s: RK45 needs tolerances ≥ 0, got %+v", user, tol)
		}
		if it.rtol <= 0 {
			it.rtol = DefaultRTol
		}
		if it.atol <= 0 {
			it.atol = DefaultATol
		}
		if it.maxSteps <= 0 {
			it.maxSteps = defaultMaxSteps
		}
		it.h = (t1 - t0) / 100
		it.ks = make([][]float64, 7)
	case tableaus[solver].b != nil:
		if steps < 1 {
			return nil, errorf("%s with the %v solver needs Steps ≥ 1, got %d", user, solver, steps)
		}
		it.h = (t1 - t0) / float64(steps)
		it.ks = make([][]float64, len(tableaus[solver].b))
	default:
		return nil, errorf("%s: unknown ODE solver %v", user, solver)
	}
	it.point = y0
	return it, nil
}

// len returns the number of steps of a fixed-step solve, 0 for RK45, whose
// steps are not known in advance (a Stepper's Len).
func (it *integrator) len() int {
	if it.solver == RK45 {
		return 0
	}
	return it.steps
}

// stepInfo describes the step just completed: its 0-based number k − 1
// (one count for fixed and adaptive steps), the time reached and the
// state's first n values.
func (it *integrator) stepInfo(n int) *diffusion.StepInfo {
	return &diffusion.StepInfo{K: it.k - 1, T: it.t, X: it.y[:n]}
}

// next returns the time and state where F is needed next, or false when the
// solve is done.
func (it *integrator) next() (float64, []float64, bool) {
	if it.done {
		return 0, nil, false
	}
	if it.solver == RK45 {
		return it.t + dpC[it.stage]*it.h, it.point, true
	}
	return it.t + tableaus[it.solver].c[it.stage]*it.stepH(), it.point, true
}

// stepH returns the size of the current fixed step (the last lands on t1).
func (it *integrator) stepH() float64 {
	if it.k == it.steps-1 {
		return it.t1 - it.t
	}
	return it.h
}

// feed gives F at the point of next; it reports whether a step was
// completed (accepted, for RK45), after which it.t and it.y are the new time
// and state.
func (it *integrator) feed(f []float64) (bool, error) {
	if len(f) != len(it.y) {
		return false, fmt.Errorf("score: the ODE's derivative has %d values, the state %d", len(f), len(it.y))
	}
	it.ks[it.stage] = f
	it.stage++
	if it.solver == RK45 {
		return it.feedRK45()
	}
	tb := tableaus[it.solver]
	h := it.stepH()
	if it.stage < len(tb.b) {
		it.point = axpy(it.y, h, tb.a[it.stage], it.ks[:it.stage])
		return false, nil
	}
	it.y = axpy(it.y, h, tb.b, it.ks)
	it.k++
	if it.k == it.steps {
		it.t = it.t1
		it.done = true
	} else {
		it.t = it.t0 + float64(it.k)*it.h
	}
	it.stage = 0
	it.point = it.y
	return true, nil
}

// feedRK45 advances the Dormand–Prince state machine after a derivative.
func (it *integrator) feedRK45() (bool, error) {
	if it.stage == 1 { // the first derivative of the solve
		done, err := it.beginTry()
		it.done = done
		return false, err
	}
	if it.stage < 7 { // stage 6 is evaluated at the fifth-order solution
		it.point = axpy(it.y, it.h, dpA[it.stage], it.ks[:it.stage])
		return false, nil
	}
	yNew := axpy(it.y, it.h, dpA[6], it.ks[:6])
	errSum := 0.0
	for i := range it.y {
		e := 0.0
		for s, c := range dpE {
			e += c * it.ks[s][i]
		}
		e *= it.h
		sc := it.atol + it.rtol*math.Max(math.Abs(it.y[i]), math.Abs(yNew[i]))
		errSum += (e / sc) * (e / sc)
	}
	errNorm := math.Sqrt(errSum / float64(len(it.y)))
	if math.IsNaN(errNorm) {
		return false, fmt.Errorf("score: RK45: NaN in the state at t=%g", it.t)
	}
	accepted := errNorm <= 1
	if accepted {
		it.t += it.h
		it.y = yNew
		it.ks[0] = it.ks[6] // first same as last
		it.k++
	}
	factor := 5.0
	if errNorm > 0 {
		factor = math.Min(5, math.Max(0.2, 0.9*math.Pow(errNorm, -0.2)))
	}
	it.h *= factor
	it.tries++
	done, err := it.beginTry()
	it.done = done
	return accepted, err
}

// beginTry starts an RK45 try whose first derivative ks[0] is known: it
// reports true when the solve has reached t1, and clamps the step so as not
// to pass it.
func (it *integrator) beginTry() (bool, error) {
	it.stage = 1
	span := it.t1 - it.t0
	dir := math.Copysign(1, span)
	if !(dir*(it.t1-it.t) > 1e-12*math.Abs(span)) {
		return true, nil
	}
	if it.tries >= it.maxSteps {
		return false, fmt.Errorf("score: RK45 took more than %d steps from t=%g to t=%g (stuck at t=%g, h=%g); loosen the tolerances",
			it.maxSteps, it.t0, it.t1, it.t, it.h)
	}
	if dir*(it.t+it.h-it.t1) > 0 {
		it.h = it.t1 - it.t
	}
	it.point = axpy(it.y, it.h, dpA[1], it.ks[:1])
	return false, nil
}
