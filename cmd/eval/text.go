package main

import (
	"fmt"
	"io"
	"time"

	"github.com/gomlx/compute"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/clip"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/tutorial/captions"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// textLabels returns the prompts of a text-conditional model's n samples:
// captions of the first n test images (experiment.TestCaptions, drawn with
// seed), under the guidance of s (experiment.DefaultTextGuidance unless
// given); the class flags of s are refused.
func textLabels(cfg experiment.Config, path string, n int, seed int64, s samplers.CondSettings) (*samplers.Labels, error) {
	prompts, _, _, err := experiment.TestCaptions(cfg.Dataset, n, seed)
	if err != nil {
		return nil, err
	}
	return samplers.CaptionConditioning(cfg, path, prompts, s, "its samples are drawn from captions of the test images, not class labels")
}

// evalAlignment reports how well a text-conditional model's samples gen
// (n images) follow their prompts, captions of the test images test: the digit accuracy and the attribute
// accuracy (captions.Align, against the test images' digits and measured
// levels for the chance level) and the CLIP score, the mean cosine
// similarity of each sample's and its prompt's CLIP embeddings, beside that
// of the real test images whose captions the prompts are.
func evalAlignment(stdout io.Writer, b compute.Backend, cfg experiment.Config, clf *classifier.Classifier, test *mnist.Set, gen []float32, n int,
	l *samplers.Labels, cm *clip.Model, obj map[string]any) error {
	pred, err := clf.Predict(b, gen)
	if err != nil {
		return fmt.Errorf("the samples: %w", err)
	}
	digits := make([]int, n)
	for i, p := range pred {
		digits[i] = int(p)
	}
	cp, err := experiment.NewCaptioner(test, 0) // the test images' digits and measured levels
	if err != nil {
		return err
	}
	refDigits := make([]int, len(cp.Labels))
	for i, d := range cp.Labels {
		refDigits[i] = int(d)
	}
	d := cfg.ImageDims()
	a, err := captions.Align(l.Prompts, digits, gen, n, d[0], d[1], refDigits, cp.Levels)
	if err != nil {
		return err
	}
	ids := l.Cond().Inputs[cond.Text]
	txt, err := cm.TextEmbeddings(ids)
	if err != nil {
		return fmt.Errorf("the prompts: %w", err)
	}
	imgs, err := cm.ImageEmbeddings(gen, n)
	if err != nil {
		return fmt.Errorf("the samples: %w", err)
	}
	realN := min(n, test.N)
	realImgs, err := cm.ImageEmbeddings(test.Pixels[:realN*test.ImageSize()], realN)
	if err != nil {
		return fmt.Errorf("the test images: %w", err)
	}
	score, realScore := meanCosine(imgs, txt), meanCosine(realImgs, txt[:realN])
	fmt.Fprintf(stdout, "alignment with the prompts (captions of the first %d test images, guidance w = %g):\n", n, l.Guidance)
	fmt.Fprintf(stdout, "  digit accuracy      %.3f  (share of the %d samples whose prompt names a digit that the classifier reads as that digit)\n", a.DigitAccuracy, a.Digits)
	fmt.Fprintf(stdout, "  attribute accuracy  %.3f  (of the %d attributes the prompts name, as measured on the samples: thickness %.3f, slant %.3f, size %.3f)\n",
		a.AttributeAccuracy, a.Attributes, a.PerAttribute[0], a.PerAttribute[1], a.PerAttribute[2])
	fmt.Fprintf(stdout, "  attribute chance    %.3f  (real test images of the prompt's digit, attributes ignored)\n", a.AttributeChance)
	fmt.Fprintf(stdout, "  CLIP score          %.3f  (mean cosine of the sample's and the prompt's CLIP embeddings; the real test images with these captions: %.3f)\n", score, realScore)
	obj["digit_accuracy"], obj["attribute_accuracy"], obj["attribute_chance"] = a.DigitAccuracy, a.AttributeAccuracy, a.AttributeChance
	for k, name := range captions.AttributeNames {
		obj[name+"_accuracy"] = a.PerAttribute[k]
	}
	obj["clip_score"], obj["real_clip_score"] = score, realScore
	return nil
}

// meanCosine returns the mean dot product of matching rows of two sets of
// unit vectors (their cosine similarities).
func meanCosine(a, b [][]float32) float64 {
	var s float64
	for i := range a {
		for j, v := range a[i] {
			s += float64(v) * float64(b[i][j])
		}
	}
	return s / float64(len(a))
}

// evalCLIPOnly evaluates a CLIP checkpoint (cmd/train --stage clip) on the
// first n test images: zero-shot digit classification over the ten prompts
// "a 0" … "a 9", and attribute retrieval over the three prompts naming the
// image's digit with each level of an attribute (experiment.CLIPZeroShot).
func evalCLIPOnly(stdout, stderr io.Writer, ck *samplers.Checkpoint, n int, given map[string]bool, jsonOut bool) error {
	for _, fl := range append([]string{"plot", "divergence", "solver", "ode-steps", "samples"}, sampleFlags...) {
		if given[fl] && fl != "cache" {
			return fmt.Errorf("--%s does not apply to %s, a CLIP (eval reports its zero-shot accuracy on --num-examples test images)", fl, ck.Path)
		}
	}
	cfg := ck.Config
	test, err := experiment.LoadImages(cfg.Dataset, "test")
	if err != nil {
		return err
	}
	if n <= 0 || n > test.N {
		return fmt.Errorf("--num-examples must be in [1, %d] for a CLIP (the test images scored), got %d", test.N, n)
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	m, err := cfg.OpenCLIP(b, ck.Checkpoint)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(stdout, "model: %s (step %d, %s weights; mini-CLIP, %d parameters, temperature %.4f)\n", ck.Path, ck.Checkpoint.Step, ck.Weights, cfg.CLIP.NumParams(), m.Temperature())
	obj := map[string]any{"checkpoint": ck.Path, "step": ck.Checkpoint.Step, "weights": ck.Weights, "model": "clip", "num_examples": n, "temperature": m.Temperature()}
	cp, err := experiment.NewCaptioner(test, 0)
	if err != nil {
		return err
	}
	z, err := experiment.CLIPZeroShot(m, cfg.Tokenizer, test, cp, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "zero-shot on the first %d %s test images:\n", n, cfg.Dataset)
	fmt.Fprintf(stdout, "  digit accuracy       %.3f  (the most similar of the prompts \"a 0\" … \"a 9\"; chance 0.1)\n", z.DigitAccuracy)
	obj["zero_shot_digit_accuracy"] = z.DigitAccuracy
	for k, name := range captions.AttributeNames {
		fmt.Fprintf(stdout, "  %-9s retrieval  %.3f  (the most similar of three prompts naming the digit and a %s level, against the measured one; chance ≈ 1/3)\n", name, z.AttributeAccuracy[k], name)
		obj["zero_shot_"+name+"_accuracy"] = z.AttributeAccuracy[k]
	}
	took := time.Since(start).Round(time.Millisecond)
	fmt.Fprintf(stdout, "evaluated in %s\n", took)
	obj["seconds"] = took.Seconds()
	if jsonOut {
		return samplers.WriteJSON(stdout, obj)
	}
	return nil
}
