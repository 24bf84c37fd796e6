package nb

import (
	"fmt"

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

// LossCurve plots a training loss history (one value per step, as kept in a
// checkpoint's Losses): every step's loss, thin, and its moving average over
// 2% of the steps (at least 10), which is the curve to read. With logY the
// loss axis is logarithmic. The title names the run.
func LossCurve(title string, losses []float64, logY bool) ([]byte, error) {
	if len(losses) == 0 {
		return nil, fmt.Errorf("nb.LossCurve: %q has no losses (was the model trained in this run or loaded from a checkpoint without its history?)", title)
	}
	steps := make([]float64, len(losses))
	for i := range steps {
		steps[i] = float64(i + 1)
	}
	k := max(10, len(losses)/50)
	return plots.LinesPNG([]plots.Series{
		{Name: "each step", X: steps, Y: losses},
		{Name: fmt.Sprintf("mean of the last %d", k), X: steps, Y: MovingAverage(losses, k)},
	}, plots.Options{Title: title, XLabel: "training step", YLabel: "loss", LogY: logY})
}
