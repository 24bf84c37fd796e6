package nb

import (
	"fmt"

	"gonum.org/v1/plot/vg"

	"github.com/godiffusion/diffusion-models/tutorial/plots"
)

// MovingAverage is the mean of the last k values at every position i of v:
// out[i] = mean(v[max(0, i−k+1) … i]), so the first k−1 values average fewer
// values. k < 1 is taken as 1 (out is a copy of v).
func MovingAverage(v []float64, k int) []float64 {
	k = max(k, 1)
	out := make([]float64, len(v))
	var sum float64
	for i, x := range v {
		sum += x
		if i >= k {
			sum -= v[i-k]
		}
		out[i] = sum / float64(min(i+1, k))
	}
	return out
}

// LossPanel is the panel of a training loss history (one value per step,
// as kept in a checkpoint's Losses): every step's loss as a faint dot, and
// its moving average over 2% of the steps (at least 10) as a line, which is
// the curve to read. With logY the loss axis is logarithmic (steps with a
// loss ≤ 0 are then not drawn). Put several in one plots.GridPNG to compare
// runs side by side (plots.ShareAxes gives them the same axes).
func LossPanel(title string, losses []float64, logY bool) (plots.Panel, error) {
	if len(losses) == 0 {
		return plots.Panel{}, fmt.Errorf("nb: %q has no losses (was the model trained in this run or loaded from a checkpoint without its history?)", title)
	}
	steps := make([]float64, len(losses))
	for i := range steps {
		steps[i] = float64(i + 1)
	}
	k := max(10, len(losses)/50)
	return plots.Panel{
		Title:   title,
		Scatter: []plots.Series{{Name: "each step", X: steps, Y: losses}},
		Lines:   []plots.Series{{Name: fmt.Sprintf("mean of the last %d", k), X: steps, Y: MovingAverage(losses, k)}},
		Opts:    plots.Options{XLabel: "training step", YLabel: "loss", LogY: logY, PointRadius: 0.8},
	}, nil
}

// LossCurve plots one training loss history as a 6×3.6-inch figure; see
// [LossPanel].
func LossCurve(title string, losses []float64, logY bool) ([]byte, error) {
	p, err := LossPanel(title, losses, logY)
	if err != nil {
		return nil, err
	}
	return plots.GridPNG([]plots.Panel{p}, 1, 6*vg.Inch, 3.6*vg.Inch, 0)
}
