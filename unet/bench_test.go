package unet

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/schedules"
)

// The benchmarks time the reference UNet (UNetConfigByName("reference")) on
// the backend of GOMLX_BACKEND, once per convolution formulation:
//
//	GOEXPERIMENT=simd GOMLX_BACKEND=go:parallelism=-1 go test ./unet -run '^$' -bench . -benchtime 5x
//
// BenchmarkTrainStep is one diffusion.Trainer step (forward, backward and
// Adam) on a batch of 64 28×28 images; BenchmarkSampleForward one model
// evaluation on 16 images (a sampling step's cost). The first step, which
// compiles, is not timed. Each formulation runs with the default number of
// streams (StreamsFor), padshift also with one. "native" on the pure-Go
// backend takes minutes per training step: select formulations with e.g.
// -bench 'TrainStep/(padshift|shifted)'. BenchmarkTrainStepNamed times the
// same step for the "small" (28×28×1) and "latent" (7×7×4, run at 8×8)
// UNets, with the default formulation and streams: -bench TrainStepNamed.

// benchVariant is a convolution formulation and a number of streams (0:
// StreamsFor's choice).
type benchVariant struct {
	kind    ConvKind
	streams int
}

func (v benchVariant) name() string {
	if v.streams > 0 {
		return fmt.Sprintf("%s/streams=%d", v.kind, v.streams)
	}
	return string(v.kind)
}

// benchVariants lists the fastest first; native last (minutes per training
// step on the pure-Go backend).
var benchVariants = []benchVariant{
	{ConvKindPadShift, 0}, {ConvKindPadShift, 1}, {ConvKindShifted, 0}, {ConvKindIm2Col, 0}, {ConvKindNative, 0},
}

func (v benchVariant) set(b *testing.B) {
	oldConv, oldStreams := ConvOverride, StreamsOverride
	ConvOverride, StreamsOverride = v.kind, v.streams
	b.Cleanup(func() { ConvOverride, StreamsOverride = oldConv, oldStreams })
}

// randomImages returns n single-channel 28×28 images of uniform noise in [−1, 1].
func randomImages(n int, seed uint64) *tensors.Tensor { return randomImagesSized(n, 28, seed) }

// randomImagesSized returns n single-channel size×size images of uniform noise in [−1, 1].
func randomImagesSized(n, size int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n*size*size)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(v, n, size, size, 1)
}

// reportStep reports wall-clock and CPU milliseconds per step. On a shared
// machine the CPU time (all threads) is the steadier figure; wall time is
// what a user waits.
func reportStep(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/step")
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/step")
}

// trainProcess is the diffusion process of the training benchmarks: linear
// β, T = 1000.
func trainProcess(b *testing.B) *diffusion.Process {
	s, err := schedules.New("linear", 1000)
	if err != nil {
		b.Fatal(err)
	}
	p, err := diffusion.NewProcess(s)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchTrainStep times diffusion.Trainer steps of the UNet of cfg on a
// fixed batch of 64 random images (the first step, which compiles, not
// timed).
func benchTrainStep(b *testing.B, p *diffusion.Process, cfg UNetConfig) {
	den := diffusion.Denoiser{Fn: UNet(cfg), Prediction: diffusion.PredictEpsilon}
	tr, err := diffusion.NewTrainer(backend.MustShared(), p, den, diffusion.TrainConfig{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	cfg = cfg.WithDefaults()
	x0 := randomImagesChannels(64, cfg.ImageSize, cfg.InChannels, 1)
	if _, err := tr.TrainStep(x0, cond.Condition{}); err != nil { // compiles
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		if _, err := tr.TrainStep(x0, cond.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	reportStep(b, cpuTime()-c0)
}

func BenchmarkTrainStep(b *testing.B) {
	cfg, err := UNetConfigByName("reference")
	if err != nil {
		b.Fatal(err)
	}
	p := trainProcess(b)
	for _, v := range benchVariants {
		b.Run(v.name(), func(b *testing.B) {
			v.set(b)
			benchTrainStep(b, p, cfg)
		})
	}
}

func BenchmarkTrainStepNamed(b *testing.B) {
	p := trainProcess(b)
	for _, name := range []string{"small", "latent"} {
		b.Run(name, func(b *testing.B) {
			cfg, err := UNetConfigByName(name)
			if err != nil {
				b.Fatal(err)
			}
			benchTrainStep(b, p, cfg)
		})
	}
}

func BenchmarkSampleForward(b *testing.B) {
	cfg, err := UNetConfigByName("reference")
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range benchVariants {
		b.Run(v.name(), func(b *testing.B) {
			v.set(b)
			store := model.NewStore()
			store.SetParam(model.ParamInitialSeed, int64(1))
			fn := UNet(cfg)
			e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, t *Node) *Node {
				return fn(scope, x, t, cond.Nodes{})
			})
			if err != nil {
				b.Fatal(err)
			}
			x := randomImages(16, 2)
			t := make([]int32, 16)
			for i := range t {
				t[i] = int32(60 * i)
			}
			tt := tensors.FromValue(t)
			if _, err := e.Call(x, tt); err != nil { // compiles
				b.Fatal(err)
			}
			b.ResetTimer()
			c0 := cpuTime()
			for range b.N {
				out, err := e.Call(x, tt)
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
			reportStep(b, cpuTime()-c0)
		})
	}
}
