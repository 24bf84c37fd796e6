package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/internal/samplers"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// sampleStreams runs sample and returns its stdout and stderr apart.
func sampleStreams(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(append(args, "--quiet"), &out, &errb)
	return out.String(), errb.String(), err
}

// gridSize returns the size in pixels of a PNG.
func gridSize(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// gridPixels is the side of a grid of k 28×28 images with 2-pixel gaps,
// upscaled ×2.
func gridPixels(k int) int { return (28*k + 2*(k+1)) * 2 }

// jsonStrings returns obj[key] as a list of strings.
func jsonStrings(t *testing.T, obj map[string]any, key string) []string {
	t.Helper()
	l, ok := obj[key].([]any)
	if !ok {
		t.Fatalf("JSON %s = %v (%T), want a list", key, obj[key], obj[key])
	}
	out := make([]string, len(l))
	for i, v := range l {
		out[i], _ = v.(string)
	}
	return out
}

// TestSampleText samples a tiny text-conditional model, from its bundle and
// from its folder: one row a prompt, the empty prompt noted and unknown
// words warned about on stderr, the prompts in the JSON; --prompts-file
// (comments and blank lines skipped) gives the same images as the same
// --prompt flags; the ten default prompts when none is given; long and
// invalid prompts sample; and the bad uses of prompts are refused with
// nothing written.
func TestSampleText(t *testing.T) {
	dir := t.TempDir()
	_, _, ldm := cmdtest.TextModel(t, backendForTest(t), dir)
	bundle := filepath.Join(dir, "bundle.ckpt")
	cmdtest.WriteBundle(t, ldm, bundle)
	ddim := []string{"--sampler", "ddim", "--sample-steps", "2"}

	grid := filepath.Join(dir, "grid.png")
	stdout, stderr, err := sampleStreams(append([]string{"--model-path", bundle, "--prompt", "a thick 7", "--prompt", "", "--prompt", "🙂 purple",
		"--num-samples", "6", "--out", grid, "--json"}, ddim...)...)
	if err != nil {
		t.Fatalf("sampling three prompts: %v\n%s%s", err, stdout, stderr)
	}
	for _, want := range []string{`note: prompt 2 ""`, "the null condition", `warning: prompt 3 "🙂 purple"`, `("purple")`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "prompt 1") {
		t.Errorf("stderr warns about prompt 1, whose words are all known:\n%s", stderr)
	}
	for _, want := range []string{`row 1: "a thick 7"`, `row 2: ""`, `row 3: "🙂 purple"`, "conditional on prompts"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	obj := cmdtest.LastJSON(t, stdout)
	if got := jsonStrings(t, obj, "prompts"); !slices.Equal(got, []string{"a thick 7", "", "🙂 purple"}) {
		t.Errorf("JSON prompts %q", got)
	}
	if obj["label_order"] != samplers.OrderPrompts || cmdtest.Num(t, obj, "grid_columns") != 2 || cmdtest.Num(t, obj, "num_samples") != 6 ||
		cmdtest.Num(t, obj, "guidance") != experiment.DefaultTextGuidance {
		t.Errorf("JSON label_order %v, grid_columns %v, num_samples %v, guidance %v", obj["label_order"], obj["grid_columns"], obj["num_samples"], obj["guidance"])
	}
	if w, h := gridSize(t, grid); w != gridPixels(2) || h != gridPixels(3) {
		t.Errorf("grid %d×%d pixels, want %d×%d (3 rows of 2 decoded 28×28 images)", w, h, gridPixels(2), gridPixels(3))
	}

	// The same prompts from a file, on the folder: the same images.
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("# three prompts\n\na thick 7\r\n   \n  # an indented comment\n🙂 purple\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	grid2 := filepath.Join(dir, "grid2.png")
	stdout, stderr, err = sampleStreams(append([]string{"--model-path", ldm, "--prompt", "a thick 7", "--prompts-file", prompts,
		"--num-samples", "6", "--out", grid2, "--json"}, ddim...)...)
	if err != nil {
		t.Fatalf("--prompts-file: %v\n%s%s", err, stdout, stderr)
	}
	if got := jsonStrings(t, cmdtest.LastJSON(t, stdout), "prompts"); !slices.Equal(got, []string{"a thick 7", "a thick 7", "🙂 purple"}) {
		t.Errorf("--prompt then --prompts-file: prompts %q, want the flag's, then the file's (CR, comments and blank lines dropped)", got)
	}
	grid3 := filepath.Join(dir, "grid3.png")
	if out, err := sample(append([]string{"--model-path", ldm, "--prompt", "a thick 7", "--prompt", "", "--prompt", "🙂 purple",
		"--num-samples", "6", "--out", grid3}, ddim...)...); err != nil {
		t.Fatalf("the folder: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(grid)
	b, _ := os.ReadFile(grid3)
	if !bytes.Equal(a, b) {
		t.Errorf("the bundle's samples differ from the folder's (same prompts, seed and weights)")
	}

	// No prompt: the ten default prompts, one row each.
	grid4 := filepath.Join(dir, "grid4.png")
	stdout, stderr, err = sampleStreams(append([]string{"--model-path", bundle, "--num-samples", "10", "--out", grid4, "--json"}, ddim...)...)
	if err != nil {
		t.Fatalf("default prompts: %v\n%s%s", err, stdout, stderr)
	}
	obj = cmdtest.LastJSON(t, stdout)
	if got := jsonStrings(t, obj, "prompts"); !slices.Equal(got, samplers.DefaultPrompts()) || cmdtest.Num(t, obj, "grid_columns") != 1 {
		t.Errorf("default prompts: %q, grid_columns %v", got, obj["grid_columns"])
	}
	if strings.Contains(stderr, "warning") || strings.Contains(stderr, "note:") {
		t.Errorf("the default prompts gave warnings:\n%s", stderr)
	}

	// A prompt of 1000 words and one of invalid UTF-8 sample, with warnings.
	long := strings.Repeat("seven ", 1000)
	stdout, stderr, err = sampleStreams(append([]string{"--model-path", bundle, "--prompt", long, "--prompt", "\xff\xfe",
		"--num-samples", "2", "--out", filepath.Join(dir, "odd.png"), "--json"}, ddim...)...)
	if err != nil {
		t.Fatalf("a long and an invalid prompt: %v\n%s%s", err, stdout, stderr)
	}
	for _, want := range []string{"has 1000 words", "the last 985 are dropped", "note: prompt 2"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// Refusals, with nothing written.
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("# nothing\n\n  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--prompts-file", empty}, []string{"--prompts-file", "no prompts"}},
		{[]string{"--prompts-file", filepath.Join(dir, "missing.txt")}, []string{"--prompts-file", "missing.txt"}},
		{[]string{"--prompt", "1", "--prompt", "2", "--prompt", "3", "--num-samples", "5"}, []string{"--num-samples 5", "3 prompts"}},
		{[]string{"--num-samples", "15"}, []string{"--num-samples 15", "10 prompts"}},
		{[]string{"--class", "3", "--num-samples", "10"}, []string{"--class", "text-conditional"}},
		{[]string{"--classes", "--num-samples", "10"}, []string{"--classes", "text-conditional"}},
		{[]string{"--guidance", "-1", "--num-samples", "10"}, []string{"--guidance", "≥ 0"}},
	} {
		base := filepath.Join(t.TempDir(), "refused")
		_, err := sample(append([]string{"--model-path", bundle, "--out", base}, tc.args...)...)
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %q", tc.args, err, w)
			}
		}
		if _, err := os.Stat(base + ".png"); err == nil {
			t.Errorf("%v: the grid was written despite the error", tc.args)
		}
	}
}

// TestSamplePromptRefused: prompts are refused for checkpoints that are
// not text-conditional, unconditional and class-conditional alike.
func TestSamplePromptRefused(t *testing.T) {
	uncond := t.TempDir()
	trainTiny(t, uncond)
	cc := experiment.Default2D("gaussians8")
	cc.ClassCond, cc.PUncond, cc.Timesteps = true, 0.1, 50
	class := t.TempDir()
	trainConfig(t, cc, class)
	prompts := filepath.Join(t.TempDir(), "p.txt")
	if err := os.WriteFile(prompts, []byte("a 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{uncond, class} {
		assertRefused(t, []string{"--model-path", dir, "--prompt", "a thick 7"}, []string{"--prompt", "not text-conditional"})
		assertRefused(t, []string{"--model-path", dir, "--prompts-file", prompts}, []string{"--prompt", "not text-conditional"})
		assertRefused(t, []string{"--model-path", dir, "--prompt", ""}, []string{"--prompt", "not text-conditional"})
	}
}
