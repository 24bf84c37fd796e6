package schedules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SpacedTimesteps returns the ascending 0-based indices of the steps a
// few-step sampler keeps out of a T-step schedule. Ties in rounding go to the
// even integer (numpy's and Python's round), and every form returns exactly N
// distinct steps. The spec is one of:
//
//   - "linspace:N": round(i·(T−1)/(N−1)) for i = 0..N−1 (with i·(T−1)/(N−1)
//     computed as numpy's linspace does): both ends included, 0 and T−1.
//     N = 1 gives [0].
//   - "leading:N": i·⌊T/N⌋ for i = 0..N−1: starts at 0 and may stop well
//     short of T−1 (diffusers adds steps_offset, 1 for Stable Diffusion,
//     which is not done here).
//   - "trailing:N": round(T − k·T/N) − 1 for k = 0..N−1: always includes the
//     last step T−1, as Lin et al. (2024) recommend. (diffusers computes this
//     with numpy's arange(T, 0, −T/N), whose length rounds up to N + 1 for
//     some N, e.g. T = 1000, N = 61, adding a step −1; that is not
//     reproduced: the N steps returned are the same as its first N.)
//   - "ddimN": range(0, T, k) for the smallest integer stride k ≥ 1 with
//     exactly N elements (improved DDPM's rule for DDIM), an error if no
//     stride gives N. Improved DDPM tries strides 1..T−1 only, so it rejects
//     "ddim1"; here stride T is tried too and "ddim1" gives [0].
//   - "n1,n2,…": improved DDPM's section counts. [0, T) is split into as many
//     consecutive sections as counts, of sizes ⌊T/K⌋, the first T mod K of
//     them one longer; section k of size S keeps counts[k] steps
//     start + round(j·(S−1)/(counts[k]−1)), j = 0..counts[k]−1, the
//     fractional stride accumulated by repeated addition as improved DDPM
//     does (a count of 1 keeps the section's first step). A single count "N"
//     spaces N steps over the whole schedule.
//
// These are the three spacings of Lin et al. (2024), Table 2, which match
// diffusers' timestep_spacing, written 0-based and ascending: for T = 1000,
// N = 10 "linspace" gives 0, 111, …, 999, "leading" 0, 100, …, 900, and
// "trailing" 99, 199, …, 999.
func SpacedTimesteps(T int, spec string) ([]int, error) {
	if err := checkT("SpacedTimesteps", T); err != nil {
		return nil, err
	}
	kind, arg, hasColon := strings.Cut(spec, ":")
	switch {
	case hasColon:
		spacings := map[string]func(T, n int) []int{
			"linspace": linspaceSteps,
			"leading":  leadingSteps,
			"trailing": trailingSteps,
		}
		spacing, ok := spacings[kind]
		if !ok {
			return nil, fmt.Errorf("schedules: SpacedTimesteps: unknown spacing %q in spec %q; want linspace:N, leading:N, trailing:N, ddimN or section counts like 10,15,20", kind, spec)
		}
		n, err := parseCount(T, spec, arg)
		if err != nil {
			return nil, err
		}
		return spacing(T, n), nil
	case strings.HasPrefix(spec, "ddim"):
		n, err := parseCount(T, spec, strings.TrimPrefix(spec, "ddim"))
		if err != nil {
			return nil, err
		}
		return ddimSteps(T, n, spec)
	default:
		return sectionSteps(T, spec)
	}
}

// parseCount parses a step count for SpacedTimesteps and checks 1 ≤ N ≤ T.
func parseCount(T int, spec, arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return 0, fmt.Errorf("schedules: SpacedTimesteps: spec %q: %q is not an integer step count", spec, arg)
	}
	if n < 1 || n > T {
		return 0, fmt.Errorf("schedules: SpacedTimesteps: spec %q asks for %d steps, want 1 ≤ N ≤ T = %d", spec, n, T)
	}
	return n, nil
}

// roundEven rounds to the nearest integer, ties to even (Python's round).
func roundEven(x float64) int { return int(math.RoundToEven(x)) }

func linspaceSteps(T, n int) []int {
	out := make([]int, n)
	for i, v := range linspace(0, float64(T-1), n) {
		out[i] = roundEven(v)
	}
	return out
}

func leadingSteps(T, n int) []int {
	stride := T / n
	out := make([]int, n)
	for i := range out {
		out[i] = i * stride
	}
	return out
}

func trailingSteps(T, n int) []int {
	// numpy's arange(T, 0, −T/N) holds T + k·d with d = fl(T − T/N) − T.
	ratio := float64(T) / float64(n)
	d := (float64(T) - ratio) - float64(T)
	out := make([]int, n)
	for k := range n {
		out[n-1-k] = roundEven(float64(T)+float64(k)*d) - 1
	}
	return out
}

