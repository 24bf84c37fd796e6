package diffusion

import (
	"testing"

	"github.com/gomlx/compute"

	"github.com/godiffusion/diffusion-models/backend"
)

// TestOnGPU runs the core checks — every formula against float64, the losses,
// the samplers against the exact Gaussian recursion, the bound against its
// closed form, Adam against a float64 replay, bf16/f16 mixed precision
// against float32, the f16 loss-scale rule, the extra EMAs against a
// float64 replay — on a CUDA XLA backend when one is available, and skips,
// saying why, otherwise.
func TestOnGPU(t *testing.T) {
	config, ok, why := backend.CUDA()
	if !ok {
		t.Skip("no GPU backend: " + why)
	}
	b, err := compute.NewWithConfig(config)
	if err != nil {
		t.Fatalf("starting %s: %v", config, err)
	}
	defer b.Finalize()
	t.Logf("running on %s", b.Description())
	testBE = b
	defer func() { testBE = nil }()
	t.Run("ProcessAgainstFloat64", TestProcessAgainstFloat64)
	t.Run("ParametrizationsRoundTrip", TestParametrizationsRoundTrip)
	t.Run("LossesAgainstFloat64", TestLossesAgainstFloat64)
	t.Run("DDPMStepAgainstFloat64", TestDDPMStepAgainstFloat64)
	t.Run("DDIMStepAgainstFloat64", TestDDIMStepAgainstFloat64)
	t.Run("SamplersMatchGaussianRecursion", TestSamplersMatchGaussianRecursion)
	t.Run("VLBGaussianClosedForm", TestVLBGaussianClosedForm)
	t.Run("AdamAgainstFloat64", TestAdamAgainstFloat64)
	t.Run("PrecisionMatchesF32", TestPrecisionMatchesF32)
	t.Run("LossScaleSkipsAndGrows", TestLossScaleSkipsAndGrows)
	t.Run("ExtraEMAs", TestExtraEMAs)
}
