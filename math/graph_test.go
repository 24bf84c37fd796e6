package math

import (
	"fmt"
	gomath "math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// graphTolerance is the accepted error of a graph function against its
// float64 version: |got − want| ≤ rel·|want| + abs.
type graphTolerance struct{ rel, abs float64 }

// graphDTypes are the dtypes every graph function is checked in.
var graphDTypes = []dtypes.DType{dtypes.Float64, dtypes.Float32}

// oneOutput adapts a graph function of several operands to runGraph.
func oneOutput(fn func(ops ...*graph.Node) *graph.Node) func([]*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node { return []*graph.Node{fn(in...)} }
}

// compareGrid runs fn on the grid columns in dtype, checks that the output
// keeps dtype, and compares each element with ref evaluated at the inputs
// rounded to dtype. It logs the element closest to failing.
func compareGrid(t *testing.T, name string, dtype dtypes.DType, tol graphTolerance,
	fn func(ops ...*graph.Node) *graph.Node, ref func(args ...float64) float64, columns [][]float64) {
	t.Helper()
	ins := make([]input, len(columns))
	for i, c := range columns {
		ins[i] = vector(c)
	}
	outs, _ := runGraph(t, dtype, oneOutput(fn), ins...)
	args := make([]float64, len(columns))
	failures := 0
	maxRel, worst := 0.0, ""
	for j, got := range outs[0] {
		for i := range columns {
			args[i] = rounded(columns[i][j], dtype)
		}
		want := ref(args...)
		if !closeTo(got, want, tol.rel, tol.abs) {
			failures++
			if failures <= 10 {
				t.Errorf("%s in %s at %v: got %.10g, float64 version %.10g", name, dtype, args, got, want)
			}
		}
		if d := gomath.Abs(got-want) / (tol.rel*gomath.Abs(want) + tol.abs); d > maxRel {
			maxRel = d
			worst = fmt.Sprintf("at %v: got %.10g, want %.10g", args, got, want)
		}
	}
	if failures > 10 {
		t.Errorf("%s in %s: %d failures in all", name, dtype, failures)
	}
	t.Logf("%s in %s: largest error %.3g of the tolerance over %d points, %s", name, dtype, maxRel, len(outs[0]), worst)
}

// TestNormalKLGraphMatchesFloat64: the graph KL equals NormalKL on a grid of
// means and log-variances, in float64 and float32.
func TestNormalKLGraphMatchesFloat64(t *testing.T) {
	// Log-variances 1e-6 and 1e-3 apart test expm1(d) − d for small d, where
	// e^d − 1 − d would cancel. All terms of the KL are non-negative, so the
	// comparison is relative only.
	means := []float64{-2, 0, 0.7}
	logVars := []float64{-6, -1, 0, 1e-6, 1e-3, 0.3, 2}
	columns := grid(means, logVars, means, logVars)
	tols := map[dtypes.DType]graphTolerance{
		dtypes.Float64: {1e-13, 0},
		dtypes.Float32: {1e-5, 0},
	}
	for _, dtype := range graphDTypes {
		compareGrid(t, "NormalKLGraph", dtype, tols[dtype],
			func(ops ...*graph.Node) *graph.Node { return NormalKLGraph(ops[0], ops[1], ops[2], ops[3]) },
			func(a ...float64) float64 { return NormalKL(a[0], a[1], a[2], a[3]) }, columns)
	}
}

// TestStdNormalCDFGraphMatchesFloat64: the graph Φ equals StdNormalCDF to a
// relative tolerance from x = −13 (Φ ≈ 6e-39) to 8, in float64 and float32:
// the lower tail keeps its relative precision, which ½(1 + erf) would not.
func TestStdNormalCDFGraphMatchesFloat64(t *testing.T) {
	var xs []float64
	for x := -13.0; x <= 8; x += 0.125 {
		xs = append(xs, x)
	}
	tols := map[dtypes.DType]graphTolerance{
		dtypes.Float64: {1e-13, 0},
		dtypes.Float32: {1e-5, 0},
	}
	for _, dtype := range graphDTypes {
		compareGrid(t, "StdNormalCDFGraph", dtype, tols[dtype],
			func(ops ...*graph.Node) *graph.Node { return StdNormalCDFGraph(ops[0]) },
			func(a ...float64) float64 { return StdNormalCDF(a[0]) }, [][]float64{xs})
	}
	// Deep lower tail: float64 keeps its relative precision down to
	// Φ(−37) ≈ 5.7e-300; float32 underflows to 0 below about −13.2.
	compareGrid(t, "StdNormalCDFGraph (deep tail)", dtypes.Float64, graphTolerance{1e-12, 0},
		func(ops ...*graph.Node) *graph.Node { return StdNormalCDFGraph(ops[0]) },
		func(a ...float64) float64 { return StdNormalCDF(a[0]) }, [][]float64{{-37, -30, -20, -15}})
}

// TestDiscretizedGraphMatchesFloat64: the graph log-likelihood equals
// max(DiscretizedGaussianLogLikelihood, ln 1e-12) on all 256 levels, means
// inside and outside [−1, 1] and σ from 0.0009 to 12, in float64 and float32.
func TestDiscretizedGraphMatchesFloat64(t *testing.T) {
	levels := make([]float64, 256)
	for k := range levels {
		levels[k] = level(k)
	}
	means := []float64{-1.5, -1, -0.3, 0, 0.004, 0.4, 1, 1.2}
	logVars := []float64{-14, -10, -7, -4, -2, -0.5, 0, 2, 5}
	columns := grid(levels, means, logVars)
	// float32: 1e-5 relative, plus 1e-6 absolute for ln P near 0 (P near 1,
	// resolved to float32's 6e-8).
	tols := map[dtypes.DType]graphTolerance{
		dtypes.Float64: {1e-12, 1e-14},
		dtypes.Float32: {1e-5, 1e-6},
	}
	ref := func(a ...float64) float64 {
		return gomath.Max(DiscretizedGaussianLogLikelihood(a[0], a[1], a[2]), LogProbFloor)
	}
	discretized := func(ops ...*graph.Node) *graph.Node {
		return DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2])
	}
	for _, dtype := range graphDTypes {
		compareGrid(t, "DiscretizedGaussianLogLikelihoodGraph", dtype, tols[dtype], discretized, ref, columns)
	}
	// Wide Gaussians (σ from 0.3 to 12): every bin is narrow against σ, the
	// case where differences of Φ at the two rounded bin edges would lose
	// float32 precision.
	wideLogVars := []float64{-2.5, -1, 0, 1, 2.5, 4, 5}
	compareGrid(t, "DiscretizedGaussianLogLikelihoodGraph (wide)", dtypes.Float32, graphTolerance{1e-6, 1e-6},
		discretized, ref, grid(levels, means, wideLogVars))
}