func ddimSteps(T, n int, spec string) ([]int, error) {
	for stride := 1; stride <= T; stride++ {
		if (T+stride-1)/stride == n { // len(range(0, T, stride))
			out := make([]int, 0, n)
			for i := 0; i < T; i += stride {
				out = append(out, i)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("schedules: SpacedTimesteps: spec %q: no integer stride gives exactly %d of T = %d steps", spec, n, T)
}

func sectionSteps(T int, spec string) ([]int, error) {
	if spec == "" {
		return nil, errors.New("schedules: SpacedTimesteps: empty spec; want linspace:N, leading:N, trailing:N, ddimN or section counts like 10,15,20")
	}
	fields := strings.Split(spec, ",")
	counts := make([]int, len(fields))
	for k, f := range fields {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("schedules: SpacedTimesteps: spec %q: section count %q is not an integer (want linspace:N, leading:N, trailing:N, ddimN or counts like 10,15,20)", spec, f)
		}
		if c < 1 {
			return nil, fmt.Errorf("schedules: SpacedTimesteps: spec %q: section %d count is %d, want ≥ 1", spec, k, c)
		}
		counts[k] = c
	}
	sizePer, extra := T/len(counts), T%len(counts)
	var out []int
	start := 0
	for k, c := range counts {
		size := sizePer
		if k < extra {
			size++
		}
		if c > size {
			return nil, fmt.Errorf("schedules: SpacedTimesteps: spec %q: section %d has %d steps, cannot keep %d of them", spec, k, size, c)
		}
		frac := 1.0
		if c > 1 {
			frac = float64(size-1) / float64(c-1)
		}
		cur := 0.0
		for range c {
			out = append(out, start+roundEven(cur))
			cur += frac
		}
		start += size
	}
	return out, nil
}

// Respace returns the schedule restricted to the listed steps (0-based
// indices into s, strictly ascending), as improved DDPM's respacing does: the
// kept ᾱ are copied exactly, ᾱ'_i = ᾱ_{k_i}, and β is recomputed so that the
// respaced chain has those marginals,
//
//	β'_i = 1 − ᾱ_{k_i}/ᾱ_{k_{i−1}},  with ᾱ_{k_{−1}} = ᾱ_0 = 1,
//
// (where k_i = k_{i−1} + 1 this is β_{k_i} itself, which is copied). Every
// derived quantity (posterior, SNR, …) is recomputed for the new chain.
// Timesteps records indices into the original schedule, composed through
// earlier respacings: Timesteps'[i] = s.Timesteps[k_i]. The result is named
// after s, e.g. "linear respaced 50/1000"; [Schedule.RespaceSpec] names it
// after the spec instead.
func (s *Schedule) Respace(timesteps []int) (*Schedule, error) {
	return s.respace(timesteps, fmt.Sprintf("%d/%d", len(timesteps), s.safeT()))
}

// RespaceSpec is Respace(SpacedTimesteps(s.T, spec)), naming the result
// e.g. "cosine respaced ddim50".
func (s *Schedule) RespaceSpec(spec string) (*Schedule, error) {
	if s == nil {
		return nil, errors.New("schedules: Respace: nil schedule")
	}
	steps, err := SpacedTimesteps(s.T, spec)
	if err != nil {
		return nil, err
	}
	return s.respace(steps, spec)
}

func (s *Schedule) safeT() int {
	if s == nil {
		return 0
	}
	return s.T
}

func (s *Schedule) respace(keep []int, label string) (*Schedule, error) {
	if s == nil {
		return nil, errors.New("schedules: Respace: nil schedule")
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("schedules: Respace: no timesteps to keep from schedule %q", s.Name)
	}
	for i, k := range keep {
		if k < 0 || k >= s.T {
			return nil, fmt.Errorf("schedules: Respace: timesteps[%d] = %d is outside [0, %d)", i, k, s.T)
		}
		if i > 0 && k <= keep[i-1] {
			return nil, fmt.Errorf("schedules: Respace: timesteps[%d] = %d ≤ timesteps[%d] = %d, want strictly ascending", i, k, i-1, keep[i-1])
		}
	}
	n := len(keep)
	alphaBar := make([]float64, n)
	oneMinus := make([]float64, n)
	beta := make([]float64, n)
	orig := make([]int, n)
	prevK := -1
	for i, k := range keep {
		alphaBar[i] = s.AlphaBar[k]
		oneMinus[i] = s.OneMinusAlphaBar[k]
		orig[i] = s.Timesteps[k]
		switch {
		case k == prevK+1:
			beta[i] = s.Beta[k]
		case prevK < 0:
			beta[i] = oneMinus[i] // 1 − ᾱ_{k_0}/ᾱ_0 with ᾱ_0 = 1
		default:
			beta[i] = 1 - alphaBar[i]/s.AlphaBar[prevK]
		}
		prevK = k
	}
	return derive("Respace", s.Name+" respaced "+label, beta, alphaBar, oneMinus, orig)
}
