package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// Defaults of the ODE likelihood of score checkpoints.
const (
	defaultODESteps       = 100 // fixed-step solvers
	defaultScoreImages    = 16  // examples for images: each takes hundreds of UNet passes
	scoreImageBatch       = 4   // images integrated together (the progress bar moves per batch)
	dequantizationStream  = 778 // PCG stream of the dequantization noise
	freshDataStream       = 777 // PCG stream of the fresh 2-D points (as for the bound)
	likelihoodDescription = "log p_θ is the model's density at t = ε through the probability-flow ODE"
)

// parseDivergence maps --divergence to a score.DivergenceMethod: exact,
// hutchinson (Rademacher probes; also spelled rademacher) or gaussian.
func parseDivergence(name string) (score.DivergenceMethod, error) {
	switch name {
	case "exact":
		return score.ExactDivergence, nil
	case "hutchinson", "rademacher":
		return score.HutchinsonRademacher, nil
	case "gaussian":
		return score.HutchinsonGaussian, nil
	}
	return 0, fmt.Errorf("unknown --divergence %q (want exact, hutchinson or gaussian)", name)
}

// scoreOptions are the settings of the ODE likelihood.
type scoreOptions struct {
	n          int
	seed       int64
	solver     score.Solver
	steps      int
	divergence score.DivergenceMethod
}

// meanSE returns the mean of v and its standard error s/√n (0 for n = 1).
func meanSE(v []float64) (mean, se float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
}

// evalScore reports the negative log-likelihood of fresh data under a score
// model, log p_θ from the probability-flow ODE (score.LogLikelihood): for
// 2-D data in nats per example next to the true density's on the same
// points, for images in bits/dim of uniformly dequantized images of test,
// the dataset's test split (nil for 2-D data).
func evalScore(stdout, progress io.Writer, b compute.Backend, cfg experiment.Config, m diffusion.Model, store *model.Store, test *mnist.Set, o scoreOptions, obj map[string]any) error {
	sde, ok := m.Levels.(score.SDE)
	if !ok {
		return fmt.Errorf("a score model's levels are an SDE, not %T", m.Levels)
	}
	opts := score.DefaultLikelihoodOptions()
	opts.Solver, opts.Divergence, opts.Seed, opts.Progress = o.solver, o.divergence, o.seed, progress
	how := fmt.Sprintf("%v divergence, %v solver", o.divergence, o.solver)
	if o.solver != score.RK45 {
		opts.Steps = o.steps
		how = fmt.Sprintf("%v divergence, %v solver with %d steps", o.divergence, o.solver, o.steps)
	}
	if cfg.IsImage() {
		return evalScoreImages(stdout, b, cfg, m, store, test, sde, opts, o, how, obj)
	}
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	pts := ds.Sample(rand.New(rand.NewPCG(uint64(o.seed), freshDataStream)), o.n)
	flat := make([]float64, 0, 2*len(pts))
	for _, q := range pts {
		flat = append(flat, q[0], q[1])
	}
	// The ODE state is integrated in float64 from exactly these points; the
	// model runs in float32.
	opts.DType = dtypes.Float32
	logp, err := score.LogLikelihood(b, store, m, tensors.FromFlatDataAndDimensions(flat, o.n, 2), opts)
	if err != nil {
		return err
	}
	nll, truth, gap := make([]float64, o.n), make([]float64, o.n), make([]float64, o.n)
	for i, q := range pts {
		nll[i], truth[i] = -logp[i], -ds.LogDensity(q)
		gap[i] = nll[i] - truth[i]
	}
	mean, se := meanSE(nll)
	mt, _ := meanSE(truth)
	mg, seg := meanSE(gap)
	fmt.Fprintf(stdout, "−log p_θ(x) through the probability-flow ODE: %.3f ± %.3f nats per example (%.3f bits/dim) over %d fresh %s points (%s, %s SDE)\n",
		mean, se, mean/(2*math.Ln2), o.n, cfg.Dataset, how, sde.Name())
	fmt.Fprintf(stdout, "true density on the same points: %.3f nats (the data's entropy; no model can do better on average)\n", mt)
	fmt.Fprintf(stdout, "gap, an estimate of KL(data ‖ model) ≥ 0: %.3f ± %.3f nats (%s, ε = %g)\n", mg, seg, likelihoodDescription, sde.MinTime())
	obj["nll_nats"], obj["nll_se_nats"], obj["bits_per_dim"], obj["bits_per_dim_se"] = mean, se, mean/(2*math.Ln2), se/(2*math.Ln2)
	obj["num_examples"], obj["data_nll_nats"], obj["gap_nats"], obj["gap_se_nats"] = o.n, mt, mg, seg
	return nil
}

// evalScoreImages reports bits/dim of the first o.n images of test,
// uniformly dequantized (x = (k + u)/128 − 1, u ~ U[0, 1)), under the score
// model.
func evalScoreImages(stdout io.Writer, b compute.Backend, cfg experiment.Config, m diffusion.Model, store *model.Store, test *mnist.Set, sde score.SDE,
	opts score.LikelihoodOptions, o scoreOptions, how string, obj map[string]any) error {
	sub := test.Subset(o.n)
	k := make([]uint8, len(sub.Pixels))
	for i, v := range sub.Pixels { // v = k/127.5 − 1
		k[i] = uint8(math.Round((float64(v) + 1) * 127.5))
	}
	rng := rand.New(rand.NewPCG(uint64(o.seed), dequantizationStream))
	u := make([]float64, len(k))
	for i := range u {
		u[i] = rng.Float64()
	}
	x, err := score.Dequantize(k, u)
	if err != nil {
		return err
	}
	dims := cfg.DataDims()
	opts.DType, opts.BatchSize = dtypes.Float32, scoreImageBatch
	logp, err := score.LogLikelihood(b, store, m, tensors.FromFlatDataAndDimensions(x, append([]int{sub.N}, dims...)...), opts)
	if err != nil {
		return err
	}
	d := sub.ImageSize()
	bpd := make([]float64, len(logp))
	for i, l := range logp {
		if bpd[i], err = score.BitsPerDim(l, d); err != nil {
			return err
		}
	}
	mean, se := meanSE(bpd)
	fmt.Fprintf(stdout, "ODE likelihood: %.3f ± %.3f bits/dim over %d %s test images (%s, %s SDE; uniform dequantization, so an upper bound on the discrete model's bits/dim; a uniform density scores 8)\n",
		mean, se, sub.N, cfg.Dataset, how, sde.Name())
	obj["bits_per_dim"], obj["bits_per_dim_se"], obj["num_examples"] = mean, se, sub.N
	return nil
}
