package captions

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/godiffusion/diffusion-models/text"
)

// digitWords names the digits 0–9.
var digitWords = [10]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// wordings lists, for one attribute, the words a caption may use for each
// Level (indexed by Level; the Unspecified entry is empty).
type wordings struct {
	// pre holds adjectives placed before the digit ("a thick 7").
	pre [4][]string
	// post holds phrases placed after the digit ("a 7 leaning left").
	// A list caption ("seven, thin, tilted right") uses both.
	post [4][]string
}

// The caption vocabulary of each attribute. Parse recognises every word
// here through the keyword tables below; TestParseRoundTrip checks that.
var (
	thicknessWords = wordings{
		pre: [4][]string{
			Low:    {"thin", "light", "fine"},
			Medium: {"regular"},
			High:   {"thick", "bold", "heavy"},
		},
		post: [4][]string{
			Low:    {"with a thin stroke", "with light strokes", "in fine strokes"},
			Medium: {"with a regular stroke", "with a medium stroke", "in medium strokes"},
			High:   {"with a thick stroke", "with heavy strokes", "in bold strokes"},
		},
	}
	slantWords = wordings{
		pre: [4][]string{
			Low:    {"left-leaning"},
			Medium: {"upright", "straight", "vertical"},
			High:   {"right-leaning"},
		},
		post: [4][]string{
			Low:    {"leaning left", "tilted left", "slanted left", "leaning to the left"},
			Medium: {"standing upright", "standing straight"},
			High:   {"leaning right", "tilted right", "slanted right", "leaning to the right"},
		},
	}
	sizeWords = wordings{
		pre: [4][]string{
			Low:    {"small", "tiny", "little"},
			Medium: {"medium-sized", "normal-sized"},
			High:   {"large", "big"},
		},
		post: [4][]string{
			Low:    {"written small", "drawn small"},
			Medium: {"of medium size", "of normal size", "of average size"},
			High:   {"written large", "drawn large", "written big"},
		},
	}
)

// fillerWords are the words of the sentence templates in caption.
var fillerWords = []string{"a", "an", "the", "digit", "number", "handwritten", "image", "picture", "of", "and"}

// Probabilities with which a caption names an attribute that is given.
const (
	pNameExtreme = 0.6 // a Low or High level
	pNameMedium  = 0.3 // a Medium level
)

// Caption returns a random English caption of a digit (0–9) with the given
// levels, such as "a thick 7 leaning left", "seven, thin, tilted right",
// "the digit 3 written large" or "an image of a small upright zero".
//
// The grammar is small on purpose (see Vocabulary). The digit is always
// named, as a numeral or a word with equal probability. Each attribute whose
// level is given is named with probability 0.6 when Low or High and 0.3 when
// Medium (so "medium" is often left unsaid, as people do), in random order,
// each with one of its synonyms: thick, bold, heavy; thin, light, fine;
// leaning, tilted or slanted left or right, left- or right-leaning; upright,
// straight, vertical; small, tiny, little; large, big; medium- or
// normal-sized. The sentence is one of three shapes:
//
//	[an image of | a picture of] a [adjectives] [handwritten] DIGIT [phrases]
//	the digit|number DIGIT [phrases joined by "and"]
//	DIGIT[, word or phrase]…
//
// Parse reads every caption back. Caption panics if digit is not in 0–9.
func Caption(digit int, lv Levels, rng *rand.Rand) string {
	s, _ := caption(digit, lv, rng)
	return s
}

