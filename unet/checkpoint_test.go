package unet

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// TestGradCheckpoint compares networks with and without GradCheckpoint on
// the same variables, at batch 2: the "small" UNet; one with attention
// inside the levels, two heads, the linear time embedding and learned
// variance; a text-conditional one (SpatialTransformers, a context mask);
// the "small" UNet with Dropout 0.3 in a training graph (the same random
// stream both ways); the MLP; and the "small" UNet in BFloat16 (mixed
// precision). For each:
//
//   - the outputs are bit-identical, and so are the variables: the second
//     network, built on the store the first one created (the checkpointed
//     one first in every other case), creates none, and NumParams does not
//     change;
//   - every variable's gradient of Σ y·r (r fixed, random) equals the one
//     without checkpointing to max|Δ| ≤ tol·max|g| (per tensor), tol =
//     1e-5 in float32 and 0.05 (13 units of roundoff) in BFloat16. They
//     are computed by the same operations on the same values; only where
//     a block's input is also read outside the block — the down levels'
//     outputs, which are also the skips, and the time embedding, read by
//     every ResBlock — are the two contributions to its gradient added in
//     another order, a few roundings (measured on the "small" UNet: at
//     most 1.4e-6 of the tensor's largest entry in float32, 0.012 in
//     BFloat16, where the gradients are summed in BFloat16);
//   - the gradients of the variables that no reordered sum reaches — the
//     middle, the up levels and the output head of the UNets, all of the
//     MLP — are bit-identical.
func TestGradCheckpoint(t *testing.T) {
	small, err := UNetConfigByName("small")
	if err != nil {
		t.Fatal(err)
	}
	dropout := small
	dropout.Dropout = 0.3
	text := tinyConfigs[4]
	mlp := MLPConfig{NumClasses: 2}
	textCond := textCondition(randomContext(2, 3, text.ContextDim, 1), []bool{true, false, true, false, false, false})
	textCond.Inputs[cond.Class] = tensors.FromValue([]int32{1, 2})
	type net struct {
		name          string
		fn, fnCkpt    modelFn
		params, ckptP int
		x             *tensors.Tensor
		c             cond.Condition
		training      bool
		exact         func(path string) bool
		dt            dtypes.DType
	}
	unetExact := func(path string) bool {
		return strings.HasPrefix(path, "/middle/") || strings.HasPrefix(path, "/up_") ||
			strings.HasPrefix(path, "/out_norm/") || strings.HasPrefix(path, "/conv_out/")
	}
	unetNet := func(name string, c UNetConfig, x *tensors.Tensor, cn cond.Condition, training bool) net {
		ck := c
		ck.GradCheckpoint = true
		return net{name, UNet(c), UNet(ck), c.NumParams(), ck.NumParams(), x, cn, training, unetExact, dtypes.Float32}
	}
	mlpCk := mlp
	mlpCk.GradCheckpoint = true
	nets := []net{
		unetNet("small", small, randomImages(2, 5), cond.Condition{}, false),
		unetNet("attention-levels", tinyConfigs[1], randomImagesChannels(2, 8, 3, 5), cond.Condition{}, false),
		unetNet("text", text, randomImagesChannels(2, 7, 2, 5), textCond, false),
		unetNet("dropout", dropout, randomImages(2, 6), cond.Condition{}, true),
		{"mlp", MLP(mlp), MLP(mlpCk), mlp.NumParams(), mlpCk.NumParams(), tensors.FromFlatDataAndDimensions(randomNormal(4, 2), 2, 2),
			cond.Classes([]int32{0, 2}), false, func(string) bool { return true }, dtypes.Float32},
	}
	bf16 := unetNet("small-bfloat16", small, randomImages(2, 5), cond.Condition{}, false)
	bf16.dt = dtypes.BFloat16
	nets = append(nets, bf16)
	for i, n := range nets {
		t.Run(n.name, func(t *testing.T) {
			if n.params != n.ckptP {
				t.Errorf("NumParams %d with GradCheckpoint, %d without", n.ckptP, n.params)
			}
			store := seededStore()
			ts := []int32{3, 999}
			run := func(fn modelFn) gradRun {
				// The same random stream (dropout) for both networks.
				if err := store.ResetRNGState(); err != nil {
					t.Fatal(err)
				}
				return runWithGrads(t, store, fn, n.dt, n.x, ts, n.c, n.training)
			}
			var ref, ck gradRun
			if i%2 == 0 {
				ref = run(n.fn)
				ck = run(n.fnCkpt)
			} else {
				ck = run(n.fnCkpt)
				ref = run(n.fn)
			}
			// Run again once both networks (and their variables) exist: the
			// first run of a store initialises the variables, and the
			// random stream with them.
			ref, ck = run(n.fn), run(n.fnCkpt)
			if !slices.Equal(ref.paths, ck.paths) {
				t.Fatalf("variables differ: %v and %v", ref.paths, ck.paths)
			}
			if !slices.Equal(ref.out, ck.out) {
				t.Errorf("outputs differ: %v", relErr(ck.out, ref.out))
			}
			if n.training {
				// The dropout acted (the test is not vacuous).
				eval := runWithGrads(t, store, n.fn, dtypes.Float32, n.x, ts, n.c, false)
				if slices.Equal(eval.out, ref.out) {
					t.Errorf("dropout changed nothing")
				}
			}
			// A few roundings of the dtype the reordered sums are done in.
			tol := map[dtypes.DType]float64{dtypes.Float32: 1e-5, dtypes.BFloat16: 0.05}[n.dt]
			identical, worst := 0, 0.0
			for _, p := range ref.paths {
				a, b := ref.grads[p], ck.grads[p]
				maxG, maxD := 0.0, 0.0
				for j := range a {
					maxG = math.Max(maxG, math.Abs(float64(a[j])))
					maxD = math.Max(maxD, math.Abs(float64(a[j])-float64(b[j])))
				}
				if maxD == 0 {
					identical++
				} else if n.exact(p) {
					t.Errorf("∂/∂%s differs by %g (max %g); want bit-identical", p, maxD, maxG)
				}
				if maxG > 0 {
					worst = math.Max(worst, maxD/maxG)
				}
				if !(maxD <= tol*maxG) {
					t.Errorf("∂/∂%s differs by %g, more than %g of its largest entry %g", p, maxD, tol, maxG)
				}
			}
			t.Logf("%d of %d gradients bit-identical; largest difference %.3g of the tensor's largest entry", identical, len(ref.paths), worst)
		})
	}
}

