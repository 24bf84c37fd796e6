package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/unet"
)

// sideResult is what one side (Go or PyTorch) measured for one model.
type sideResult struct {
	params     int
	train      timing
	sample     timing
	peakRSSMiB float64 // 0: unknown
	otherCPU   float64 // share of the CPUs used by other processes meanwhile (< 0: unknown)
	gpuMiB     float64 // Go side on CUDA: the most GPU memory nvidia-smi listed for this process (0: unknown)
	gpuErr     string  // why gpuMiB is unknown, when it was asked for
}

// stepsSpec is what benchSteps times: a trainer's step on prepared batches,
// then a compiled sampler step on the EMA weights.
type stepsSpec struct {
	label   string // names the CPU profile (profilePath) and the log lines
	process *diffusion.Process
	den     diffusion.Denoiser
	train   diffusion.TrainConfig
	batches []*tensors.Tensor // one per call, warm-up included
	sampler diffusion.Solver
	samples int   // batch of the sampling step
	dims    []int // shape of one sample
	// afterTimed, if not nil, is called after the timed runs of each step
	// (it polls the GPU memory).
	afterTimed func()
}

// benchGo times the Go training step and sampling step of the MLP for one activation.
// afterTimed, if not nil, is called after the timed runs of each step.
func benchGo(b compute.Backend, act string, o options, afterTimed func(), stderr io.Writer) (sideResult, error) {
	c := experiment.Default2D("gaussians8")
	c.MLP.Activation = act
	p, den, tc, err := c.Build()
	if err != nil {
		return sideResult{}, err
	}
	data, err := c.Data()
	if err != nil {
		return sideResult{}, err
	}
	// The batches are drawn beforehand so that only the step is timed.
	batches := make([]*tensors.Tensor, o.warmup+o.runs)
	for i := range batches {
		if batches[i], _, err = data.Batch(int64(i), o.batch); err != nil {
			return sideResult{}, err
		}
	}
	return benchSteps(b, stepsSpec{
		label: act, process: p, den: den, train: tc, batches: batches,
		sampler: diffusion.DDPM{Variance: c.SampleVariance()}, samples: o.samples, dims: []int{2},
		afterTimed: afterTimed,
	}, o, stderr)
}

// unetTrainConfig is the UNet's training step: DDPM's Adam learning rate
// 2e-4 (no warm-up, no clipping) and an EMA of the weights with decay
// 0.9999, as in bench/unet_peer.py.
var unetTrainConfig = diffusion.TrainConfig{LearningRate: 2e-4, EMADecay: 0.9999, Seed: 1}

// benchGoUNet times the Go training step (a batch of o.unetBatch random
// images in [−1, 1]) and DDPM sampling step (o.unetSamples images, β̃
// variance, x̂₀ clipped to [−1, 1] as for pixels) of the UNet of cfg, with the
// linear schedule, T = 1000, and ε prediction. afterTimed, if not nil, is
// called after the timed runs of each step.
func benchGoUNet(b compute.Backend, cfg unet.UNetConfig, o options, afterTimed func(), stderr io.Writer) (sideResult, error) {
	s, err := schedules.New("linear", 1000)
	if err != nil {
		return sideResult{}, err
	}
	p, err := diffusion.NewProcess(s)
	if err != nil {
		return sideResult{}, err
	}
	cfg = cfg.WithDefaults()
	dims := []int{cfg.ImageSize, cfg.ImageSize, cfg.InChannels}
	// The batches are drawn beforehand so that only the step is timed.
	batches := make([]*tensors.Tensor, o.warmup+o.runs)
	for i := range batches {
		batches[i] = uniformImages(o.unetBatch, dims, uint64(i))
	}
	return benchSteps(b, stepsSpec{
		label: "unet", process: p, train: unetTrainConfig, batches: batches,
		den:     diffusion.Denoiser{Fn: unet.UNet(cfg), Prediction: diffusion.PredictEpsilon},
		sampler: diffusion.DDPM{Variance: diffusion.FixedSmall, ClipX0: true},
		samples: o.unetSamples, dims: dims, afterTimed: afterTimed,
	}, o, stderr)
}

// uniformImages returns n images shaped dims of independent uniform noise
// in [−1, 1] (MNIST's pixel range after scaling), from a generator seeded by seed.
func uniformImages(n int, dims []int, seed uint64) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 3))
	shape := append([]int{n}, dims...)
	size := 1
	for _, d := range shape {
		size *= d
	}
	v := make([]float32, size)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(v, shape...)
}

