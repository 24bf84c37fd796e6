package samplers

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// mnistCLIP is experiment.DefaultCLIP("mnist"), computed once (it captions
// the 60,000 training images to train the tokenizer).
var mnistCLIP = sync.OnceValues(func() (experiment.Config, error) { return experiment.DefaultCLIP("mnist") })

// textConfig returns a text-conditional configuration built by hand, with
// no files: a latent model with the "latent-text" UNet and the default
// CLIP's architecture and tokenizer.
func textConfig(t *testing.T) experiment.Config {
	t.Helper()
	cl, err := mnistCLIP()
	if err != nil {
		t.Fatal(err)
	}
	c := experiment.DefaultImages("mnist")
	c.UNet = experiment.TextUNet
	c.Latent, c.AutoencoderSHA256, c.LatentScale = "ae", strings.Repeat("0f", 32), 1
	c.Autoencoder = new(latent.Config{}.WithDefaults())
	c.CLIP, c.Tokenizer = cl.CLIP, cl.Tokenizer
	c.Text, c.TextSHA256 = "clip", strings.Repeat("f0", 32)
	c.PUncond = 0.1
	if err := c.Validate(); err != nil {
		t.Fatalf("the hand-built text configuration does not validate: %v", err)
	}
	return c
}

func givenFlags(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// warnings returns PromptWarnings of prompts under the tokenizer of cfg.
func warnings(cfg experiment.Config, prompts ...string) string {
	_, reports := cfg.Tokenizer.EncodeBatch(prompts)
	return PromptWarnings(cfg.Tokenizer, prompts, reports)
}

// TestPromptWarnings: what the tokenizer did not read as written is named,
// one line each, with the prompt's number: the empty prompt (the null
// condition), unknown words, a prompt of unknown words only, and the words
// cut beyond the maximum length; prompts read whole give no line.
func TestPromptWarnings(t *testing.T) {
	cfg := textConfig(t)
	words := cfg.Tokenizer.VocabSize() - len(text.Specials)
	long := strings.TrimSpace(strings.Repeat("a thick seven ", 7)) // 21 words
	if got := warnings(cfg, "a thick 7 leaning left", "the digit 3 written large", "Seven, THIN!"); got != "" {
		t.Errorf("prompts of known words: warnings %q, want none", got)
	}
	for _, tc := range []struct {
		prompt string
		want   []string
	}{
		{"", []string{"note: prompt 1 \"\"", "empty prompt, the null condition"}},
		{"🙂 ...", []string{"note: prompt 1", "empty prompt, the null condition"}},
		{"\xff\xfe", []string{"note: prompt 1", "empty prompt"}},
		{"a purple 7", []string{"warning: prompt 1 \"a purple 7\"", `"purple" not in the model's`, fmt.Sprintf("%d-word vocabulary", words), "unknown token"}},
		{"a purple 7 flying away", []string{`"purple", "flying", "away" not in`}},
		{"🙂 purple", []string{"warning: prompt 1", "no word of it is in the model's", `("purple")`, "only unknown tokens"}},
		{"purple banana", []string{"no word of it", `"purple", "banana"`}},
		{"purple purple", []string{"no word of it", `("purple")`}},
		{long, []string{"warning: prompt 1", "has 21 words", "reads the first 15", "the last 6 are dropped"}},
	} {
		got := warnings(cfg, tc.prompt)
		if got == "" {
			t.Errorf("%q: no warning", tc.prompt)
			continue
		}
		if n := strings.Count(got, "\n") + 1; n != 1 {
			t.Errorf("%q: %d lines, want 1:\n%s", tc.prompt, n, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: warning %q lacks %q", tc.prompt, got, w)
			}
		}
	}
	// Unknown words beyond the cut are not named; a prompt that is both
	// partly unknown and too long gets both lines; prompts are numbered.
	got := warnings(cfg, "a thick 7", long+" purple", "")
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "warning: prompt 2") || !strings.Contains(lines[0], "has 22 words") ||
		!strings.HasPrefix(lines[1], "note: prompt 3") || strings.Contains(got, "purple\" not") {
		t.Errorf("warnings of three prompts:\n%s", got)
	}
	got = warnings(cfg, "purple "+long)
	if lines := strings.Split(got, "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"purple" not in`) || !strings.Contains(lines[1], "the last 7 are dropped") {
		t.Errorf("an unknown word and truncation: want two lines, got\n%s", got)
	}
}

