package captions

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/text"
)

// randomLevels returns levels with each attribute Unspecified, Low, Medium
// or High with equal probability.
func randomLevels(rng *rand.Rand) Levels {
	return Levels{Level(rng.IntN(4)), Level(rng.IntN(4)), Level(rng.IntN(4))}
}

func TestVocabularyClosure(t *testing.T) {
	vocab := Vocabulary()
	if !slices.IsSorted(vocab) || len(slices.Compact(slices.Clone(vocab))) != len(vocab) {
		t.Fatalf("Vocabulary is not sorted and unique: %v", vocab)
	}
	if len(vocab) != 63 {
		t.Errorf("Vocabulary has %d words, documented 63", len(vocab))
	}
	in := map[string]bool{}
	for _, w := range vocab {
		if w != strings.ToLower(w) {
			t.Errorf("Vocabulary word %q is not lowercase", w)
		}
		in[w] = true
	}
	used := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 14))
	for range 10000 {
		c := Caption(rng.IntN(10), randomLevels(rng), rng)
		for _, w := range text.Words(c) {
			if !in[w] {
				t.Fatalf("caption %q uses %q, which is not in Vocabulary", c, w)
			}
			used[w] = true
		}
	}
	for _, w := range vocab {
		if !used[w] {
			t.Errorf("Vocabulary word %q appears in none of 10,000 captions", w)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 14))
	var named, given [4]int // per level, over the three attributes
	for range 10000 {
		d, lv := rng.IntN(10), randomLevels(rng)
		c, said := caption(d, lv, rng)
		got, err := Parse(c)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c, err)
		}
		if want := (Request{Digit: d, Levels: said}); got != want {
			t.Fatalf("Parse(%q) = %+v, want %+v (levels given: %v)", c, got, want, lv)
		}
		for i, pair := range [][2]Level{{lv.Thickness, said.Thickness}, {lv.Slant, said.Slant}, {lv.Size, said.Size}} {
			if pair[1] != Unspecified && pair[1] != pair[0] {
				t.Fatalf("caption %q names attribute %d as %v, given %v", c, i, pair[1], pair[0])
			}
			given[pair[0]]++
			if pair[1] != Unspecified {
				named[pair[0]]++
			}
		}
	}
	if named[Unspecified] != 0 {
		t.Errorf("captions named %d unspecified attributes", named[Unspecified])
	}
	for l, want := range map[Level]float64{Low: pNameExtreme, Medium: pNameMedium, High: pNameExtreme} {
		if got := float64(named[l]) / float64(given[l]); got < want-0.03 || got > want+0.03 {
			t.Errorf("level %v named in %.3f of the captions, want %.2f", l, got, want)
		}
	}
}

func TestCaptionDeterministic(t *testing.T) {
	lv := Levels{Thick, LeanLeft, Small}
	a := rand.New(rand.NewPCG(3, 4))
	b := rand.New(rand.NewPCG(3, 4))
	numerals, words := 0, 0
	for range 200 {
		ca, cb := Caption(7, lv, a), Caption(7, lv, b)
		if ca != cb {
			t.Fatalf("same seed, different captions: %q and %q", ca, cb)
		}
		switch {
		case strings.Contains(ca, "7"):
			numerals++
		case strings.Contains(ca, "seven"):
			words++
		default:
			t.Fatalf("caption %q does not name the digit 7", ca)
		}
	}
	if numerals < 60 || words < 60 {
		t.Errorf("200 captions: %d with the numeral, %d with the word; want both often", numerals, words)
	}
}

