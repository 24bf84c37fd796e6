package samplers

import (
	"fmt"
	"strings"

	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// Prompt orders of a text-conditional run.
const (
	// OrderPrompts: n/P samples of the first prompt, then of the second, …:
	// one prompt per row of an image grid n/P wide.
	OrderPrompts = "prompt-major"
	// OrderPerSample: each sample has its own prompt (Labels.Prompts[i]).
	OrderPerSample = "per-sample"
)

// DefaultPrompts are the prompts of a text-conditional model when none is
// given: the ten digits, one row each.
func DefaultPrompts() []string {
	out := make([]string, 10)
	for d := range out {
		out[d] = fmt.Sprintf("the digit %d", d)
	}
	return out
}

// textConditioning returns the prompts' condition of n samples of a
// text-conditional model (see Conditioning): the prompts given, or
// DefaultPrompts, in OrderPrompts; the guidance weight given, or
// experiment.DefaultTextGuidance. Prompts are never refused for their
// content: unknown words, truncation and the empty prompt (the null
// condition) are named in Warning.
func textConditioning(cfg experiment.Config, path string, n int, s CondSettings) (*Labels, error) {
	w, err := s.textWeight(path, "it takes prompts (--prompt, --prompts-file), not class labels")
	if err != nil {
		return nil, err
	}
	rows := s.Prompts
	if len(rows) == 0 {
		rows = DefaultPrompts()
	}
	if n%len(rows) != 0 {
		return nil, fmt.Errorf("--num-samples %d is not a multiple of the %d prompts (each prompt gets a row of --num-samples/%d images)", n, len(rows), len(rows))
	}
	per := n / len(rows)
	prompts := make([]string, n)
	for i := range prompts {
		prompts[i] = rows[i/per]
	}
	l, err := PromptLabels(cfg, prompts, w)
	if err != nil {
		return nil, err
	}
	l.Order, l.Rows = OrderPrompts, rows
	_, reports, _ := cfg.Prompts(rows)
	l.Warning = PromptWarnings(cfg.Tokenizer, rows, reports)
	if w := NullWarning(cfg, path, l.Guidance); w != "" {
		l.Warning = strings.TrimPrefix(l.Warning+"\n"+w, "\n")
	}
	return l, nil
}

// NullWarning returns a warning when a text-conditional model trained with
// p_uncond 0 is guided (w ≠ 1): its null condition, the empty prompt, was
// never trained; "" otherwise.
func NullWarning(cfg experiment.Config, path string, w float64) string {
	if w == 1 || cfg.PUncond > 0 {
		return ""
	}
	return fmt.Sprintf("warning: %s was trained with p_uncond 0, so its null condition (the empty prompt, used by guidance w = %g) was never trained", path, w)
}

// textWeight refuses the class flags for the text-conditional checkpoint at
// path (why says what it takes instead) and returns the guidance weight:
// --guidance, or experiment.DefaultTextGuidance.
func (s CondSettings) textWeight(path, why string) (float64, error) {
	for _, fl := range []string{"class", "classes"} {
		if s.Given[fl] {
			return 0, fmt.Errorf("--%s: the checkpoint %s is text-conditional: %s", fl, path, why)
		}
	}
	return s.weight(experiment.DefaultTextGuidance)
}

// CaptionConditioning returns the condition of samples of a text-conditional
// checkpoint with one prompt each (OrderPerSample), such as captions of test
// images, after the flags' checks of Conditioning: the class flags are
// refused, and the guidance weight is --guidance or
// experiment.DefaultTextGuidance. why says, in the refusal, what the
// samples are drawn from instead of class labels.
func CaptionConditioning(cfg experiment.Config, path string, prompts []string, s CondSettings, why string) (*Labels, error) {
	w, err := s.textWeight(path, why)
	if err != nil {
		return nil, err
	}
	l, err := PromptLabels(cfg, prompts, w)
	if err != nil {
		return nil, err
	}
	l.Warning = NullWarning(cfg, path, w)
	return l, nil
}

// PromptLabels returns the condition of samples with one prompt each
// (OrderPerSample) under guidance weight w.
func PromptLabels(cfg experiment.Config, prompts []string, w float64) (*Labels, error) {
	c, _, err := cfg.Prompts(prompts)
	if err != nil {
		return nil, err
	}
	return &Labels{Class: -1, Guidance: w, Order: OrderPerSample, Prompts: prompts, text: c}, nil
}

// PromptWarnings returns the lines that tell a user what the tokenizer did
// with each prompt that it did not read whole: words outside the
// vocabulary (read as the unknown token), words cut beyond the maximum
// length, and empty prompts (the null condition: the unconditional
// model). It is "" when every prompt was read as written.
func PromptWarnings(tok *text.Tokenizer, prompts []string, reports []text.Report) string {
	var lines []string
	for i, r := range reports {
		name := fmt.Sprintf("prompt %d %q", i+1, prompts[i])
		switch {
		case r.Words == 0:
			lines = append(lines, fmt.Sprintf("note: %s has no words: it is the empty prompt, the null condition (the unconditional model)", name))
			continue
		case known(tok, prompts[i], r.Words-r.Truncated) == 0:
			lines = append(lines, fmt.Sprintf("warning: %s: no word of it is in the model's %d-word vocabulary (%s): the model reads only unknown tokens", name, tok.VocabSize()-len(text.Specials), quoteAll(r.Unknown)))
		case len(r.Unknown) > 0:
			lines = append(lines, fmt.Sprintf("warning: %s: %s not in the model's %d-word vocabulary, read as the unknown token", name, quoteAll(r.Unknown), tok.VocabSize()-len(text.Specials)))
		}
		if r.Truncated > 0 {
			lines = append(lines, fmt.Sprintf("warning: %s has %d words; the model reads the first %d, the last %d are dropped", name, r.Words, r.Words-r.Truncated, r.Truncated))
		}
	}
	return strings.Join(lines, "\n")
}

// known counts the words of the vocabulary among the first n words of prompt.
func known(tok *text.Tokenizer, prompt string, n int) int {
	k := 0
	for _, w := range text.Words(prompt)[:n] {
		if _, ok := tok.ID(w); ok {
			k++
		}
	}
	return k
}

func quoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = fmt.Sprintf("%q", w)
	}
	return strings.Join(q, ", ")
}