// TestTextConditioning: a text-conditional checkpoint takes the prompts
// given, or the ten default ones, one row each (prompt-major), under the
// default text guidance; the class flags, bad guidance and a number of
// samples that is not a multiple of the prompts are refused, and so are
// prompts for other checkpoints.
func TestTextConditioning(t *testing.T) {
	cfg := textConfig(t)
	l, err := Conditioning(cfg, "t.ckpt", 20, true, CondSettings{Class: -1, Guidance: 1, Given: givenFlags()})
	if err != nil {
		t.Fatalf("default prompts: %v", err)
	}
	defaults := DefaultPrompts()
	if len(defaults) != 10 || defaults[7] != "the digit 7" {
		t.Errorf("DefaultPrompts() = %q", defaults)
	}
	if l.Order != OrderPrompts || !slices.Equal(l.Rows, defaults) || len(l.Prompts) != 20 || l.Guidance != experiment.DefaultTextGuidance {
		t.Fatalf("default prompts: order %q, rows %q, %d prompts, guidance %v", l.Order, l.Rows, len(l.Prompts), l.Guidance)
	}
	for i, p := range l.Prompts {
		if p != defaults[i/2] {
			t.Errorf("sample %d has prompt %q, want %q (prompt-major, 2 a prompt)", i, p, defaults[i/2])
		}
	}
	if l.Warning != "" || l.K != 0 || l.Labels != nil || !l.Conditional() {
		t.Errorf("default prompts: warning %q, K %d, labels %v, conditional %v", l.Warning, l.K, l.Labels, l.Conditional())
	}
	ids := l.Cond().Inputs[cond.Text]
	if ids == nil || !slices.Equal(ids.Shape().Dimensions, []int{20, experiment.CaptionMaxLen}) {
		t.Fatalf("the condition's ids: %v", l.Cond().Inputs)
	}
	flat := tensors.MustCopyFlatData[int32](ids)
	w := experiment.CaptionMaxLen
	for i := range 20 {
		row := flat[i*w : (i+1)*w]
		want, _ := cfg.Tokenizer.Encode(defaults[i/2])
		if !slices.Equal(row, want) {
			t.Errorf("sample %d: ids %v, want those of %q: %v", i, row, defaults[i/2], want)
		}
	}
	if d := l.Describe(); !strings.Contains(d, "2 samples a prompt") || !strings.Contains(d, `"the digit 0"`) || !strings.Contains(d, "guidance w = 2") {
		t.Errorf("Describe: %q", d)
	}
	obj := map[string]any{}
	l.JSON(obj)
	if obj["label_order"] != OrderPrompts || obj["guidance"] != experiment.DefaultTextGuidance || !slices.Equal(obj["prompts"].([]string), defaults) {
		t.Errorf("JSON: %v", obj)
	}
	if _, ok := obj["classes"]; ok {
		t.Errorf("JSON of prompts has classes: %v", obj)
	}

	// Prompts given: the empty one is noted, and its ids are the null
	// condition's (BOS, then padding).
	l, err = Conditioning(cfg, "t.ckpt", 6, true, CondSettings{Guidance: 1.5, Prompts: []string{"a thick 7", "", "🙂 purple"}, Given: givenFlags("prompt", "guidance")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Prompts, []string{"a thick 7", "a thick 7", "", "", "🙂 purple", "🙂 purple"}) || l.Guidance != 1.5 {
		t.Errorf("prompts %q, guidance %v", l.Prompts, l.Guidance)
	}
	if !strings.Contains(l.Warning, "note: prompt 2") || !strings.Contains(l.Warning, "warning: prompt 3") || strings.Contains(l.Warning, "prompt 1") {
		t.Errorf("warning %q, want a note on prompt 2 and a warning on prompt 3", l.Warning)
	}
	flat = tensors.MustCopyFlatData[int32](l.Cond().Inputs[cond.Text])
	null := make([]int32, w)
	null[0] = text.BOSID
	if !slices.Equal(flat[2*w:3*w], null) {
		t.Errorf("the empty prompt's ids %v, want %v", flat[2*w:3*w], null)
	}
	if l, err := Conditioning(cfg, "t.ckpt", 3, true, CondSettings{Guidance: 0, Prompts: []string{"7"}, Given: givenFlags("guidance")}); err != nil || l.Guidance != 0 {
		t.Errorf("--guidance 0: %+v, %v", l, err)
	}

	for _, tc := range []struct {
		name string
		n    int
		s    CondSettings
		want []string
	}{
		{"5 samples, 3 prompts", 5, CondSettings{Prompts: []string{"1", "2", "3"}}, []string{"--num-samples 5", "multiple of the 3 prompts"}},
		{"15 samples, default prompts", 15, CondSettings{}, []string{"--num-samples 15", "10 prompts"}},
		{"--class", 10, CondSettings{Class: 3, Given: givenFlags("class")}, []string{"--class", "t.ckpt", "text-conditional"}},
		{"--classes", 10, CondSettings{Classes: true, Given: givenFlags("classes")}, []string{"--classes", "text-conditional"}},
		{"--guidance -1", 10, CondSettings{Guidance: -1, Given: givenFlags("guidance")}, []string{"--guidance", "≥ 0", "-1"}},
		{"--guidance NaN", 10, CondSettings{Guidance: math.NaN(), Given: givenFlags("guidance")}, []string{"--guidance"}},
		{"--guidance +Inf", 10, CondSettings{Guidance: math.Inf(1), Given: givenFlags("guidance")}, []string{"finite"}},
	} {
		if tc.s.Given == nil {
			tc.s.Given = givenFlags()
		}
		_, err := Conditioning(cfg, "t.ckpt", tc.n, true, tc.s)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an error naming %q", tc.name, err, w)
			}
		}
	}

	// Prompts for a checkpoint that is not text-conditional.
	uncond := experiment.DefaultImages("mnist")
	class := uncond
	class.ClassCond, class.PUncond = true, 0.1
	for _, c := range []experiment.Config{uncond, class, experiment.Default2D("moons")} {
		for _, s := range []CondSettings{
			{Prompts: []string{"a 7"}, Given: givenFlags("prompt")},
			{Prompts: []string{"a 7"}, Given: givenFlags("prompts-file")},
			{Prompts: []string{""}, Given: givenFlags()},
		} {
			if _, err := Conditioning(c, "p.ckpt", 10, true, s); err == nil || !strings.Contains(err.Error(), "--prompt") || !strings.Contains(err.Error(), "not text-conditional") {
				t.Errorf("%s (class_cond %v), %v: %v, want a refusal of --prompt", c.Dataset, c.ClassCond, s.Given, err)
			}
		}
	}
}