// benchSteps times spec's training step, then its sampling step, and
// measures the peak memory of both.
func benchSteps(b compute.Backend, spec stepsSpec, o options, stderr io.Writer) (sideResult, error) {
	var res sideResult
	// Start the peak-memory measurement afresh for this model: collect what
	// earlier ones left, then reset the kernel's high-water mark.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()

	tr, err := diffusion.NewTrainer(b, spec.process, spec.den, spec.train)
	if err != nil {
		return res, err
	}
	var profile *os.File
	res.train, err = timeCalls(o.warmup, o.runs, func(i int) error {
		if i == o.warmup && o.cpuProfile != "" {
			// Only the timed steps are profiled, not the compilation.
			f, perr := startProfile(profilePath(o.cpuProfile, spec.label))
			if perr != nil {
				return perr
			}
			profile = f
			fmt.Fprintf(stderr, "bench: %s: CPU profile of the timed training steps → %s\n", spec.label, f.Name())
		}
		_, err := tr.TrainStep(spec.batches[i], cond.Condition{})
		return err
	})
	if profile != nil {
		pprof.StopCPUProfile()
		if cerr := profile.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("--cpuprofile: %w", cerr)
		}
	}
	if err != nil {
		return res, fmt.Errorf("training step: %w", err)
	}
	if spec.afterTimed != nil {
		spec.afterTimed()
	}
	res.params = modelParams(tr.Store())

	// Sampling uses the EMA weights, as diffusion.Sample does by default.
	ck, err := tr.Checkpoint(nil)
	if err != nil {
		return res, err
	}
	store, err := diffusion.SamplingStore(ck, true)
	if err != nil {
		return res, err
	}
	st, err := newSampleStep(b, store, spec.process.Model(spec.den), spec.sampler, spec.samples, spec.dims)
	if err != nil {
		return res, err
	}
	defer st.d.Close()
	res.sample, err = timeCalls(o.warmup, o.runs, func(int) error { return st.step() })
	if err != nil {
		return res, fmt.Errorf("sampling step: %w", err)
	}
	if spec.afterTimed != nil {
		spec.afterTimed()
	}
	if err := st.checkFinite(); err != nil {
		return res, err
	}
	res.peakRSSMiB = peakRSSMiB()
	return res, nil
}

// modelParams counts the elements of the trainable variables under the
// model's scope: the parameters of the graph that was actually built.
func modelParams(store *model.Store) int {
	n := 0
	prefix := "/" + diffusion.ModelScope + "/"
	for v := range store.IterVariables() {
		if v.Trainable && strings.HasPrefix(v.Path(), prefix) {
			n += v.Shape().Size()
		}
	}
	return n
}

// sampleStep runs a sampler one step at a time through the sampling core's
// driver (diffusion.NewDriver): each step is the model's evaluation on the
// batch and the solver's update, as in diffusion.Sample.
type sampleStep struct {
	d     *diffusion.Driver
	batch *diffusion.BatchRun
	n     int
}

// newSampleStep prepares sampler s for n samples shaped dims each, starting
// from prior noise.
func newSampleStep(b compute.Backend, store *model.Store, m diffusion.Model, s diffusion.Solver, n int, dims []int) (*sampleStep, error) {
	d, err := diffusion.NewDriver(b, store, m, s, dims, diffusion.SampleOptions{Seed: 1})
	if err != nil {
		return nil, err
	}
	st := &sampleStep{d: d, n: n}
	if st.batch, err = d.Batch(0, n); err != nil {
		d.Close()
		return nil, err
	}
	return st, nil
}

// step runs the next sampling step (T−1, T−2, … as in a sampling run),
// starting a new batch from fresh noise when the last one is done.
func (s *sampleStep) step() error {
	done, err := s.batch.Step()
	if err != nil || !done {
		return err
	}
	if s.batch, err = s.d.Batch(0, s.n); err != nil {
		return err
	}
	_, err = s.batch.Step()
	return err
}

// checkFinite reports samples that are NaN or infinite (a broken step).
func (s *sampleStep) checkFinite() error {
	for i, v := range s.batch.Result() {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e30 {
			return fmt.Errorf("sampling step: sample value %d is %v", i, v)
		}
	}
	return nil
}

// timeCalls calls fn(i) for i = 0 … warmup−1 untimed, then for i = warmup …
// warmup+runs−1 timed, and summarises the timed calls; First is the first
// call, warm-up or not.
func timeCalls(warmup, runs int, fn func(i int) error) (timing, error) {
	var first time.Duration
	ms := make([]float64, 0, runs)
	for i := range warmup + runs {
		start := time.Now()
		if err := fn(i); err != nil {
			return timing{}, err
		}
		d := time.Since(start)
		if i == 0 {
			first = d
		}
		if i >= warmup {
			ms = append(ms, float64(d)/float64(time.Millisecond))
		}
	}
	t := summarize(ms)
	t.First = float64(first) / float64(time.Millisecond)
	return t, nil
}

// startProfile creates path and starts the CPU profiler writing to it.
func startProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return f, nil
}

// profilePath inserts "-label" before the extension of path (cpu.prof →
// cpu-relu.prof, cpu-unet.prof).
func profilePath(path, label string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + label + ext
}

// resetPeakRSS resets the kernel's high-water mark of this process's resident
// memory to its current size (Linux ≥ 4.0; elsewhere it does nothing and the
// peak counts from the start of the process).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMiB returns the process's peak resident memory in MiB: VmHWM of
// /proc/self/status, the high-water mark that resetPeakRSS resets, or else
// getrusage's maxrss (KiB on Linux), or 0 when unknown. (maxrss also holds
// the peak of the process that started this one, inherited at exec, and
// is not reset by resetPeakRSS.)
func peakRSSMiB() float64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				f := strings.Fields(rest)
				if len(f) == 2 && f[1] == "kB" {
					if kib, err := strconv.ParseFloat(f[0], 64); err == nil {
						return kib / 1024
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