// caption returns a caption and the levels it names (the others Unspecified).
func caption(digit int, lv Levels, rng *rand.Rand) (string, Levels) {
	if digit < 0 || digit > 9 {
		panic(fmt.Sprintf("captions: Caption: digit %d is not in 0–9", digit))
	}
	d := digitWords[digit]
	if rng.IntN(2) == 0 {
		d = string(rune('0' + digit))
	}
	type attr struct {
		w *wordings
		l Level
	}
	var named []attr
	var said Levels
	for _, a := range []struct {
		w   *wordings
		l   Level
		dst *Level
	}{{&thicknessWords, lv.Thickness, &said.Thickness}, {&slantWords, lv.Slant, &said.Slant}, {&sizeWords, lv.Size, &said.Size}} {
		p := pNameExtreme
		switch a.l {
		case Low, High:
		case Medium:
			p = pNameMedium
		default:
			continue
		}
		if rng.Float64() < p {
			named = append(named, attr{a.w, a.l})
			*a.dst = a.l
		}
	}
	rng.Shuffle(len(named), func(i, j int) { named[i], named[j] = named[j], named[i] })
	pick := func(ws []string) string { return ws[rng.IntN(len(ws))] }

	var b strings.Builder
	switch rng.IntN(7) {
	case 0, 1, 2: // a [adjectives] [handwritten] DIGIT [phrases]
		var pre, post []string
		for _, a := range named {
			if rng.IntN(2) == 0 {
				pre = append(pre, pick(a.w.pre[a.l]))
			} else {
				post = append(post, pick(a.w.post[a.l]))
			}
		}
		if rng.IntN(3) == 0 {
			pre = append(pre, "handwritten")
		}
		pre = append(pre, d)
		switch rng.IntN(5) {
		case 0:
			b.WriteString("an image of ")
		case 1:
			b.WriteString("a picture of ")
		}
		b.WriteString(article(pre[0]))
		for _, w := range pre {
			b.WriteString(" " + w)
		}
		writeJoined(&b, post, ", ", " and ")
	case 3, 4: // the digit|number DIGIT [phrases]
		b.WriteString(pick([]string{"the digit ", "the number "}))
		b.WriteString(d)
		var post []string
		for _, a := range named {
			post = append(post, pick(a.w.post[a.l]))
		}
		writeJoined(&b, post, ", ", " and ")
	default: // DIGIT, word, phrase
		b.WriteString(d)
		for _, a := range named {
			ws := a.w.post[a.l]
			if rng.IntN(2) == 0 {
				ws = a.w.pre[a.l]
			}
			b.WriteString(", " + pick(ws))
		}
	}
	return b.String(), said
}

