package score

import (
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

func mustLinear(t *testing.T) *schedules.Schedule {
	t.Helper()
	s, err := schedules.New("linear", 100)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestErrors checks that bad input gives an error naming the problem.
func TestErrors(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	m := mix.Model(vp)
	x := rowsTensor([][]float64{{1, 2}})
	// A model with a variable: sampling with an empty store must fail clearly.
	withVar := Model(vp, func(scope *model.Scope, x, t *Node, _ cond.Nodes) *Node {
		w := scope.VariableWithShape("w", shapes.Make(x.DType())).ValueGraph(x.Graph())
		return Mul(x, w)
	})
	sample := func(s diffusion.Solver) error {
		_, err := diffusion.Sample(tb(), nil, m, s, 4, []int{2}, diffusion.SampleOptions{})
		return err
	}
	mustErr := func(name string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	discrete, err := diffusion.NewProcess(mustLinear(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSDE("vesde")
	mustErr("NewSDE", err, `unknown SDE "vesde"`)
	_, err = ParseSolver("rk3")
	mustErr("ParseSolver", err, `unknown ODE solver "rk3"`)
	_, err = NewMixture(nil, nil, nil)
	mustErr("NewMixture empty", err, "at least one component")
	_, err = NewMixture([][]float64{{0, 0}, {1}}, []float64{1, 1}, nil)
	mustErr("NewMixture ragged", err, "mean 1 has 1 coordinates")
	_, err = NewMixture([][]float64{{0}}, []float64{0}, nil)
	mustErr("NewMixture std", err, "std 0 = 0")
	_, err = NewMixture([][]float64{{0}, {1}}, []float64{1, 1}, []float64{0, 0})
	mustErr("NewMixture weights", err, "weights sum to 0")
	_, err = RingMixture(0, 1, 1)
	mustErr("RingMixture", err, "k ≥ 1")
	mustErr("EM steps", sample(EulerMaruyama{}), "EulerMaruyama needs Steps ≥ 1, got 0")
	_, err = diffusion.Sample(tb(), nil, mix.Model(discrete), EulerMaruyama{Steps: 3}, 4, []int{2}, diffusion.SampleOptions{})
	mustErr("EM sde", err, "Euler–Maruyama needs a model of an SDE")
	mustErr("PC corrector", sample(PredictorCorrector{Steps: 3, Corrector: -1}), "Corrector ≥ 0")
	mustErr("ODE solver", sample(ODE{Steps: 3, Solver: Solver(9)}), "unknown ODE solver")
	mustErr("ODE rk45 steps", sample(ODE{Steps: 3, Solver: RK45}), "chooses its own steps")
	mustErr("ODE rk45 max steps", sample(ODE{Solver: RK45, Tolerance: Tolerance{MaxSteps: 3}}), "RK45 took more than 3 steps")
	mustErr("Langevin levels", sample(AnnealedLangevin{StepsPerLevel: 3}), "Levels ≥ 1")
	_, err = diffusion.Sample(tb(), nil, m, ODE{Steps: 2}, 0, []int{2}, diffusion.SampleOptions{})
	mustErr("Sample n", err, "n > 0")
	_, err = diffusion.Sample(tb(), nil, withVar, ODE{Steps: 2}, 3, []int{2}, diffusion.SampleOptions{})
	mustErr("Sample store", err, "store lacks 1 of the model's variables")
	_, err = diffusion.Sample(tb(), nil, withVar, ODE{Solver: RK45}, 3, []int{2}, diffusion.SampleOptions{})
	mustErr("Sample RK45 store", err, "store lacks 1")
	_, err = diffusion.Sample(tb(), nil, m, ODE{Steps: 2}, 3, []int{3}, diffusion.SampleOptions{})
	mustErr("Sample dims", err, "the mixture has dimension 2")
	_, err = LogLikelihood(tb(), nil, withVar, x, DefaultLikelihoodOptions())
	mustErr("LogLikelihood store", err, "store lacks 1")
	_, err = LogLikelihood(tb(), nil, m, x, LikelihoodOptions{Solver: Heun})
	mustErr("LogLikelihood steps", err, "needs Steps ≥ 1")
	_, err = LogLikelihood(tb(), nil, m, x, LikelihoodOptions{Solver: RK45, Steps: 10})
	mustErr("LogLikelihood rk45 steps", err, "chooses its own steps")
	_, err = LogLikelihood(tb(), nil, m, x, LikelihoodOptions{Solver: RK45, Divergence: DivergenceMethod(7)})
	mustErr("LogLikelihood divergence", err, "unknown divergence method DivergenceMethod(7)")
	_, err = diffusion.Run(tb(), nil, m, LikelihoodEvaluator{Solver: RK45, Divergence: -1}, 1, []int{2}, diffusion.SampleOptions{Start: x})
	mustErr("LikelihoodEvaluator divergence", err, "unknown divergence method")
	_, err = diffusion.Run(tb(), nil, m, LikelihoodEvaluator{Solver: Solver(9), Steps: 3}, 1, []int{2}, diffusion.SampleOptions{Start: x})
	mustErr("LikelihoodEvaluator solver", err, "unknown ODE solver")
	_, err = LogLikelihood(tb(), nil, m, tensors.FromValue([]float64{1, 2}), DefaultLikelihoodOptions())
	mustErr("LogLikelihood shape", err, "data shaped [N, ...]")
	_, err = LogLikelihood(tb(), nil, m, tensors.FromShape(shapes.Make(dtypes.Int32, 1, 2)), DefaultLikelihoodOptions())
	mustErr("LogLikelihood dtype", err, "Float32 or Float64")
	_, err = LogLikelihood(tb(), nil, mix.Model(discrete), x, DefaultLikelihoodOptions())
	mustErr("LogLikelihood sde", err, "needs a model of an SDE")
	_, err = BitsPerDim(0, 0)
	mustErr("BitsPerDim", err, "D > 0")
	_, err = Dequantize([]uint8{1}, nil)
	mustErr("Dequantize", err, "1 values but 0 noise")
	_, err = VPBetas(schedules.DefaultVPSDE(), 1)
	mustErr("VPBetas", err, "N ≥ 2")
}
