package math_test

import (
	"fmt"
	gomath "math"

	dmath "github.com/godiffusion/diffusion-models/math"
)

// KL(N(0, 1) ‖ N(1, 1)) = ½ and KL(N(0, 1) ‖ N(0, 4)) = ½(¼ − 1 + ln 4).
func ExampleNormalKL() {
	fmt.Printf("%.6f\n", dmath.NormalKL(0, 0, 1, 0))
	fmt.Printf("%.6f\n", dmath.NormalKL(0, 0, 0, gomath.Log(4)))
	// Output:
	// 0.500000
	// 0.318147
}

// With σ equal to the bin half-width 1/255 and the mean on a level, the
// level's bin is μ ± σ: P = erf(1/√2) ≈ 68.27%. For the lowest level the bin
// is open below: P = Φ(1) ≈ 84.13%.
func ExampleDiscretizedGaussianLogLikelihood() {
	logVar := 2 * gomath.Log(dmath.BinHalfWidth)
	x := dmath.Quantize8Bit(0.3)
	logP := dmath.DiscretizedGaussianLogLikelihood(x, x, logVar)
	fmt.Printf("interior: P = %.4f, %.4f bits\n", gomath.Exp(logP), dmath.NatsToBitsPerDim(-logP, 1))
	logP = dmath.DiscretizedGaussianLogLikelihood(-1, -1, logVar)
	fmt.Printf("lowest:   P = %.4f, %.4f bits\n", gomath.Exp(logP), dmath.NatsToBitsPerDim(-logP, 1))
	// Output:
	// interior: P = 0.6827, 0.5507 bits
	// lowest:   P = 0.8413, 0.2492 bits
}
