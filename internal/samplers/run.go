package samplers

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// Draw samples n examples shaped dims with the sampler s under the labels l
// (guidance included), the model's weights in store, and returns them as
// float32, the run's result (model evaluations, steps) and the wall time,
// rounded to the millisecond. opts.Cond is replaced by the labels'.
func Draw(b compute.Backend, store *model.Store, s *Sampler, l *Labels, n int, dims []int, opts diffusion.SampleOptions) (*tensors.Tensor, *diffusion.Result, time.Duration, error) {
	m, err := l.Apply(s.Model)
	if err != nil {
		return nil, nil, 0, err
	}
	opts.Cond = l.Cond()
	start := time.Now()
	res, err := diffusion.Run(b, store, m, s.Solver, n, dims, opts)
	if err != nil {
		return nil, nil, 0, err
	}
	took := time.Since(start).Round(time.Millisecond)
	x, err := res.Tensor(n, dims, dtypes.Float32)
	if err != nil {
		return nil, nil, 0, err
	}
	return x, res, took, nil
}

// Memory estimates the bytes that [Draw] with the same arguments needs
// (see [diffusion.SampleMemory]), without running anything.
func Memory(b compute.Backend, store *model.Store, s *Sampler, l *Labels, n int, dims []int, opts diffusion.SampleOptions) (float64, error) {
	m, err := l.Apply(s.Model)
	if err != nil {
		return 0, err
	}
	opts.Cond = l.Cond()
	return diffusion.SampleMemory(b, store, m, s.Solver, n, dims, opts)
}

// Evaluations describes the model evaluations of a run: "N model
// evaluations", with " per batch (M in all)" when it took several batches,
// and the steps.
func Evaluations(res *diffusion.Result) string {
	s := fmt.Sprintf("%d model evaluations", res.NFE)
	if res.TotalNFE != res.NFE {
		s += fmt.Sprintf(" per batch (%d in all)", res.TotalNFE)
	}
	return s + fmt.Sprintf(", %d steps", res.Steps)
}

// RunJSON adds a run's figures to a JSON object: nfe (model evaluations per
// batch), total_nfe, steps and seconds (prefixed by prefix).
func RunJSON(obj map[string]any, prefix string, res *diffusion.Result, took time.Duration) {
	obj["nfe"] = res.NFE
	obj["total_nfe"] = res.TotalNFE
	obj["steps"] = res.Steps
	obj[prefix+"seconds"] = took.Seconds()
}

// WriteJSON writes obj as one line of JSON (keys sorted). Numbers that JSON
// cannot hold (NaN, ±Inf, which the text prints as such) are written as
// null.
func WriteJSON(w io.Writer, obj map[string]any) error {
	clean := make(map[string]any, len(obj))
	for k, v := range obj {
		clean[k] = finite(v)
	}
	raw, err := json.Marshal(clean)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", raw)
	return err
}

// finite replaces non-finite floats (also inside float slices) by nil.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = finite(f)
		}
		return out
	}
	return v
}