func TestCaptionArticles(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		c := Caption(rng.IntN(10), randomLevels(rng), rng)
		w := text.Words(c)
		for i := 0; i+1 < len(w); i++ {
			if w[i] != "a" && w[i] != "an" {
				continue
			}
			if want := article(w[i+1]); w[i] != want {
				t.Fatalf("caption %q: %q before %q, want %q", c, w[i], w[i+1], want)
			}
		}
	}
	for _, tc := range []struct{ next, want string }{{"8", "an"}, {"eight", "an"}, {"upright", "an"}, {"image", "an"}, {"7", "a"}, {"handwritten", "a"}} {
		if got := article(tc.next); got != tc.want {
			t.Errorf("article(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

func TestCaptionPanicsOnBadDigit(t *testing.T) {
	for _, d := range []int{-1, 10} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Caption(%d, …) did not panic", d)
				}
			}()
			Caption(d, Levels{}, rand.New(rand.NewPCG(1, 1)))
		}()
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		prompt   string
		want     Request
		conflict bool   // the error wraps ErrConflict
		errHas   string // the error contains this ("" with conflict false: no error)
	}{
		{"", Request{Digit: -1}, false, ""},
		{"🙂", Request{Digit: -1}, false, ""},
		{"\xff\xfe broken \x80", Request{Digit: -1}, false, ""},
		{"not UTF-8: \xff thin", Request{8, Levels{Thickness: Thin}}, false, ""},
		{"a 7", Request{Digit: 7}, false, ""},
		{"THICK seven", Request{7, Levels{Thickness: Thick}}, false, ""},
		{"a Thick, BOLD 3", Request{3, Levels{Thickness: Thick}}, false, ""},
		{"a thick thin 3", Request{3, Levels{Thickness: Thick}}, true, `"thick" and "thin"`},
		{"3 or 8", Request{Digit: 3}, true, `two digits, "3" and "8"`},
		{"three or eight", Request{Digit: 3}, true, `"three" and "eight"`},
		{"seven7", Request{Digit: 7}, false, ""},
		{"7s leaning RIGHT", Request{7, Levels{Slant: LeanRight}}, false, ""},
		{"the number 10", Request{Digit: -1}, false, "the number 10"},
		{"a left-leaning, tiny zero", Request{0, Levels{Slant: LeanLeft, Size: Small}}, false, ""},
		{"an upright big heavy 1", Request{1, Levels{Thick, Upright, Large}}, false, ""},
		{"a medium 5", Request{Digit: 5}, false, ""},
		{"a medium-sized 5", Request{5, Levels{Size: Medium}}, false, ""},
		{"a 5 of average size with a medium stroke", Request{5, Levels{Thickness: Medium, Size: Medium}}, false, ""},
		{"a regular, normal-sized 2, standing straight", Request{2, Levels{Medium, Upright, Medium}}, false, ""},
		{"Ein dünnes, schräges Zeichen ٣", Request{Digit: -1}, false, ""},
		{"a small large 4 tilted left and right", Request{4, Levels{Slant: LeanLeft, Size: Small}}, true, "two slants"},
	}
	for _, tc := range tests {
		got, err := Parse(tc.prompt)
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.prompt, got, tc.want)
		}
		switch {
		case tc.errHas == "" && err != nil:
			t.Errorf("Parse(%q): unexpected error %v", tc.prompt, err)
		case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
			t.Errorf("Parse(%q): error %v, want one containing %q", tc.prompt, err, tc.errHas)
		case errors.Is(err, ErrConflict) != tc.conflict:
			t.Errorf("Parse(%q): error %v, wraps ErrConflict: %v, want %v", tc.prompt, err, !tc.conflict, tc.conflict)
		}
	}
}

// TestCanonical: Parse reads back every canonical caption exactly, for
// every digit and every combination of levels.
func TestCanonical(t *testing.T) {
	all := []Level{Unspecified, Low, Medium, High}
	for d := range 10 {
		for _, th := range all {
			for _, sl := range all {
				for _, sz := range all {
					lv := Levels{th, sl, sz}
					c := Canonical(d, lv)
					req, err := Parse(c)
					if err != nil || req.Digit != d || req.Levels != lv {
						t.Fatalf("Parse(Canonical(%d, %v) = %q) = %+v, %v", d, lv, c, req, err)
					}
				}
			}
		}
	}
	if got := Canonical(8, Levels{}); got != "an 8" {
		t.Errorf("Canonical(8) = %q, want %q", got, "an 8")
	}
	if got := Canonical(7, Levels{Thick, LeanLeft, Small}); got != "a thick left-leaning small 7" {
		t.Errorf("Canonical(7, thick, left, small) = %q", got)
	}
}
