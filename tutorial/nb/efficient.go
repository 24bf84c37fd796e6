package nb

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// StepCost is what training steps of one configuration cost, measured in
// this process (see [MeasureSteps]).
type StepCost struct {
	// Name labels the configuration in tables.
	Name string
	// Seconds is the median wall time of one step, the first (compiling)
	// step left out.
	Seconds float64
	// PeakMiB is the peak of the Go heap in use while the model is made
	// and takes its first step, above the heap in use just before (the
	// training data loaded), in MiB, sampled every millisecond, with the
	// garbage collector set to run whenever the heap grows by 5% (so that
	// the heap holds little garbage): the variables, Adam's moments, the
	// EMA and the step's tensors, and the compiler's. The pure-Go backend
	// keeps every tensor in the Go heap.
	PeakMiB float64
	// EstimateMiB is the trainer's estimate of one step's memory
	// (diffusion.Trainer.StepMemory: the graph's peak plus the variables,
	// Adam's moments and the EMA), in MiB.
	EstimateMiB float64
	// Losses are the losses of every step taken, the first included.
	Losses []float64
}

// MeasureSteps trains a fresh model of c for k+1 steps from its seed,
// measuring the memory of the first step and the time of the last k (see
// [StepCost]); k must be at least 1.
func MeasureSteps(name string, c experiment.Config, k int) StepCost {
	if k < 1 {
		panic(fmt.Sprintf("nb: MeasureSteps %s: k must be ≥ 1, got %d", name, k))
	}
	data := Must(c.TrainingData(Backend(), nil))
	// Memory: the first step (which also compiles) with the collector
	// running as soon as the heap grows 5%, so that the heap in use is
	// close to the live tensors rather than garbage waiting for a cycle.
	// Two collections empty the backend's buffer pools (sync.Pools keep
	// their buffers through one), which would otherwise lend this step the
	// buffers of an earlier one.
	old := debug.SetGCPercent(5)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	tr := Must(c.NewTrainer(Backend()))
	Must(0, tr.Run(data, diffusion.RunOptions{Steps: 1, BatchSize: c.BatchSize}))
	close(stop)
	<-done
	debug.SetGCPercent(old)
	// Time: k more steps with the collector as usual.
	secs := make([]float64, k)
	for i := range k {
		start := time.Now()
		Must(0, tr.Run(data, diffusion.RunOptions{Steps: int64(i + 2), BatchSize: c.BatchSize}))
		secs[i] = time.Since(start).Seconds()
	}
	est := Must(tr.StepMemory(data, c.BatchSize))
	const mib = 1 << 20
	return StepCost{
		Name: name, Seconds: Quantile(secs, 0.5),
		PeakMiB:     float64(peak.Load()-min(peak.Load(), base)) / mib,
		EstimateMiB: est / mib, Losses: slices.Clone(tr.Losses()),
	}
}

// StepCostTable prints costs as a table: ms per step, the measured and the
// estimated memory, each also as a ratio to the first row's.
func StepCostTable(w io.Writer, costs []StepCost) {
	fmt.Fprintf(w, "%-30s %10s %8s %12s %8s %14s\n", "", "ms/step", "× time", "peak MiB", "× mem", "estimate MiB")
	for _, c := range costs {
		fmt.Fprintf(w, "%-30s %10.0f %8.2f %12.0f %8.2f %14.0f\n", c.Name, 1000*c.Seconds, c.Seconds/costs[0].Seconds,
			c.PeakMiB, c.PeakMiB/costs[0].PeakMiB, c.EstimateMiB)
	}
}