// TestPromptLabels: one prompt a sample, in order (the form eval uses),
// and refused for a model that takes no prompts.
func TestPromptLabels(t *testing.T) {
	cfg := textConfig(t)
	prompts := []string{"a thin 1", "the digit 8 written small", "nine"}
	l, err := PromptLabels(cfg, prompts, 2)
	if err != nil {
		t.Fatal(err)
	}
	if l.Order != OrderPerSample || !slices.Equal(l.Prompts, prompts) || l.Guidance != 2 || l.Rows != nil {
		t.Errorf("PromptLabels: %+v", l)
	}
	ids := tensors.MustCopyFlatData[int32](l.Cond().Inputs[cond.Text])
	for i, p := range prompts {
		want, _ := cfg.Tokenizer.Encode(p)
		if got := ids[i*experiment.CaptionMaxLen : (i+1)*experiment.CaptionMaxLen]; !slices.Equal(got, want) {
			t.Errorf("sample %d: ids %v, want %v", i, got, want)
		}
	}
	obj := map[string]any{}
	l.JSON(obj)
	if obj["label_order"] != OrderPerSample {
		t.Errorf("JSON %v", obj)
	}
	if d := l.Describe(); !strings.Contains(d, "3 prompts, one a sample") {
		t.Errorf("Describe: %q", d)
	}
	if _, err := PromptLabels(experiment.DefaultImages("mnist"), prompts, 1); err == nil {
		t.Errorf("PromptLabels of a pixel model accepted")
	}
	if d := DescribeModel(cfg); !strings.Contains(d, "prompts") {
		t.Errorf("DescribeModel of a text model: %q", d)
	}
}

// TestNullWarning: guiding a text model trained without the empty prompt
// is said; unguided sampling, or a model trained with p_uncond > 0, is not.
func TestNullWarning(t *testing.T) {
	cfg := textConfig(t)
	if w := NullWarning(cfg, "m.ckpt", 3); w != "" {
		t.Errorf("p_uncond %g: warning %q", cfg.PUncond, w)
	}
	cfg.PUncond = 0
	if w := NullWarning(cfg, "m.ckpt", 1); w != "" {
		t.Errorf("w = 1: warning %q", w)
	}
	if w := NullWarning(cfg, "m.ckpt", 3); !strings.Contains(w, "p_uncond 0") || !strings.Contains(w, "empty prompt") {
		t.Errorf("p_uncond 0, w = 3: warning %q", w)
	}
	l, err := Conditioning(cfg, "m.ckpt", 10, true, CondSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(l.Warning, "p_uncond 0") {
		t.Errorf("default guidance of a model trained with p_uncond 0: warning %q", l.Warning)
	}
}
