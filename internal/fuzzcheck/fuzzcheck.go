// Package fuzzcheck holds the checks the fuzz tests share: that a reader of
// outside bytes allocates no more than a bound proportional to its input.
package fuzzcheck

import (
	"runtime"
	"testing"
)

// Slack is the allocation every reader is allowed whatever its input: the
// fixed buffers of decoders (zlib, PNG rows, JSON scanners) and the test's
// own bookkeeping.
const Slack = 4 << 20

// PerByte is the allocation allowed per input byte on top of Slack: JSON
// decoding builds values several times the size of their text, and
// growing slices double.
const PerByte = 64

// Limit returns the bytes a reader of an n-byte input may allocate:
// Slack + PerByte·n.
func Limit(n int) uint64 { return Slack + PerByte*uint64(n) }

// Alloc runs f and fails t when f allocated more than limit bytes in all
// (runtime.MemStats.TotalAlloc, so memory freed meanwhile counts too). It
// catches a header whose sizes make a reader allocate far more than its
// input holds; a fuzz worker runs one input at a time, so the count is
// f's own.
func Alloc(t testing.TB, limit uint64, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("allocated %d bytes, more than the bound of %d", got, limit)
	}
}
