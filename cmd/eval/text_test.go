package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/tutorial/classifier"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// pretrainedClassifier returns a cache folder holding the MNIST classifier
// committed in notebooks/pretrained (copied, so that nothing is written
// there), or, when that file is not the one LoadOrTrain looks for, one
// trained quickly by seedClassifier.
func pretrainedClassifier(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	name := filepath.Base(classifier.CachePath(dir, "mnist", classifier.DefaultConfig()))
	src, err := os.Open(filepath.Join("..", "..", "notebooks", "pretrained", name))
	if err != nil {
		t.Logf("no committed classifier %s (%v): training one", name, err)
		seedClassifier(t, dir)
		return dir
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The alignment figures of a text-conditional model's evaluation.
var (
	digitAccRe = regexp.MustCompile(`(?m)^  digit accuracy\s+` + numRe + `  \(`)
	attrAccRe  = regexp.MustCompile(`(?m)^  attribute accuracy\s+` + numRe + `  \(of the \d+ attributes .*: thickness ` + numRe + `, slant ` + numRe + `, size ` + numRe + `\)$`)
	chanceRe   = regexp.MustCompile(`(?m)^  attribute chance\s+` + numRe + `  \(`)
	clipRe     = regexp.MustCompile(`(?m)^  CLIP score\s+` + numRe + `  \(.*: ` + numRe + `\)$`)
)

// alignmentFigures checks that every alignment figure of the text output
// is in the JSON object, equal to the printed precision.
func alignmentFigures(t *testing.T, out string, obj map[string]any) {
	t.Helper()
	for _, f := range []struct {
		re   *regexp.Regexp
		keys []string
	}{
		{digitAccRe, []string{"digit_accuracy"}},
		{attrAccRe, []string{"attribute_accuracy", "thickness_accuracy", "slant_accuracy", "size_accuracy"}},
		{chanceRe, []string{"attribute_chance"}},
		{clipRe, []string{"clip_score", "real_clip_score"}},
	} {
		m := f.re.FindStringSubmatch(out)
		if m == nil {
			t.Errorf("the output lacks the line of %v:\n%s", f.keys, out)
			continue
		}
		for i, k := range f.keys {
			v, err := strconv.ParseFloat(m[i+1], 64)
			if err != nil {
				t.Errorf("%s: %q is not a number", k, m[i+1])
				continue
			}
			if j := cmdtest.Num(t, obj, k); math.Abs(j-v) > 0.0005+1e-12 {
				t.Errorf("%s: JSON %v, text %s", k, j, m[i+1])
			}
		}
	}
}

// TestEvalText evaluates a tiny text-conditional model, as a bundle and
// from its folder: the samples are drawn from captions of the test images
// (one a sample, under the default text guidance) and scored for their
// alignment with them, every figure in range and in both the text and the
// JSON, the same for both forms; the class flags are refused, and so is
// the folder once its CLIP file has changed.
func TestEvalText(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a CLIP, an autoencoder and a text-conditional UNet")
	}
	dir := t.TempDir()
	clipDir, _, ldm := cmdtest.TextModel(t, backend.MustShared(), dir)
	cache := pretrainedClassifier(t)
	bundle := filepath.Join(dir, "bundle.ckpt")
	cmdtest.WriteBundle(t, ldm, bundle)
	args := []string{"--samples", "20", "--num-examples", "10", "--sample-steps", "2", "--cache", cache}

	var first map[string]any
	for _, path := range []string{bundle, ldm} {
		out, obj := evalJSON(t, append([]string{"--model-path", path}, args...)...)
		// The model line is checked here: the description of a text model
		// has parentheses, which evalFigures' pattern stops at.
		head := fmt.Sprintf("model: %s (step %v, %v weights; %v)\n", obj["checkpoint"], obj["step"], obj["weights"], obj["model"])
		if !strings.HasPrefix(out, head) || !strings.Contains(head, "conditional on prompts") {
			t.Errorf("%s: the output does not start with %q:\n%s", path, head, out)
		}
		checkFigures(t, strings.TrimPrefix(out, head), obj, "reconstruction_mse", "samples_fd", "real_fd", "noise_fd")
		alignmentFigures(t, out, obj)
		for _, k := range []string{"digit_accuracy", "attribute_accuracy", "attribute_chance", "thickness_accuracy", "slant_accuracy", "size_accuracy"} {
			if v := cmdtest.Num(t, obj, k); !(v >= 0 && v <= 1) {
				t.Errorf("%s: %s = %v, not in [0, 1]", path, k, v)
			}
		}
		for _, k := range []string{"clip_score", "real_clip_score"} {
			if v := cmdtest.Num(t, obj, k); !(v >= -1-1e-6 && v <= 1+1e-6) {
				t.Errorf("%s: %s = %v, not a cosine", path, k, v)
			}
		}
		if obj["label_order"] != "per-sample" || cmdtest.Num(t, obj, "guidance") != experiment.DefaultTextGuidance || cmdtest.Num(t, obj, "num_samples") != 20 {
			t.Errorf("%s: label_order %v, guidance %v, num_samples %v", path, obj["label_order"], obj["guidance"], obj["num_samples"])
		}
		if _, ok := obj["label_accuracy"]; ok {
			t.Errorf("%s: a text model's evaluation reports label_accuracy", path)
		}
		if first == nil {
			first = obj
			continue
		}
		for _, k := range []string{"digit_accuracy", "attribute_accuracy", "clip_score", "real_clip_score", "samples_fd", "reconstruction_mse"} {
			if obj[k] != first[k] {
				t.Errorf("%s: the folder's %s %v differs from the bundle's %v", path, k, obj[k], first[k])
			}
		}
	}
	// The guidance given is used.
	if _, obj := evalJSON(t, append([]string{"--model-path", bundle, "--guidance", "1"}, args...)...); cmdtest.Num(t, obj, "guidance") != 1 {
		t.Errorf("--guidance 1: JSON guidance %v", obj["guidance"])
	}

	assertRefused(t, []string{"--model-path", bundle, "--class", "3", "--cache", cache}, []string{"--class", "text-conditional"})
	assertRefused(t, []string{"--model-path", bundle, "--classes", "--cache", cache}, []string{"--classes", "text-conditional"})
	assertRefused(t, []string{"--model-path", bundle, "--guidance", "-1", "--cache", cache}, []string{"--guidance", "≥ 0"})

	// Another CLIP in the folder: the folder is refused, naming both hashes.
	clipFile := filepath.Join(clipDir, "model.ckpt")
	want, _ := latent.FileSHA256(clipFile)
	if err := os.WriteFile(clipFile, []byte("another CLIP"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := latent.FileSHA256(clipFile)
	assertRefused(t, append([]string{"--model-path", ldm}, args...), []string{want, got})
}
