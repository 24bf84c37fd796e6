package schedules_test

import (
	"fmt"

	"github.com/godiffusion/diffusion-models/schedules"
)

// Example builds improved DDPM's cosine schedule and respaces it to 50 DDIM
// steps. Slices are 0-based: index i is the paper's step t = i + 1.
func Example() {
	s, err := schedules.New("cosine", 1000)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: T=%d, β_1=%.3e, β_T=%.3f, ᾱ_0=%v, √ᾱ_T=%.2e\n",
		s.Name, s.T, s.Beta[0], s.Beta[s.T-1], s.AlphaBarPrev[0], s.SqrtAlphaBar[s.T-1])

	fast, err := s.RespaceSpec("ddim50")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: T=%d, steps %v … %v\n", fast.Name, fast.T, fast.Timesteps[:3], fast.Timesteps[fast.T-1])
	// The respaced chain keeps ᾱ at the kept steps and jumps further per step.
	fmt.Printf("ᾱ at original step 20: %.6f = %.6f; β' = %.4f\n",
		s.AlphaBar[20], fast.AlphaBar[1], fast.Beta[1])
	// Output:
	// cosine: T=1000, β_1=4.128e-05, β_T=0.999, ᾱ_0=1, √ᾱ_T=4.93e-05
	// cosine respaced ddim50: T=50, steps [0 20 40] … 980
	// ᾱ at original step 20: 0.998114 = 0.998114; β' = 0.0018
}
