package samplers

import (
	"testing"

	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestDescribeModelAblations: the UNet ablations of notebook 6 are named in
// the commands' description of a model, and a plain model's is unchanged.
func TestDescribeModelAblations(t *testing.T) {
	c := experiment.DefaultImages("mnist")
	if got, want := DescribeModel(c), "DDPM model, T = 1000, linear schedule"; got != want {
		t.Errorf("DescribeModel = %q, want %q", got, want)
	}
	c.TimeEmbedding, c.NoAttention = "linear", true
	if got, want := DescribeModel(c), "DDPM model, T = 1000, linear schedule, UNet with linear time embedding, no attention"; got != want {
		t.Errorf("DescribeModel = %q, want %q", got, want)
	}
}
