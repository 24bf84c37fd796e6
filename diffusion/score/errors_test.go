package score

import (
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/schedules"
)

// TestErrors checks that bad input gives an error naming the problem.
func TestErrors(t *testing.T) {
	mix := testMixture(t)
	vp, _ := NewSDE("vp")
	fn := mix.ModelFn(vp)
	x := rowsTensor([][]float64{{1, 2}})
	// A model with a variable: sampling with an empty store must fail clearly.
	withVar := func(scope *model.Scope, x, t, _ *Node) *Node {
		w := scope.VariableWithShape("w", shapes.Make(x.DType())).ValueGraph(x.Graph())
		return Mul(x, w)
	}
	sample := func(s Sampler) error {
		_, err := Sample(tb(), nil, fn, s, 4, []int{2}, SampleOptions{})
		return err
	}
	mustErr := func(name string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	_, err := NewSDE("vesde")
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
	mustErr("EM steps", sample(EulerMaruyama{Process: vp}), "EulerMaruyama needs Steps ≥ 1, got 0")
	mustErr("EM sde", sample(EulerMaruyama{Steps: 3}), "EulerMaruyama needs an SDE")
	mustErr("PC corrector", sample(PredictorCorrector{Process: vp, Steps: 3, Corrector: -1}), "Corrector ≥ 0")
	mustErr("ODE solver", sample(ODE{Process: vp, Steps: 3, Solver: RK45}), "fixed-step solver")
	mustErr("Langevin levels", sample(AnnealedLangevin{Process: vp, StepsPerLevel: 3}), "Levels ≥ 1")
	_, err = Sample(tb(), nil, fn, ODE{Process: vp, Steps: 2}, 0, []int{2}, SampleOptions{})
	mustErr("Sample n", err, "n > 0")
	_, err = Sample(tb(), nil, withVar, ODE{Process: vp, Steps: 2}, 3, []int{2}, SampleOptions{})
	mustErr("Sample store", err, "store lacks 1 of the score model's variables")
	_, _, err = SampleAdaptive(tb(), nil, withVar, vp, 3, []int{2}, SampleOptions{}, Tolerance{})
	mustErr("SampleAdaptive store", err, "store lacks 1")
	_, err = Sample(tb(), nil, fn, ODE{Process: vp, Steps: 2}, 3, []int{3}, SampleOptions{})
	mustErr("Sample dims", err, "the mixture has dimension 2")
	_, err = LogLikelihood(tb(), nil, withVar, vp, x, DefaultLikelihoodOptions())
	mustErr("LogLikelihood store", err, "store lacks 1")
	_, err = LogLikelihood(tb(), nil, fn, vp, x, LikelihoodOptions{Solver: Heun})
	mustErr("LogLikelihood steps", err, "needs Steps ≥ 1")
	_, err = LogLikelihood(tb(), nil, fn, vp, tensors.FromValue([]float64{1, 2}), DefaultLikelihoodOptions())
	mustErr("LogLikelihood shape", err, "data shaped [N, ...]")
	_, err = LogLikelihood(tb(), nil, fn, vp, tensors.FromShape(shapes.Make(dtypes.Int32, 1, 2)), DefaultLikelihoodOptions())
	mustErr("LogLikelihood dtype", err, "supports Float32 and Float64")
	_, err = BitsPerDim(0, 0)
	mustErr("BitsPerDim", err, "D > 0")
	_, err = Dequantize([]uint8{1}, nil)
	mustErr("Dequantize", err, "1 values but 0 noise")
	_, err = VPBetas(schedules.DefaultVPSDE(), 1)
	mustErr("VPBetas", err, "N ≥ 2")
}
