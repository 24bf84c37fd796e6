package captions

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// colours lists the colour names DominantColour returns: the chromatic ones
// first, then the achromatic ones. Ties go to the earlier name.
var colours = []string{"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey"}

// Colours returns the colour names DominantColour returns: red, orange,
// yellow, green, blue, purple, pink, brown, black, white, grey.
func Colours() []string { return slices.Clone(colours) }

// minChromatic is the share of the counted pixels that must be chromatic
// for DominantColour to name a chromatic colour.
const minChromatic = 0.2

// DominantColour names the dominant colour of an image of h×w pixels with
// c channels, row-major, channels last, values in [−1, 1] (the layout of
// emoji.Set.Pixels): c = 3 is RGB, c = 4 RGBA with straight alpha.
//
// It counts the pixels of the glyph: with c = 4, those with alpha above 0
// (more than half opaque); with c = 3, where emoji are composited over
// white, those that are not pure white (some channel below 254/255).
// Each counted pixel gets a colour from its hue H (degrees), saturation S
// and value V (HSV, each of S and V in [0, 1]):
//
//   - achromatic when V < 0.2 (black) or S < 0.25 (white when V > 0.85,
//     else grey);
//   - otherwise brown when 15 ≤ H < 70 and V < 0.6 (dark orange or
//     olive), pink when H is red (H < 15 or H ≥ 345) with S < 0.5 and
//     V > 0.8 (light red), else by hue: red below 15 or from 345, orange
//     15–40, yellow 40–70 (the Noto smiley's face, (255, 204, 77), has
//     H = 43), green 70–165, blue 165–255, purple 255–290,
//     pink 290–345.
//
// The result is the most frequent chromatic colour when chromatic pixels
// make at least 20% of the counted ones (an emoji's colour is its
// colourful part: a yellow face with black eyes is yellow), otherwise the
// most frequent of black, white and grey. It is "" when no pixel is
// counted, and an error when len(pixels) ≠ h·w·c or c is not 3 or 4.
func DominantColour(pixels []float32, h, w, c int) (string, error) {
	if c != 3 && c != 4 {
		return "", fmt.Errorf("captions: DominantColour: %d channels, want 3 (RGB) or 4 (RGBA)", c)
	}
	if h < 0 || w < 0 || len(pixels) != h*w*c {
		return "", fmt.Errorf("captions: DominantColour: %d values for a %d×%d×%d image, want %d", len(pixels), h, w, c, h*w*c)
	}
	counts := make([]int, len(colours))
	total, chromatic := 0, 0
	for i := 0; i < len(pixels); i += c {
		r, g, b := unit(pixels[i]), unit(pixels[i+1]), unit(pixels[i+2])
		if c == 4 {
			if pixels[i+3] <= 0 {
				continue
			}
		} else if min(r, g, b) >= 254.0/255 {
			continue
		}
		k := colourIndex(r, g, b)
		counts[k]++
		total++
		if k < 8 {
			chromatic++
		}
	}
	if total == 0 {
		return "", nil
	}
	lo, hi := 8, len(colours)
	if float64(chromatic) >= minChromatic*float64(total) {
		lo, hi = 0, 8
	}
	best := lo
	for k := lo; k < hi; k++ {
		if counts[k] > counts[best] {
			best = k
		}
	}
	return colours[best], nil
}

// unit maps a value in [−1, 1] to [0, 1], clamped.
func unit(v float32) float64 { return min(max((float64(v)+1)/2, 0), 1) }

// colourIndex returns the index in colours of an RGB colour in [0, 1]
// (the rules in DominantColour's comment).
func colourIndex(r, g, b float64) int {
	mx, mn := max(r, g, b), min(r, g, b)
	v := mx
	s := 0.0
	if mx > 0 {
		s = (mx - mn) / mx
	}
	switch {
	case v < 0.2:
		return 8 // black
	case s < 0.25 && v > 0.85:
		return 9 // white
	case s < 0.25:
		return 10 // grey
	}
	var hue float64 // degrees in [0, 360)
	d := mx - mn
	switch mx {
	case r:
		hue = 60 * math.Mod((g-b)/d+6, 6)
	case g:
		hue = 60 * ((b-r)/d + 2)
	default:
		hue = 60 * ((r-g)/d + 4)
	}
	red := hue < 15 || hue >= 345
	switch {
	case hue >= 15 && hue < 70 && v < 0.6:
		return 7 // brown
	case red && s < 0.5 && v > 0.8:
		return 6 // pink
	case red:
		return 0
	case hue < 40:
		return 1 // orange
	case hue < 70:
		return 2 // yellow
	case hue < 165:
		return 3 // green
	case hue < 255:
		return 4 // blue
	case hue < 290:
		return 5 // purple
	}
	return 6 // pink
}

// emojiNouns maps the emoji package's categories to short nouns.
var emojiNouns = map[string]string{
	"Activities":        "activity",
	"Animals & Nature":  "nature",
	"Flags":             "flag",
	"Food & Drink":      "food",
	"Objects":           "object",
	"People & Body":     "people",
	"Smileys & Emotion": "smiley",
	"Symbols":           "symbol",
	"Travel & Places":   "travel",
}

// EmojiNoun returns the short noun of an emoji category (a name in
// emoji.Categories()): activity, nature, flag, food, object, people, smiley,
// symbol, travel; "" for an unknown category.
func EmojiNoun(category string) string { return emojiNouns[category] }

// EmojiCaption returns a random caption of an emoji of a category (a name
// in emoji.Categories()) and a colour (one of Colours(), or "" for none),
// such as "a yellow smiley emoji", "an orange food emoji", "a flag emoji,
// mostly red" or "a blue emoji from the symbol category". An unknown
// category is called by the noun "emoji" alone ("a red emoji"). Its words
// are those of EmojiVocabulary when colour is one of Colours() or "".
func EmojiCaption(category, colour string, rng *rand.Rand) string {
	noun, ok := emojiNouns[category]
	if !ok {
		if colour == "" {
			return "an emoji"
		}
		return article(colour) + " " + colour + " emoji"
	}
	if colour == "" {
		switch rng.IntN(2) {
		case 0:
			return article(noun) + " " + noun + " emoji"
		default:
			return "an emoji from the " + noun + " category"
		}
	}
	switch rng.IntN(4) {
	case 0:
		return article(colour) + " " + colour + " " + noun + " emoji"
	case 1:
		return article(noun) + " " + noun + " emoji, mostly " + colour
	case 2:
		return "a mostly " + colour + " " + noun + " emoji"
	default:
		return article(colour) + " " + colour + " emoji from the " + noun + " category"
	}
}

// EmojiVocabulary returns every word EmojiCaption can use with a colour
// from Colours() or none, lowercase and sorted.
func EmojiVocabulary() []string {
	words := []string{"a", "an", "emoji", "from", "the", "category", "mostly"}
	words = append(words, colours...)
	for _, n := range emojiNouns {
		words = append(words, n)
	}
	slices.Sort(words)
	return slices.Compact(words)
}
