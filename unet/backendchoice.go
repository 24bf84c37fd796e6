package unet

import (
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/support/exceptions"
)

// This file holds the choices that depend on the backend, each made in one
// place and overridable for tests and benchmarks.

// ConvOverride, when not empty, is the formulation every [Conv] uses,
// whatever the backend. It is read when a graph is built.
var ConvOverride ConvKind

// ConvEnvVar is the environment variable that, when set (and ConvOverride
// is empty), names the formulation [Conv] uses: "native", "im2col",
// "shifted" or "padshift".
const ConvEnvVar = "UNET_CONV"

// ConvKindFor returns the formulation [Conv] uses on backend b. This is the
// one place where the choice is made:
//
//  1. ConvOverride, if set;
//  2. else the UNET_CONV environment variable, if set (a bad name panics);
//  3. else, on GoMLX's pure-Go backend, ConvKindPadShift, the fastest we
//     measured there (the reference UNet's training step: about 2× faster
//     than shifted and im2col; see the package documentation);
//  4. else (XLA and any other backend) ConvKindNative, which those
//     backends compile into their own convolution kernels.
func ConvKindFor(b compute.Backend) ConvKind {
	if ConvOverride != "" {
		return ConvOverride
	}
	if v := os.Getenv(ConvEnvVar); strings.TrimSpace(v) != "" {
		k, err := ParseConvKind(v)
		if err != nil {
			exceptions.Panicf("%v (from %s)", err, ConvEnvVar)
		}
		return k
	}
	if b != nil && isGoBackend(b) {
		return ConvKindPadShift
	}
	return ConvKindNative
}

// handGradients reports whether GroupNorm uses its hand-written gradient in
// a graph of backend b: on the pure-Go backend, where it saves element-wise
// passes; not on XLA, where automatic differentiation leaves the
// element-wise chain to the compiler's fusion, which the
// OptimizationBarrier of fastmm.WithGradient would block.
func handGradients(b compute.Backend) bool {
	return !autodiffOnly && b != nil && isGoBackend(b)
}

// autodiffOnly turns GroupNorm's hand-written gradient off (tests check
// both).
var autodiffOnly bool

func isGoBackend(b compute.Backend) bool {
	return b.String() == "go" || strings.HasPrefix(strings.ToLower(b.Name()), "go")
}

// StreamsOverride, when > 0, is the number of streams [UNet] splits a
// batch into, whatever the backend (reduced to a divisor of the batch).
var StreamsOverride int

// StreamsEnvVar is the environment variable that, when set (and
// StreamsOverride is 0), gives the number of streams.
const StreamsEnvVar = "UNET_STREAMS"

// minStreamBatch is the fewest examples a stream gets by default.
const minStreamBatch = 8

// StreamsFor returns the number of independent streams [UNet] splits a
// batch of the given size into on backend b. Every layer of the UNet treats
// examples independently, so the streams compute exactly the same function
// as one pass; but the pure-Go backend runs each element-wise operation,
// copy and concatenation on one core, and it runs independent operations
// side by side: two half-batch streams keep both cores busy (on 2 cores
// the reference training step takes 1.5–1.9× longer with one stream than
// with two, see the package documentation; four streams were slower than
// two). The choice:
//
//  1. StreamsOverride, if > 0;
//  2. else UNET_STREAMS, if set (an invalid number panics);
//  3. else, on the pure-Go backend, one stream per core (GOMAXPROCS), as
//     long as each keeps at least 8 examples;
//  4. else (XLA) 1.
//
// The result is then lowered to the largest divisor of batch not above it.
func StreamsFor(b compute.Backend, batch int) int {
	n := 1
	switch {
	case StreamsOverride > 0:
		n = StreamsOverride
	case strings.TrimSpace(os.Getenv(StreamsEnvVar)) != "":
		v, err := strconv.Atoi(strings.TrimSpace(os.Getenv(StreamsEnvVar)))
		if err != nil || v < 1 {
			exceptions.Panicf("unet: %s must be a positive integer, got %q", StreamsEnvVar, os.Getenv(StreamsEnvVar))
		}
		n = v
	case b != nil && isGoBackend(b):
		n = min(runtime.GOMAXPROCS(0), batch/minStreamBatch)
	}
	n = max(1, min(n, batch))
	for batch%n != 0 {
		n--
	}
	return n
}
