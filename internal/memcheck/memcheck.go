// Package memcheck refuses, before a graph is built or run, a batch whose
// estimated memory does not fit in what the machine has left, with a
// message that names both figures and a batch size that fits, so that a
// command never dies of "fatal error: runtime: out of memory" halfway
// through a step.
//
// Estimates come from the graphs themselves ([diffusion.Trainer.StepMemory],
// [diffusion.SampleMemory]); the memory available is the system's
// MemAvailable, lowered to a cgroup's limit when the process runs in one,
// or the value of [EnvVar].
package memcheck

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
)

// Headroom multiplies every estimate before it is compared with the memory
// available: on the pure-Go backend a process grows by up to 1.16× a graph's
// estimated peak (measured on the reference UNet; buffer pools and the
// garbage collector's slack), and other processes' memory moves meanwhile.
const Headroom = 1.25

// EnvVar, when set (e.g. "8GiB", "512MiB" or a number of bytes), is the
// memory the checks take as available instead of the system's figure; "off"
// disables them.
const EnvVar = "DIFFUSION_MEMORY"

// ErrNotEnoughMemory is wrapped by every refusal.
var ErrNotEnoughMemory = errors.New("not enough memory")

// Estimate returns the bytes that a batch of b examples needs.
type Estimate func(b int) (float64, error)

// Available is the memory the process may still use, in bytes, and where
// the figure comes from; ok is false when it is unknown (not Linux, no
// /proc), and checks are then skipped.
func Available() (bytes float64, source string, ok bool, err error) {
	if v := strings.TrimSpace(os.Getenv(EnvVar)); v != "" {
		if strings.EqualFold(v, "off") {
			return 0, EnvVar + "=off", false, nil
		}
		b, perr := ParseBytes(v)
		if perr != nil {
			return 0, "", false, fmt.Errorf("%s=%q: %w", EnvVar, v, perr)
		}
		return b, EnvVar, true, nil
	}
	raw, rerr := os.ReadFile("/proc/meminfo")
	if rerr != nil {
		return 0, "", false, nil
	}
	avail, ok := parseMeminfo(string(raw))
	if !ok {
		return 0, "", false, nil
	}
	source = "MemAvailable in /proc/meminfo"
	if limit, ok := cgroupRoom(); ok && limit < avail {
		avail, source = limit, "the cgroup's memory.max less memory.current"
	}
	return avail, source, true, nil
}

// parseMeminfo returns MemAvailable, in bytes, from /proc/meminfo's text.
func parseMeminfo(s string) (float64, bool) {
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil || v < 0 {
				return 0, false
			}
			if len(f) >= 3 && f[2] == "kB" {
				v *= 1024
			}
			return v, true
		}
	}
	return 0, false
}

// cgroupRoom returns memory.max − memory.current of the process's cgroup
// (v2), when it has a limit.
func cgroupRoom() (float64, bool) {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	dir := ""
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			dir = "/sys/fs/cgroup" + strings.TrimSpace(rest)
		}
	}
	if dir == "" {
		return 0, false
	}
	maxRaw, err1 := os.ReadFile(dir + "/memory.max")
	curRaw, err2 := os.ReadFile(dir + "/memory.current")
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return cgroupFree(string(maxRaw), string(curRaw))
}

// cgroupFree is memory.max − memory.current from those files' text; false
// for "max" (no limit) or unreadable numbers.
func cgroupFree(maxS, curS string) (float64, bool) {
	maxS, curS = strings.TrimSpace(maxS), strings.TrimSpace(curS)
	if maxS == "max" {
		return 0, false
	}
	m, err1 := strconv.ParseFloat(maxS, 64)
	c, err2 := strconv.ParseFloat(curS, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return max(0, m-c), true
}

// ParseBytes reads a size such as "8GiB", "1.5GB", "512MiB", "300M" or
// "1073741824" (bytes); units are powers of 1024 whether written KiB/KB/K.
func ParseBytes(s string) (float64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a size such as 8GiB, 512MiB or a number of bytes, got %q", s)
	}
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q in %q (want B, KiB, MiB, GiB or TiB)", unit, s)
	}
	return v * mult, nil
}

// HostMemory reports whether a backend's tensors live in the host's memory
// (the pure-Go backend, XLA on the CPU), which the checks compare with; on
// a GPU they live in its memory, which XLA itself reports when exhausted.
func HostMemory(b compute.Backend) bool {
	return !strings.Contains(strings.ToLower(b.Name()+" "+b.String()), "cuda")
}

// Fit returns nil when estimate(b)·Headroom fits in avail bytes, and
// otherwise an error wrapping ErrNotEnoughMemory that says what (e.g. "a
// training step on a batch of 100000000"), the memory needed and
// available (and where that figure comes from), and the largest batch that
// fits, to pass to flag (e.g. "--batch-size").
func Fit(what, flag string, b int, avail float64, source string, estimate Estimate) error {
	need, err := estimate(b)
	if err != nil {
		return err
	}
	if need*Headroom <= avail {
		return nil
	}
	msg := fmt.Sprintf("%s needs about %s (estimated from its graph; the check keeps %.0f%% headroom), but only %s is available (%s)",
		what, Size(need), 100*(Headroom-1), Size(avail), source)
	fits := func(n int) (bool, error) {
		v, err := estimate(n)
		return v*Headroom <= avail, err
	}
	ok1, err := fits(1)
	if err != nil {
		return err
	}
	if !ok1 {
		return &Error{msg + "; not even one example fits"}
	}
	// The largest n < b that fits: estimates grow with the batch.
	lo, hi := 1, b
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := fits(mid)
		if err != nil {
			return err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	round := 1 << (bits.Len(uint(lo)) - 1) // the largest power of two ≤ lo
	return &Error{fmt.Sprintf("%s; at most %d examples fit: try %s %d", msg, lo, flag, round)}
}

// Error is a refusal; it wraps ErrNotEnoughMemory.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// Unwrap returns ErrNotEnoughMemory.
func (e *Error) Unwrap() error { return ErrNotEnoughMemory }

// Size formats bytes in MiB or GiB.
func Size(b float64) string {
	switch {
	case b >= 1<<40:
		return fmt.Sprintf("%.1f TiB", b/(1<<40))
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	default:
		return fmt.Sprintf("%.0f MiB", b/(1<<20))
	}
}

// Check is [Fit] against [Available], for a backend whose tensors live in
// the host's memory ([HostMemory]); it passes when the memory available is
// unknown or the checks are off.
func Check(b compute.Backend, what, flag string, n int, estimate Estimate) error {
	if !HostMemory(b) {
		return nil
	}
	avail, source, ok, err := Available()
	if err != nil || !ok {
		return err
	}
	return Fit(what, flag, n, avail, source, estimate)
}