// writeJoined writes " p1", " p1 and p2" or " p1, p2 and p3" (with sep and
// last as the separators) to b; nothing when ps is empty.
func writeJoined(b *strings.Builder, ps []string, sep, last string) {
	for i, p := range ps {
		switch {
		case i == 0:
			b.WriteString(" ")
		case i == len(ps)-1:
			b.WriteString(last)
		default:
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
}

// article returns "an" before a word that starts with a vowel sound among
// the caption words ("an 8", "an eight", "an upright 7"), "a" otherwise.
func article(next string) string {
	if next == "8" || strings.IndexByte("aeiou", next[0]) >= 0 {
		return "an"
	}
	return "a"
}

// Vocabulary returns every word a caption can contain, lowercase and
// sorted: the words of Caption's output as the tokenizer splits them
// (text.Words: "medium-sized" gives "medium" and "sized", and the numerals
// "0"–"9" are words). It has 63 words.
func Vocabulary() []string {
	set := map[string]bool{}
	add := func(s string) {
		for _, w := range text.Words(s) {
			set[w] = true
		}
	}
	for d, w := range digitWords {
		add(w)
		add(string(rune('0' + d)))
	}
	for _, w := range fillerWords {
		add(w)
	}
	for _, ws := range []*wordings{&thicknessWords, &slantWords, &sizeWords} {
		for l := range 4 {
			for _, s := range ws.pre[l] {
				add(s)
			}
			for _, s := range ws.post[l] {
				add(s)
			}
		}
	}
	out := make([]string, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	slices.Sort(out)
	return out
}

// Request is what a prompt asks for.
type Request struct {
	// Digit is the digit the prompt names, 0–9, or −1 when it names none.
	Digit int
	// Levels holds the level the prompt asks for of each attribute, and
	// Unspecified for the attributes it does not name.
	Levels Levels
}

// ErrConflict is wrapped by Parse's error when a prompt names two different
// digits or two different levels of one attribute.
var ErrConflict = errors.New("conflicting request")

// keywords maps a word of a prompt to the attribute level it asks for.
var keywords = map[string]struct {
	attr  int // 0 thickness, 1 slant, 2 size
	level Level
}{
	"thin": {0, Low}, "light": {0, Low}, "fine": {0, Low},
	"regular": {0, Medium},
	"thick":   {0, High}, "bold": {0, High}, "heavy": {0, High},
	"left":    {1, Low},
	"upright": {1, Medium}, "straight": {1, Medium}, "vertical": {1, Medium},
	"right": {1, High},
	"small": {2, Low}, "tiny": {2, Low}, "little": {2, Low},
	"large": {2, High}, "big": {2, High},
}

// mediumWords say "medium" when the next word names the attribute: "medium
// stroke" is a medium thickness, "normal-sized" and "of average size" a
// medium size.
var (
	mediumWords    = map[string]bool{"medium": true, "normal": true, "average": true}
	mediumNextAttr = map[string]int{
		"stroke": 0, "strokes": 0, "thickness": 0, "weight": 0, "lines": 0,
		"size": 2, "sized": 2,
	}
)

// Parse returns what a prompt asks for: the digit it names and the level of
// each attribute it names. It reads any text (case does not matter, nor do
// punctuation and characters it does not know) and understands every word
// Caption uses:
//
//   - the digit as a numeral (a single ASCII digit, also inside a word such
//     as "7s") or a word, zero to nine;
//   - thickness: thin, light, fine (Thin); regular, or medium, normal or
//     average before stroke(s), thickness, weight or lines (Medium); thick,
//     bold, heavy (Thick);
//   - slant: left (LeanLeft); upright, straight, vertical (Upright); right
//     (LeanRight);
//   - size: small, tiny, little (Small); medium, normal or average before
//     size or sized (Medium); large, big (Large).
//
// Other words are ignored, and so is a "medium" that names no attribute.
// Naming the same digit or level twice ("a thick, bold 3") is fine. A prompt
// that names two different digits ("3 or 8") or two different levels of one
// attribute ("a thick thin 3") gets an error wrapping ErrConflict, and the
// Request keeps the first of each. A number of two or more digits ("10") is
// an error too, and is otherwise ignored.
func Parse(prompt string) (Request, error) {
	req := Request{Digit: -1}
	var errs []error
	var levelWord [3]string
	digitWord := ""
	set := func(attr int, l Level, w string) {
		dst := [3]*Level{&req.Levels.Thickness, &req.Levels.Slant, &req.Levels.Size}[attr]
		switch *dst {
		case Unspecified:
			*dst, levelWord[attr] = l, w
		case l:
		default:
			errs = append(errs, fmt.Errorf("captions: Parse: prompt %q asks for two %ss, %q and %q: %w",
				prompt, [3]string{"thickness", "slant", "size"}[attr], levelWord[attr], w, ErrConflict))
		}
	}
	setDigit := func(d int, w string) {
		switch req.Digit {
		case -1:
			req.Digit, digitWord = d, w
		case d:
		default:
			errs = append(errs, fmt.Errorf("captions: Parse: prompt %q names two digits, %q and %q: %w",
				prompt, digitWord, w, ErrConflict))
		}
	}
	toks := promptTokens(prompt)
	for i, t := range toks {
		if t[0] >= '0' && t[0] <= '9' {
			if len(t) > 1 {
				errs = append(errs, fmt.Errorf("captions: Parse: prompt %q names the number %s, not a digit", prompt, t))
				continue
			}
			setDigit(int(t[0]-'0'), t)
			continue
		}
		if d := slices.Index(digitWords[:], t); d >= 0 {
			setDigit(d, t)
			continue
		}
		if k, ok := keywords[t]; ok {
			set(k.attr, k.level, t)
			continue
		}
		if mediumWords[t] && i+1 < len(toks) {
			if attr, ok := mediumNextAttr[toks[i+1]]; ok {
				set(attr, Medium, t+" "+toks[i+1])
			}
		}
	}
	return req, errors.Join(errs...)
}

// promptTokens splits a prompt into lowercase tokens: runs of ASCII digits,
// and runs of other letters and digits.
func promptTokens(s string) []string {
	var toks []string
	var cur []rune
	curDigits := false
	flush := func() {
		if len(cur) > 0 {
			toks = append(toks, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range strings.ToLower(s) {
		ascii := r >= '0' && r <= '9'
		if !ascii && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if len(cur) > 0 && ascii != curDigits {
			flush()
		}
		cur = append(cur, r)
		curDigits = ascii
	}
	flush()
	return toks
}

// Canonical returns the plain caption of a digit with the given levels,
// always the same words: "a" (or "an"), the adjectives of the named levels
// in the order thickness, slant, size, then the numeral, e.g. "a thick
// left-leaning small 7" or "an 8". Unspecified levels are left out. It is
// the prompt of zero-shot tests, where every candidate must be worded alike.
func Canonical(digit int, lv Levels) string {
	if digit < 0 || digit > 9 {
		panic(fmt.Sprintf("captions: Canonical of digit %d (want 0–9)", digit))
	}
	var words []string
	for _, a := range []struct {
		w *wordings
		l Level
	}{{&thicknessWords, lv.Thickness}, {&slantWords, lv.Slant}, {&sizeWords, lv.Size}} {
		if a.l >= Low && a.l <= High {
			words = append(words, a.w.pre[a.l][0])
		}
	}
	words = append(words, strconv.Itoa(digit))
	return article(words[0]) + " " + strings.Join(words, " ")
}
