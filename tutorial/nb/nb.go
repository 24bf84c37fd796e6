package nb

import (
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/janpfeifer/gonb/gonbui"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
)

// Must returns v, or panics with err when err is not nil: in a notebook the
// panic stops the cell and shows the message.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Must2 is [Must] for functions with two results.
func Must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// Must3 is [Must] for functions with three results.
func Must3[A, B, C any](a A, b B, c C, err error) (A, B, C) {
	if err != nil {
		panic(err)
	}
	return a, b, c
}

// display shows a PNG in the notebook; a variable so that tests can watch it.
var display = func(png []byte) {
	gonbui.DisplayPNG(png)
	// Without Sync a cell's program can exit before its last image has gone
	// through, and the image would be silently missing.
	gonbui.Sync()
}

// Show displays a PNG (as returned by the plots package) under the cell and
// waits until GoNB has received it; it panics with err when err is not nil.
// Outside GoNB it does nothing.
func Show(png []byte, err error) {
	Must(png, err)
	if gonbui.IsNotebook {
		display(png)
	}
}

// ShowImage displays an image (an image grid, say) as a PNG; see [Show].
func ShowImage(img image.Image) {
	Show(plots.EncodePNG(img))
}

// Backend is the GoMLX backend of the notebooks: the pure-Go one unless an
// XLA plugin is installed (see package backend), chosen once per program
// and without the backend package's log line.
func Backend() compute.Backend {
	backend.Log = io.Discard
	return backend.MustShared()
}

// CacheDir is the folder, relative to the notebooks, where models trained by
// the notebooks are kept between cells and runs (git-ignored).
const CacheDir = ".cache"

// PretrainedDir is the folder, relative to the notebooks, of the committed
// checkpoints (see notebooks/pretrained/README.md).
const PretrainedDir = "pretrained"

// Ptr returns a pointer to v, for the optional ranges of plots.Options.
func Ptr(v float64) *float64 { return &v }

// Mean is the average of v (NaN for an empty v).
func Mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// Quantile is the q-quantile of v (0 ≤ q ≤ 1), the element at rank
// ⌊q·(n−1)⌋ of v sorted, without interpolation; v is not changed. It is
// NaN for an empty v.
func Quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(math.Max(0, math.Min(1, q))*float64(len(s)-1))]
}

// PSNR is the peak signal-to-noise ratio 10·log₁₀(4/MSE), in dB, of the
// reconstruction r of images x with pixels in [−1, 1] (so the peak-to-peak
// range is 2); r is clipped to [−1, 1] first, as it would be when shown.
func PSNR(x, r []float32) float64 {
	if len(x) != len(r) || len(x) == 0 {
		panic(fmt.Sprintf("nb.PSNR: %d pixels against %d reconstructed", len(x), len(r)))
	}
	var se float64
	for i, v := range x {
		d := math.Max(-1, math.Min(1, float64(r[i]))) - float64(v)
		se += d * d
	}
	return 10 * math.Log10(4/(se/float64(len(x))))
}

// PeakRSS is this process's peak resident memory in MiB (VmHWM of
// /proc/self/status; NaN where that file is missing). GoNB runs each cell as
// a new process, so it is the peak of the cell.
func PeakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	return peakRSS(string(b))
}

// peakRSS reads VmHWM (in kB) from the text of /proc/self/status, in MiB.
func peakRSS(status string) float64 {
	for line := range strings.SplitSeq(status, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			var kb float64
			if _, err := fmt.Sscan(f[1], &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return math.NaN()
}
