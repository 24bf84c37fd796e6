package samplers

import (
	"fmt"
	"math"
	"strings"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// CondSettings are the conditioning flags: --class K, --classes and
// --guidance W. Given says which were set on the command line ("class",
// "classes", "guidance").
type CondSettings struct {
	Class    int
	Classes  bool
	Guidance float64
	// Prompts are the prompts of --prompt and --prompts-file, for a
	// text-conditional checkpoint.
	Prompts []string
	Given   map[string]bool
}

// Label orders of a conditional run.
const (
	// OrderClass: every sample has the label Class.
	OrderClass = "class"
	// OrderCycled: sample i has label i mod K.
	OrderCycled = "cycled"
	// OrderClassMajor: n/K samples of label 0, then of label 1, …: one class
	// per row of an image grid n/K wide.
	OrderClassMajor = "class-major"
	// OrderNull: every sample has the null condition ∅ (the model's
	// unconditional density).
	OrderNull = "null"
)

// Labels is the condition of the samples of a run.
type Labels struct {
	// K is the number of classes of the model (0: an unconditional model;
	// every other field is then zero).
	K int
	// Order is one of OrderClass, OrderCycled, OrderClassMajor and OrderNull.
	Order string
	// Class is the requested label for OrderClass, else −1.
	Class int
	// Labels holds each sample's label; it is nil exactly for OrderNull and
	// unconditional models.
	Labels []int32
	// Guidance is the classifier-free guidance weight w (1: none).
	Guidance float64
	// Warning, when set, is a line for the user: the guidance or the null
	// condition uses a null embedding the model was not trained on, or
	// (lines) prompts have words the model does not know.
	Warning string
	// Prompts holds each sample's prompt for a text-conditional model (nil
	// otherwise); Order is then OrderPrompts or OrderPerSample.
	Prompts []string
	// Rows are the distinct prompts in row order for OrderPrompts.
	Rows []string

	text cond.Condition // the prompts' token ids
}

// Conditioning returns the labels of n samples from the checkpoint at path
// with configuration cfg. With no flag given, a class-conditional model
// cycles through its classes (class-major when classMajor and K divides n:
// image grids get one class per row) without guidance, and an
// unconditional model takes no condition. It refuses the flags on an
// unconditional checkpoint, a class out of range, --class with --classes,
// and a guidance weight that is negative or not finite.
//
// A text-conditional checkpoint takes prompts instead (s.Prompts, or
// DefaultPrompts), one row each; prompts given to any other checkpoint are
// refused.
func Conditioning(cfg experiment.Config, path string, n int, classMajor bool, s CondSettings) (*Labels, error) {
	if cfg.IsText() {
		return textConditioning(cfg, path, n, s)
	}
	if len(s.Prompts) > 0 || s.Given["prompt"] || s.Given["prompts-file"] {
		return nil, fmt.Errorf("--prompt: the checkpoint %s is not text-conditional (train one with cmd/train --latent DIR --text DIR)", path)
	}
	k := cfg.Classes()
	if k == 0 {
		for _, fl := range []string{"class", "classes", "guidance"} {
			if s.Given[fl] {
				return nil, fmt.Errorf("--%s: the checkpoint %s is not conditional (trained without --class-cond), so it takes no class labels or guidance", fl, path)
			}
		}
		return &Labels{Class: -1, Guidance: 1}, nil
	}
	if s.Given["class"] && s.Given["classes"] {
		return nil, fmt.Errorf("--class and --classes exclude each other: --class %d gives every sample that label, --classes cycles through all %d", s.Class, k)
	}
	w, err := s.weight(1)
	if err != nil {
		return nil, err
	}
	l := &Labels{K: k, Class: -1, Guidance: w}
	switch {
	case s.Given["class"]:
		if s.Class < 0 || s.Class >= k {
			return nil, fmt.Errorf("--class %d is out of range: the checkpoint %s has classes 0…%d", s.Class, path, k-1)
		}
		l.Order, l.Class = OrderClass, s.Class
		l.Labels = make([]int32, n)
		for i := range l.Labels {
			l.Labels[i] = int32(s.Class)
		}
	case s.Given["classes"] && !s.Classes:
		if w != 1 {
			return nil, fmt.Errorf("--guidance %g needs class labels, but --classes=false gives every sample the null condition: give --class or --classes", w)
		}
		l.Order = OrderNull
	default:
		l.Labels, l.Order = Cycle(n, k, classMajor)
	}
	if (w != 1 || l.Order == OrderNull) && cfg.PUncond == 0 {
		l.Warning = fmt.Sprintf("warning: %s was trained with p_uncond 0, so its null condition ∅ (used by guidance and --classes=false) was never trained", path)
	}
	return l, nil
}

// weight returns the guidance weight: --guidance when given (a finite
// number ≥ 0), else def.
func (s CondSettings) weight(def float64) (float64, error) {
	if !s.Given["guidance"] {
		return def, nil
	}
	if w := s.Guidance; !(w >= 0) || math.IsInf(w, 0) {
		return 0, fmt.Errorf("--guidance must be a finite number ≥ 0 (1: no guidance, 0: the unconditional model), got %g", w)
	}
	return s.Guidance, nil
}

// Cycle returns the labels of n samples cycling through k classes, and
// their order: sample i gets i mod k (OrderCycled), or, when classMajor and
// k divides n, ⌊i/(n/k)⌋ (OrderClassMajor), so that a grid n/k images wide
// holds class r in row r.
func Cycle(n, k int, classMajor bool) ([]int32, string) {
	labels := make([]int32, n)
	if classMajor && n%k == 0 {
		per := n / k
		for i := range labels {
			labels[i] = int32(i / per)
		}
		return labels, OrderClassMajor
	}
	for i := range labels {
		labels[i] = int32(i % k)
	}
	return labels, OrderCycled
}

// Conditional reports whether the model is conditional.
func (l *Labels) Conditional() bool { return l.K > 0 || l.Prompts != nil }

// Cond returns the condition of the samples (zero for OrderNull and
// unconditional models: every sample gets ∅).
func (l *Labels) Cond() cond.Condition {
	if l.Prompts != nil {
		return l.text
	}
	if l.Labels == nil {
		return cond.Condition{}
	}
	return cond.Classes(l.Labels)
}

// Apply returns m under classifier-free guidance with weight l.Guidance,
// or m itself when the weight is 1 (ε(x, ∅) + 1·(ε(x, c) − ε(x, ∅)) = ε(x, c),
// at half the cost).
func (l *Labels) Apply(m diffusion.Model) (diffusion.Model, error) {
	if !l.Conditional() || l.Guidance == 1 {
		return m, nil
	}
	return diffusion.ClassifierFree(m, l.Guidance)
}

// Describe returns one line describing the labels and the guidance ("" for
// an unconditional model).
func (l *Labels) Describe() string {
	var what string
	switch l.Order {
	case "":
		return ""
	case OrderClass:
		what = fmt.Sprintf("class %d for every sample", l.Class)
	case OrderCycled:
		what = fmt.Sprintf("cycling through classes 0…%d (sample i has label i mod %d)", l.K-1, l.K)
	case OrderClassMajor:
		what = fmt.Sprintf("classes 0…%d in class-major order, %d samples each", l.K-1, len(l.Labels)/l.K)
	case OrderNull:
		what = "the null condition ∅ for every sample (the unconditional model)"
	case OrderPrompts:
		q := make([]string, len(l.Rows))
		for i, p := range l.Rows {
			q[i] = fmt.Sprintf("%q", p)
		}
		g := fmt.Sprintf("guidance w = %g", l.Guidance)
		if l.Guidance == 1 {
			g += " (none)"
		}
		return fmt.Sprintf("prompts, one row each (%d samples a prompt): %s; %s", len(l.Prompts)/len(l.Rows), strings.Join(q, ", "), g)
	case OrderPerSample:
		what = fmt.Sprintf("%d prompts, one a sample", len(l.Prompts))
	}
	g := fmt.Sprintf("guidance w = %g", l.Guidance)
	if l.Guidance == 1 {
		g += " (none)"
	}
	return fmt.Sprintf("labels: %s; %s", what, g)
}

// JSON adds the labels' keys to a JSON object: guidance, and class (the
// requested label) or classes (K, when cycling), and label_order.
func (l *Labels) JSON(obj map[string]any) {
	if !l.Conditional() {
		return
	}
	obj["guidance"] = l.Guidance
	obj["label_order"] = l.Order
	if l.Prompts != nil {
		if l.Rows != nil {
			obj["prompts"] = l.Rows
		}
		return
	}
	if l.Order == OrderClass {
		obj["class"] = l.Class
	} else {
		obj["classes"] = l.K
	}
}