// TestGraphBroadcasting: operands of shapes [4,3], [4,1], [1,3] and scalars
// combine to [4,3], each element equal to the float64 version of its operands.
func TestGraphBroadcasting(t *testing.T) {
	x := input{dims: []int{4, 3}}
	for i := range 12 {
		x.values = append(x.values, level(i*23))
	}
	mean := input{values: []float64{-0.5, 0, 0.3, 1.1}, dims: []int{4, 1}}
	logVar := input{values: []float64{-6, -1, 1}, dims: []int{1, 3}}
	scalar := input{values: []float64{0.2}}
	at := func(in input, i, j int) float64 {
		switch {
		case len(in.dims) == 0:
			return in.values[0]
		case in.dims[0] == 1:
			return in.values[j]
		case in.dims[1] == 1:
			return in.values[i]
		}
		return in.values[i*3+j]
	}
	tests := []struct {
		name string
		fn   func(ops ...*graph.Node) *graph.Node
		ins  []input
		ref  func(i, j int, ins []input) float64
	}{
		{"DiscretizedGaussianLogLikelihoodGraph(x[4,3], mean[4,1], logVar[1,3])",
			func(ops ...*graph.Node) *graph.Node {
				return DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2])
			},
			[]input{x, mean, logVar},
			func(i, j int, ins []input) float64 {
				return gomath.Max(DiscretizedGaussianLogLikelihood(at(ins[0], i, j), at(ins[1], i, j), at(ins[2], i, j)), LogProbFloor)
			}},
		{"DiscretizedGaussianLogLikelihoodGraph(x[4,3], mean[4,1], logVar scalar)",
			func(ops ...*graph.Node) *graph.Node {
				return DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2])
			},
			[]input{x, mean, scalar},
			func(i, j int, ins []input) float64 {
				return gomath.Max(DiscretizedGaussianLogLikelihood(at(ins[0], i, j), at(ins[1], i, j), at(ins[2], i, j)), LogProbFloor)
			}},
		{"NormalKLGraph(mean1[4,3], logVar1[1,3], mean2[4,1], logVar2 scalar)",
			func(ops ...*graph.Node) *graph.Node { return NormalKLGraph(ops[0], ops[1], ops[2], ops[3]) },
			[]input{x, logVar, mean, scalar},
			func(i, j int, ins []input) float64 {
				return NormalKL(at(ins[0], i, j), at(ins[1], i, j), at(ins[2], i, j), at(ins[3], i, j))
			}},
	}
	for _, tc := range tests {
		outs, dims := runGraph(t, dtypes.Float64, oneOutput(tc.fn), tc.ins...)
		if len(dims[0]) != 2 || dims[0][0] != 4 || dims[0][1] != 3 {
			t.Errorf("%s: output dimensions %v, want [4 3]", tc.name, dims[0])
			continue
		}
		for i := range 4 {
			for j := range 3 {
				if got, want := outs[0][i*3+j], tc.ref(i, j, tc.ins); !closeTo(got, want, 1e-12, 1e-14) {
					t.Errorf("%s at [%d,%d]: got %.15g, want %.15g", tc.name, i, j, got, want)
				}
			}
		}
	}
}

