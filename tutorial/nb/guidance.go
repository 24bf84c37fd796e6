package nb

// Helpers of notebook 7 (conditioning and guidance).

import (
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// SampleLabels draws one example per label from the class-conditional model
// m (a guided one, say: diffusion.ClassifierFree or
// diffusion.ClassifierGuided) with solver s, from seed: example i is drawn
// for labels[i]. store holds m's weights (nil for an exact model, which has
// none); dims is the shape of one example ([]int{2} for 2-D points,
// []int{28, 28, 1} for MNIST). It returns the [len(labels), dims…] tensor.
func SampleLabels(m diffusion.Model, store *gmodel.Store, s diffusion.Solver, labels []int32, dims []int, seed int64) *tensors.Tensor {
	return Must(diffusion.Sample(Backend(), store, m, s, len(labels), dims, diffusion.SampleOptions{Seed: seed, Cond: cond.Classes(labels)}))
}
