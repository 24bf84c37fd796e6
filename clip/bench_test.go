package clip

import (
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/text"
)

// BenchmarkTrainStep times one training step of the default CLIP model
// (28×28×1 images, text encoder of width 64 with 2 blocks, 80 tokens of 16
// ids) on a batch of 64, with the project's trainer.
func BenchmarkTrainStep(b *testing.B) {
	c := Config{Text: text.EncoderConfig{VocabSize: 80}}.WithDefaults()
	tr, err := diffusion.NewTrainerWithTerms(backend.MustShared(), c.Loss(), c.TermNames(), diffusion.TrainConfig{LearningRate: 1e-3})
	if err != nil {
		b.Fatal(err)
	}
	x, ids := randomBatch(c, 64, 1)
	cn := cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: ids}}
	if _, err := tr.TrainStep(x, cn); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := tr.TrainStep(x, cn); err != nil {
			b.Fatal(err)
		}
	}
}