// TestGradCheckpointAttentionMaps checks that UNetWithAttention with
// GradCheckpoint returns the same output and cross-attention maps as
// without.
func TestGradCheckpointAttentionMaps(t *testing.T) {
	c := tinyConfigs[4]
	ck := c
	ck.GradCheckpoint = true
	store := seededStore()
	cn := textCondition(randomContext(2, 3, c.ContextDim, 1), []bool{true, false, true, true, true, false})
	names := cn.Names()
	var results [][]*tensors.Tensor
	for _, conf := range []UNetConfig{c, ck} {
		e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, in []*Node) []*Node {
			cnodes, _ := cond.FromArgs(names, false, in[2:])
			out, maps := UNetWithAttention(conf)(scope, in[0], in[1], cnodes)
			res := []*Node{out}
			for _, m := range maps {
				res = append(res, m.Weights)
			}
			return res
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := e.Call(append([]any{randomImagesChannels(2, 7, 2, 5), tensors.FromValue([]int32{3, 999})}, cn.Args(2, false)...)...)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, outs)
	}
	if len(results[0]) != len(results[1]) || len(results[0]) < 2 {
		t.Fatalf("%d and %d outputs", len(results[0]), len(results[1]))
	}
	for i := range results[0] {
		if !slices.Equal(tensors.MustCopyFlatData[float32](results[0][i]), tensors.MustCopyFlatData[float32](results[1][i])) {
			t.Errorf("output %d differs with GradCheckpoint", i)
		}
	}
}

// TestCheckpointedSharedVariable checks checkpointed on a block that reads
// a variable its input also depends on (y = tanh(h·W), h = x·W with the
// same W): the gradient with respect to W must count the path through h
// once, as without checkpointing (the copy's inputs are cut from their
// past, so the inner gradient does not follow h back to W); and a block
// that reads a node it was not given panics.
func TestCheckpointedSharedVariable(t *testing.T) {
	store := seededStore()
	x := tensors.FromFlatDataAndDimensions(randomNormal(12, 1), 4, 3)
	r := randomNormal(12, 2)
	grads := make([][]float32, 2)
	for i, on := range []bool{false, true} {
		e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x *Node) []*Node {
			lin := scope.In("lin")
			w := lin.VariableWithShape("w", shapes.Make(dtypes.Float32, 3, 3)).NodeValue(x.Graph())
			block := func(s *model.Scope, in []*Node) []*Node {
				w := s.VariableWithShape("w", shapes.Make(dtypes.Float32, 3, 3)).NodeValue(in[0].Graph())
				return []*Node{Tanh(MatMul(in[0], w))}
			}
			h := MatMul(x, w)
			var y *Node
			if on {
				y = checkpointed(lin, []*Node{h}, block)[0]
			} else {
				y = block(lin, []*Node{h})[0]
			}
			loss := ReduceAllSum(Mul(y, Reshape(Const(x.Graph(), r), 4, 3)))
			return Gradient(loss, w, x)
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Call(x)
		if err != nil {
			t.Fatal(err)
		}
		grads[i] = append(tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])...)
	}
	if e := relErr(grads[1], grads[0]); e > 1e-6 {
		t.Errorf("gradients with checkpointing differ by %.3g (relative): %v, want %v", e, grads[1], grads[0])
	}

	// A block that captures a node instead of taking it as an input.
	e, err := model.NewExec(backend.MustShared(), seededStore(), func(scope *model.Scope, x *Node) *Node {
		other := Tanh(x)
		return checkpointed(scope, []*Node{x}, func(_ *model.Scope, in []*Node) []*Node {
			return []*Node{Add(in[0], other)}
		})[0]
	})
	if err == nil {
		_, err = e.Call(x)
	}
	if err == nil || !strings.Contains(err.Error(), "not one of its inputs") {
		t.Errorf("a block reading a node it was not given: error %v", err)
	}
}