// TestGraphRejectsBadOperands: shapes that do not broadcast, mixed dtypes and
// integer operands fail with an error naming the function.
func TestGraphRejectsBadOperands(t *testing.T) {
	discretized := func(ops []*graph.Node) []*graph.Node {
		return []*graph.Node{DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2])}
	}
	tests := []struct {
		name string
		fn   func([]*graph.Node) []*graph.Node
		ins  []input
		want string
	}{
		{"rank mismatch", discretized,
			[]input{{make([]float64, 12), []int{4, 3}}, {make([]float64, 3), []int{3}}, {[]float64{0}, nil}},
			"math: DiscretizedGaussianLogLikelihoodGraph: operand 1 has shape"},
		{"dimension mismatch", discretized,
			[]input{{make([]float64, 12), []int{4, 3}}, {make([]float64, 8), []int{4, 2}}, {[]float64{0}, nil}},
			"does not broadcast"},
		{"mixed dtypes", func(ops []*graph.Node) []*graph.Node {
			return []*graph.Node{NormalKLGraph(ops[0], graph.ConvertDType(ops[1], dtypes.Float32), ops[0], ops[0])}
		}, []input{vector([]float64{1}), vector([]float64{1})}, "math: NormalKLGraph: operands must share one dtype"},
		{"integer operand", func(ops []*graph.Node) []*graph.Node {
			return []*graph.Node{StdNormalCDFGraph(graph.ConvertDType(ops[0], dtypes.Int32))}
		}, []input{vector([]float64{1})}, "math: StdNormalCDFGraph: operands must be float"},
	}
	for _, tc := range tests {
		_, _, err := tryRunGraph(dtypes.Float64, tc.fn, tc.ins...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestDiscretizedGraphFiniteOnExtremeGrid: on levels across [−1, 1], means
// from −50 to 50 and logVar from −30 to 5, the graph value and its gradients with respect
// to mean and logVar are finite, and the value lies in [ln 1e-12, 0].
func TestDiscretizedGraphFiniteOnExtremeGrid(t *testing.T) {
	var levels, means, logVars []float64
	for k := 0; k < 256; k += 15 {
		levels = append(levels, level(k))
	}
	levels = append(levels, level(1), level(254), level(255))
	for m := -50.0; m <= 50; m += 10 {
		means = append(means, m, m+0.37)
	}
	for v := -30.0; v <= 5; v += 1.25 {
		logVars = append(logVars, v)
	}
	columns := grid(levels, means, logVars)
	fn := func(ops []*graph.Node) []*graph.Node {
		logP := DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2])
		grads := graph.Gradient(graph.ReduceAllSum(logP), ops[1], ops[2])
		return []*graph.Node{logP, grads[0], grads[1]}
	}
	for _, dtype := range graphDTypes {
		outs, _ := runGraph(t, dtype, fn, vector(columns[0]), vector(columns[1]), vector(columns[2]))
		floor := rounded(LogProbFloor, dtype)
		bad := 0
		for j := range outs[0] {
			v, dm, dv := outs[0][j], outs[1][j], outs[2][j]
			ok := v >= floor && v <= 0 && !gomath.IsInf(dm, 0) && !gomath.IsNaN(dm) && !gomath.IsInf(dv, 0) && !gomath.IsNaN(dv)
			if !ok {
				bad++
				if bad <= 10 {
					t.Errorf("%s at x=%v, mean=%v, logVar=%v: ln P = %g, ∂/∂mean = %g, ∂/∂logVar = %g",
						dtype, columns[0][j], columns[1][j], columns[2][j], v, dm, dv)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d points not finite or out of range", dtype, bad, len(outs[0]))
		}
	}
}

// centralDifference returns (f(x+h) − f(x−h))/(2h).
func centralDifference(f func(float64) float64, x, h float64) float64 {
	return (f(x+h) - f(x-h)) / (2 * h)
}

// TestNormalKLGraphGradient: graph.Gradient of the graph KL with respect to
// all four operands matches central finite differences of NormalKL.
func TestNormalKLGraphGradient(t *testing.T) {
	columns := grid([]float64{-1, 0.4}, []float64{-3, 0, 0.2, 1.5}, []float64{0, 0.5}, []float64{-2, 0.1, 0.3})
	fn := func(ops []*graph.Node) []*graph.Node {
		kl := NormalKLGraph(ops[0], ops[1], ops[2], ops[3])
		return graph.Gradient(graph.ReduceAllSum(kl), ops...)
	}
	ins := []input{vector(columns[0]), vector(columns[1]), vector(columns[2]), vector(columns[3])}
	outs, _ := runGraph(t, dtypes.Float64, fn, ins...)
	names := []string{"mean1", "logVar1", "mean2", "logVar2"}
	for j := range columns[0] {
		for op := range 4 {
			args := []float64{columns[0][j], columns[1][j], columns[2][j], columns[3][j]}
			f := func(v float64) float64 {
				a := append([]float64(nil), args...)
				a[op] = v
				return NormalKL(a[0], a[1], a[2], a[3])
			}
			want := centralDifference(f, args[op], 1e-5)
			if got := outs[op][j]; !closeTo(got, want, 1e-7, 1e-8) {
				t.Errorf("∂KL/∂%s at %v: graph %.12g, finite difference %.12g", names[op], args, got, want)
			}
		}
	}
}

// TestDiscretizedGraphGradient: graph.Gradient of the graph log-likelihood
// with respect to mean and logVar matches central finite differences of
// DiscretizedGaussianLogLikelihood, in every branch (open end bins, body,
// tails, narrow bins), away from the floor.
func TestDiscretizedGraphGradient(t *testing.T) {
	levels := []float64{level(0), level(1), level(90), level(128), level(254), level(255)}
	means := []float64{-1.1, -0.4, 0.05, 0.8}
	logVars := []float64{-9, -6, -3, -1, 0.5, 3}
	columns := grid(levels, means, logVars)
	fn := func(ops []*graph.Node) []*graph.Node {
		logP := DiscretizedGaussianLogLikelihoodGraph(ops[0], ops[1], ops[2])
		return append([]*graph.Node{logP}, graph.Gradient(graph.ReduceAllSum(logP), ops[1], ops[2])...)
	}
	outs, _ := runGraph(t, dtypes.Float64, fn, vector(columns[0]), vector(columns[1]), vector(columns[2]))
	checked := 0
	for j := range columns[0] {
		x, mean, logVar := columns[0][j], columns[1][j], columns[2][j]
		if outs[0][j] < LogProbFloor+1 {
			continue // the floor has no gradient; its kink is not differentiable
		}
		checked++
		sigma := gomath.Exp(0.5 * logVar)
		dMean := centralDifference(func(m float64) float64 { return DiscretizedGaussianLogLikelihood(x, m, logVar) }, mean, 1e-5*sigma)
		dLogVar := centralDifference(func(v float64) float64 { return DiscretizedGaussianLogLikelihood(x, mean, v) }, logVar, 1e-5)
		if got := outs[1][j]; !closeTo(got, dMean, 1e-6, 1e-7/sigma) {
			t.Errorf("∂lnP/∂mean at x=%v, mean=%v, logVar=%v: graph %.12g, finite difference %.12g", x, mean, logVar, got, dMean)
		}
		if got := outs[2][j]; !closeTo(got, dLogVar, 1e-6, 1e-7) {
			t.Errorf("∂lnP/∂logVar at x=%v, mean=%v, logVar=%v: graph %.12g, finite difference %.12g", x, mean, logVar, got, dLogVar)
		}
	}
	if checked < len(columns[0])/2 {
		t.Errorf("only %d of %d points are above the floor: the grid does not test gradients", checked, len(columns[0]))
	}
}

// TestGraphHalfPrecision: float16 inputs are computed in float32 and returned
// as float16.
func TestGraphHalfPrecision(t *testing.T) {
	fn := func(ops []*graph.Node) []*graph.Node {
		h := graph.ConvertDType(ops[0], dtypes.Float16)
		out := StdNormalCDFGraph(h)
		if out.DType() != dtypes.Float16 {
			t.Errorf("StdNormalCDFGraph of float16 returned %s", out.DType())
		}
		return []*graph.Node{graph.ConvertDType(out, dtypes.Float64)}
	}
	xs := []float64{-2, 0, 1}
	outs, _ := runGraph(t, dtypes.Float64, fn, vector(xs))
	for i, x := range xs {
		if got, want := outs[0][i], StdNormalCDF(x); !closeTo(got, want, 1e-3, 0) {
			t.Errorf("StdNormalCDFGraph(float16 %v) = %g, want %g", x, got, want)
		}
	}
}
