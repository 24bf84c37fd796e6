package nb

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// PredictionErrors measures how well the denoiser den of process p (weights
// in store; nil for an analytic denoiser) predicts the noise and the data at
// each 0-based step index in steps (the paper's t = index + 1). For every
// step, each row of x0 ([n, …]) is noised to x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε with
// fresh noise from seed, and the prediction is converted to ε̂ and x̂₀
// (whatever den predicts). It returns, per step, the mean over rows and
// dimensions of (ε − ε̂)², which is L_simple at that t for an ε-predicting
// model, and of (x₀ − x̂₀)².
func PredictionErrors(p *diffusion.Process, den diffusion.Denoiser, store *gmodel.Store, x0 *tensors.Tensor, steps []int, seed int64) (eps, x0Err []float64) {
	if store == nil {
		store = gmodel.NewStore()
	}
	sh := x0.Shape()
	n := sh.Dimensions[0]
	size := sh.Size()
	exec := Must(gmodel.NewExec(Backend(), store, func(scope *gmodel.Scope, x0, t, noise *graph.Node) (*graph.Node, *graph.Node) {
		xt := p.QSample(x0, t, noise)
		pred, _ := den.Split(p.Predict(scope.In(diffusion.ModelScope), den, xt, t, cond.Nodes{}))
		x0Hat, epsHat := p.X0AndEps(den.Prediction, xt, t, pred)
		return graph.ReduceAllMean(graph.Square(graph.Sub(noise, epsHat))), graph.ReduceAllMean(graph.Square(graph.Sub(x0, x0Hat)))
	}))
	defer exec.Finalize()
	rng := rand.New(rand.NewPCG(uint64(seed), 0xd0d0))
	for _, i := range steps {
		if i < 0 || i >= p.T() {
			panic(fmt.Sprintf("nb.PredictionErrors: step index %d outside [0, %d)", i, p.T()))
		}
		t := make([]int32, n)
		for k := range t {
			t[k] = int32(i)
		}
		z := make([]float32, size)
		for k := range z {
			z[k] = float32(rng.NormFloat64())
		}
		outs := Must(exec.Call(x0, t, tensors.FromFlatDataAndDimensions(z, sh.Dimensions...)))
		eps = append(eps, float64(tensors.ToScalar[float32](outs[0])))
		x0Err = append(x0Err, float64(tensors.ToScalar[float32](outs[1])))
	}
	return eps, x0Err
}
