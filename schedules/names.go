package schedules

import (
	"fmt"
	"strings"
)

// ZeroSNRSuffix, appended to a schedule name in [New], applies
// [RescaleZeroTerminalSNR] to the named schedule.
const ZeroSNRSuffix = "+zero-snr"

// named lists the schedules known to New, in the order Names reports them.
var named = []struct {
	name  string
	betas func(T int) ([]float64, error)
}{
	{"linear", LinearBetas},
	{"cosine", CosineBetas},
	{"sqrt-linear", SqrtLinearBetas},
	{"scaled-linear", ScaledLinearBetas},
	{"sigmoid", SigmoidBetas},
}

// Names returns the schedule names that [New] accepts (each may also carry
// the suffix [ZeroSNRSuffix]):
//
//	"linear"         LinearBetas (DDPM, endpoints scaled by 1000/T)
//	"cosine"         CosineBetas (improved DDPM)
//	"sqrt-linear"    SqrtLinearBetas (latent diffusion's "linear", Stable Diffusion constants)
//	"scaled-linear"  ScaledLinearBetas (diffusers' "scaled_linear"; the same values)
//	"sigmoid"        SigmoidBetas (Chen 2023, start −3, end 3, τ 1)
func Names() []string {
	out := make([]string, len(named))
	for i, n := range named {
		out[i] = n.name
	}
	return out
}

// New returns the named schedule with T steps. The name is one of [Names],
// optionally followed by "+zero-snr", which rescales it with
// [RescaleZeroTerminalSNR] (e.g. "scaled-linear+zero-snr").
func New(name string, T int) (*Schedule, error) {
	base, zeroSNR := strings.CutSuffix(name, ZeroSNRSuffix)
	for _, n := range named {
		if n.name != base {
			continue
		}
		beta, err := n.betas(T)
		if err != nil {
			return nil, err
		}
		s, err := FromBetas(base, beta)
		if err != nil {
			return nil, err
		}
		if zeroSNR {
			return RescaleZeroTerminalSNR(s)
		}
		return s, nil
	}
	return nil, fmt.Errorf("schedules: New: unknown schedule %q; valid names are %s, each optionally with the suffix %q",
		name, strings.Join(Names(), ", "), ZeroSNRSuffix)
}
