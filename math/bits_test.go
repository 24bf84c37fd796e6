package math

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// log2E is log₂ e = 1/ln 2 (published value).
const log2E = 1.4426950408889634

// TestNatsToBitsPerDim: 1 nat is log₂ e bits; the result scales as nats/D;
// the graph version agrees in float64 and float32.
func TestNatsToBitsPerDim(t *testing.T) {
	tests := []struct {
		nats float64
		dims int
		want float64
	}{
		{1, 1, log2E},
		{0, 5, 0},
		{784, 784, log2E},                    // 1 nat per dimension
		{784 * 3.5, 784, 3.5 * log2E},        // scales with nats per dimension
		{-2, 4, -0.5 * log2E},                // sign is kept
		{3072 * 2.0794415416798357, 3072, 3}, // ln 8 nats per dim = 3 bits
	}
	for _, tc := range tests {
		if got := NatsToBitsPerDim(tc.nats, tc.dims); !closeTo(got, tc.want, 1e-15, 0) {
			t.Errorf("NatsToBitsPerDim(%v, %d) = %.17g, want %.17g", tc.nats, tc.dims, got, tc.want)
		}
	}
	for _, dtype := range graphDTypes {
		nats := []float64{1, 0, 784, 784 * 3.5}
		outs, _ := runGraph(t, dtype, func(ops []*graph.Node) []*graph.Node {
			return []*graph.Node{NatsToBitsPerDimGraph(ops[0], 784)}
		}, vector(nats))
		for i, n := range nats {
			want := n * log2E / 784
			if got := outs[0][i]; !closeTo(got, want, 1e-6, 0) || (dtype == dtypes.Float64 && !closeTo(got, want, 1e-15, 0)) {
				t.Errorf("NatsToBitsPerDimGraph(%v, 784) in %s = %.17g, want %.17g", n, dtype, got, want)
			}
		}
	}
}

// TestNatsToBitsPerDimRejectsNonPositiveDims: dims ≤ 0 panics with a message
// that names the function and the value.
func TestNatsToBitsPerDimRejectsNonPositiveDims(t *testing.T) {
	for _, dims := range []int{0, -3} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			NatsToBitsPerDim(1, dims)
			return ""
		}()
		if want := fmt.Sprintf("math: NatsToBitsPerDim: dims must be > 0, got %d", dims); msg != want {
			t.Errorf("NatsToBitsPerDim(1, %d) panicked with %q, want %q", dims, msg, want)
		}
	}
	_, _, err := tryRunGraph(dtypes.Float32, func(ops []*graph.Node) []*graph.Node {
		return []*graph.Node{NatsToBitsPerDimGraph(ops[0], 0)}
	}, vector([]float64{1}))
	if err == nil || !strings.Contains(err.Error(), "math: NatsToBitsPerDimGraph: dims must be > 0, got 0") {
		t.Errorf("NatsToBitsPerDimGraph with dims 0: error %v", err)
	}
}