// BenchmarkGradCheckpoint measures one forward and backward pass (the
// gradients of a loss with respect to every variable; no optimizer) of the
// "small" and "reference" UNets at batch 16 and 64, without and with
// GradCheckpoint, on the backend of GOMLX_BACKEND:
//
//	GOEXPERIMENT=simd GOMLX_BACKEND=go:parallelism=-1 go test ./unet -run '^$' -bench GradCheckpoint/small -benchtime 3x
//
// Besides ms/step and cpu-ms/step (CPU time of all threads, the steadier
// figure on a shared machine) it reports peak-heap-MiB, the largest Go heap in use
// during the timed steps (runtime.MemStats.HeapInuse sampled every 5 ms:
// the pure-Go backend's buffers are Go memory, returned to a pool when
// their last reader has run), alloc-MiB/step, the memory the steps
// allocate, and vmhwm-MiB, the process's peak resident memory (VmHWM in
// /proc/self/status; Linux only), which covers everything run before in
// the process: read it from one sub-benchmark run alone, e.g.
// -bench 'GradCheckpoint/small/b=64/ckpt=on$'. The first step, which
// compiles, is not timed.
func BenchmarkGradCheckpoint(b *testing.B) {
	for _, name := range []string{"small", "reference"} {
		for _, batch := range []int{16, 64} {
			for _, on := range []bool{false, true} {
				ck := map[bool]string{false: "off", true: "on"}[on]
				b.Run(fmt.Sprintf("%s/b=%d/ckpt=%s", name, batch, ck), func(b *testing.B) {
					c, err := UNetConfigByName(name)
					if err != nil {
						b.Fatal(err)
					}
					c.GradCheckpoint = on
					benchGradStep(b, c, batch, dtypes.Float32)
				})
			}
		}
	}
}

// BenchmarkMixedPrecision is BenchmarkGradCheckpoint's step (without
// checkpointing) of the "small" UNet at batch 64 in float32, BFloat16 and
// Float16 (x_t converted in the graph, the loss in float32; the variables
// float32 in every case):
//
//	GOEXPERIMENT=simd GOMLX_BACKEND=go:parallelism=-1 go test ./unet -run '^$' -bench MixedPrecision -benchtime 3x
func BenchmarkMixedPrecision(b *testing.B) {
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16, dtypes.Float16} {
		b.Run(dt.String(), func(b *testing.B) {
			c, err := UNetConfigByName("small")
			if err != nil {
				b.Fatal(err)
			}
			benchGradStep(b, c, 64, dt)
		})
	}
}

// benchGradStep times the gradient of the mean squared output of the UNet
// of c on a batch of random images converted to dt in the graph.
func benchGradStep(b *testing.B, c UNetConfig, batch int, dt dtypes.DType) {
	store := seededStore()
	e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, t *Node) []*Node {
		if dt != x.DType() {
			x = ConvertDType(x, dt)
		}
		y := ConvertDType(UNet(c)(scope, x, t, cond.Nodes{}), dtypes.Float32)
		loss := ReduceAllMean(Square(y))
		var vars []*Node
		for v := range store.IterVariables() {
			if v.Trainable {
				vars = append(vars, v.NodeValue(y.Graph()))
			}
		}
		return append([]*Node{loss}, Gradient(loss, vars...)...)
	})
	if err != nil {
		b.Fatal(err)
	}
	x := randomImagesSized(batch, c.ImageSize, 1)
	ts := make([]int32, batch)
	for i := range ts {
		ts[i] = int32(i * 37 % 1000)
	}
	t := tensors.FromValue(ts)
	step := func() {
		outs, err := e.Call(x, t)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	step() // compiles
	runtime.GC()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		step()
	}
	b.StopTimer()
	cpu := cpuTime() - c0
	runtime.ReadMemStats(&after)
	close(stop)
	<-done
	const mib = 1 << 20
	reportStep(b, cpu)
	b.ReportMetric(float64(peak.Load())/mib, "peak-heap-MiB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/mib/float64(b.N), "alloc-MiB/step")
	if kb := vmHWMKiB(); kb > 0 {
		b.ReportMetric(float64(kb)/1024, "vmhwm-MiB")
	}
}

// vmHWMKiB returns the process's peak resident memory in KiB (VmHWM of
// /proc/self/status), or 0 where it cannot be read.
func vmHWMKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb
			}
		}
	}
	return 0
}
