package captions

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bar returns an h×w image (values in [−1, 1]) with a vertical bar of the
// given width and height 20, ink +1 on −1.
func bar(h, w, width int) []float32 {
	px := make([]float32, h*w)
	for i := range px {
		px[i] = -1
	}
	for r := 4; r < 24; r++ {
		for c := 10; c < 10+width; c++ {
			px[r*w+c] = 1
		}
	}
	return px
}

// TestAlignHand: two bars, a thin one (2A/P = 40/42) and a thick one
// (2·100/50 = 4), scored against prompts by hand.
func TestAlignHand(t *testing.T) {
	px := append(bar(28, 28, 1), bar(28, 28, 5)...)
	prompts := []string{"a thin 3", "a thin upright 5"}
	a, err := Align(prompts, []int{3, 4}, px, 2, 28, 28, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// digits: 3 right, 5 read as 4; attributes: thin (yes), thin (no: thick), upright (yes: slant 0).
	if a.Digits != 2 || a.DigitAccuracy != 0.5 {
		t.Errorf("digit accuracy %v over %d, want 0.5 over 2", a.DigitAccuracy, a.Digits)
	}
	if a.Attributes != 3 || math.Abs(a.AttributeAccuracy-2.0/3) > 1e-12 {
		t.Errorf("attribute accuracy %v over %d, want 2/3 over 3", a.AttributeAccuracy, a.Attributes)
	}
	if a.PerAttribute[0] != 0.5 || a.PerAttribute[1] != 1 || !math.IsNaN(a.PerAttribute[2]) || a.Named != [3]int{2, 1, 0} {
		t.Errorf("per attribute %v, named %v", a.PerAttribute, a.Named)
	}
	if !math.IsNaN(a.AttributeChance) {
		t.Errorf("chance without reference images: %v, want NaN", a.AttributeChance)
	}
	if _, err := Align(prompts, []int{3}, px, 2, 28, 28, nil, nil); err == nil {
		t.Errorf("a missing digit was accepted")
	}
}

// TestAlignChance: images scored against captions made from their own
// measured levels are right on every attribute; the chance level, from
// reference images of the same digit, is the share of each requested level
// among them, here computed independently.
func TestAlignChance(t *testing.T) {
	const n = 600
	rng := rand.New(rand.NewPCG(3, 4))
	var px []float32
	var refLv []Levels
	var refDigits, digits []int
	var prompts []string
	for i := range n {
		width := 1 + i%5 // thicknesses 0.95 … 4
		img := bar(28, 28, width)
		px = append(px, img...)
		a, err := Measure(img, 28, 28)
		if err != nil {
			t.Fatal(err)
		}
		lv := DefaultThresholds.Levels(a)
		refLv = append(refLv, lv)
		refDigits = append(refDigits, i%2)
		digits = append(digits, i%2)
		prompts = append(prompts, Caption(i%2, lv, rng))
	}
	a, err := Align(prompts, digits, px, n, 28, 28, refDigits, refLv)
	if err != nil {
		t.Fatal(err)
	}
	if a.DigitAccuracy != 1 || a.AttributeAccuracy != 1 {
		t.Errorf("own captions: digit accuracy %v, attribute accuracy %v, want 1 and 1", a.DigitAccuracy, a.AttributeAccuracy)
	}
	// Chance: for a named thickness level ℓ, the share of reference images
	// of the digit with level ℓ; bars of widths 1…5 cycle with the digit
	// parity, so each digit's references hold the five widths (nearly)
	// equally. Expected chance = Σ over named attributes of p(level), with a
	// sampling error of about √(p(1−p)/N).
	var want float64
	var cnt int
	count := map[[2]int]int{}
	perDigit := map[int]int{}
	for i, lv := range refLv {
		count[[2]int{refDigits[i], int(lv.Thickness)}]++
		perDigit[refDigits[i]]++
	}
	for i, p := range prompts {
		req, _ := Parse(p)
		for k := range 3 {
			l := req.Levels.at(k)
			if l == Unspecified {
				continue
			}
			cnt++
			if k == 0 {
				want += float64(count[[2]int{digits[i], int(l)}]) / float64(perDigit[digits[i]])
			} else {
				want++ // every bar is upright and of one size
			}
		}
	}
	want /= float64(cnt)
	if tol := 4 * math.Sqrt(0.25/float64(cnt)); math.Abs(a.AttributeChance-want) > tol {
		t.Errorf("chance %v, want %v ± %v", a.AttributeChance, want, tol)
	}
}
