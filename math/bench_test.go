package math

import (
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// benchmarkGraph times one call of fn on float32 operands of shape
// [64, 1, 28, 28] (a batch of the reference UNet), graph compiled beforehand.
func benchmarkGraph(b *testing.B, numOperands int, fn func([]*graph.Node) []*graph.Node) {
	const n = 64 * 28 * 28
	args := make([]any, numOperands)
	for i := range args {
		values := make([]float32, n)
		for j := range values {
			values[j] = float32(level((j*7+i*13)%256)) * 0.9
		}
		args[i] = tensors.FromFlatDataAndDimensions(values, 64, 1, 28, 28)
	}
	exec := graph.MustNewExec(backend.MustShared(), fn)
	defer exec.Finalize()
	exec.MustCall(args...) // compile
	b.ResetTimer()
	for range b.N {
		for _, out := range exec.MustCall(args...) {
			out.FinalizeAll()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/element")
}

func BenchmarkDiscretizedGaussianLogLikelihoodGraph(b *testing.B) {
	benchmarkGraph(b, 3, func(ops []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.ReduceAllSum(DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2]))}
	})
}

func BenchmarkDiscretizedGaussianLogLikelihoodGraphWithGradient(b *testing.B) {
	benchmarkGraph(b, 3, func(ops []*graph.Node) []*graph.Node {
		loss := graph.ReduceAllSum(DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2]))
		return append([]*graph.Node{loss}, graph.Gradient(loss, ops[1], ops[2])...)
	})
}

func BenchmarkNormalKLGraphWithGradient(b *testing.B) {
	benchmarkGraph(b, 4, func(ops []*graph.Node) []*graph.Node {
		loss := graph.ReduceAllSum(NormalKLGraph(ops[0], ops[1], ops[2], ops[3]))
		return append([]*graph.Node{loss}, graph.Gradient(loss, ops[0], ops[1])...)
	})
}
